"""What ``check`` shows while it runs: cases done / total, what each worker is on, elapsed time.

On a terminal, one status line redrawn in place; otherwise (CI logs, a pipe) a
plain line every ``every`` seconds and at the end, so logs stay readable. It
writes to stderr: stdout carries the report (or ``--json``) alone.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class Progress:
    """Progress of ``total`` cases; :meth:`update` is cheap to call often.

    ``live``: redraw one line in place (default: when ``stream`` is a terminal);
    otherwise a line every ``every`` seconds and one at :meth:`finish`.
    ``enabled=False`` shows nothing; ``label`` starts each line (``check``, ``bench``).
    """

    def __init__(
        self, total: int, stream: TextIO | None = None, live: bool | None = None, every: float = 10.0, enabled: bool = True,
        label: str = "check",
    ) -> None:
        self.total = total
        self.label = label  # the command, at the start of each status line
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.live = bool(isatty and isatty()) if live is None else live
        self.every = every
        self.enabled = enabled
        self.done = 0
        self.failed = 0
        self.doing: dict[Any, str] = {}
        self.t0 = time.perf_counter()
        self._last = self.t0  # the last line written (plain) or drawn (live)
        self._width = 0  # of the live line on screen
        self._drawn = ""

    def say(self, text: str) -> None:
        """A line of its own (the header, a note), above the live status line."""
        if self.enabled:
            self._clear()
            self._write(text + "\n")

    def working(self, worker: Any, what: str) -> None:
        """``worker`` is now on ``what`` (a case and backend)."""
        self.doing[worker] = what
        self.update()

    def case_done(self, worker: Any, ok: bool) -> None:
        self.done += 1
        self.failed += not ok
        self.doing.pop(worker, None)
        self.update()

    def line(self) -> str:
        elapsed = time.perf_counter() - self.t0
        parts = [f"{self.done}/{self.total} cases", f"{elapsed:.0f} s"]
        if self.failed:
            parts.append(f"{self.failed} failing")
        if self.doing:
            parts.append("on " + ", ".join(self.doing[w] for w in sorted(self.doing, key=str)))
        return f"{self.label}: " + ", ".join(parts)

    def update(self, force: bool = False) -> None:
        """Redraw (live, at most every 0.1 s) or write a line (every ``every`` seconds)."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < (0.1 if self.live else self.every) and not force:
            return
        self._last = now
        text = self.line()
        if not self.live:
            self._write(text + "\n")
            return
        columns = _columns()
        if len(text) > columns - 1:
            text = text[: columns - 4] + "..."
        if text != self._drawn:
            self._write("\r" + text.ljust(self._width))
            self._width, self._drawn = len(text), text

    def finish(self) -> None:
        """The final count, then the cursor at the start of a fresh line."""
        self.doing.clear()
        self.update(force=True)
        if self.enabled and self.live:
            self._write("\n")
            self._width, self._drawn = 0, ""

    def _clear(self) -> None:
        if self.live and self._width:
            self._write("\r" + " " * self._width + "\r")
            self._width, self._drawn = 0, ""

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def _columns() -> int:
    import shutil

    return shutil.get_terminal_size((100, 24)).columns
