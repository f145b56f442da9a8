"""The demo's first-run training: order by inputs, two steps side by side, failures, profile.

The ``prosocial-train`` processes are replaced by a small script that writes a real bundle
through :class:`models.bundle.BundleWriter` and reports progress like the real commands; the
real trainers run in ``tests/training``."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from rich.console import Console

from models.bundle import BundleWriter, Registry
from streaming import demo_train

FAKE_TRAINER = r"""
import json, os, sys, time
from pathlib import Path
from models.bundle import BundleWriter, Registry
from streaming.progress import report_progress

name = sys.argv[1]
log = Path(os.environ["ORDER_LOG"])
with open(log, "a") as fh:
    fh.write(json.dumps({"start": name, "t": time.time(), "argv": sys.argv[2:]}) + "\n")
report_progress(f"{name}: working", 1, 2)
time.sleep(float(os.environ.get("STEP_S", "0.3")))
if name == os.environ.get("FAIL"):
    print("boom: cannot train", name)
    sys.exit(3)
with BundleWriter(Registry(os.environ["PROSOCIAL_REGISTRY_DIR"]), name) as w:
    w.save_json("x.json", {"name": name})
with open(log, "a") as fh:
    fh.write(json.dumps({"end": name, "t": time.time()}) + "\n")
"""


@pytest.fixture()
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "fake_trainer.py"
    script.write_text(FAKE_TRAINER)
    monkeypatch.setattr(demo_train, "trainer_command", lambda: [sys.executable, str(script)])
    monkeypatch.setenv("ORDER_LOG", str(tmp_path / "order.jsonl"))
    monkeypatch.setenv("PYTHONPATH", ":".join(p for p in sys.path if p))
    return tmp_path / "order.jsonl"


def _events(log: Path) -> list[dict]:
    return [json.loads(x) for x in log.read_text().splitlines()]


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=200), out


def test_steps_run_when_their_inputs_exist_two_at_a_time(fake: Path, tmp_path: Path) -> None:
    reg, work = tmp_path / "registry", tmp_path / "work"
    console, out = _console()
    res = demo_train.train_missing(reg, tmp_path / "data", console, work, poll_s=0.05)
    assert res.failed == {}
    assert set(res.trained) == set(demo_train.TRAIN_ORDER)
    # each step's own CPU seconds are recorded beside its wall seconds
    assert res.cpu_seconds.keys() == res.seconds.keys()
    assert all(0 < v <= 60 for v in res.cpu_seconds.values())
    ev = _events(fake)
    t = {(k, e[k]): e["t"] for e in ev for k in ("start", "end") if k in e}
    # trajectory after aux, forecaster after trajectory; empathy beside the aux chain
    assert t[("start", "trajectory")] >= t[("end", "aux")]
    assert t[("start", "forecaster")] >= t[("end", "trajectory")]
    assert t[("start", "empathy")] < t[("end", "aux")]
    argv = {e["start"]: e["argv"] for e in ev if "start" in e}
    assert argv["empathy"][-2:] == ["--threads", "1"]  # one core while overlapped
    assert "--no-empathy" in argv["forecaster"]
    for name in demo_train.TRAIN_ORDER:  # the demo profile reaches every step
        prof = " ".join(demo_train.DEMO_TRAIN_ARGS.get(name, ()))
        assert prof in " ".join(argv[name])
    text = out.getvalue()
    assert "✓ train aux 100%" in text and "✓ train forecaster 100%" in text
    # the demo profile is recorded and labels exactly the bundles that are current
    demo = demo_train.demo_quality_bundles(reg, work)
    assert demo == res.trained
    md = demo_train.profile_markdown(demo)
    assert "demo quality" in md and demo_train.FULL_TRAIN_COMMAND in md
    timings = json.loads((work / "timings.json").read_text())
    assert set(timings) == set(demo_train.TRAIN_ORDER)
    # a fully trained bundle made current later is not labelled demo-quality
    with BundleWriter(Registry(reg), "empathy") as w:
        w.save_json("x.json", {"full": True})
    assert "empathy" not in demo_train.demo_quality_bundles(reg, work)
    # a warm run reuses every bundle and trains nothing
    fake.unlink()
    again = demo_train.train_missing(reg, tmp_path / "data", console, work, poll_s=0.05)
    assert again.trained == {} and not fake.exists()


def test_a_failed_step_skips_what_needs_it_and_shows_its_log(
    fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL", "aux")
    console, out = _console()
    res = demo_train.train_missing(
        tmp_path / "registry", tmp_path / "data", console, tmp_path / "work", poll_s=0.05
    )
    assert "exit code 3" in res.failed["aux"]
    assert res.failed["trajectory"] == "not trained: aux failed"
    assert res.failed["forecaster"] == "not trained: aux, trajectory failed"
    assert set(res.trained) == {"empathy"}
    assert "boom: cannot train aux" in out.getvalue()
    assert (tmp_path / "work" / "logs" / "train-aux.log").exists()


def test_serial_mode_never_overlaps(fake: Path, tmp_path: Path) -> None:
    console, _ = _console()
    res = demo_train.train_missing(
        tmp_path / "registry",
        tmp_path / "data",
        console,
        tmp_path / "work",
        parallel=1,
        poll_s=0.05,
    )
    assert res.failed == {}
    ev = _events(fake)
    order = [(k, e[k]) for e in ev for k in ("start", "end") if k in e]
    for i in range(0, len(order), 2):  # start, end, start, end, ...
        assert order[i][0] == "start" and order[i + 1] == ("end", order[i][1])
    argv = {e["start"]: e["argv"] for e in ev if "start" in e}
    assert "--threads" not in argv["empathy"]


def test_setup_seconds_join_the_breakdown_only_when_setup_just_ran(tmp_path: Path) -> None:
    from streaming.commands.demo import _setup_seconds

    rec = tmp_path / ".setup-seconds"
    rec.write_text("31.4 1000000")
    assert _setup_seconds(str(rec), started=1000005.0) == 31.4
    assert _setup_seconds(str(rec), started=1009000.0) is None  # an old setup: not this run
    assert _setup_seconds(None, started=1000005.0) is None
    rec.write_text("garbage")
    assert _setup_seconds(str(rec), started=1000005.0) is None
    assert _setup_seconds(str(tmp_path / "missing"), started=1000005.0) is None


def test_the_demo_replays_one_week_and_the_loop_whole_months() -> None:
    import argparse

    from streaming.commands import demo

    parser = argparse.ArgumentParser()
    demo.register(parser.add_subparsers())
    args = parser.parse_args(["demo"])
    assert (args.since, args.until) == ("2021-10-01", None)  # resolved in run(): one week
    assert demo.DEMO_UNTIL == "2021-10-08" and demo.LOOP_UNTIL1 == "2021-11-01"


def test_the_demo_caches_bytecode_where_the_environment_turns_it_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import subprocess

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    demo_train.use_bytecode_cache()
    assert sys.dont_write_bytecode is False
    child = subprocess.run(
        [sys.executable, "-c", "import sys; print(sys.dont_write_bytecode)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.strip() == "False"  # the training steps it starts write it too
