"""The bot's composition root can hand the back-fill stage a live thread fetcher."""

from __future__ import annotations

from pathlib import Path

from redditdata.tree import Thread
from streaming.runtime import assemble
from streaming.settings import load_settings
from tests.streaming.tiny import tiny_models


class _Fetcher:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def thread(self, post_name: str, as_of: float) -> Thread | None:
        self.calls.append(post_name)
        return None


def test_assemble_uses_injected_fetcher_for_backfill(tmp_path: Path) -> None:
    settings = load_settings(
        None, stages=("backfill",), database_url=f"sqlite:///{tmp_path / 'db.sqlite'}"
    )
    fetcher = _Fetcher()
    p = assemble(settings, fetcher=fetcher, models=tiny_models())
    try:
        assert "backfill" in p.runners
        assert "backfill" not in p.skipped
    finally:
        p.bus.close()


def test_assemble_without_fetcher_or_replay_skips_backfill(tmp_path: Path) -> None:
    settings = load_settings(
        None, stages=("backfill",), database_url=f"sqlite:///{tmp_path / 'db.sqlite'}"
    )
    p = assemble(settings, models=tiny_models())
    try:
        assert "backfill" in p.skipped
    finally:
        p.bus.close()
