"""The chaos scenarios: each starts real components (tansu, PostgreSQL, SQLite, service
processes), injects one fault while the stream runs, waits until every expected output is
there and audits the database (:func:`tests.chaos.world.audit`).

Every scenario returns ``{"name", "events", "lost", "duplicated_rows",
"duplicate_side_effects", "dead_lettered_valid", "recovered_s", ...notes}``; ``recovered_s``
is the wall time from the end of the fault (server back, process restarted) until the audit
finds nothing missing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.servers import PostgresServer, TansuBroker, moto_server
from streaming.storage import SessionFactory, open_database
from tests.chaos.world import World, audit

__all__ = [
    "Env",
    "broker_restart",
    "kill9_stage",
    "oversized_and_future",
    "postgres_outage",
    "sigterm_mid_batch",
    "simulated_day",
    "stage_thread_fails",
]

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
STAGES = ("ingest", "scorer", "suggester", "backfill", "evaluator")


@dataclass
class Env:
    """Where a scenario runs: the world, a scratch directory, the PostgreSQL server."""

    world: World
    tmp: Path
    pg: PostgresServer
    #: seconds the paced ingest spreads the world over (faults land mid-stream)
    stream_s: float = 15.0
    timeout_s: float = 480.0  # a generous bound on a loaded machine; a clean run returns early
    _n: int = 0

    def fresh_db(self) -> str:
        self._n += 1
        return self.pg.fresh_database(f"chaos{self._n}_{os.getpid()}")

    @property
    def speed(self) -> float:
        span = self.world.span_s or 1.0
        return span / self.stream_s


class Service:
    """A service process (``tests.chaos.stage_proc``) running some stages."""

    def __init__(self, env: Env, bootstrap: str, db: str, stages: str, *extra: str) -> None:
        self.env, self.bootstrap, self.db, self.stages, self.extra = (
            env,
            bootstrap,
            db,
            stages,
            extra,
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = env.tmp / f"svc-{stages.replace(',', '-')}.log"

    def start(self, *extra: str) -> Service:
        py = os.pathsep.join([str(ROOT), str(ROOT / "training"), os.environ.get("PYTHONPATH", "")])
        cmd = [
            sys.executable,
            "-m",
            "tests.chaos.stage_proc",
            self.bootstrap,
            self.db,
            str(self.env.world.dir),
            self.stages,
            "--speed",
            str(self.env.speed),
            *self.extra,
            *extra,
        ]
        out = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=py), stdout=out, stderr=out
        )
        return self

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout_s: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            if self.wait(30) is None:
                self.proc.kill()
                self.proc.wait(10)


def wait_clean(
    sessions: SessionFactory, world: World, timeout_s: float, **kw: Any
) -> tuple[dict[str, int], float]:
    """Poll the audit until nothing is lost (or ``timeout_s``); ``(figures, seconds)``."""
    t0 = time.monotonic()
    while True:
        try:
            fig = audit(sessions, world, **kw)
        except Exception as exc:  # noqa: BLE001 - the database may still be coming back
            logger.info("audit not possible yet: %s", exc)
            fig = None
        if fig is not None and fig["lost"] == 0:
            return fig, time.monotonic() - t0
        if time.monotonic() - t0 > timeout_s:
            assert fig is not None
            return fig, float("nan")
        time.sleep(1.0)


def _progress(sessions: SessionFactory, world: World, frac: float, timeout_s: float) -> None:
    """Wait until ``frac`` of the world's TLCs are scored (the fault lands mid-stream)."""
    from sqlalchemy import func, select

    from streaming.storage import ScoreRow

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        with sessions() as s:
            n = s.scalar(select(func.count()).select_from(ScoreRow)) or 0
        if n >= frac * len(world.tlcs):
            return
        time.sleep(0.3)
    raise TimeoutError(f"the stream did not reach {frac:.0%} in {timeout_s}s")


@contextlib.contextmanager
def _running(*services: Service) -> Iterator[None]:
    try:
        yield
    finally:
        for s in services:
            s.stop()


def _result(
    name: str, events: int, fig: dict[str, int], rec: float, **notes: Any
) -> dict[str, Any]:
    return {"name": name, "events": events, **fig, "recovered_s": round(rec, 2), **notes}


# -- scenarios -------------------------------------------------------------------------------
def postgres_outage(env: Env, outage_s: float = 60.0) -> dict[str, Any]:
    """PostgreSQL stopped for ``outage_s`` mid-stream under the all-stages service."""
    db = env.fresh_db()
    _, sessions = open_database(db)
    with TansuBroker() as broker:
        svc = Service(env, broker.bootstrap, db, ",".join(STAGES)).start()
        with _running(svc):
            _progress(sessions, env.world, 0.2, env.timeout_s)
            env.pg.halt()
            time.sleep(outage_s)
            env.pg.resume()
            fig, rec = wait_clean(sessions, env.world, env.timeout_s)
            alive = svc.proc is not None and svc.proc.poll() is None
    return _result(
        f"postgres_stopped_{int(outage_s)}s",
        env.world.events,
        fig,
        rec,
        service_survived=alive,
    )


def broker_restart(env: Env, down_s: float = 5.0) -> dict[str, Any]:
    """tansu (S3 storage on moto, so the log survives) killed -9 mid-stream and restarted."""
    db = env.fresh_db()
    _, sessions = open_database(db)
    with moto_server() as s3:
        broker = TansuBroker(storage="s3://tansu/", s3_endpoint=s3, log=env.tmp / "tansu.log")
        broker.start()
        try:
            svc = Service(env, broker.bootstrap, db, ",".join(STAGES)).start()
            with _running(svc):
                _progress(sessions, env.world, 0.2, env.timeout_s)
                broker.stop(kill=True)
                time.sleep(down_s)
                broker.start()
                fig, rec = wait_clean(sessions, env.world, env.timeout_s)
                alive = svc.proc is not None and svc.proc.poll() is None
        finally:
            broker.stop()
    return _result(
        "broker_killed_and_restarted", env.world.events, fig, rec, service_survived=alive
    )


def kill9_stage(env: Env, stage: str) -> dict[str, Any]:
    """``stage`` in its own process, killed with SIGKILL mid-stream and restarted."""
    db = env.fresh_db()
    _, sessions = open_database(db)
    others = ",".join(s for s in STAGES if s != stage)
    with TansuBroker() as broker:
        rest = Service(env, broker.bootstrap, db, others).start()
        target = Service(env, broker.bootstrap, db, stage).start()
        with _running(rest, target):
            _progress(sessions, env.world, 0.2, env.timeout_s)
            target.signal(signal.SIGKILL)
            target.wait(10)
            target.start()
            fig, rec = wait_clean(sessions, env.world, env.timeout_s)
    return _result(f"kill9_{stage}", env.world.events, fig, rec)


def sigterm_mid_batch(env: Env) -> dict[str, Any]:
    """SIGTERM to the scorer process while it handles a batch: it finishes (or abandons) the
    batch, exits 0, and a restarted scorer picks up from the last commit."""
    db = env.fresh_db()
    _, sessions = open_database(db)
    with TansuBroker() as broker:
        rest = Service(env, broker.bootstrap, db, "ingest,suggester,backfill,evaluator").start()
        target = Service(env, broker.bootstrap, db, "scorer", "--batch", "500").start()
        with _running(rest, target):
            _progress(sessions, env.world, 0.2, env.timeout_s)
            target.signal(signal.SIGTERM)
            code = target.wait(60)
            target.start()
            fig, rec = wait_clean(sessions, env.world, env.timeout_s)
    return _result("sigterm_mid_batch", env.world.events, fig, rec, exit_code=code)


def stage_thread_fails(env: Env, stage: str = "suggester") -> dict[str, Any]:
    """All stages in one process; one stage thread dies: the process must exit non-zero (the
    supervisor's cue), and the restarted process completes the stream."""
    db = env.fresh_db()
    _, sessions = open_database(db)
    with TansuBroker() as broker:
        svc = Service(env, broker.bootstrap, db, ",".join(STAGES))
        svc.start("--fail-stage", stage)
        with _running(svc):
            code = svc.wait(env.timeout_s)
            svc.start()  # what systemd's Restart=on-failure does
            fig, rec = wait_clean(sessions, env.world, env.timeout_s)
    return _result(f"all_stages_{stage}_thread_fails", env.world.events, fig, rec, exit_code=code)


def oversized_and_future(env: Env) -> dict[str, Any]:
    """A 2 MB record and one dated 2090 in the stream (Kafka, all stages in one process)."""
    from sqlalchemy import select

    from streaming.storage import DeadLetterRow

    db = env.fresh_db()
    _, sessions = open_database(db)
    with TansuBroker() as broker:
        svc = Service(env, broker.bootstrap, db, ",".join(STAGES), "--hostile").start()
        with _running(svc):
            fig, rec = wait_clean(sessions, env.world, env.timeout_s)
            time.sleep(2)
            with sessions() as s:
                reasons = sorted(
                    r.split(":", 1)[0] for r in s.scalars(select(DeadLetterRow.reason))
                )
            alive = svc.proc is not None and svc.proc.poll() is None
    return _result(
        "record_2mb_and_dated_2090",
        env.world.events + 2,
        fig,
        rec,
        dead_letter_reasons=reasons,
        service_survived=alive,
    )


def simulated_day(env: Env, hours: int = 24, posts_per_hour: int = 30) -> dict[str, Any]:
    """24 h of a simulated subreddit (real texts, synthetic ids and times) through the embedded
    all-in-one service on SQLite, RSS sampled every simulated hour."""
    from tests.chaos.simulate import run_simulated_day

    return run_simulated_day(env.tmp, hours=hours, posts_per_hour=posts_per_hour)


SCENARIOS: dict[str, Callable[..., dict[str, Any]]] = {
    "postgres_outage": postgres_outage,
    "broker_restart": broker_restart,
    "kill9": kill9_stage,
    "sigterm": sigterm_mid_batch,
    "thread_fails": stage_thread_fails,
    "bad_input": oversized_and_future,
    "day": simulated_day,
}
