"""One service process for the chaos suite: the named stages on Kafka, each stage thread with
its own pipeline and bus clients (:class:`streaming.runtime.StageThreads`), the tiny stand-in
models injected, the world's dump as the ingest source and back-fill fetcher.

    python -m tests.chaos.stage_proc BOOTSTRAP DB_URL WORLD_DIR STAGES [--fail-stage S]
                                     [--hostile] [--batch N] [--speed X]

Exits like ``prosocial run``: 0 after SIGTERM, 1 when a stage thread died. ``--fail-stage``
makes that stage's loop raise after its first batch (a bug outside the error policy);
``--hostile`` appends a 2 MB comment and one dated 2090 to the source.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from streaming.bus.kafka import KafkaBus
from streaming.clock import WallClock
from streaming.ops import StageMetrics
from streaming.pipeline import ALL_TOPICS, Pipeline, build_pipeline
from streaming.replay import ReplayIndex
from streaming.runtime import StageThreads, StopFlag
from streaming.settings import Settings, load_settings
from streaming.stages import ReplaySource
from streaming.storage import open_database
from tests.streaming.tiny import tiny_models

HOSTILE_2090 = 3_786_912_000


def hostile(events: list[Any]) -> list[Any]:
    c = next(e for e in events if e.name.startswith("t1_") and e.is_tlc)
    huge = c.model_copy(update={"id": "zzhuge1", "name": "t1_zzhuge1", "body": "x" * 2_000_000})
    fut = c.model_copy(update={"id": "zzfut1", "name": "t1_zzfut1", "created_utc": HOSTILE_2090})
    mid = len(events) // 2
    return [*events[:mid], huge, fut, *events[mid:]]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("db")
    ap.add_argument("world", type=Path)
    ap.add_argument("stages")
    ap.add_argument("--fail-stage")
    ap.add_argument("--hostile", action="store_true")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--speed", type=float, default=0.0, help="replay pace (event s per wall s)")
    a = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    idx = ReplayIndex(a.world)
    events = list(idx.events())
    if a.hostile:
        events = hostile(events)
    settings = load_settings(
        bus="kafka",
        kafka_bootstrap=a.bootstrap,
        database_url=a.db,
        stages=tuple(a.stages.split(",")),
        clock="wall",
        quiet_period_s=0,
        horizon_s=6 * 3600,
        batch_size=a.batch,
        replay_speed=a.speed,
        eval_every=50,
        retry_base_s=0.2,
        retry_cap_s=2.0,
        session_timeout_ms=6000,
        max_poll_interval_ms=30_000,
    )
    _, sessions = open_database(a.db)
    KafkaBus(a.bootstrap).ensure_topics(ALL_TOPICS, 4)

    def build(s: Settings, m: StageMetrics) -> Pipeline:
        bus = KafkaBus(
            a.bootstrap, session_timeout_ms=6000, max_poll_interval_ms=30_000, client_id=s.stages[0]
        )
        p = build_pipeline(
            s,
            bus=bus,
            sessions=sessions,
            clock=WallClock(),
            models=tiny_models(),
            metrics=m,
            source=ReplaySource(lambda: events),
            fetcher=idx,
        )
        if a.fail_stage and s.stages == (a.fail_stage,):
            r = p.runners[a.fail_stage]
            step = r.step
            handled = [0]

            def failing(timeout_s: float | None = None) -> int:
                if handled[0]:  # mid-stream: after its first batch
                    raise RuntimeError(f"chaos: the {a.fail_stage} loop fails")
                n = step(timeout_s)
                handled[0] += n
                return n

            r.step = failing  # type: ignore[method-assign]
        return p

    stop = StopFlag()
    threads = StageThreads(settings, stop, build=build)
    stop.install()
    logging.getLogger(__name__).info("chaos process ready: %s", a.stages)
    return threads.run()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
