"""The data a chaos scenario streams, and the audit of what came out.

:func:`make_world` writes a window of the real dump (posts created in it, all their comments)
to a small dump directory, so every stage process loads it in a second. :func:`audit` compares
the database with the events: ``lost`` (a valid post not stored, a valid TLC without a score,
a scored post without its full suggestion, a scored TLC without an outcome when the back-fill
ran), ``duplicated_rows`` (rows beyond one per natural key), ``dead_lettered_valid`` (a dead
letter whose record or job belongs to a valid event), and ``duplicate_side_effects`` (here:
dead-letter envelopes published more than once for one record — the alerts an operator sees).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from redditdata.events import TOPIC_DEADLETTER, Comment, Submission
from streaming.bus.base import Bus
from streaming.replay import ReplayIndex, parse_time
from streaming.storage import (
    DeadLetterRow,
    OutcomeRow,
    PostRow,
    ScoreRow,
    SessionFactory,
    SuggestionRow,
    TlcRow,
)
from streaming.storage.queries import latest_revisions

__all__ = ["World", "audit", "load_world", "make_world", "rss_mb", "world_from_index"]


@dataclass
class World:
    dir: Path
    posts: set[str] = field(default_factory=set)
    tlcs: dict[str, str] = field(default_factory=dict)  # tlc → post
    events: int = 0
    span_s: float = 0.0  # first to last event time


def make_world(data: str | os.PathLike[str], out: Path, since: str, until: str) -> World:
    return world_from_index(
        ReplayIndex(data, since=parse_time(since), until=parse_time(until)), out
    )


def world_from_index(idx: ReplayIndex, out: Path) -> World:
    out.mkdir(parents=True, exist_ok=True)
    w = World(out)
    with (out / "submissions.jsonl").open("w") as f:
        for s in idx.submissions.values():
            f.write(json.dumps(s.model_dump(mode="json")) + "\n")
            w.posts.add(s.name)
    with (out / "comments.jsonl").open("w") as f:
        for cs in idx.comments.values():
            for c in cs:
                f.write(json.dumps(c.model_dump(mode="json")) + "\n")
                if c.is_tlc:
                    w.tlcs[c.name] = c.link_id
    w.events = len(idx.submissions) + idx.n_comments
    w.span_s = _span(idx)
    return w


def _span(idx: ReplayIndex) -> float:
    ts = [s.created_utc for s in idx.submissions.values()]
    ts += [c.created_utc for cs in idx.comments.values() for c in cs]
    return float(max(ts) - min(ts)) if ts else 0.0


def load_world(d: Path) -> World:
    idx = ReplayIndex(d)
    w = World(d, set(idx.submissions))
    for cs in idx.comments.values():
        for c in cs:
            if c.is_tlc:
                w.tlcs[c.name] = c.link_id
    w.events = len(idx.submissions) + idx.n_comments
    w.span_s = _span(idx)
    return w


def audit(
    sessions: SessionFactory,
    world: World,
    *,
    suggestions: bool = True,
    outcomes: bool = True,
    bus: Bus | None = None,
) -> dict[str, int]:
    """The figures of one scenario (see the module docstring)."""
    with sessions() as s:
        posts = set(s.scalars(select(PostRow.name)))
        scored = dict(s.execute(select(ScoreRow.tlc_name, ScoreRow.post_name)).tuples().all())
        lost = len(world.posts - posts) + len(set(world.tlcs) - set(scored))
        if suggestions:
            n = Counter(p for t, p in scored.items() if t in world.tlcs)
            latest = dict(s.execute(latest_revisions()).tuples().all())
            lost += sum(1 for p, k in n.items() if latest.get(p, 0) < k)
        if outcomes:
            done = set(s.scalars(select(OutcomeRow.tlc_name)))
            lost += len(set(world.tlcs) - done)
        dup = 0
        for col in (PostRow.name, TlcRow.name, ScoreRow.tlc_name, OutcomeRow.tlc_name):
            dup += int(s.scalar(select(func.count() - func.count(col.distinct()))) or 0)
        dup += int(
            s.scalar(
                select(func.count()).select_from(
                    select(SuggestionRow.post_name, SuggestionRow.revision)
                    .group_by(SuggestionRow.post_name, SuggestionRow.revision)
                    .having(func.count() > 1)
                    .subquery()
                )
            )
            or 0
        )
        dup += int(
            s.scalar(
                select(func.count()).select_from(
                    select(DeadLetterRow.topic, DeadLetterRow.partition, DeadLetterRow.offset)
                    .where(DeadLetterRow.offset >= 0)
                    .group_by(DeadLetterRow.topic, DeadLetterRow.partition, DeadLetterRow.offset)
                    .having(func.count() > 1)
                    .subquery()
                )
            )
            or 0
        )
        valid_dl = 0
        for d in s.scalars(select(DeadLetterRow)):
            name = _record_name(d)
            if name in world.posts or name in world.tlcs:
                valid_dl += 1
    side = 0
    if bus is not None and hasattr(bus, "messages"):
        envs: Counter[tuple[Any, ...]] = Counter()
        for m in bus.messages(TOPIC_DEADLETTER):
            e = json.loads(m.value)
            if e.get("offset", -1) >= 0:
                envs[(e["stage"], e["topic"], e["partition"], e["offset"])] += 1
        side = sum(v - 1 for v in envs.values() if v > 1)
    return {
        "lost": lost,
        "duplicated_rows": dup,
        "duplicate_side_effects": side,
        "dead_lettered_valid": valid_dl,
    }


def _record_name(d: DeadLetterRow) -> str | None:
    if d.topic.startswith("timer."):
        key = d.key or ""
        return key.split("@", 1)[0]
    if d.reason.startswith("missing_post"):
        try:
            return str(json.loads(d.raw)["name"])
        except (ValueError, KeyError, TypeError):
            return None
    if d.value is None:
        return None
    try:
        obj: Any = json.loads(d.value)
        return str(obj.get("name")) if isinstance(obj, dict) else None
    except ValueError:
        return None


def rss_mb() -> float:
    """This process's resident memory (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def is_event(x: object) -> bool:
    return isinstance(x, (Submission, Comment))
