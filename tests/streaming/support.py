"""Helpers the streaming tests call (fixtures live in ``conftest.py``): a whole-pipeline replay
and raw events as the bus carries them."""

from __future__ import annotations

import itertools
import json
from typing import Any

from streaming.bus.base import Message
from streaming.bus.embedded import EmbeddedBus
from streaming.clock import EventClock
from streaming.modelset import ModelSet
from streaming.ops import StageMetrics
from streaming.pipeline import Pipeline
from streaming.replay import ReplayIndex
from streaming.runtime import RunStats, assemble, run_embedded
from streaming.settings import load_settings
from streaming.stages.base import DeadLetters
from streaming.stages.scorer import ScorerStage
from streaming.storage import open_database

__all__ = ["HORIZON", "message", "replay", "replay_pipeline", "scorer_stage", "submission"]

#: the outcome horizon the replays use (the service's default, 48 h)
HORIZON = 48 * 3600


def replay_pipeline(index: ReplayIndex, db_url: str, models: ModelSet, **settings: Any) -> Pipeline:
    """Every stage, set up to replay ``index`` (embedded bus, event clock, 48 h horizon, 10 min
    quiet period; ``settings`` override)."""
    s = load_settings(
        database_url=db_url,
        clock="event",
        replay_data="-",
        horizon_s=HORIZON,
        quiet_period_s=600,
        **settings,
    )
    return assemble(s, models=models, index=index, clock=EventClock())


def replay(
    index: ReplayIndex, db_url: str, models: ModelSet, **settings: Any
) -> tuple[Pipeline, RunStats]:
    """Replay ``index`` through every stage (:func:`replay_pipeline`) to the end; the pipeline
    and its run figures."""
    p = replay_pipeline(index, db_url, models, **settings)
    return p, run_embedded(p)


def scorer_stage(db_url: str, bus: EmbeddedBus, forecaster: Any, **options: Any) -> ScorerStage:
    """A scorer forecasting with ``forecaster`` over a new database at ``db_url``, ``bus`` and
    the event clock; ``options`` (``horizon_s``, ``checkpoints`` …) go to the stage."""
    _, sessions = open_database(db_url)
    metrics = StageMetrics()
    return ScorerStage(
        sessions,
        EventClock(),
        metrics,
        DeadLetters(bus, sessions, metrics),
        bus,
        ModelSet(forecaster=forecaster),
        config_hash="t",
        **options,
    )


def submission(created_utc: int, name: str = "t3_p") -> dict[str, Any]:
    """A post of r/College as the ingest stage publishes it."""
    return {
        "id": name.removeprefix("t3_"),
        "name": name,
        "subreddit": "College",
        "title": "hi",
        "selftext": "",
        "author": "op",
        "score": 1,
        "created_utc": created_utc,
        "retrieved_on": None,
    }


_OFFSETS = itertools.count()


def message(topic: str, key: str | None, value: dict[str, Any]) -> Message:
    """``value`` as the bus delivers it on ``topic`` (partition 0, offsets counting up)."""
    return Message(topic, 0, next(_OFFSETS), key, json.dumps(value).encode())
