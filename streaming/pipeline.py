"""Building the pipeline: a pure function of settings and collaborators (no I/O here).

:func:`build_pipeline` wires the stages named in ``settings.stages`` to the given bus, session
factory, clock, models and thread fetcher. A stage that cannot run (e.g. the back-fill without
the aux/trajectory bundles) is left out and its reason kept in :attr:`Pipeline.skipped`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from redditdata.events import (
    TOPIC_COMMENTS,
    TOPIC_DEADLETTER,
    TOPIC_OUTCOMES,
    TOPIC_SCORES,
    TOPIC_SUBMISSIONS,
)
from streaming.bus.base import Bus
from streaming.clock import Clock
from streaming.drift import DriftMonitor
from streaming.modelset import ModelSet
from streaming.ops import StageMetrics
from streaming.replay import ThreadFetcher
from streaming.settings import Settings
from streaming.stages import (
    BackfillStage,
    DeadLetters,
    ErrorPolicy,
    EvaluatorStage,
    IngestStage,
    ScorerStage,
    Source,
    Stage,
    StageRunner,
    SuggesterStage,
    dead_letter_policy,
)
from streaming.stages.shadow import ModelReloader
from streaming.storage import SessionFactory
from streaming.transient import Backoff

__all__ = ["ALL_TOPICS", "Pipeline", "build_pipeline", "database_reachable"]

ALL_TOPICS = (TOPIC_SUBMISSIONS, TOPIC_COMMENTS, TOPIC_SCORES, TOPIC_OUTCOMES, TOPIC_DEADLETTER)

#: Consuming stages in data-flow order.
ORDER = ("scorer", "suggester", "backfill", "evaluator")


@dataclass
class Pipeline:
    settings: Settings
    bus: Bus
    sessions: SessionFactory
    clock: Clock
    models: ModelSet
    metrics: StageMetrics
    dead: DeadLetters
    ingest: IngestStage | None = None
    stages: dict[str, Stage] = field(default_factory=dict)
    runners: dict[str, StageRunner] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def health(self) -> dict[str, Any]:
        """Healthy = every stage out of back-off, within ``health_max_lag``, the database and
        the bus reachable (and, in all-stages mode, every stage thread alive)."""
        max_lag = self.settings.health_max_lag
        stages: dict[str, Any] = {}
        problems: list[str] = []
        for n, st in self.stages.items():
            r = self.runners.get(n)
            h = {**st.health(), **(r.health() if r is not None else {})}
            if r is not None and r.failing:
                problems.append(f"{n}: {r.failing}")
            if max_lag is not None and (h.get("lag") or 0) > max_lag:
                h["ok"] = False
                problems.append(f"{n}: lag {h['lag']} > {max_lag}")
            stages[n] = h
        db = database_reachable(self.sessions)
        if db is not None:
            problems.append(f"database: {db}")
        bus = self.bus.reachable()
        if bus is not None:
            problems.append(f"bus: {bus}")
        return {
            "ok": not problems,
            "problems": problems,
            "database": "ok" if db is None else db,
            "bus": "ok" if bus is None else bus,
            "stages": stages,
            "skipped": self.skipped,
            "models": self.models.versions(),
            "missing_models": self.models.missing,
        }


def database_reachable(sessions: SessionFactory) -> str | None:
    """``None`` when ``SELECT 1`` works, else why not."""
    try:
        with sessions() as s:
            s.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable now"
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None


def build_pipeline(
    settings: Settings,
    *,
    bus: Bus,
    sessions: SessionFactory,
    clock: Clock,
    models: ModelSet,
    metrics: StageMetrics | None = None,
    source: Source | None = None,
    fetcher: ThreadFetcher | None = None,
    on_error: ErrorPolicy | None = None,
    reloader: ModelReloader | None = None,
) -> Pipeline:
    metrics = metrics or StageMetrics()
    dead = DeadLetters(bus, sessions, metrics)
    p = Pipeline(settings, bus, sessions, clock, models, metrics, dead)
    want = set(settings.stages)
    for name, version in models.versions().items():
        metrics.set_model(name, version)
    if "ingest" in want:
        if source is None:
            p.skipped["ingest"] = "no source configured (set replay_data, or the bot's source)"
        else:
            p.ingest = IngestStage(
                source, bus, clock, metrics, speed=settings.replay_speed, dead=dead
            )
    if "scorer" in want:
        p.stages["scorer"] = ScorerStage(
            sessions,
            clock,
            metrics,
            dead,
            bus,
            models,
            horizon_s=settings.horizon_s,
            config_hash=settings.config_hash(),
            missing_post_grace_s=settings.missing_post_grace_s,
            missing_post_wall_s=settings.missing_post_wall_s,
            reloader=reloader,
            checkpoints=settings.checkpoints,
            history_scope=settings.history_scope,
            max_score_batch=settings.max_score_batch,
            max_reforecasts_per_tick=settings.max_reforecasts_per_tick,
        )
        if models.empathy is None and models.forecaster is None:
            p.skipped["scoring"] = "scorer stores posts/TLCs but cannot score: " + "; ".join(
                f"{k}: {v}" for k, v in models.missing.items() if k in ("empathy", "forecaster")
            )
    if "suggester" in want:
        p.stages["suggester"] = SuggesterStage(
            sessions,
            clock,
            metrics,
            dead,
            quiet_period_s=settings.quiet_period_s,
            max_reranks_per_tick=settings.max_reranks_per_tick,
        )
        if models.forecaster is None:
            p.skipped["suggestions"] = "no forecaster bundle: no suggestions can be made"
    if "backfill" in want:
        if models.outcomes is None:
            p.skipped["backfill"] = "outcome models missing: " + "; ".join(
                f"{k}: {v}"
                for k, v in models.missing.items()
                if k in ("aux", "trajectory", "outcomes")
            )
        elif fetcher is None:
            p.skipped["backfill"] = "no thread fetcher (replay data or the bot's API fetcher)"
        else:
            p.stages["backfill"] = BackfillStage(
                sessions,
                clock,
                metrics,
                dead,
                bus,
                models.outcomes,
                fetcher,
                horizon_s=settings.horizon_s,
                versions=models.outcome_versions,
                retention_s=int(settings.reply_retention_days * 86400)
                if settings.reply_retention_days > 0
                else None,
            )
    if "evaluator" in want:
        p.stages["evaluator"] = EvaluatorStage(
            sessions,
            clock,
            metrics,
            dead,
            window=settings.eval_window,
            every=settings.eval_every,
            drift=DriftMonitor(
                metrics.registry,
                metric=settings.drift_metric,
                history=settings.drift_history,
                margin=settings.drift_margin,
            )
            if settings.drift_history > 0
            else None,
            target=str(getattr(models.forecaster, "target", "trajectory")),
        )
    policy = on_error or dead_letter_policy(dead)
    for name in ORDER:
        if name in p.stages:
            p.runners[name] = StageRunner(
                p.stages[name],
                bus,
                metrics,
                policy,
                dead,
                batch_size=settings.batch_size,
                poll_timeout_s=settings.poll_timeout_s,
                backoff=Backoff(settings.retry_base_s, settings.retry_cap_s),
            )
    return p
