"""The whole pipeline on the embedded bus over a small real replay slice (tiny models)."""

from __future__ import annotations

from sqlalchemy import func, select

from redditdata.tree import Thread, iter_replies
from streaming.replay import ReplayIndex
from streaming.storage import EvaluationRow, OutcomeRow, ScoreRow, SuggestionRow, TlcRow
from streaming.storage.queries import latest_revisions
from tests.streaming.support import HORIZON, replay


def test_replay_scores_every_tlc_once_suggests_backfills_and_evaluates(
    small_index: ReplayIndex, db_url: str, models
) -> None:  # type: ignore[no-untyped-def]
    p, stats = replay(small_index, db_url, models, eval_every=200)
    assert stats.published == len(small_index.submissions) + small_index.n_comments
    tlc_names = {c.name for cs in small_index.comments.values() for c in cs if c.is_tlc}
    with p.sessions() as s:
        scored = set(s.scalars(select(ScoreRow.tlc_name)))
        assert scored == tlc_names
        assert (
            s.scalar(select(func.count()).select_from(TlcRow).where(TlcRow.status != "scored")) == 0
        )
        one = s.scalars(select(ScoreRow).limit(1)).one()
        assert one.forecaster_version == "tiny-forecaster-1"
        assert one.empathy_version == "tiny-empathy-1"
        assert one.config_hash == p.settings.config_hash()
        assert one.due_utc == one.created_utc + HORIZON
        # suggestions: every post with a scored TLC has one covering all its TLCs
        posts = set(s.scalars(select(ScoreRow.post_name)))
        latest = dict(s.execute(latest_revisions()).tuples().all())
        assert set(latest) == posts
        n_by_post = dict(
            s.execute(select(ScoreRow.post_name, func.count()).group_by(ScoreRow.post_name))
            .tuples()
            .all()
        )
        assert latest == n_by_post
        sug = s.get_one(SuggestionRow, max(latest.items(), key=lambda kv: kv[1]))
        fc = [o["forecast"] for o in sug.order]
        assert fc == sorted(fc, reverse=True)
        assert sorted(o["reddit_rank"] for o in sug.order) == list(range(1, len(fc) + 1))
        # back-fill: the thread as known at created + horizon, not the final scrape
        outs = {o.tlc_name: o for o in s.scalars(select(OutcomeRow))}
        assert set(outs) == tlc_names
        for c in [c for cs in small_index.comments.values() for c in cs if c.is_tlc][:300]:
            thread = small_index.thread(c.link_id, c.created_utc + HORIZON)
            assert thread is not None
            node = next(t for t in thread.tlcs if t.name == c.name)
            assert outs[c.name].n_replies == len(list(iter_replies(node)))
            assert outs[c.name].as_of_utc >= c.created_utc + HORIZON
        late = [
            o
            for o in outs.values()
            if o.metrics["subsequent_comments"]
            != len(
                list(
                    iter_replies(
                        next(
                            t
                            for t in _thread(small_index, o.post_name).tlcs
                            if t.name == o.tlc_name
                        )
                    )
                )
            )
        ]
        assert late, "some threads grew after the horizon: their outcome must not see it"
        models_ = set(s.scalars(select(EvaluationRow.model).where(EvaluationRow.subreddit == "*")))
        assert {
            "forecaster:tiny-forecaster-1",
            "reddit_order",
            "chronological",
            "mean_baseline",
        } <= models_


def test_replaying_twice_changes_nothing(small_index: ReplayIndex, db_url: str, models) -> None:  # type: ignore[no-untyped-def]
    p, _ = replay(small_index, db_url, models, eval_every=200)
    with p.sessions() as s:
        before = {
            t.__tablename__: s.scalar(select(func.count()).select_from(t))
            for t in (ScoreRow, OutcomeRow, SuggestionRow)
        }
    p2, _ = replay(small_index, db_url, models, eval_every=200)
    with p2.sessions() as s:
        after = {
            t.__tablename__: s.scalar(select(func.count()).select_from(t))
            for t in (ScoreRow, OutcomeRow, SuggestionRow)
        }
    assert after == before


def test_without_bundles_the_service_stores_but_never_invents_scores(
    small_index: ReplayIndex, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from streaming.modelset import load_models

    empty = load_models(tmp_path / "empty-registry")
    assert set(empty.missing) >= {"empathy", "forecaster", "aux", "trajectory"}
    p, _stats = replay(small_index, f"sqlite:///{tmp_path / 'db.sqlite'}", empty, eval_every=200)
    assert "backfill" in p.skipped and "suggestions" in p.skipped
    with p.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ScoreRow)) == 0
        assert s.scalar(select(func.count()).select_from(TlcRow)) == small_index.n_tlcs


def _thread(index: ReplayIndex, post_name: str) -> Thread:
    """The whole thread of a replayed post (every comment the dump has)."""
    thread = index.thread(post_name, 4e9)
    assert thread is not None
    return thread
