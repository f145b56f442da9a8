"""Running a pipeline: the embedded all-in-one loop, one stage per process, SIGTERM.

:func:`assemble` does the I/O :func:`streaming.pipeline.build_pipeline` must not: open the
bus and database (migrating it), load the model bundles, build the replay index.
:func:`run_embedded` drives every stage in one thread (ingest pumps a bounded batch, then each
stage consumes until idle: bounded in-flight work); :func:`serve_embedded` keeps serving timers
after a finite source ends, blocking in poll (no busy loop). :func:`run_stage` is the loop of
one stage in its own process; :class:`StageThreads` runs every stage in one process on Kafka,
each with its own pipeline (own producer and consumer) — a stage thread that dies stops the
others and the process exits non-zero, so the supervisor restarts it. All stop on
SIGTERM/SIGINT: the current batch is finished and committed, or (while it waits out a
transient failure) abandoned uncommitted; the producer is flushed.
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
from streaming.replay import ReplayIndex, ThreadFetcher, parse_time
from streaming.settings import Settings
from streaming.stages import ReplaySource, Source
from streaming.stages.shadow import ModelReloader
from streaming.storage import open_database

__all__ = [
    "RunStats",
    "StageThreads",
    "StopFlag",
    "assemble",
    "make_bus",
    "make_clock",
    "run_embedded",
    "run_stage",
    "serve_embedded",
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

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to ``timeout_s`` unless a stop arrives; whether one did."""
        return self._ev.wait(timeout_s)

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
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            replication_factor=settings.replication_factor,
            min_insync_replicas=settings.min_insync_replicas,
            idempotent=settings.idempotent_producer,
            max_record_bytes=settings.max_record_bytes,
        )
    else:
        bus = EmbeddedBus(
            settings.partitions,
            settings.embedded_log,
            compact=settings.embedded_compact,
            max_record_bytes=settings.max_record_bytes,
        )
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
    source: Source | None = None,
    fetcher: ThreadFetcher | None = None,
    reloader: ModelReloader | None = None,
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
            from streaming.stages.shadow import load_forecaster

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
    for r in p.runners.values():
        r.stop = stop
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


def serve_embedded(p: Pipeline, stop: Callable[[], bool], *, chunk: int = 256) -> RunStats:
    """The embedded service: run the source out, then keep serving timers and late records
    until ``stop()``; when nothing moves it waits ``poll_timeout_s`` (no busy loop)."""
    stats = run_embedded(p, stop, chunk=chunk, drain=False) if p.ingest is not None else RunStats()
    for r in p.runners.values():
        r.stop = stop
    idle = max(0.05, p.settings.poll_timeout_s)
    while not stop():
        moved = sum(r.step(timeout_s=0) for r in p.runners.values())
        if not moved:
            wait = getattr(stop, "wait", None)
            if wait is not None:
                wait(idle)
            else:
                time.sleep(idle)
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
    runner.stop = stop
    while not stop():
        runner.step()
    p.bus.flush()


class StageThreads:
    """Every stage in one process, each in its own thread with its own pipeline (its own bus
    clients: a Kafka producer/consumer is never shared between threads).

    :meth:`run` returns the process's exit status: 0 after a requested stop, 1 when a stage
    thread died (the others are stopped first, so the supervisor restarts a clean process).
    """

    def __init__(
        self,
        settings: Settings,
        stop: StopFlag,
        *,
        build: Callable[[Settings, StageMetrics], Pipeline] | None = None,
        metrics: StageMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.stop = stop
        self.metrics = metrics or StageMetrics()
        make = build or (lambda s, m: assemble(s, metrics=m))
        self.pipelines: dict[str, Pipeline] = {}
        self.skipped: dict[str, str] = {}
        for name in settings.stages:
            p = make(settings.model_copy(update={"stages": (name,)}), self.metrics)
            if (name == "ingest" and p.ingest is None) or (
                name != "ingest" and name not in p.runners
            ):
                self.skipped[name] = p.skipped.get(name, "not available")
                p.bus.close()
                continue
            self.pipelines[name] = p
        self.failed: dict[str, BaseException] = {}
        self.threads: dict[str, threading.Thread] = {}

    def _body(self, name: str) -> None:
        try:
            run_stage(self.pipelines[name], name, self.stop)
        except BaseException as exc:
            self.failed[name] = exc
            logger.critical(
                "stage thread %s died: %s; stopping the process", name, exc, exc_info=exc
            )
            self.stop.set()

    def health(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": True, "problems": [], "stages": {}, "skipped": self.skipped}
        for name, p in self.pipelines.items():
            h = p.health()
            t = self.threads.get(name)
            alive = t is not None and t.is_alive()
            out["stages"][name] = {**h["stages"].get(name, {}), "thread_alive": alive}
            out["problems"] += h["problems"]
            if not alive:
                out["problems"].append(f"{name}: thread not running")
            out.setdefault("models", {}).update(h.get("models", {}))
            out["database"] = h.get("database")
            out["bus"] = h.get("bus")
        out["ok"] = not out["problems"]
        return out

    def run(self) -> int:
        for name in self.pipelines:
            t = threading.Thread(target=self._body, args=(name,), name=f"stage-{name}")
            self.threads[name] = t
            t.start()
        while any(t.is_alive() for t in self.threads.values()):
            for t in self.threads.values():
                t.join(timeout=0.5)
            if self.failed:
                self.stop.set()
        for p in self.pipelines.values():
            try:
                p.bus.close()
            except Exception:
                logger.warning("closing a stage's bus failed", exc_info=True)
        return 1 if self.failed else 0


def start_ops(p: Pipeline, health: Callable[[], dict[str, Any]] | None = None) -> OpsServer | None:
    """``/healthz`` and ``/metrics`` on ``metrics_host:metrics_port`` (loopback by default)."""
    if p.settings.metrics_port is None:
        return None
    return OpsServer(
        p.metrics,
        health or p.health,
        host=p.settings.metrics_host,
        port=p.settings.metrics_port,
    ).start()
