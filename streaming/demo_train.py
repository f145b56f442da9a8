"""First-run training for ``prosocial demo``: the demo profile, progress bars, step times.

Missing bundles are trained by ``prosocial-train`` subprocesses with the *demo profile*
(:data:`DEMO_TRAIN_ARGS`: smaller samples, fewer epochs, no bootstrap-heavy extras), which
is fast by design and labelled demo-quality in the report beside the one command that trains
the full models (:data:`FULL_TRAIN_COMMAND`). Steps whose inputs are ready run side by side
(:data:`TRAIN_NEEDS`; two at a time by default: the empathy fine-tune, on one torch thread,
overlaps the aux → trajectory → forecaster chain, which is mostly single-threaded). Every step
shows a bar with its ETA (:class:`streaming.progress.StepBar`); a child's output goes to
``var/demo/logs/train-<name>.log`` and its latest progress message to the bar.

The demo's processes cache the bytecode of what they import even where
``PYTHONDONTWRITEBYTECODE`` is set (:func:`use_bytecode_cache`): ``make setup`` installs without
compiling (compiling all of torch and transformers costs more than it saves), so without
the cache every step would compile what it imports again (torch, transformers, XGBoost and
scikit-learn: 20 CPU s to import uncompiled, 8 from the cache, on a busy 2-core machine).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from streaming.progress import PROGRESS_FILE_ENV, StepBar, read_progress

__all__ = [
    "DEMO_TRAIN_ARGS",
    "EXPECTED_S",
    "FULL_TRAIN_COMMAND",
    "LOOP_FORECASTER_ARGS",
    "TRAIN_NEEDS",
    "TRAIN_ORDER",
    "TrainOutcome",
    "demo_quality_bundles",
    "profile_markdown",
    "train_missing",
    "trainer_command",
    "use_bytecode_cache",
]

logger = logging.getLogger(__name__)

#: Bundles in the order they are trained (outcomes before the forecaster that predicts them).
TRAIN_ORDER = ("aux", "trajectory", "empathy", "forecaster")
#: The bundles each one's training reads (the demo's forecaster runs with ``--no-empathy``).
TRAIN_NEEDS: dict[str, tuple[str, ...]] = {
    "aux": (),
    "trajectory": ("aux",),
    "empathy": (),
    "forecaster": ("aux", "trajectory"),
}
#: The demo profile: lighter settings for the first-run training (the full protocols are
#: the ``prosocial-train`` defaults; see README "Models"). Where a full run chooses something
#: on validation (aux regularisation, the forecaster's training weights and relative text
#: score), the demo fixes the choice the full runs made instead of fitting every candidate.
DEMO_TRAIN_ARGS: dict[str, tuple[str, ...]] = {
    "aux": (
        "--limit",
        "20000",
        "--reg",
        "toxicity=4,politeness=3,supportiveness=10,advice=16,info=4",
    ),
    # 6k threads (20k conversations): PC1 loadings cosine 0.995 with 10k threads' (EVR 29.0%
    # vs 30.3%) for under half the CPU
    "trajectory": ("--max-threads", "6000"),
    # two epochs: one saves ~50 s of the core beside the chain but costs ~2 points of multi
    # F1 on iEmpathize test (72.4 vs 74.4)
    "empathy": ("--seeds", "1", "--epochs", "2", "--patience", "1", "--no-baselines"),
    "forecaster": (
        "--max-threads",
        "2000",
        "--no-time-split",
        "--n-boot",
        "50",
        "--no-empathy",
        "--no-ablations",
        "--weight-schemes",
        "sqrt",
        "--text-relative",
        "on",
        # twice the tuned learning rate: half the boosting rounds, same test figures at 2k
        # threads (+0 h R² 0.200, +3 h 0.706 vs 0.709); the paper ridge's α as chosen there
        "--eta",
        "0.1",
        "--ridge-alpha",
        "10",
    ),
}
#: The ``prosocial demo --loop`` challenger's forecaster recipe: lighter too, but it chooses
#: its training weights and text score on validation, as its comparison with the champion is
#: what the loop shows.
LOOP_FORECASTER_ARGS: tuple[str, ...] = (
    "--max-threads",
    "3000",
    "--no-time-split",
    "--n-boot",
    "50",
    "--no-empathy",
    "--no-ablations",
)
#: Extra arguments when a step runs beside another one (one core each).
OVERLAP_ARGS: dict[str, tuple[str, ...]] = {"empathy": ("--threads", "1")}
#: First-run seconds per step before a step has been timed on this machine: a quiet fresh
#: ``make demo`` on a 2-core AVX2-only EPYC (the slower kind; demo profile, empathy beside the
#: chain), so the bar overestimates on a faster CPU rather than running past its ETA; a step
#: that cannot count its work follows these, then the step's own last time here
#: (``var/demo/timings.json``).
EXPECTED_S: dict[str, float] = {"aux": 79, "trajectory": 46, "empathy": 246, "forecaster": 200}
#: The one command that trains the full-quality models.
FULL_TRAIN_COMMAND = "make train-full"
_PROFILE_FILE = "profile.json"
_TIMINGS_FILE = "timings.json"


@dataclass
class TrainOutcome:
    """What the training step did: failures, seconds per trained bundle, demo bundles."""

    failed: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # the child's user + system
    trained: dict[str, str] = field(default_factory=dict)  # name -> version


def trainer_command() -> list[str] | None:
    """How to invoke ``prosocial-train`` (never imported here: a subprocess)."""
    exe = shutil.which("prosocial-train")
    if exe:
        return [exe]
    import importlib.util

    if importlib.util.find_spec("training") is not None:
        return [sys.executable, "-m", "training.cli"]
    return None


def use_bytecode_cache() -> None:
    """This process and the ones it starts write the bytecode of what they import (even
    where ``PYTHONDONTWRITEBYTECODE`` is set): the first step to import a module caches it
    for the steps, the replay and the runs after it."""
    sys.dont_write_bytecode = False
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class _Running:
    name: str
    proc: subprocess.Popen[bytes]
    task: int
    log: IO[bytes]
    progress_file: Path
    cmd: list[str]


def _reap(proc: subprocess.Popen[bytes]) -> tuple[int, float] | None:
    """``(exit code, CPU seconds of the child and its reaped children)`` once ``proc`` has
    ended, else None (``os.wait4``: the CPU time is the step's own, whatever else runs)."""
    if proc.returncode is not None:
        return proc.returncode, 0.0
    try:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    except ChildProcessError:  # reaped elsewhere
        code = proc.poll()
        return None if code is None else (code, 0.0)
    if pid == 0:
        return None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime


def _command(trainer: list[str], name: str, data: Path, overlap: bool) -> list[str]:
    from models.bundle import TRAIN_HINTS

    hint = TRAIN_HINTS.get(name, f"prosocial-train {name}").split()
    return (
        trainer
        + [a.replace("DIR", str(data)) for a in hint[1:]]
        + list(DEMO_TRAIN_ARGS.get(name, ()))
        + list(OVERLAP_ARGS.get(name, ()) if overlap else ())
    )


def train_missing(
    registry: Path,
    data: Path,
    console: Any,
    work: Path,
    *,
    parallel: int = 2,
    names: Sequence[str] = TRAIN_ORDER,
    poll_s: float = 0.5,
) -> TrainOutcome:
    """Train the bundles of ``names`` that ``registry`` lacks (demo profile), ``parallel``
    steps at a time when their inputs are ready; reuse the others."""
    from models.bundle import TRAIN_HINTS, Registry

    reg = Registry(registry)
    out = TrainOutcome()
    todo: list[str] = []
    for name in names:
        if reg.has_current(name):
            console.print(f"[green]✓[/] bundle {name}: reusing {registry / name}")
        else:
            todo.append(name)
    if not todo:
        return out
    trainer = trainer_command()
    if trainer is None:
        for name in todo:
            out.failed[name] = f"training package not installed (run: {TRAIN_HINTS.get(name)})"
        return out
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    timings = _read_json(work / _TIMINGS_FILE)
    env = dict(os.environ, PROSOCIAL_REGISTRY_DIR=str(registry), PROSOCIAL_DATA_DIR=str(data))
    console.print(
        f"training {', '.join(todo)} with the demo profile (first run only; logs in {logs})"
    )
    running: dict[str, _Running] = {}
    with StepBar(console) as bar:
        while todo or running:
            for name in list(todo):
                needs = [n for n in TRAIN_NEEDS.get(name, ()) if n in names]
                lost = [n for n in needs if n in out.failed]
                if lost:
                    todo.remove(name)
                    out.failed[name] = f"not trained: {', '.join(lost)} failed"
                    continue
                if len(running) >= max(1, parallel) or any(
                    n in todo or n in running for n in needs
                ):
                    continue
                todo.remove(name)
                overlap = parallel > 1 and (bool(todo) or bool(running))
                cmd = _command(trainer, name, data, overlap)
                pfile = logs / f"train-{name}.progress.json"
                pfile.unlink(missing_ok=True)
                log = open(logs / f"train-{name}.log", "wb")  # noqa: SIM115 - closed on exit
                logger.info("training %s: %s", name, " ".join(cmd))
                proc = subprocess.Popen(
                    cmd,
                    env={**env, PROGRESS_FILE_ENV: str(pfile)},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                expected = float(timings.get(name, EXPECTED_S.get(name, 120.0)))
                task = bar.add(f"train {name}", expected_s=expected)
                running[name] = _Running(name, proc, task, log, pfile, cmd)
            for name, r in list(running.items()):
                bar.update(r.task, record=read_progress(r.progress_file))
                ended = _reap(r.proc)
                if ended is None:
                    continue
                code, cpu = ended
                r.log.close()
                del running[name]
                if code == 0 and reg.has_current(name):
                    secs = bar.finish(r.task)
                    out.seconds[name] = round(secs, 1)
                    out.cpu_seconds[name] = round(cpu, 1)
                    out.trained[name] = str(reg.current_version(name))
                    timings[name] = round(secs, 1)
                else:
                    bar.finish(r.task, ok=False, note=f"exit code {code}")
                    tail = (logs / f"train-{name}.log").read_text(errors="replace")
                    out.failed[name] = f"`{' '.join(r.cmd)}` failed with exit code {code}"
                    console.print(f"[red]✗[/] {out.failed[name]}; last lines of its log:")
                    console.print("\n".join(tail.splitlines()[-15:]), markup=False)
            if running:
                time.sleep(poll_s)
    try:
        _write_json(work / _TIMINGS_FILE, timings)
        profile = _read_json(work / _PROFILE_FILE)
        profile.setdefault(str(registry), {}).update(out.trained)
        _write_json(work / _PROFILE_FILE, profile)
    except OSError as exc:
        logger.warning("could not record the demo profile in %s: %s", work, exc)
    return out


def demo_quality_bundles(registry: Path, work: Path) -> dict[str, str]:
    """The registry's current bundles that the demo trained with the demo profile."""
    from models.bundle import Registry

    reg = Registry(registry)
    mine = _read_json(work / _PROFILE_FILE).get(str(registry), {})
    return {n: v for n, v in mine.items() if reg.current_version(n) == v}


def profile_markdown(demo_bundles: dict[str, str]) -> str:
    """The report section that labels demo-quality models (empty when there are none)."""
    if not demo_bundles:
        return ""
    rows = "".join(
        f"- `{n}@{v}`: {' '.join(DEMO_TRAIN_ARGS.get(n, ())) or 'default settings'}\n"
        for n, v in sorted(demo_bundles.items())
    )
    return (
        "\n## Models: demo quality\n\n"
        "These bundles were trained by the demo's first run with the fast demo profile "
        "(smaller samples, fewer epochs); their figures are below the full protocols':\n\n"
        f"{rows}\nTrain the full models with `{FULL_TRAIN_COMMAND}` "
        "(the next `make demo` then reuses them).\n"
    )
