from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from streaming.settings import Settings, SettingsError, load_settings


def test_arguments_beat_environment_beat_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("bus: kafka\nbatch_size: 7\nquiet_period_s: 5\nhorizon_s: 100\n")
    monkeypatch.setenv("PROSOCIAL_BATCH_SIZE", "9")
    monkeypatch.setenv("PROSOCIAL_QUIET_PERIOD_S", "11")
    s = load_settings(cfg, quiet_period_s=3)
    assert (s.bus, s.batch_size, s.quiet_period_s, s.horizon_s) == ("kafka", 9, 3, 100)


def test_settings_are_frozen_and_unknown_keys_rejected(tmp_path: Path) -> None:
    s = load_settings()
    with pytest.raises(ValidationError):
        s.batch_size = 3  # type: ignore[misc]
    cfg = tmp_path / "c.yaml"
    cfg.write_text("batch_sise: 7\n")
    with pytest.raises(SettingsError, match="batch_sise"):
        load_settings(cfg)


def test_stage_lists_from_env_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROSOCIAL_STAGES", "scorer,suggester")
    assert load_settings().stages == ("scorer", "suggester")
    monkeypatch.setenv("PROSOCIAL_STAGES", "scorer,sorcerer")
    with pytest.raises(SettingsError, match="sorcerer"):
        load_settings()


def test_config_hash_changes_with_the_horizon() -> None:
    assert Settings(horizon_s=10).config_hash() != Settings(horizon_s=20).config_hash()


def test_kafka_consumers_get_the_configured_fetch_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    from streaming.bus.kafka import KafkaBus
    from streaming.runtime import make_bus

    monkeypatch.setattr(KafkaBus, "ensure_topics", lambda self, topics, partitions=1: None)
    assert load_settings(bus="kafka").fetch_max_wait_ms == 500  # tansu on S3 starves below
    monkeypatch.setenv("PROSOCIAL_FETCH_MAX_WAIT_MS", "40")
    bus = make_bus(load_settings(bus="kafka", kafka_bootstrap="127.0.0.1:1"))
    assert isinstance(bus, KafkaBus)
    assert bus._consumer_cfg["fetch_max_wait_ms"] == 40
