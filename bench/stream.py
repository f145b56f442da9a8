"""Stream service throughput, latency and memory: Kafka (tansu, started here) and embedded.

    python bench/stream.py [--registry DIR] [--since 2021-10-01] [--until 2021-11-01]
                           [--rate 50] [--latency-tlcs 1500]

* Throughput: every event of the replay window is published first; then the scorer (the real
  ``prosocial run --stage scorer`` process, real empathy + forecaster bundles) consumes, scores
  and stores every TLC. TLCs/s = TLCs / (last - first stored score), i.e. steady state with the
  model load excluded (the load time is reported too).
* Latency: a fresh broker/database, scorer + suggester processes (quiet period 0), events
  published at a steady ``--rate`` TLCs/s; latency = stored suggestion time - ingest time of the
  newest TLC it covers; p50 / p99.
* Embedded: the same two measurements in one process on the embedded bus (a child process, so
  its RSS is its own).
* Baseline (same run): the models alone (``predict_comments`` + ``predict`` per post, no bus, no
  database) on the same TLCs; ratios = pipeline / models-alone. The same TLCs with one
  ``predict_many`` per 128-TLC batch (what the scorer does) are reported beside it.
* Kafka throughput runs ``--scorers`` scorer processes (default 2) in one consumer group, the
  cores split between them (torch threads = cores // N, or ``--scorer-threads``): the
  deployment's scale-out unit. The latency run deploys the same N scorers (plus one suggester).
* Latency breakdown (``kafka.latency_breakdown``): the p50 / p99 of each part of a
  suggestion's latency (bus and scorer queue, storage and models, publish and suggester) from
  the stored timestamps of its newest TLC, the TLCs per scoring call, and the consumer-group
  rebalances during the run (``latency_rebalances``: joins of a consumer group beyond each
  process's first; a process's first join and its leaving at the end are not rebalances)
  and the CPU seconds each process used from the start of the paced run to its end
  (``latency_cpu_s``: scorers, suggester, broker and the bench's own publisher; the run's
  wall seconds are ``latency_run_s``).
* Broker: tansu on in-memory storage. Kafka answers a fetch the broker holds as soon as a
  record arrives; tansu answers only when the consumer's ``fetch_max_wait_ms`` has passed, so
  every bus hop (ingest → scorer → suggester) waited up to that long for the broker, not for
  the service (the default 500 ms added ~0.1 s to the p50). The stages here fetch with
  ``--fetch-max-wait-ms`` (default 50, recorded as ``kafka.fetch_max_wait_ms``), what an
  operator on tansu memory storage sets too (``deploy/README.md``: not on S3 storage, where
  tansu needs longer than that to serve a fetch).
* RSS: peak resident memory (VmHWM) of each scorer process (max and sum reported).
* Checkpoint re-forecasts (``--checkpoint-cost``): the embedded throughput run again, without
  and with re-forecasts at ``--checkpoints`` (alternating, ``--repeats`` pairs), on the same
  replay: ``checkpoint_cost.ratio`` = TLCs/s with ÷ TLCs/s without (a forecaster bundle with
  checkpoint models is required; the event clock passes every checkpoint during the replay).
* Empathy fast path: chosen by measurement (``mode="auto"``) for the scorers' and the embedded
  run's thread counts before anything is timed; the choice and its calibration figures are
  reported (``empathy_fast_path``), and the scorers load the cached choice and ONNX graph.

Writes ``bench/results/stream.json`` ({"n_tlc", "kafka": {...}, "embedded": {...}, ...}). Missing
bundles are named and their figures are null: nothing is scored without the real models.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

logger = logging.getLogger("bench.stream")
FIREHOSE_TLC_PER_S = 30.0  # "Reddit as a whole posts roughly tens of TLCs per second"


def vm_hwm_mb(pid: int | str = "self") -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def pct(xs: list[float], q: float) -> float | None:
    import numpy as np

    return round(float(np.percentile(xs, q)), 4) if xs else None


def load_index(args: argparse.Namespace) -> Any:
    from models.paths import resolve_data_dir
    from streaming.replay import ReplayIndex, parse_time

    return ReplayIndex(
        resolve_data_dir(args.data) / "reddit-college",
        since=parse_time(args.since),
        until=parse_time(args.until),
    )


_SESSIONS: dict[str, Any] = {}


def _sessions(db_url: str) -> Any:
    if db_url not in _SESSIONS:
        from streaming.storage import open_database

        _SESSIONS[db_url] = open_database(db_url)[1]
    return _SESSIONS[db_url]


def score_stats(db_url: str) -> dict[str, Any]:
    from sqlalchemy import func, select

    from streaming.storage import ScoreRow

    sessions = _sessions(db_url)
    with sessions() as s:
        n, lo, hi = s.execute(
            select(func.count(), func.min(ScoreRow.scored_ms), func.max(ScoreRow.scored_ms))
        ).one()
    return {"n": int(n or 0), "first_ms": lo, "last_ms": hi}


def latencies(db_url: str, after_ms: int = 0) -> list[float]:
    """Suggestion latencies (stored - newest covered TLC's ingest) of TLCs ingested after
    ``after_ms`` (a warm-up TLC suggested late is not counted)."""
    from sqlalchemy import select

    from streaming.storage import SuggestionRow

    sessions = _sessions(db_url)
    with sessions() as s:
        return [
            x
            for x in s.scalars(
                select(SuggestionRow.latency_s).where(
                    SuggestionRow.made_ms - SuggestionRow.latency_s * 1000 > after_ms
                )
            )
            if x is not None
        ]


def latency_breakdown(db_url: str, after_ms: int = 0) -> dict[str, Any]:
    """Where the latency of each suggestion of a TLC ingested after ``after_ms`` went, from the stored
    timestamps of its newest TLC: ``to_stored`` (ingest → the scorer decoded it: the bus and
    the scorer's queue), ``to_scored`` (→ its score computed: storage and the models) and
    ``to_suggested`` (→ the suggestion stored: commit, publish, the suggester's fetch and
    work); p50 / p99 of each, seconds. ``scoring_call_tlcs``: TLCs per scoring call (the
    scores of one call share ``scored_ms``)."""
    from collections import Counter

    from sqlalchemy import select

    from streaming.storage import ScoreRow, SuggestionRow, TlcRow

    with _sessions(db_url)() as s:
        tlcs = s.execute(
            select(TlcRow.post_name, TlcRow.ingest_ms, TlcRow.stored_ms, ScoreRow.scored_ms).join(
                ScoreRow, ScoreRow.tlc_name == TlcRow.name
            )
        ).all()
        made = s.execute(
            select(SuggestionRow.post_name, SuggestionRow.made_ms, SuggestionRow.latency_s).where(
                SuggestionRow.made_ms > after_ms, SuggestionRow.latency_s.is_not(None)
            )
        ).all()
        calls = Counter(s.scalars(select(ScoreRow.scored_ms).where(ScoreRow.scored_ms > after_ms)))
    by_ingest = {(p, i): (st, sc) for p, i, st, sc in tlcs if i}
    parts: dict[str, list[float]] = {"to_stored": [], "to_scored": [], "to_suggested": []}
    for post, made_ms, lat in made:
        ingest = made_ms - round(lat * 1000)
        if ingest <= after_ms:
            continue
        hit = next(
            (
                by_ingest[(post, i)]
                for i in (ingest, ingest - 1, ingest + 1)
                if (post, i) in by_ingest
            ),
            None,
        )
        if hit is None:
            continue
        stored, scored = hit
        parts["to_stored"].append((stored - ingest) / 1000)
        parts["to_scored"].append((scored - stored) / 1000)
        parts["to_suggested"].append((made_ms - scored) / 1000)
    out: dict[str, Any] = {k: {"p50": pct(v, 50), "p99": pct(v, 99)} for k, v in parts.items()}
    sizes = [float(n) for n in calls.values()]
    out["scoring_call_tlcs"] = {"p50": pct(sizes, 50), "max": max(sizes, default=None)}
    out["samples"] = len(parts["to_stored"])
    return out


def paced(events: list[Any], rate: float, max_tlcs: int) -> Any:
    """Events in order, TLCs spaced 1/rate s apart (other events pass through)."""
    t0 = time.monotonic()
    n = 0
    for ev in events:
        if getattr(ev, "is_tlc", False):
            due = t0 + n / rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            n += 1
            if n > max_tlcs:
                return
        yield ev


def env_for(bootstrap: str, db_url: str, registry: str, **extra: Any) -> dict[str, str]:
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        PROSOCIAL_BUS="kafka",
        PROSOCIAL_KAFKA_BOOTSTRAP=bootstrap,
        PROSOCIAL_DATABASE_URL=db_url,
        PROSOCIAL_REGISTRY_DIR=registry,
        PROSOCIAL_CLOCK="event",
        PROSOCIAL_BATCH_SIZE="128",
        PROSOCIAL_TORCH_THREADS="2",
    )
    env.update({f"PROSOCIAL_{k.upper()}": str(v) for k, v in extra.items()})
    return env


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a running process (``/proc``; None where unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_of(procs: list[subprocess.Popen[bytes]], broker: Any) -> dict[str, float | None]:
    """CPU seconds so far of the latency run's processes: scorers, suggester (the last),
    broker and this bench process (the paced publisher)."""
    cpu = {f"scorer_{i}": cpu_seconds(p.pid) for i, p in enumerate(procs[:-1])}
    cpu["suggester"] = cpu_seconds(procs[-1].pid)
    cpu["broker"] = cpu_seconds(broker.proc.pid) if broker.proc is not None else None
    cpu["bench"] = time.process_time()
    return cpu


def _delta(now: float | None, then: float | None) -> float | None:
    return None if now is None or then is None else round(now - then, 1)


def stage_proc(stage: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # noqa: SIM115 - handed to the child process
    return subprocess.Popen(
        [sys.executable, "-m", "streaming.cli", "-v", "run", "--stage", stage],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=out,
    )


def stop_procs(procs: list[subprocess.Popen[bytes]], timeout_s: float = 60) -> None:
    """SIGTERM (a stage finishes its batch and commits), then SIGKILL after ``timeout_s``."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout_s)
        except subprocess.TimeoutExpired:
            logger.warning(
                "stage process %d still running %.0f s after SIGTERM: killed", p.pid, timeout_s
            )
            p.kill()
            p.wait()


def wait_ready(log: Path, n: int = 1, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.exists() and log.read_text(errors="replace").count("partitions assigned [") >= n:
            return
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
    raise TimeoutError(f"stage in {log} never got partitions; log tail:\n{tail}")


def scorer_threads(args: argparse.Namespace) -> int:
    """Torch / ONNX Runtime threads of each scorer process: ``--scorer-threads``, else the
    cores split between the ``--scorers``."""
    return int(args.scorer_threads or max(1, (os.cpu_count() or 2) // args.scorers))


def warm_fast_path(registry: str, threads: int) -> dict[str, Any]:
    """Calibrate (or read the cached choice of) the empathy fast path at ``threads`` torch
    threads before any scorer starts, so that no scorer's start-up includes the calibration
    and N scorers do not calibrate at once; returns the choice and its figures."""
    import torch

    from models.bundle import Registry
    from models.empathy import EmpathyClassifier
    from models.errors import ModelsError

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        bundle = Registry(registry).current("empathy")
        t0 = time.monotonic()
        clf = EmpathyClassifier.from_bundle(bundle, fast=True, mode="auto")
        load_s = time.monotonic() - t0
        # the calibration the mode was chosen by (its key names the early exit, if any)
        entry = clf.calibration or {}
        return {
            "threads": threads,
            "mode": clf.mode,
            "load_s": round(load_s, 1),
            "figures": entry.get("figures"),
        }
    except (ModelsError, OSError, ValueError) as exc:
        return {"threads": threads, "error": str(exc)}
    finally:
        torch.set_num_threads(before)


def kafka_phase(args: argparse.Namespace, index: Any, n_tlc: int, tmp: Path) -> dict[str, Any]:
    from devtools.servers import TansuBroker
    from streaming.bus.kafka import KafkaBus
    from streaming.pipeline import ALL_TOPICS
    from streaming.stages.ingest import encode_event

    events = list(index.events())
    out: dict[str, Any] = {"fetch_max_wait_ms": args.fetch_max_wait_ms}
    # -- throughput ------------------------------------------------------------------------
    # N scorer processes in one consumer group (the deployment's scale-out unit), the two
    # cores split between them: torch threads = 2 // N
    threads = scorer_threads(args)
    if args.skip_kafka_throughput:
        out.update(scorer_processes=args.scorers, torch_threads_per_scorer=threads)
    else:
        db = f"sqlite:///{tmp / 'kafka.db'}"
        with TansuBroker(log=tmp / "tansu.log") as broker:
            bus = KafkaBus(broker.bootstrap)
            bus.ensure_topics(ALL_TOPICS, args.partitions)
            t0 = time.monotonic()
            for ev in events:
                bus.publish(*encode_event(ev, int(time.time() * 1000)))
            bus.close()
            out["publish_events_per_s"] = round(len(events) / (time.monotonic() - t0), 1)
            env = env_for(
                broker.bootstrap,
                db,
                args.registry,
                torch_threads=threads,
                fetch_max_wait_ms=args.fetch_max_wait_ms,
            )
            logs = [tmp / f"scorer-{i}.log" for i in range(args.scorers)]
            t_start_wall = time.time()
            procs = [stage_proc("scorer", env, lg) for lg in logs]
            peaks = [0.0] * len(procs)
            last_n, last_change = -1, time.monotonic()
            try:
                while True:
                    time.sleep(1.0)
                    peaks = [max(pk, vm_hwm_mb(p.pid) or 0.0) for pk, p in zip(peaks, procs)]
                    st = score_stats(db)
                    if st["n"] != last_n:
                        last_n, last_change = st["n"], time.monotonic()
                    if st["n"] >= n_tlc or any(p.poll() is not None for p in procs):
                        break
                    started = (st["first_ms"] or 0) / 1000
                    if started and time.time() - started > args.budget_s:
                        logger.warning("time budget reached: %d of %d TLCs scored", st["n"], n_tlc)
                        break
                    # before the first score the scorers are loading (calibrating) their models,
                    # which takes minutes on a busy machine
                    stall_s = 120 if st["n"] else 600
                    if time.monotonic() - last_change > stall_s:
                        logger.warning("scorer made no progress for %d s; stopping", stall_s)
                        break
            finally:
                stop_procs(procs)
            peak = max(peaks)
            out.update(
                scorer_processes=args.scorers,
                torch_threads_per_scorer=threads,
                rss_mb_all_scorers=round(sum(peaks), 1),
            )
            st = score_stats(db)
            span = ((st["last_ms"] or 0) - (st["first_ms"] or 0)) / 1000
            first_score_after = ((st["first_ms"] or 0) / 1000) - t_start_wall
            out.update(
                tlc_scored=st["n"],
                tlc_published=n_tlc,
                tlc_per_s=round(st["n"] / span, 1) if span > 0 else None,
                model_load_s=round(first_score_after, 1),
                rss_mb=round(peak, 1),
            )
    # -- latency at a steady rate ------------------------------------------------------------
    db2 = f"sqlite:///{tmp / 'kafka-latency.db'}"
    with TansuBroker(log=tmp / "tansu2.log") as broker:
        KafkaBus(broker.bootstrap).ensure_topics(ALL_TOPICS, args.partitions)
        # the scorers deployed as in the throughput run (N processes in one consumer group,
        # torch threads = cores // N each) and one suggester
        env = env_for(
            broker.bootstrap,
            db2,
            args.registry,
            quiet_period_s=0,
            torch_threads=threads,
            fetch_max_wait_ms=args.fetch_max_wait_ms,
        )
        logs = [tmp / f"lat-scorer-{i}.log" for i in range(args.scorers)]
        logs.append(tmp / "lat-suggester.log")
        procs = [stage_proc("scorer", env, lg) for lg in logs[:-1]]
        procs.append(stage_proc("suggester", env, logs[-1]))
        try:
            for lg in logs:
                wait_ready(lg)
            bus = KafkaBus(broker.bootstrap)
            # warm-up (first inference is slow): the first 50 events, excluded from figures
            warm = events[:50]
            for ev in warm:
                bus.publish(*encode_event(ev, int(time.time() * 1000)))
            bus.flush()
            n_warm = sum(1 for e in warm if getattr(e, "is_tlc", False))
            deadline = time.monotonic() + args.drain_s
            while time.monotonic() < deadline and score_stats(db2)["n"] < n_warm:
                time.sleep(0.5)
            time.sleep(2)
            t_paced = int(time.time() * 1000)
            cpu0 = _cpu_of(procs, broker)
            for ev in paced(events[50:], args.rate, args.latency_tlcs):
                bus.publish(*encode_event(ev, int(time.time() * 1000)))
                bus.flush()
            bus.close()
            sent = min(args.latency_tlcs, n_tlc - n_warm)
            deadline = time.monotonic() + args.drain_s
            while time.monotonic() < deadline and score_stats(db2)["n"] < sent + n_warm:
                time.sleep(1)
            time.sleep(3)
            cpu = {k: _delta(v, cpu0.get(k)) for k, v in _cpu_of(procs, broker).items()}
            run_s = round(time.time() - t_paced / 1000, 1)
        finally:
            stop_procs(procs)
        lat = latencies(db2, t_paced)
        rebalances = sum(
            max(0, lg.read_text(errors="replace").count("Successfully joined group") - 1)
            for lg in logs
        )
        out.update(
            latency_breakdown=latency_breakdown(db2, t_paced),
            latency_rebalances=rebalances,
            latency_cpu_s=cpu,
            latency_run_s=run_s,
            p50_latency_s=pct(lat, 50),
            p99_latency_s=pct(lat, 99),
            latency_samples=len(lat),
            latency_rate_tlc_per_s=args.rate,
            latency_tlcs_sent=sent,
            latency_tlcs_scored=score_stats(db2)["n"] - n_warm,
        )
    return out


def _embedded(
    db: str, partitions: int, models: Any, events: Callable[[], Iterable[Any]], **settings: Any
) -> Any:
    """A pipeline on the embedded bus (event clock) over ``events()``, storing in ``db``."""
    from streaming.bus.embedded import EmbeddedBus
    from streaming.clock import EventClock
    from streaming.pipeline import build_pipeline
    from streaming.settings import load_settings
    from streaming.stages.ingest import ReplaySource
    from streaming.storage import open_database

    _, sessions = open_database(db)
    return build_pipeline(
        load_settings(database_url=db, clock="event", **settings),
        bus=EmbeddedBus(partitions),
        sessions=sessions,
        clock=EventClock(),
        models=models,
        source=ReplaySource(events),
    )


def embedded_child(args: argparse.Namespace) -> int:
    """Runs in its own process: embedded bus, real models, throughput then latency."""
    from models.cpu import configure_torch_threads
    from streaming.modelset import load_models
    from streaming.runtime import run_embedded

    configure_torch_threads(2)
    index = load_index(args)
    events = list(index.events())
    models = load_models(args.registry, fast=True, need=("empathy", "forecaster"))
    tmp = Path(args.child_tmp)
    res: dict[str, Any] = {}
    db = f"sqlite:///{tmp / 'embedded.db'}"
    p = _embedded(
        db,
        args.partitions,
        models,
        lambda: events,
        stages=("ingest", "scorer"),
        batch_size=128,
        checkpoints=None if args.checkpoints is None else parse_delays(args.checkpoints),
    )
    t_end = time.monotonic() + args.budget_s
    run_embedded(p, lambda: time.monotonic() > t_end, chunk=128, drain=False)
    st = score_stats(db)
    span = ((st["last_ms"] or 0) - (st["first_ms"] or 0)) / 1000
    res.update(
        tlc_scored=st["n"],
        events_published=p.ingest.published if p.ingest else None,
        tlc_per_s=round(st["n"] / span, 1) if span > 0 else None,
        checkpoint_scores=checkpoint_rows(db),
    )
    if args.throughput_only:
        Path(args.child_out).write_text(json.dumps(res))
        return 0
    db2 = f"sqlite:///{tmp / 'embedded-latency.db'}"
    p2 = _embedded(
        db2,
        args.partitions,
        models,
        lambda: paced(events, args.rate, args.latency_tlcs),
        stages=("ingest", "scorer", "suggester"),
        quiet_period_s=0,
    )
    t_end = time.monotonic() + args.latency_tlcs / args.rate + args.drain_s
    t0 = time.monotonic()
    run_embedded(p2, lambda: time.monotonic() > t_end, chunk=1, drain=False)
    lat_scored = score_stats(db2)
    achieved = lat_scored["n"] / max(time.monotonic() - t0, 1e-9)
    res["latency_achieved_rate_tlc_per_s"] = round(achieved, 1)
    res["latency_note"] = (
        "one thread: the source is back-pressured, so the offered rate "
        "drops to what the scorer sustains; latency excludes that queueing"
    )
    lat = latencies(db2)
    res.update(
        p50_latency_s=pct(lat, 50),
        p99_latency_s=pct(lat, 99),
        latency_samples=len(lat),
        latency_rate_tlc_per_s=args.rate,
        rss_mb=round(vm_hwm_mb() or 0, 1),
        rss_note="whole process: includes the in-memory replay index of the dump",
    )
    Path(args.child_out).write_text(json.dumps(res))
    return 0


def models_alone(args: argparse.Namespace, index: Any, n: int) -> dict[str, Any]:
    """Baseline: the models without bus or database on the first ``n`` TLCs, grouped by post."""
    from collections import defaultdict

    from redditdata.forest import node_from_event, post_from_event
    from streaming.modelset import load_models

    ms = load_models(args.registry, fast=True, need=("empathy", "forecaster"))
    if ms.empathy is None or ms.forecaster is None:
        return {"missing_models": ms.missing}
    from models.forecaster import Forecaster

    forecaster = ms.forecaster
    assert isinstance(forecaster, Forecaster)  # this bench times the real model's two paths
    by_post: dict[str, list[Any]] = defaultdict(list)
    k = 0
    for ev in index.events():
        if getattr(ev, "is_tlc", False) and k < n:
            by_post[ev.link_id].append(ev)
            k += 1
    first = next(iter(by_post))  # warm-up call (lazy initialisation), not timed
    warm_emp = ms.empathy.predict_comments([c.body for c in by_post[first]])
    forecaster.predict(
        post_from_event(index.submissions[first]),
        [node_from_event(c) for c in by_post[first]],
        warm_emp,
    )
    # empathy over batches of 128 TLCs (as the scorer does), then the forecaster two ways:
    # one call per post (the old scorer) and one call per 128-TLC batch across posts (now)
    flat = [(post, c) for post, cs in by_post.items() for c in cs]
    t0 = time.perf_counter()
    emp: dict[str, Any] = {}
    for i in range(0, len(flat), 128):
        chunk = flat[i : i + 128]
        for (_, c), e in zip(
            chunk, ms.empathy.predict_comments([c.body for _, c in chunk]), strict=True
        ):
            emp[c.name] = e
    t_emp = time.perf_counter() - t0
    posts = {p: post_from_event(index.submissions[p]) for p in by_post}

    def cold() -> None:  # the forecaster's post cache starts empty for both ways
        forecaster.features.clear_post_cache()

    cold()
    t0 = time.perf_counter()
    for post, cs in by_post.items():
        forecaster.predict(posts[post], [node_from_event(c) for c in cs], [emp[c.name] for c in cs])
    t_per_post = time.perf_counter() - t0
    cold()
    t0 = time.perf_counter()
    for i in range(0, len(flat), 128):
        groups: dict[str, tuple[Any, list[Any], None, None]] = {}
        for post, c in flat[i : i + 128]:
            groups.setdefault(post, (posts[post], [], None, None))[1].append(node_from_event(c))
        order = [c for _, nodes, _, _ in groups.values() for c in nodes]
        forecaster.predict_many(list(groups.values()), [emp[c.name] for c in order])
    t_batch = time.perf_counter() - t0
    return {
        "tlcs": k,
        "tlc_per_s": round(k / (t_emp + t_per_post), 1),
        "tlc_per_s_batched_forecaster": round(k / (t_emp + t_batch), 1),
        "empathy_tlc_per_s": round(k / t_emp, 1),
        "forecaster_tlc_per_s_per_post": round(k / t_per_post, 1),
        "forecaster_tlc_per_s_batched": round(k / t_batch, 1),
        "note": "tlc_per_s = empathy + one forecaster call per post (the baseline the "
        "pipeline ratios use); the batched variant is what the scorer now does",
    }


def parse_delays(spec: str) -> list[int]:
    """``"900,3600"`` -> ``[900, 3600]``; ``""`` -> ``[]`` (no re-forecasts)."""
    return [int(v) for v in spec.split(",") if v.strip()]


def checkpoint_rows(db_url: str) -> int:
    from sqlalchemy import text

    with _sessions(db_url)() as s:
        return int(s.execute(text("SELECT COUNT(*) FROM checkpoint_scores")).scalar() or 0)


def checkpoint_cost(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Embedded throughput without and with re-forecasts, alternating, ``args.repeats`` pairs."""
    runs: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
    for i in range(args.repeats):
        for label, spec in (("without", ""), ("with", args.checkpoints_on)):
            sub = tmp / f"cp-{label}-{i}"
            sub.mkdir()
            out = sub / "out.json"
            run_child(args, out, sub, ["--checkpoints", spec, "--throughput-only"])
            runs[label].append(json.loads(out.read_text()))
            logger.info("checkpoint cost %s #%d: %s", label, i, runs[label][-1])
    rate = {k: [r["tlc_per_s"] for r in v if r.get("tlc_per_s")] for k, v in runs.items()}
    mean = {k: round(sum(v) / len(v), 1) if v else None for k, v in rate.items()}
    return {
        "checkpoints": parse_delays(args.checkpoints_on),
        "tlc_per_s_without": mean["without"],
        "tlc_per_s_with": mean["with"],
        "ratio": round(mean["with"] / mean["without"], 3)
        if mean["with"] and mean["without"]
        else None,
        "runs": runs,
    }


def run_child(
    args: argparse.Namespace, child_out: Path, tmp: Path, extra: list[str] | None = None
) -> None:
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "embedded",
            "--child-out",
            str(child_out),
            "--child-tmp",
            str(tmp),
            "--registry",
            args.registry,
            "--since",
            args.since,
            "--until",
            args.until,
            "--rate",
            str(args.rate),
            "--latency-tlcs",
            str(args.latency_tlcs),
            "--budget-s",
            str(args.budget_s),
            "--drain-s",
            str(args.drain_s),
        ]
        + (["--data", args.data] if args.data else [])
        + (extra or []),
        check=True,
    )


def main(argv: list[str] | None = None) -> int:
    from bench.common import bench_parser

    ap = bench_parser(__doc__.split("\n")[0], "stream")
    ap.add_argument("--since", default="2021-10-01", help="first post time of the replay")
    ap.add_argument("--until", default="2021-11-01", help="end of the replay (exclusive)")
    ap.add_argument("--partitions", type=int, default=4, help="partitions per topic (both buses)")
    runs = ap.add_argument_group("throughput and latency runs")
    runs.add_argument("--rate", type=float, default=50.0, help="TLCs/s of the latency run")
    runs.add_argument("--latency-tlcs", type=int, default=1500, help="TLCs of the latency run")
    runs.add_argument("--baseline-tlcs", type=int, default=2000, help="TLCs of the models alone")
    runs.add_argument(
        "--budget-s", type=float, default=300.0, help="max seconds of scoring per throughput run"
    )
    runs.add_argument(
        "--drain-s", type=float, default=120.0, help="max seconds to wait for the latency run"
    )
    runs.add_argument(
        "--work-dir",
        default=None,
        help="keep the brokers', stages' and databases' files here (default: a temporary "
        "directory, removed at the end)",
    )
    kafka = ap.add_argument_group("Kafka")
    for skip, runs_left in (
        ("kafka", "the embedded runs"),
        ("embedded", "the Kafka runs"),
        ("kafka-throughput", "the latency run of the Kafka runs (no kafka.tlc_per_s)"),
    ):
        kafka.add_argument(f"--skip-{skip}", action="store_true", help=f"only {runs_left}")
    kafka.add_argument(
        "--scorers", type=int, default=2, help="scorer processes in one consumer group"
    )
    kafka.add_argument(
        "--scorer-threads",
        type=int,
        default=None,
        help="torch / ONNX Runtime threads per scorer (default: cores // scorers)",
    )
    kafka.add_argument(
        "--fetch-max-wait-ms",
        type=int,
        default=50,
        help="the stages' fetch_max_wait_ms: tansu holds every fetch this long (Kafka answers "
        "as soon as a record arrives)",
    )
    cost = ap.add_argument_group("checkpoint re-forecast cost")
    cost.add_argument(
        "--checkpoint-cost",
        action="store_true",
        help="also measure the embedded throughput without and with checkpoint re-forecasts",
    )
    cost.add_argument(
        "--checkpoints-on",
        default="900,3600,10800",
        help="re-forecast delays (s) for the 'with' runs of --checkpoint-cost",
    )
    cost.add_argument("--repeats", type=int, default=2, help="pairs of --checkpoint-cost runs")
    cost.add_argument("--skip-main", action="store_true", help="only the --checkpoint-cost runs")
    # the child processes' own options
    ap.add_argument("--checkpoints", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--throughput-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child", choices=["embedded"], help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    ap.add_argument("--child-tmp", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    from models.paths import resolve_registry_dir
    from streaming.modelset import load_models

    args.registry = str(resolve_registry_dir(args.registry))
    from models.cpu import configure_torch_threads

    configure_torch_threads(2)  # as the service does (OMP_WAIT_POLICY=PASSIVE by default)
    if args.child == "embedded":
        return embedded_child(args)
    probe = load_models(args.registry, need=("empathy", "forecaster"))
    missing = dict(probe.missing)
    versions = probe.versions()
    del probe
    index = load_index(args)
    n_tlc = index.n_tlcs
    result: dict[str, Any] = {
        "n_tlc": n_tlc,
        "n_events": len(index.submissions) + index.n_comments,
        "window": [args.since, args.until],
        "models": versions,
        "missing_models": missing,
        "machine": {"cpus": os.cpu_count()},
    }
    if missing:
        logger.warning("bundles missing, TLC scoring figures will be null: %s", missing)
    work: Any = tempfile.TemporaryDirectory(prefix="bench-stream-")
    if args.work_dir:
        Path(args.work_dir).mkdir(parents=True, exist_ok=True)
        work = contextlib.nullcontext(args.work_dir)
    with work as td:
        tmp = Path(td)
        if "empathy" not in missing:
            threads = scorer_threads(args)
            result["empathy_fast_path"] = {
                "scorer": warm_fast_path(args.registry, threads),
                "embedded": warm_fast_path(args.registry, 2),
            }
        scoring = not ("empathy" in missing and "forecaster" in missing)
        if not scoring:
            logger.error("no scoring model at all: throughput/latency cannot be measured")
        if not args.skip_main:
            result["baseline_models_alone"] = models_alone(args, index, args.baseline_tlcs)
            if scoring and not args.skip_kafka:
                logger.info("kafka phase (%d events, %d TLCs)", result["n_events"], n_tlc)
                result["kafka"] = kafka_phase(args, index, n_tlc, tmp)
            if scoring and not args.skip_embedded:
                logger.info("embedded phase (child process)")
                child_out = tmp / "embedded.json"
                run_child(args, child_out, tmp)
                result["embedded"] = json.loads(child_out.read_text())
        if scoring and args.checkpoint_cost:
            logger.info("checkpoint re-forecast cost (child processes)")
            result["checkpoint_cost"] = checkpoint_cost(args, tmp)
    base = (result.get("baseline_models_alone") or {}).get("tlc_per_s")
    for k in ("kafka", "embedded"):
        r = result.get(k)
        if r and r.get("tlc_per_s"):
            r["firehoses_at_30_tlc_per_s"] = round(r["tlc_per_s"] / FIREHOSE_TLC_PER_S, 2)
            if base:
                r["ratio_vs_models_alone"] = round(r["tlc_per_s"] / base, 3)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
