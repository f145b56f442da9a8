"""Progress with an ETA for long steps (training, replay), on stderr, with or without a TTY.

:class:`StepBar` shows one line per step: a bar, the elapsed time, the ETA and what the step
is doing now. On a terminal it is a live ``rich`` progress display; elsewhere (CI logs, a pipe)
it prints a plain line per step every ``line_interval`` seconds and when the step ends, so a
log never goes silent for minutes. A step's fraction comes from counts (``done`` of
``total``), or, for a step that cannot count, from the time it is expected to take
(``expected_s``): the bar then follows the clock and stops short of the end until the step is
done.

A step run in a child process reports through a small JSON file named by the environment
variable :data:`PROGRESS_FILE_ENV`: the child calls :func:`report_progress` (a no-op when the
variable is unset) and the parent passes :func:`read_progress` to :meth:`StepBar.update`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from rich.progress import TaskID

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

__all__ = [
    "PROGRESS_FILE_ENV",
    "StepBar",
    "counter",
    "format_seconds",
    "read_progress",
    "report_progress",
]

#: Names the file a child process writes its progress to (set by the parent).
PROGRESS_FILE_ENV = "PROSOCIAL_PROGRESS_FILE"
_SCALE = 1000  # rich task units per step


def format_seconds(s: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``); ``?`` for unknown."""
    if s is None or math.isnan(s) or s < 0:
        return "?"
    s = round(s)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def counter(console: Console, unit: str) -> Progress:
    """A transient spinner on ``console`` counting ``unit`` (``"TLCs"``, ``"threads"``) with the
    elapsed time, for a step that counts what it has done (``progress.add_task``)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        TextColumn("{task.completed:,.0f} " + unit),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def report_progress(what: str, done: float | None = None, total: float | None = None) -> None:
    """Tell the parent process (if any) what this step does now and, when known, how far it
    is; written atomically, never raises."""
    path = os.environ.get(PROGRESS_FILE_ENV)
    if not path:
        return
    rec = {"what": str(what)[:120], "done": done, "total": total, "t": time.time()}
    try:
        p = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}-", dir=p.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(rec, fh)
        os.replace(tmp, p)
    except OSError:
        pass


def read_progress(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The last record a child wrote (``{}`` when none yet or unreadable)."""
    try:
        rec = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return rec if isinstance(rec, dict) else {}


@dataclass
class _Step:
    name: str
    expected_s: float | None
    task: int
    started: float
    done: float | None = None
    total: float | None = None
    what: str = ""
    finished: float | None = None
    last_line: float = field(default=0.0)

    def fraction(self, now: float) -> float:
        if self.finished is not None:
            return 1.0
        if self.done is not None and self.total:
            return max(0.0, min(1.0, self.done / self.total))
        if self.expected_s:
            return min((now - self.started) / self.expected_s, 0.99)
        return 0.0

    def eta_text(self, now: float) -> str:
        eta = self.eta(now)
        if eta is None and self.expected_s and self.finished is None:
            return f"? (past the expected {format_seconds(self.expected_s)})"
        return format_seconds(eta)

    def eta(self, now: float) -> float | None:
        if self.finished is not None:
            return 0.0
        elapsed = now - self.started
        if self.done is not None and self.total:
            f = self.fraction(now)
            if f >= 0.02:
                return elapsed * (1 - f) / f
        if self.expected_s:
            left = self.expected_s - elapsed
            return left if left > 0 else None
        return None


class StepBar:
    """Bars with ETA for a sequence of steps; a context manager around ``rich`` progress."""

    def __init__(
        self,
        console: Any = None,
        *,
        line_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

        self.console = console if console is not None else Console(stderr=True)
        self.live = bool(self.console.is_terminal)
        self.line_interval = float(line_interval)
        self.clock = clock
        self.steps: dict[int, _Step] = {}
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[elapsed]} elapsed · ETA {task.fields[eta]}"),
            TextColumn("[dim]{task.fields[what]}"),
            console=self.console,
            disable=not self.live,
            transient=False,
        )

    def __enter__(self) -> Self:
        if self.live:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self._progress.stop()

    def add(self, name: str, *, total: float | None = None, expected_s: float | None = None) -> int:
        """Start a step; its fraction comes from ``update(done=...)`` against ``total``, or
        from the clock against ``expected_s``."""
        task = self._progress.add_task(name, total=_SCALE, elapsed="0:00", eta="?", what="")
        now = self.clock()
        self.steps[task] = _Step(name, expected_s, task, now, total=total, last_line=now)
        self.update(task)
        return task

    def update(
        self,
        task: int,
        *,
        done: float | None = None,
        total: float | None = None,
        what: str | None = None,
        record: dict[str, Any] | None = None,
    ) -> None:
        """Move a step on (``done`` / ``total`` / ``what``, or a child's ``record`` from
        :func:`read_progress`) and refresh its line; call it at least every few seconds."""
        st = self.steps[task]
        if record:
            done = record.get("done", done)
            total = record.get("total", total)
            what = record.get("what", what)
        if done is not None:
            st.done = float(done)
        if total is not None:
            st.total = float(total)
        if what is not None:
            st.what = str(what)
        now = self.clock()
        self._render(st, now)
        if not self.live and now - st.last_line >= self.line_interval:
            self._line(st, now)

    def finish(self, task: int, *, ok: bool = True, note: str = "") -> float:
        """End a step; returns its wall seconds."""
        st = self.steps[task]
        now = self.clock()
        st.finished = now
        st.what = note or ("done" if ok else "failed")
        self._render(st, now)
        if not self.live:
            self._line(st, now, mark="✓" if ok else "✗")
        return now - st.started

    def _render(self, st: _Step, now: float) -> None:
        self._progress.update(
            TaskID(st.task),
            completed=int(st.fraction(now) * _SCALE),
            elapsed=format_seconds(now - st.started),
            eta=st.eta_text(now),
            what=self._what(st),
        )

    @staticmethod
    def _what(st: _Step) -> str:
        if st.what or st.finished is not None or st.done is None or not st.total:
            return st.what
        return f"{int(st.done):,}/{int(st.total):,}"

    def _line(self, st: _Step, now: float, mark: str = "…") -> None:
        st.last_line = now
        pct = round(100 * st.fraction(now))
        self.console.print(
            f"{mark} {st.name} {pct:>3d}% · {format_seconds(now - st.started)} elapsed"
            f" · ETA {st.eta_text(now)}" + (f" · {self._what(st)}" if self._what(st) else ""),
            markup=False,
            highlight=False,
        )
