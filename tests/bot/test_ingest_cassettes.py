"""The ingest reader on recorded real Reddit stream traffic (praw + vcrpy replay)."""

from __future__ import annotations

import json

import pytest

from bot.errors import RetriesExhausted
from bot.ingest import RedditIngest
from bot.seen import SeenStore
from redditdata.events import TOPIC_COMMENTS, TOPIC_SUBMISSIONS
from tests.bot.conftest import load_cassette


def _recorded_items(cassette_dir, name: str) -> list[dict]:
    """Every listing item the cassette's responses contain, in response order."""
    out: list[dict] = []
    for it in load_cassette(cassette_dir, name)["interactions"]:
        body = it["response"]["body"]["string"]
        if not body.startswith('{"kind": "Listing"') and '"Listing"' not in body[:40]:
            continue
        out.extend(c["data"] for c in json.loads(body)["data"]["children"])
    return out


def test_comment_stream_publishes_each_recorded_comment_once_keyed_by_link_id(
    replay, praw_reddit, memory_bus, cassette_dir
):
    name = "TestSubredditStreams.test_comments"
    items = _recorded_items(cassette_dir, name)
    unique = {i["name"]: i for i in items}
    humans = {n: i for n, i in unique.items() if i["author"] != "AutoModerator"}
    assert len(items) > len(unique)  # the recording itself holds replays to dedupe
    ingest = RedditIngest(
        praw_reddit,
        memory_bus,
        SeenStore(),
        ["all"],
        kinds=["comments"],
        sweep_every_s=None,
        max_consecutive_errors=2,
    )
    with replay(name), pytest.raises(RetriesExhausted):  # the cassette runs out
        ingest.run(idle_s=0, max_rounds=100)
    msgs = memory_bus.messages(TOPIC_COMMENTS)
    names = [json.loads(m.value)["name"] for m in msgs]
    assert len(names) == len(set(names))
    assert set(names) == set(humans)
    assert ingest.stats.skipped_bots == len(unique) - len(humans)
    for m in msgs:
        v = json.loads(m.value)
        assert m.key == v["link_id"]
    tlcs = sum(1 for i in humans.values() if i["parent_id"] == i["link_id"])
    assert ingest.stats.tlcs == tlcs > 0
    # every recorded exchange was used, plus the failed attempts once the recording ran out
    assert (
        praw_reddit.test_budget.requests
        == len(load_cassette(cassette_dir, name)["interactions"]) + ingest.stats.errors
    )


def test_submission_stream_publishes_posts_keyed_by_fullname(
    replay, praw_reddit, memory_bus, cassette_dir
):
    name = "TestSubredditStreams.test_submissions"
    unique = {i["name"] for i in _recorded_items(cassette_dir, name)}
    ingest = RedditIngest(
        praw_reddit,
        memory_bus,
        SeenStore(),
        ["all"],
        kinds=["submissions"],
        sweep_every_s=None,
        max_consecutive_errors=1,
    )
    with replay(name), pytest.raises(RetriesExhausted):
        ingest.run(idle_s=0, max_rounds=10)
    msgs = memory_bus.messages(TOPIC_SUBMISSIONS)
    assert {m.key for m in msgs} == unique
    assert all(json.loads(m.value)["name"] == m.key for m in msgs)


def test_restart_with_the_same_store_does_not_reemit(
    replay, praw_reddit, memory_bus, cassette_dir, tmp_path
):
    name = "TestSubredditStreams.test_comments__with_pause"
    store = tmp_path / "seen.sqlite"
    first = RedditIngest(
        praw_reddit,
        memory_bus,
        SeenStore(store),
        ["kakapo"],
        kinds=["comments"],
        sweep_every_s=None,
        max_consecutive_errors=0,
    )
    with replay(name), pytest.raises(RetriesExhausted):
        first.run(idle_s=0, max_rounds=10)
    n = len(memory_bus.messages(TOPIC_COMMENTS))
    assert n > 0
    second = RedditIngest(
        praw_reddit,
        memory_bus,
        SeenStore(store),
        ["kakapo"],
        kinds=["comments"],
        sweep_every_s=None,
        max_consecutive_errors=0,
    )
    with replay(name), pytest.raises(RetriesExhausted):
        second.run(idle_s=0, max_rounds=10)
    assert len(memory_bus.messages(TOPIC_COMMENTS)) == n
    assert second.stats.duplicates >= n
