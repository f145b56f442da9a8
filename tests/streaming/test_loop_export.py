"""The back-fill keeps the reply trees it measured; ``prosocial export`` writes them as a dump
that the training readers accept, and the outcomes computed from that dump are the stored ones."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from redditdata.forest import iter_threads
from streaming.cli import main as prosocial
from streaming.clock import EventClock
from streaming.replay import ReplayIndex
from streaming.stages import BackfillStage
from streaming.storage import OutcomeRow, ReplyRow
from tests.streaming.support import HORIZON, replay
from tests.streaming.tiny import TinyOutcomes


def test_export_round_trip_gives_the_stored_outcomes(
    small_index: ReplayIndex, db_url: str, models, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    p, _ = replay(small_index, db_url, models)
    with p.sessions() as s:
        stored = {o.tlc_name: o for o in s.scalars(select(OutcomeRow))}
        roots = s.execute(
            select(func.count()).select_from(ReplyRow).where(ReplyRow.depth == 0)
        ).scalar_one()
        with_text = s.execute(
            select(func.count())
            .select_from(ReplyRow)
            .where(ReplyRow.depth > 0, ReplyRow.body.is_not(None))
        ).scalar_one()
    assert len(stored) > 200 and roots == len(stored) and with_text > 0
    out = tmp_path / "dump"
    subs = sorted({o.subreddit for o in stored.values()})[:3]
    assert (
        prosocial(
            [
                "export",
                "--database-url",
                db_url,
                "--since",
                "2021-10-01",
                "--until",
                "2021-10-03",
                "--subreddits",
                ",".join(subs),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    want = {k: o for k, o in stored.items() if o.subreddit in subs}
    # the training reader, with its maturity filter, sees every exported thread
    threads = list(iter_threads(out, min_age_s=HORIZON))
    tlcs = [t for th in threads for t in th.tlcs]
    assert {t.name for t in tlcs} == set(want)
    again = dict(zip([t.name for t in tlcs], TinyOutcomes().compute(tlcs)))
    for name, o in want.items():
        assert again[name].trajectory == pytest.approx(o.trajectory)
        assert again[name].metrics["subsequent_comments"] == o.n_replies
    with gzip.open(out / "outcomes.jsonl.gz", "rt") as fh:
        exported = [json.loads(x) for x in fh]
    assert {r["tlc"]: r["trajectory"] for r in exported} == pytest.approx(
        {k: o.trajectory for k, o in want.items()}
    )
    meta = json.loads((out / "export.json").read_text())
    assert meta["tlcs"] == len(want) and meta["subreddits"] == [s.lower() for s in subs]

    # a shuffled export hands TLCs other TLCs' trees: outcomes move, the TLC set stays
    sh = tmp_path / "shuffled"
    assert (
        prosocial(["export", "--database-url", db_url, "--out", str(sh), "--shuffle-outcomes", "1"])
        == 0
    )
    tl = [t for th in iter_threads(sh, min_age_s=HORIZON) for t in th.tlcs]
    assert {t.name for t in tl} == set(stored)
    moved = dict(zip([t.name for t in tl], TinyOutcomes().compute(tl)))
    same = sum(moved[k].trajectory == pytest.approx(o.trajectory) for k, o in stored.items())
    assert same < 0.8 * len(stored)
    assert sorted(m.trajectory for m in moved.values()) == pytest.approx(
        sorted(float(o.trajectory) for o in stored.values() if o.trajectory is not None)
    )


def test_reply_trees_past_retention_are_deleted_outcomes_kept(
    small_index: ReplayIndex, tmp_path: Path, models
) -> None:  # type: ignore[no-untyped-def]
    p, _ = replay(small_index, f"sqlite:///{tmp_path / 'r.db'}", models, reply_retention_days=30)
    bf, clock = p.stages["backfill"], p.clock
    assert isinstance(bf, BackfillStage) and isinstance(clock, EventClock)
    with p.sessions() as s:
        backfilled = ReplyRow.as_of_utc.is_not(None)
        count = select(func.count()).select_from(ReplyRow).where(backfilled)
        before = s.execute(count).scalar_one()
        newest = s.execute(select(func.max(ReplyRow.as_of_utc))).scalar_one()
    assert before > 0 and newest is not None
    assert bf.prune(force=True) == 0  # nothing older than 30 days yet
    clock.advance_to(newest + 30 * 86400 + 1)
    assert bf.prune(force=True) == before
    with p.sessions() as s:
        assert s.execute(count).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(OutcomeRow)).scalar_one() > 0
