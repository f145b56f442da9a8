"""10,000 malformed or hostile records: every one is dead-lettered with its reason or handled
by a documented rule, and the service keeps going (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import func, select

from redditdata.events import TOPIC_COMMENTS, TOPIC_DEADLETTER, TOPIC_SUBMISSIONS, Comment
from streaming.bus.embedded import EmbeddedBus
from streaming.clock import EventClock
from streaming.pipeline import build_pipeline
from streaming.replay import ReplayIndex
from streaming.runtime import run_embedded
from streaming.settings import load_settings
from streaming.stages.ingest import encode_event
from streaming.storage import DeadLetterRow, ScoreRow, TlcRow, open_database
from tests.streaming.hostile import hostile_records


def test_ten_thousand_hostile_records_all_accounted_for(
    small_index: ReplayIndex, db_url: str, models
) -> None:  # type: ignore[no-untyped-def]
    _, sessions = open_database(db_url)
    bus = EmbeddedBus(partitions=4)
    clock = EventClock()
    settings = load_settings(
        database_url=db_url,
        clock="event",
        stages=["scorer", "suggester"],
        batch_size=500,
        missing_post_grace_s=3600,
        missing_post_wall_s=0,
    )
    p = build_pipeline(settings, bus=bus, sessions=sessions, clock=clock, models=models)
    # the real posts and TLCs first, then the hostile ones
    events = list(small_index.events())
    for ev in events:
        bus.publish(*encode_event(ev))
    posts = [json.loads(encode_event(e)[2]) for e in events if e.name.startswith("t3_")]
    tlcs = [
        json.loads(encode_event(e)[2])
        for e in events
        if e.name.startswith("t1_") and getattr(e, "is_tlc", False)
    ]
    bad = hostile_records(posts, tlcs, 10_000)
    ends = {t: bus.end_offsets(t) for t in (TOPIC_SUBMISSIONS, TOPIC_COMMENTS)}
    for topic, key, value, _ in bad:
        bus.publish(topic, key, value)
    # a good record after all of them: the service must still be working
    last = next(e for e in events if isinstance(e, Comment) and e.is_tlc)
    probe = last.model_copy(update={"id": "zzprobe1", "name": "t1_zzprobe1"})
    bus.publish(*encode_event(probe))
    run_embedded(p)
    with sessions() as s:
        dl = {
            (r.topic, r.partition, r.offset): r.reason
            for r in s.scalars(select(DeadLetterRow).where(DeadLetterRow.offset >= 0))
        }
        missing = list(s.scalars(select(DeadLetterRow).where(DeadLetterRow.offset < 0)))
        # every hostile record was consumed; map offsets back to records
        got: Counter[str] = Counter()
        for m in bus.messages(TOPIC_SUBMISSIONS) + bus.messages(TOPIC_COMMENTS):
            if m.offset < ends[m.topic][m.partition]:
                continue
            reason = dl.get((m.topic, m.partition, m.offset))
            got[reason.split(":", 1)[0] if reason else "ok"] += 1
        expected = Counter(e.split(":", 1)[1] if e.startswith("dead:") else "ok" for *_, e in bad)
        n_missing_post = expected.pop("missing_post")
        assert len(missing) == n_missing_post
        assert all(r.reason.startswith("missing_post") for r in missing)
        got["ok"] -= n_missing_post + 1  # missing-post records were accepted, then swept
        assert got == expected
        assert s.get(ScoreRow, "t1_zzprobe1") is not None
        n_tlcs = s.scalar(select(func.count()).select_from(TlcRow)) or 0
        assert s.scalar(select(func.count()).select_from(ScoreRow)) == s.scalar(
            select(func.count()).select_from(TlcRow).where(TlcRow.status == "scored")
        )
        assert n_tlcs > small_index.n_tlcs
        nul = s.scalars(select(TlcRow.body).where(TlcRow.body.like("nul%"))).first()
        assert nul == "nulinside body"
    assert len(bus.messages(TOPIC_DEADLETTER)) >= sum(expected.values()) - expected["ok"]
