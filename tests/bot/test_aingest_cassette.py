"""The asyncpraw reader on recorded real Reddit stream traffic (asyncpraw + vcrpy replay)."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.aingest import AsyncRedditIngest
from bot.errors import RetriesExhausted
from bot.reddit import ClientSettings, make_async_reddit
from bot.seen import SeenStore
from tests.bot.conftest import load_cassette


def test_async_comment_stream_publishes_each_recorded_comment_once(
    replay, cassette_dir, monkeypatch
):
    name = "TestSubredditStreams.test_comments"
    recorded = {}
    for it in load_cassette(cassette_dir, name)["interactions"][1:]:
        for c in json.loads(it["response"]["body"]["string"])["data"]["children"]:
            recorded[c["data"]["name"]] = c["data"]
    humans = {n for n, d in recorded.items() if d["author"] != "AutoModerator"}

    async def no_sleep(*_a, **_k):
        return None

    monkeypatch.setattr("asyncpraw.models.util.asyncio.sleep", no_sleep)

    taken: list = []

    async def main() -> AsyncRedditIngest:
        reddit = make_async_reddit(
            ClientSettings(
                user_agent="prosocial-tests",
                extra={
                    "client_id": "cid",
                    "client_secret": "secret",
                    "username": "prosocial_bot",
                    "password": "pw",
                },
            )
        )
        ingest = AsyncRedditIngest(
            reddit,
            SeenStore(),
            ["all"],
            kinds=["comments"],
            sweep_every_s=None,
            max_consecutive_errors=1,
            asleep=no_sleep,
        )
        try:
            with pytest.raises(RetriesExhausted):
                for _ in range(100):
                    try:
                        await ingest.poll_once()
                    finally:
                        taken.extend(ingest.core.take())
                        ingest.core.commit()
        finally:
            await reddit.close()
        return ingest

    with replay(name):
        ingest = asyncio.run(main())
    names = [e.name for e in taken]
    assert len(names) == len(set(names)) and set(names) == humans
    assert ingest.stats.skipped_bots == len(recorded) - len(humans)
