"""Fixtures for the bot tests: praw-cassette replay with vcrpy, the embedded in-memory bus."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streaming.bus.embedded import EmbeddedBus

PLACEHOLDERS = {
    "<TEST_SUBREDDIT>": "prosocialtest",
    "<USERNAME>": "prosocial_bot",
    "<PASSWORD>": "pw",
    "<CLIENT_ID>": "cid",
    "<CLIENT_SECRET>": "secret",
}


@pytest.fixture()
def memory_bus() -> EmbeddedBus:
    """The embedded bus with one partition per topic (records in publication order)."""
    return EmbeddedBus(partitions=1)


@pytest.fixture(scope="session")
def cassette_dir(data_dir: Path) -> Path:
    d = data_dir / "praw-cassettes"
    if not d.exists():
        pytest.fail(f"{d} missing")
    return d


def load_cassette(cassette_dir: Path, name: str) -> dict[str, Any]:
    text = (cassette_dir / f"{name}.json").read_text()
    for k, v in PLACEHOLDERS.items():
        text = text.replace(k, v)
    return json.loads(text)


@pytest.fixture()
def replay(cassette_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Any]:
    """``with replay("TestX.test_y"):`` replays that cassette to the real praw client."""
    import vcr
    from vcr.serialize import deserialize
    from vcr.serializers import jsonserializer

    class Persister:
        @staticmethod
        def load_cassette(cassette_path: str, serializer: Any) -> Any:
            text = (cassette_dir / f"{Path(cassette_path).name}.json").read_text()
            for k, v in PLACEHOLDERS.items():
                text = text.replace(k, v)
            return deserialize(text, serializer)

        @staticmethod
        def save_cassette(cassette_path: str, cassette_dict: Any, serializer: Any) -> None:
            raise AssertionError("replay only: nothing may be recorded")

    my_vcr = vcr.VCR(
        record_mode="none",
        match_on=["method", "scheme", "host", "port", "path", "query"],
        serializer="json",
    )
    my_vcr.register_persister(Persister)  # type: ignore[arg-type]
    monkeypatch.setattr("time.sleep", lambda s: None)
    assert jsonserializer  # the cassettes are vcrpy JSON

    sent: list[Any] = []

    def capture(request: Any) -> Any:
        sent.append(request)
        return request

    @contextlib.contextmanager
    def use(name: str) -> Iterator[Any]:
        with my_vcr.use_cassette(
            name, allow_playback_repeats=False, before_record_request=capture
        ) as cassette:
            sent.clear()  # vcrpy also passes the recorded requests through the hook on load
            yield cassette

    use.sent = sent  # type: ignore[attr-defined]
    return use


@pytest.fixture()
def praw_reddit() -> Iterator[Any]:
    """A real praw client configured like praw's own test-suite (script app)."""
    from bot.ratelimit import RateBudget
    from bot.reddit import ClientSettings, make_reddit

    budget = RateBudget()
    settings = ClientSettings(
        user_agent="prosocial-tests",
        extra={
            "client_id": "cid",
            "client_secret": "secret",
            "username": "prosocial_bot",
            "password": "pw",
        },
    )
    reddit = make_reddit(settings, budget)
    reddit.test_budget = budget
    yield reddit


@pytest.fixture(scope="session")
def college_slice(data_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A small real slice of reddit-college: the posts of the first ~1,500 comments."""
    import gzip

    comments: list[dict[str, Any]] = []
    with gzip.open(data_dir / "reddit-college" / "comments.jsonl.gz", "rt") as f:
        for line in f:
            comments.append(json.loads(line))
            if len(comments) >= 1500:
                break
    links = {c["link_id"] for c in comments}
    posts = []
    with gzip.open(data_dir / "reddit-college" / "submissions.jsonl.gz", "rt") as f:
        for line in f:
            if True:
                r = json.loads(line)
                if r["name"] in links:
                    posts.append(r)
                    if len(posts) == len(links):
                        break
    keep = {p["name"] for p in posts}
    return posts, [c for c in comments if c["link_id"] in keep]


@pytest.fixture()
def dev_world(college_slice: Any) -> Any:
    from bot.devserver.world import RedditWorld

    posts, comments = college_slice
    start = min(float(p["created_utc"]) for p in posts)
    world = RedditWorld(posts, comments, start=start, late_fraction=0.0)
    world.advance(max(float(c["created_utc"]) for c in comments) - start + 1)
    return world


def dev_reddit(
    url: str, budget: Any = None, timeout_cap: float | None = 0.5, retries: bool = True
) -> Any:
    from bot.reddit import ClientSettings, make_reddit

    settings = ClientSettings(
        oauth_url=url,
        reddit_url=url,
        timeout_cap=timeout_cap,
        user_agent="python:prosocial-tests:v0.1",
        extra={
            "client_id": "t",
            "client_secret": "t",
            "username": "prosocial_bot",
            "password": "t",
        },
    )
    return make_reddit(settings, budget, retries=retries)


@pytest.fixture(scope="session")
def live_registry(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every bundle the live service loads, trained small (``PROSOCIAL_LIVE_REGISTRY``: reuse
    one built before)."""
    import os

    prebuilt = os.environ.get("PROSOCIAL_LIVE_REGISTRY")
    if prebuilt:
        return Path(prebuilt)
    from tests.live_registry import build_live_registry

    root = tmp_path_factory.mktemp("live-registry")
    return build_live_registry(data_dir, root / "registry", root / "work")
