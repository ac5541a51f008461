"""Loss family: focal (filled in by the catalogue work, issue 3)."""

from __future__ import annotations

__all__: list[str] = []
