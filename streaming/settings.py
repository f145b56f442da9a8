"""The service settings: one frozen object (docs/architecture.md, "Conventions").

Precedence: explicit arguments > environment (``PROSOCIAL_…``, e.g. ``PROSOCIAL_BUS=kafka``,
``PROSOCIAL_DATABASE_URL=postgresql://…``) > YAML config file > defaults.
"""

from __future__ import annotations

import hashlib
import json
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from streaming.errors import StreamingError

__all__ = [
    "STAGES",
    "LayeredSettings",
    "Settings",
    "SettingsError",
    "load_settings",
    "read_yaml",
]

#: Stage names accepted by ``prosocial run --stage``.
STAGES = ("ingest", "scorer", "suggester", "backfill", "evaluator")


class SettingsError(StreamingError):
    """The configuration file or a setting is invalid."""


class _FileSource(PydanticBaseSettingsSource):
    """The config file's mapping, below arguments and the environment."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


#: the file mapping of the settings object being built (one per thread / task)
_FILE_DATA: ContextVar[dict[str, Any] | None] = ContextVar("settings_file_data", default=None)


class LayeredSettings(BaseSettings):
    """Settings whose precedence is arguments > environment (``model_config``'s
    ``env_prefix``) > a config file's mapping > defaults: the one implementation of it."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileSource(settings_cls, _FILE_DATA.get() or {}))

    @classmethod
    def layered(cls, file_data: dict[str, Any] | None, overrides: dict[str, Any]) -> Self:
        """Build from ``overrides`` (non-None values) > environment > ``file_data``."""
        token = _FILE_DATA.set(dict(file_data or {}))
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        finally:
            _FILE_DATA.reset(token)


class Settings(LayeredSettings):
    model_config = SettingsConfigDict(env_prefix="PROSOCIAL_", frozen=True, extra="forbid")

    # where things are
    database_url: str = "sqlite:///var/prosocial.db"
    registry_dir: str | None = None
    data_dir: str | None = None
    # bus
    bus: Literal["embedded", "kafka"] = "embedded"
    kafka_bootstrap: str = "127.0.0.1:9092"
    partitions: int = 4
    embedded_log: str | None = None  # SQLite file for the embedded log + offsets
    session_timeout_ms: int = 6000
    #: also the rebalance timeout: a rebalance waits this long for members to rejoin, so keep
    #: it above the slowest batch but short enough for fast take-over after a crash
    max_poll_interval_ms: int = 120_000
    #: the longest a Kafka fetch waits for new records (each stage hop can wait this long on
    #: a broker that only answers at the end of the wait, as tansu does); below the time the
    #: broker needs to serve a fetch nothing arrives (tansu on S3 storage stalled at 100 ms)
    fetch_max_wait_ms: int = 500
    #: topic replication (a real cluster: 3) and the replicas an ``acks=all`` write needs (2)
    replication_factor: int = 1
    min_insync_replicas: int | None = None
    #: Kafka's idempotent producer (off: tansu cannot re-init it after a broker restart)
    idempotent_producer: bool = False
    #: the largest record (key + value bytes); bigger ones are dead-lettered by reference
    max_record_bytes: int = 1_000_000
    #: drop records every consumer group has committed from the embedded log (bounded memory)
    embedded_compact: bool = True
    # transient failures (database, broker, Reddit): bounded exponential back-off
    retry_base_s: float = 0.5
    retry_cap_s: float = 30.0
    # stages
    stages: Annotated[tuple[str, ...], NoDecode] = STAGES
    clock: Literal["wall", "event"] = "wall"
    batch_size: int = 256
    poll_timeout_s: float = 0.5
    horizon_s: int = 48 * 3600
    #: where an author's history (a forecaster input) is counted: "subreddit" (the TLC's own
    #: subreddit only) or "all" (every watched subreddit: an explicit opt-in that profiles
    #: users across communities; say so to your users)
    history_scope: Literal["subreddit", "all"] = "subreddit"
    #: re-forecast delays (seconds after a TLC was posted); [] = score once, at creation
    checkpoints: list[int] = [900, 3600, 10800]
    #: the most TLCs the scorer scores, stores and publishes in one model call (a post that
    #: arrives after many of its TLCs is scored in chunks of this size)
    max_score_batch: Annotated[int, Field(ge=1)] = 128
    #: the most checkpoint re-forecasts in one scorer timer run (a backlog takes several runs,
    #: with a poll of fresh TLCs between two)
    max_reforecasts_per_tick: Annotated[int, Field(ge=1)] = 128
    #: the most posts the suggester re-ranks per tick for re-forecasts alone (posts with a newly
    #: scored TLC come first, unbounded by this)
    max_reranks_per_tick: Annotated[int, Field(ge=0)] = 25
    quiet_period_s: int = 600
    missing_post_grace_s: int = 6 * 3600
    missing_post_wall_s: float = 120.0
    #: how long the back-fill keeps the reply trees it measured (for export / retraining);
    #: 0 keeps them forever
    reply_retention_days: float = 180.0
    eval_window: int = 2000
    eval_every: int = 500
    #: drift: a subreddit's rolling forecaster ``drift_metric`` more than ``drift_margin``
    #: below the mean of its previous ``drift_history`` evaluations (0 disables)
    drift_metric: str = "pairwise_acc"
    drift_history: int = 10
    drift_margin: float = 0.05
    fast_models: bool = True
    #: seconds between checks of the registry's CURRENT / CHALLENGER forecaster (hot reload
    #: and shadow scoring at a batch boundary); 0 disables both
    model_check_s: float = 5.0
    torch_threads: int = 2
    # replay source (ingest stage)
    replay_data: str | None = None
    replay_speed: float = 0.0  # 0 = as fast as possible
    replay_since: str | None = None
    replay_until: str | None = None
    subreddits: Annotated[tuple[str, ...], NoDecode] = ()
    # privacy: stored text expires ``retention_s`` after the outcome time; stored items are
    # re-checked on Reddit every ``recheck_every_s`` until then, and once before expiry
    retention_s: int = 30 * 86400
    recheck_every_s: int = 3600
    # ops
    metrics_port: int | None = None
    #: the address /healthz and /metrics bind (loopback unless configured)
    metrics_host: str = "127.0.0.1"
    #: /healthz answers 503 when a stage's uncommitted backlog exceeds this (None: reported only)
    health_max_lag: int | None = None
    log_json: bool = False
    # the moderators' dashboard reads its own mapping (``bot.dashboard.settings``)
    dashboard: dict[str, Any] | None = None

    @field_validator("stages", mode="before")
    @classmethod
    def _stages(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [s.strip() for s in v.split(",") if s.strip()]
        for s in v:
            if s not in STAGES:
                raise ValueError(f"unknown stage {s!r}; known: {', '.join(STAGES)}")
        return tuple(v)

    @field_validator("subreddits", mode="before")
    @classmethod
    def _subs(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [s.strip() for s in v.split(",") if s.strip()]
        return tuple(v)

    def config_hash(self) -> str:
        """A short hash of the settings that change what a score means (provenance)."""
        keys = ("horizon_s", "fast_models", "history_scope", "checkpoints")
        blob = json.dumps({k: getattr(self, k) for k in keys}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def read_yaml(path: str | Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"cannot read config {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"config {path} must be a mapping")
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        raise SettingsError(f"config {path}: unknown settings {unknown}")
    return data


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings: ``overrides`` (non-None) > env > ``config`` YAML > defaults."""
    file_data = read_yaml(config) if config else {}
    try:
        return Settings.layered(file_data, overrides)
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc
