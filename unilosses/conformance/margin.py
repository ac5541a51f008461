"""Conformance cases for unilosses.losses.margin (see unilosses.conformance)."""

from __future__ import annotations

from unilosses.conformance import Case

CASES: list[Case] = []
