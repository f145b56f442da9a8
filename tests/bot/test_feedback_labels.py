"""Moderators' approvals, rejections and expiries are stored with the suggestion they answered
and exported with the outcomes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from sqlalchemy import select

from bot.approvals import ApprovalService, ApprovalStore
from streaming.clock import EventClock
from streaming.export import export_dump
from streaming.feedback import FeedbackRecorder
from streaming.replay import ReplayIndex, parse_time
from streaming.runtime import assemble, run_embedded
from streaming.settings import load_settings
from streaming.storage import ModeratorFeedbackRow, SuggestionRow
from tests.streaming.tiny import tiny_models


def test_answers_to_proposals_become_exported_labels(data_dir: Path, tmp_path: Path) -> None:
    index = ReplayIndex(
        data_dir / "reddit-college",
        since=parse_time("2021-10-01"),
        until=parse_time("2021-10-02"),
        subreddits=["GradSchool"],
    )
    db = f"sqlite:///{tmp_path / 'f.db'}"
    s = load_settings(database_url=db, clock="event", replay_data="-", quiet_period_s=600)
    p = assemble(s, models=tiny_models(), index=index, clock=EventClock())
    run_embedded(p)
    with p.sessions() as ses:
        sugs = [r for r in ses.scalars(select(SuggestionRow).order_by(SuggestionRow.post_name))]
    newest: dict[str, SuggestionRow] = {}
    for r in sugs:
        if r.post_name not in newest or r.revision > newest[r.post_name].revision:
            newest[r.post_name] = r
    a, b, c = list(newest.values())[:3]
    now = [a.made_ms / 1000 + 10]
    store = ApprovalStore(":memory:", on_decision=FeedbackRecorder(p.sessions).on_decision)
    service = ApprovalService(store, lambda sub, user: True, lambda: now[0])
    top = [o["tlc"] for o in a.order[:2]]
    p1 = store.propose("GradSchool", "highlights", a.post_name, {"tlcs": top}, now[0])
    p2 = store.propose("GradSchool", "suggested_sort", b.post_name, {"sort": "top"}, now[0])
    store.propose("GradSchool", "suggested_sort", c.post_name, {"sort": "top"}, now[0])
    now[0] += 3600
    assert "approved" in service.approve("GradSchool", p1.id, "mod_alice")
    assert "rejected" in service.reject("GradSchool", p2.id, "mod_bob")
    now[0] += 72 * 3600
    # p3 unanswered, p1 approved but not executed: both expire, p1 keeps its answer as label
    assert store.expire("GradSchool", now[0] - 24 * 3600, now[0]) == 2
    assert store.expire("GradSchool", now[0] - 24 * 3600, now[0]) == 0
    with p.sessions() as ses:
        rows = {r.post_name: r for r in ses.scalars(select(ModeratorFeedbackRow))}
    assert {k: r.decision for k, r in rows.items()} == {
        a.post_name: "approved",
        b.post_name: "rejected",
        c.post_name: "expired",
    }
    ra = rows[a.post_name]
    assert (ra.params["tlcs"], ra.moderator, ra.action) == (top, "mod_alice", "highlights")
    assert ra.suggestion_revision == a.revision and ra.forecaster_version == "tiny-forecaster-1"
    assert rows[c.post_name].moderator is None and rows[b.post_name].tlc_name is None
    out = export_dump(p.sessions, tmp_path / "dump")
    assert out.feedback == 3
    with gzip.open(tmp_path / "dump" / "feedback.jsonl.gz", "rt") as fh:
        labels = [json.loads(x) for x in fh]
    assert {x["decision"] for x in labels} == {"approved", "rejected", "expired"}
    assert all(x["suggestion_revision"] is not None for x in labels)
