"""Helpers of the bot tests (fixtures are in ``conftest.py``): recorded praw cassettes and
praw clients pointed at the local Reddit API server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["PLACEHOLDERS", "dev_reddit", "load_cassette"]

#: What praw's test-suite cassettes hold in place of real credentials and names.
PLACEHOLDERS = {
    "<TEST_SUBREDDIT>": "prosocialtest",
    "<USERNAME>": "prosocial_bot",
    "<PASSWORD>": "pw",
    "<CLIENT_ID>": "cid",
    "<CLIENT_SECRET>": "secret",
}


def load_cassette(cassette_dir: Path, name: str) -> dict[str, Any]:
    text = (cassette_dir / f"{name}.json").read_text()
    for k, v in PLACEHOLDERS.items():
        text = text.replace(k, v)
    return json.loads(text)


def dev_reddit(url: str, budget: Any = None, timeout_cap: float | None = 0.5) -> Any:
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
    return make_reddit(settings, budget)
