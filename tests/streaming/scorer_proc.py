"""A scorer stage process with the tiny test models injected (used by the Kafka reliability
tests: it is killed with SIGKILL, restarted, run twice in one consumer group).

Usage: python -m tests.streaming.scorer_proc BOOTSTRAP DATABASE_URL [STAGES]
"""

from __future__ import annotations

import logging
import sys

from streaming.bus.kafka import KafkaBus
from streaming.clock import EventClock
from streaming.pipeline import ALL_TOPICS, build_pipeline
from streaming.runtime import StopFlag, run_stage
from streaming.settings import load_settings
from streaming.storage import open_database
from tests.streaming.tiny import tiny_models


def main(argv: list[str]) -> int:
    bootstrap, db_url = argv[0], argv[1]
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    settings = load_settings(
        bus="kafka",
        kafka_bootstrap=bootstrap,
        database_url=db_url,
        stages=("scorer",),
        clock="event",
        batch_size=200,
        session_timeout_ms=6000,
    )
    _, sessions = open_database(db_url)
    bus = KafkaBus(bootstrap, session_timeout_ms=6000, max_poll_interval_ms=20_000)
    bus.ensure_topics(ALL_TOPICS, 4)
    p = build_pipeline(
        settings, bus=bus, sessions=sessions, clock=EventClock(), models=tiny_models()
    )
    stop = StopFlag().install()
    logging.getLogger(__name__).info("scorer process ready")
    run_stage(p, "scorer", stop)
    bus.close()
    logging.getLogger(__name__).info("scorer process stopped cleanly")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
