"""Helpers of the simulated runs: a stand-in suggester over the bus and simulated sleeping."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from bot.suggestions import EmpathySeeker, PostSuggestion
from redditdata.events import TOPIC_COMMENTS, TOPIC_SUBMISSIONS
from streaming.bus.base import Bus

__all__ = ["HeuristicSuggestions", "sim_sleep"]

_SEEKING = re.compile(
    r"\b(i feel|i'm struggling|im struggling|anxious|depressed|overwhelmed|"
    r"i'm scared|burn(?:ed|t) out|lonely)\b",
    re.IGNORECASE,
)


class HeuristicSuggestions:
    """Stand-in suggester over the bus (test / demo only; see module docstring)."""

    def __init__(self, bus: Bus, group: str = "sim-suggestions") -> None:
        self.bus = bus
        self.group = group
        self.posts: dict[str, dict[str, Any]] = {}
        self.tlcs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.replied: set[str] = set()

    def _consume(self) -> None:
        while True:
            msgs = self.bus.poll(self.group, [TOPIC_SUBMISSIONS, TOPIC_COMMENTS], 5000, 0)
            if not msgs:
                return
            for m in msgs:
                v = json.loads(m.value)
                if m.topic == TOPIC_SUBMISSIONS:
                    self.posts[v["name"]] = v
                elif v["parent_id"] == v["link_id"]:
                    self.tlcs[v["link_id"]].append(v)
                else:
                    self.replied.add(v["parent_id"])
            self.bus.commit(self.group, msgs)

    def suggestions(self, subreddit: str, since_utc: int) -> Sequence[PostSuggestion]:
        self._consume()
        out = []
        for post, tlcs in self.tlcs.items():
            p = self.posts.get(post)
            if (
                p is None
                or p["subreddit"].lower() != subreddit.lower()
                or p["created_utc"] < since_utc
            ):
                continue
            current = sorted(tlcs, key=lambda t: (-t["score"], t["created_utc"]))
            suggested = sorted(tlcs, key=lambda t: (-len(t["body"]), t["created_utc"]))
            seekers = tuple(
                EmpathySeeker(
                    t["name"],
                    post,
                    t.get("author"),
                    t.get("permalink") or "",
                    t["body"][:200],
                    t["created_utc"],
                )
                for t in tlcs
                if _SEEKING.search(t["body"]) and t["name"] not in self.replied
            )
            out.append(
                PostSuggestion(
                    post,
                    p["subreddit"],
                    p["title"],
                    p.get("permalink") or f"/comments/{post[3:]}/",
                    tuple(t["name"] for t in current),
                    tuple(t["name"] for t in suggested),
                    {
                        t["name"]: f"{len(t['body'])} characters (stand-in heuristic)"
                        for t in suggested[:3]
                    },
                    seekers,
                )
            )
        return out


class _SimTime:
    """A stand-in for the ``time`` module whose ``sleep`` advances the simulated clock."""

    def __init__(self, advance: Any, cap_s: float = 120.0) -> None:
        self._advance = advance
        self._cap = cap_s
        self.slept = 0.0

    def sleep(self, seconds: float) -> None:
        s = min(max(0.0, float(seconds)), self._cap)
        self.slept += s
        self._advance(s)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@contextlib.contextmanager
def sim_sleep(advance: Any) -> Iterator[_SimTime]:
    """Route praw's and prawcore's sleeps (stream pauses, retries, rate limiter) to the
    simulated clock for the duration of the block."""
    import praw.models.util
    import prawcore.rate_limit
    import prawcore.sessions

    shim = _SimTime(advance)
    mods = (praw.models.util, prawcore.rate_limit, prawcore.sessions)
    saved = [m.time for m in mods]  # type: ignore[attr-defined]
    for m in mods:
        m.time = shim  # type: ignore[attr-defined]
    try:
        yield shim
    finally:
        for m, t in zip(mods, saved):
            m.time = t  # type: ignore[attr-defined]
