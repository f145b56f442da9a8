"""The retraining loop end to end (``prosocial demo --loop``).

1. replay month 1 with the registry's champion (scores, back-filled outcomes, reply trees);
2. ``prosocial-train forecaster --from-db`` on month 1 → a candidate (and a deliberately worse
   one trained on shuffled outcomes, ``--shuffle-outcomes``);
3. replay month 2 with the candidate as the ``CHALLENGER`` scored in shadow (the worse one in
   a copy of the month-1 database, one challenger per run);
4. ``compare`` each challenger with the champion on month 2's back-filled outcomes (which no
   challenger trained on) and apply the promotion gate: promote, or refuse.

Training runs as a subprocess (``prosocial-train``): serving code never imports ``training``.
The registry given is modified (candidates, ``CHALLENGER``, possibly ``CURRENT``) — use a
copy. The report is one JSON object with ``champion``, ``challenger``, ``compare`` (per
subreddit), ``decision`` and the same for ``worse_challenger``.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streaming.errors import StreamingError

__all__ = ["LoopConfig", "LoopError", "run_loop"]

logger = logging.getLogger(__name__)


class LoopError(StreamingError):
    """A step of the retraining loop failed (training, or no data to compare on)."""


@dataclass
class LoopConfig:
    data: Path
    registry: Path
    work: Path
    month1: tuple[str, str]
    month2: tuple[str, str]
    subreddits: Sequence[str]
    trainer: Sequence[str]
    train_args: Sequence[str] = ()
    n_boot: int = 200
    gate: Any = None  # GateThresholds
    worse_seed: int | None = 1
    by: str = "prosocial demo --loop"
    overrides: dict[str, Any] = field(default_factory=dict)


def _replay(cfg: LoopConfig, db: Path, since: str, until: str) -> dict[str, Any]:
    from streaming.clock import EventClock
    from streaming.replay import ReplayIndex, parse_time
    from streaming.runtime import assemble, run_embedded
    from streaming.settings import load_settings

    settings = load_settings(
        None,
        database_url=f"sqlite:///{db}",
        bus="embedded",
        registry_dir=str(cfg.registry),
        clock="event",
        replay_data=str(cfg.data),
        replay_since=since,
        replay_until=until,
        subreddits=",".join(cfg.subreddits),
        quiet_period_s=600,
        **cfg.overrides,
    )
    index = ReplayIndex(
        cfg.data, since=parse_time(since), until=parse_time(until), subreddits=settings.subreddits
    )
    t0 = time.perf_counter()
    p = assemble(settings, index=index, clock=EventClock())
    stats = run_embedded(p)
    scorer = p.stages.get("scorer")
    busy = p.metrics.registry.get_sample_value("prosocial_batch_seconds_sum", {"stage": "scorer"})
    out: dict[str, Any] = {
        "window": [since, until],
        "posts": len(index.submissions),
        "tlcs": index.n_tlcs,
        "wall_s": round(time.perf_counter() - t0, 1),
        "replay_s": round(stats.wall_s, 1),
        "champion": p.models.forecaster_version,
        "missing_models": dict(p.models.missing),
        "scorer_busy_s": round(busy or 0.0, 2),
        **(scorer.health() if scorer is not None else {}),
    }
    p.bus.close()
    if out["champion"] is None:
        raise LoopError(f"no champion forecaster could be loaded: {p.models.missing}")
    return out


def _train(cfg: LoopConfig, db: Path, extra: Sequence[str]) -> tuple[str, float]:
    from models.bundle import Registry
    from models.registry import audit_log

    cmd = [
        *cfg.trainer,
        "forecaster",
        "--from-db",
        f"sqlite:///{db}",
        "--since",
        cfg.month1[0],
        "--until",
        cfg.month1[1],
        "--subreddits",
        ",".join(cfg.subreddits),
        "--registry",
        str(cfg.registry),
        "--data",
        str(cfg.data),
        *cfg.train_args,
        *extra,
    ]
    logger.info("loop: %s", " ".join(cmd))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr, check=False, env=os.environ)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise LoopError(f"`{' '.join(cmd)}` failed with exit code {proc.returncode}")
    cands = [e for e in audit_log(Registry(cfg.registry), "forecaster") if e.action == "candidate"]
    if not cands:
        raise LoopError("training finished but registered no candidate")
    return str(cands[-1].version), wall


def _copy_db(src: Path, dst: Path) -> None:
    for f in dst.parent.glob(dst.name + "*"):
        f.unlink()
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


def _shadow_cost(rep: dict[str, Any]) -> dict[str, Any]:
    n, sec, busy = rep.get("shadow_scored", 0), rep.get("shadow_seconds", 0.0), rep["scorer_busy_s"]
    return {
        "tlcs": n,
        "seconds": sec,
        "tlcs_per_s": round(n / sec, 1) if sec else None,
        "share_of_scorer_time": round(sec / busy, 3) if busy else None,
        "champion_scorer_tlcs_per_s": round(rep["tlcs"] / (busy - sec), 1) if busy > sec else None,
    }


def _judge(
    cfg: LoopConfig, db: Path, challenger: str, since: str, until: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    from models.bundle import Registry
    from models.registry import promote
    from streaming.compare import compare_models
    from streaming.gate import GateThresholds, decide
    from streaming.replay import parse_time
    from streaming.storage import open_database

    engine, sessions = open_database(f"sqlite:///{db}")
    report = compare_models(
        sessions,
        challenger=challenger,
        since=parse_time(since),
        until=parse_time(until),
        subreddits=cfg.subreddits,
        n_boot=cfg.n_boot,
        trained_on=_trained_on(Registry(cfg.registry), challenger),
        target=str(
            Registry(cfg.registry)
            .get("forecaster", challenger, verify=False)
            .params.get("target", "trajectory")
        ),
    )
    engine.dispose()
    th = cfg.gate or GateThresholds()
    d = decide(report, th)
    decision: dict[str, Any] = {**d.as_dict(), "promoted": False}
    if d.promote:
        e = promote(
            Registry(cfg.registry),
            "forecaster",
            challenger,
            by=cfg.by,
            reason=f"gate passed on back-filled outcomes {since} → {until}",
            evidence={"gate": d.as_dict(), "overall": report["by_subreddit"]["*"]["paired"]},
        )
        decision |= {"promoted": True, "audit": e.as_dict()}
    return report, decision


def run_loop(cfg: LoopConfig) -> dict[str, Any]:
    from models.bundle import Registry
    from models.registry import audit_log, set_challenger

    t0 = time.perf_counter()
    cfg.work.mkdir(parents=True, exist_ok=True)
    db = cfg.work / "loop.db"
    for f in cfg.work.glob("loop*.db*"):
        f.unlink()
    reg = Registry(cfg.registry)
    champion = reg.current_version("forecaster")
    timings: dict[str, float] = {}

    logger.info("loop: month 1 %s → %s with champion %s", *cfg.month1, champion)
    m1 = _replay(cfg, db, *cfg.month1)
    timings["replay_month1_s"] = m1["wall_s"]

    challenger, timings["train_challenger_s"] = _train(cfg, db, [])
    worse = None
    if cfg.worse_seed is not None:
        worse, timings["train_worse_s"] = _train(
            cfg, db, ["--shuffle-outcomes", str(cfg.worse_seed)]
        )
        _copy_db(db, cfg.work / "loop-worse.db")

    set_challenger(reg, "forecaster", challenger, by=cfg.by, reason="shadow on month 2")
    m2 = _replay(cfg, db, *cfg.month2)
    timings["replay_month2_shadow_s"] = m2["wall_s"]
    w2 = None
    wdb = cfg.work / "loop-worse.db"
    if worse is not None:
        set_challenger(reg, "forecaster", worse, by=cfg.by, reason="shadow (shuffled outcomes)")
        w2 = _replay(cfg, wdb, *cfg.month2)
        timings["replay_month2_worse_s"] = w2["wall_s"]
    set_challenger(reg, "forecaster", None, by=cfg.by, reason="shadow runs finished")
    # both are judged against the champion that scored month 2; the worse one first, so that
    # a promotion of the good one cannot change what the worse one is compared with
    worse_out: dict[str, Any] | None = None
    if worse is not None and w2 is not None:
        wcompare, wdecision = _judge(cfg, wdb, worse, *cfg.month2)
        worse_out = {
            "version": worse,
            "trained_on": _trained_on(reg, worse),
            "shadow_cost": _shadow_cost(w2),
            "compare": wcompare,
            "decision": wdecision,
        }
    compare, decision = _judge(cfg, db, challenger, *cfg.month2)
    out: dict[str, Any] = {
        "months": {"month1": list(cfg.month1), "month2": list(cfg.month2)},
        "subreddits": list(cfg.subreddits),
        "champion": {
            "version": champion,
            "replay_month1": m1,
            "month2": {
                k: v["champion"] for k, v in compare["by_subreddit"].items() if "champion" in v
            },
        },
        "challenger": {
            "version": challenger,
            "trained_on": _trained_on(reg, challenger),
            "replay_month2": m2,
            "shadow_cost": _shadow_cost(m2),
        },
        "compare": compare,
        "decision": decision,
    }
    if worse_out is not None:
        out["worse_challenger"] = worse_out
    out["audit"] = [e.as_dict() for e in audit_log(reg, "forecaster")]
    out["timings"] = timings
    out["loop_wall_s"] = round(time.perf_counter() - t0, 1)
    return out


def _trained_on(reg: Any, version: str) -> dict[str, Any] | None:
    from models.registry import audit_log

    for e in audit_log(reg, "forecaster"):
        if e.action == "candidate" and e.version == version:
            return dict((e.info or {}).get("trained_on") or {})
    return None


def write_report(rep: dict[str, Any], path: Path) -> None:
    from streaming.stages.scorer import jsonable

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(rep), indent=2))
