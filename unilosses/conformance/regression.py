"""Conformance cases for unilosses.losses.regression (see unilosses.conformance)."""

from __future__ import annotations

from unilosses.conformance import Case

CASES: list[Case] = []
