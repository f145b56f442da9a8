"""Running a pipeline: the embedded all-in-one loop, one stage per process, SIGTERM.

:func:`assemble` does the I/O :func:`streaming.pipeline.build_pipeline` must not: open the
bus and database (migrating it), load the model bundles, build the replay index.
:func:`run_embedded` drives every stage in one thread (ingest pumps a bounded batch, then each
stage consumes until idle: bounded in-flight work). :func:`run_stage` is the loop of one stage
in its own process. Both stop cleanly on SIGTERM/SIGINT: the current batch is finished and
committed, the producer flushed.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streaming.bus.base import Bus
from streaming.bus.embedded import EmbeddedBus
from streaming.clock import Clock, EventClock, WallClock
from streaming.modelset import ModelSet, load_models
from streaming.ops import OpsServer, StageMetrics
from streaming.pipeline import ALL_TOPICS, ORDER, Pipeline, build_pipeline
from streaming.replay import ReplayIndex, parse_time
from streaming.settings import Settings
from streaming.stages import ReplaySource
from streaming.storage import open_database

__all__ = [
    "RunStats",
    "StopFlag",
    "assemble",
    "make_bus",
    "make_clock",
    "run_embedded",
    "run_stage",
    "start_ops",
]

logger = logging.getLogger(__name__)


class StopFlag:
    """Set by SIGTERM/SIGINT (when installed) or by code; checked between batches."""

    def __init__(self) -> None:
        self._ev = threading.Event()

    def set(self, *_: Any) -> None:
        if not self._ev.is_set():
            logger.info("stop requested: finishing the current batch")
        self._ev.set()

    def __call__(self) -> bool:
        return self._ev.is_set()

    def install(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.set)
            signal.signal(signal.SIGINT, self.set)
        return self


def make_bus(settings: Settings) -> Bus:
    if settings.bus == "kafka":
        from streaming.bus.kafka import KafkaBus

        bus: Bus = KafkaBus(
            settings.kafka_bootstrap,
            session_timeout_ms=settings.session_timeout_ms,
            max_poll_interval_ms=settings.max_poll_interval_ms,
        )
    else:
        bus = EmbeddedBus(settings.partitions, settings.embedded_log)
    bus.ensure_topics(ALL_TOPICS, settings.partitions)
    return bus


def make_clock(settings: Settings) -> Clock:
    return EventClock() if settings.clock == "event" else WallClock()


def assemble(
    settings: Settings,
    *,
    bus: Bus | None = None,
    models: ModelSet | None = None,
    index: ReplayIndex | None = None,
    metrics: StageMetrics | None = None,
    clock: Clock | None = None,
    source: Any = None,
    fetcher: Any = None,
    reloader: Any = None,
) -> Pipeline:
    """Open the real collaborators named by ``settings`` and build the pipeline.

    ``source`` (an ingest ``Source``) and ``fetcher`` (a back-fill ``ThreadFetcher``) override
    the replay ones: the bot's composition root passes live Reddit here. Models loaded from
    the registry here follow its ``CURRENT`` forecaster and shadow its ``CHALLENGER``
    (``model_check_s``); injected models do so only with an injected ``reloader``.
    """
    if settings.data_dir and "PROSOCIAL_DATA_DIR" not in os.environ:
        os.environ["PROSOCIAL_DATA_DIR"] = settings.data_dir  # lexicons the models read
    _, sessions = open_database(settings.database_url)
    bus = bus or make_bus(settings)
    clock = clock or make_clock(settings)
    need = set(settings.stages)
    if models is None:
        names = []
        if "scorer" in need:
            names += ["empathy", "forecaster"]
        if "backfill" in need:
            names += ["aux", "trajectory"]
        if "empathy" in names:
            from models.cpu import configure_torch_threads

            configure_torch_threads(settings.torch_threads)
        models = load_models(settings.registry_dir, fast=settings.fast_models, need=names)
        if reloader is None and "scorer" in need and settings.model_check_s > 0:
            from models.paths import resolve_registry_dir
            from streaming.stages.shadow import ModelReloader, load_forecaster

            reg = resolve_registry_dir(settings.registry_dir)
            reloader = ModelReloader(
                reg,
                load_forecaster(reg, fast=settings.fast_models),
                check_every_s=settings.model_check_s,
            )
    if index is None and settings.replay_data and need & {"ingest", "backfill"}:
        index = ReplayIndex(
            settings.replay_data,
            since=parse_time(settings.replay_since),
            until=parse_time(settings.replay_until),
            subreddits=settings.subreddits,
        )
    if source is None and index is not None:
        source = ReplaySource(index.events)
    p = build_pipeline(
        settings,
        bus=bus,
        sessions=sessions,
        clock=clock,
        models=models,
        metrics=metrics,
        source=source,
        fetcher=fetcher if fetcher is not None else index,
        reloader=reloader,
    )
    for st in p.stages.values():
        st.recover()
    return p


@dataclass
class RunStats:
    published: int = 0
    consumed: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0


def _settle(p: Pipeline, stop: Callable[[], bool], max_rounds: int = 10_000) -> None:
    """Let every stage consume until all are idle."""
    for _ in range(max_rounds):
        moved = 0
        for name in ORDER:
            r = p.runners.get(name)
            if r is not None:
                moved += r.step(timeout_s=0)
        if not moved or stop():
            return


def run_embedded(
    p: Pipeline,
    stop: Callable[[], bool] = lambda: False,
    *,
    chunk: int = 256,
    drain: bool = True,
    progress: Callable[[RunStats], None] | None = None,
) -> RunStats:
    """Ingest → all stages in one thread; with ``drain``, at the end of a finite source the
    clock moves past the last horizon so pending quiet periods and back-fills complete."""
    stats = RunStats()
    t0 = time.perf_counter()
    if p.ingest is not None:
        while not stop() and not p.ingest.exhausted:
            stats.published += p.ingest.pump(chunk)
            _settle(p, stop)
            if progress is not None:
                stats.wall_s = time.perf_counter() - t0
                progress(stats)
    else:
        while not stop():
            if not any(r.step(timeout_s=0.2) for r in p.runners.values()) and drain:
                break
    _settle(p, stop)
    if drain and not stop():
        if isinstance(p.clock, EventClock):
            p.clock.advance_to(p.clock.now() + p.settings.horizon_s + p.settings.quiet_period_s + 1)
        for name in ORDER:
            st = p.stages.get(name)
            if st is not None:
                st.drain()
                p.dead.flush()
                p.bus.flush()
                _settle(p, stop)
    stats.wall_s = time.perf_counter() - t0
    for name in p.runners:
        stats.consumed[name] = int(
            p.metrics.registry.get_sample_value("prosocial_events_in_total", {"stage": name}) or 0
        )
    return stats


def run_stage(p: Pipeline, name: str, stop: Callable[[], bool]) -> None:
    """One stage's loop (its own process): poll → handle → commit until ``stop()``."""
    if name == "ingest":
        if p.ingest is None:
            raise SystemExit(f"ingest stage not available: {p.skipped.get('ingest')}")
        p.ingest.run(stop)
        p.bus.flush()
        return
    runner = p.runners.get(name)
    if runner is None:
        raise SystemExit(f"stage {name} not available: {p.skipped.get(name, 'not configured')}")
    while not stop():
        runner.step()
    p.bus.flush()


def start_ops(p: Pipeline) -> OpsServer | None:
    if p.settings.metrics_port is None:
        return None
    return OpsServer(p.metrics, p.health, host="0.0.0.0", port=p.settings.metrics_port).start()
