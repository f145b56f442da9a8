"""Helpers the bot tests call (fixtures live in ``conftest.py``): recorded praw cassettes and
praw clients for them or for the local Reddit API server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.reddit import ClientSettings

__all__ = ["PLACEHOLDERS", "cassette_settings", "cassette_text", "dev_reddit", "load_cassette"]

#: What praw's test-suite cassettes hold in place of real credentials and names.
PLACEHOLDERS = {
    "<TEST_SUBREDDIT>": "prosocialtest",
    "<USERNAME>": "prosocial_bot",
    "<PASSWORD>": "pw",
    "<CLIENT_ID>": "cid",
    "<CLIENT_SECRET>": "secret",
}


def cassette_text(cassette_dir: Path, name: str) -> str:
    """A recorded cassette's JSON text with the placeholders filled in."""
    text = (cassette_dir / f"{name}.json").read_text()
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    return text


def load_cassette(cassette_dir: Path, name: str) -> dict[str, Any]:
    return json.loads(cassette_text(cassette_dir, name))


def cassette_settings() -> ClientSettings:
    """Client settings matching the cassettes' recorded credentials (a script app)."""
    return ClientSettings(
        user_agent="prosocial-tests",
        extra={
            "client_id": PLACEHOLDERS["<CLIENT_ID>"],
            "client_secret": PLACEHOLDERS["<CLIENT_SECRET>"],
            "username": PLACEHOLDERS["<USERNAME>"],
            "password": PLACEHOLDERS["<PASSWORD>"],
        },
    )


def dev_reddit(
    url: str, budget: Any = None, timeout_cap: float | None = 0.5, retries: bool = True
) -> Any:
    """A praw client logged in to the local Reddit API server at ``url``."""
    from bot.reddit import make_reddit

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
