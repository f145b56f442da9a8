"""Progress bars with ETA: plain lines when stderr is not a terminal, child-process reports."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from streaming.progress import (
    PROGRESS_FILE_ENV,
    StepBar,
    format_seconds,
    read_progress,
    report_progress,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _bar() -> tuple[StepBar, io.StringIO, Clock]:
    out = io.StringIO()
    clock = Clock()
    console = Console(file=out, force_terminal=False, width=200)
    return StepBar(console, line_interval=10, clock=clock), out, clock


def test_without_a_terminal_lines_are_printed_every_interval_with_an_eta() -> None:
    bar, out, clock = _bar()
    with bar:
        t = bar.add("replay", total=200)
        clock.now += 4
        bar.update(t, done=20)
        assert out.getvalue() == ""  # not yet: one line per 10 s
        clock.now += 6
        bar.update(t, done=50)  # 25% after 10 s: 30 s to go
        line = out.getvalue().strip().splitlines()[-1]
        assert "replay" in line and "25%" in line and "ETA 0:30" in line and "50/200" in line
        clock.now += 3
        assert bar.finish(t) == pytest.approx(13)
    last = out.getvalue().strip().splitlines()[-1]
    assert last.startswith("✓ replay 100%") and "0:13 elapsed" in last


def test_a_step_that_cannot_count_follows_its_expected_duration() -> None:
    bar, out, clock = _bar()
    t = bar.add("train aux", expected_s=100)
    clock.now += 40
    bar.update(t, what="aux: fitting toxicity")
    line = out.getvalue().strip().splitlines()[-1]
    assert "40%" in line and "ETA 1:00" in line and "aux: fitting toxicity" in line
    clock.now += 80  # longer than expected: the bar waits short of the end, ETA unknown
    bar.update(t)
    line = out.getvalue().strip().splitlines()[-1]
    assert "99%" in line and "ETA ? (past the expected 1:40)" in line
    bar.finish(t, ok=False, note="exit code 2")
    assert out.getvalue().strip().splitlines()[-1].startswith("✗ train aux")


def test_child_reports_reach_the_parent_through_the_progress_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.json"
    report_progress("nothing happens without the variable", 1, 2)
    assert not path.exists()
    monkeypatch.setenv(PROGRESS_FILE_ENV, str(path))
    report_progress("empathy: seed 0 epoch 1/2", 1, 2)
    rec = read_progress(path)
    assert rec["what"] == "empathy: seed 0 epoch 1/2" and rec["done"] == 1 and rec["total"] == 2
    bar, out, clock = _bar()
    t = bar.add("train empathy", expected_s=300)
    clock.now += 11
    bar.update(t, record=rec)
    assert "50%" in out.getvalue() and "epoch 1/2" in out.getvalue()
    path.write_text("{half a rec")
    assert read_progress(path) == {}
    assert read_progress(tmp_path / "missing.json") == {}


def test_format_seconds() -> None:
    assert format_seconds(5) == "0:05"
    assert format_seconds(3725) == "1:02:05"
    assert format_seconds(None) == format_seconds(float("nan")) == format_seconds(-1) == "?"
