"""The scorer reads each TLC's author history from storage, as training computes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from training.forecaster.history import TlcRef, author_history, dump_tlcs

from models.forecaster.context import TlcContext
from redditdata.events import TOPIC_COMMENTS, TOPIC_SUBMISSIONS
from streaming.bus.embedded import EmbeddedBus
from streaming.stages.history import author_contexts
from streaming.storage import OutcomeRow, PostRow, TlcRow, open_database, upsert
from tests.streaming.support import message, scorer_stage, submission
from tests.streaming.tiny import TinyForecast, TinyForecaster

H = 48 * 3600


@pytest.fixture(scope="module")
def real_refs(data_dir: Path) -> list[TlcRef]:
    """All TLCs of the three most active named authors of the dump who post in more than one
    subreddit (a real slice on which the history scopes differ)."""
    refs = dump_tlcs(data_dir / "reddit-college")
    by: dict[str, list[TlcRef]] = {}
    for r in refs:
        if r.author and r.author not in ("[deleted]", "AutoModerator"):
            by.setdefault(r.author, []).append(r)
    several = [rs for rs in by.values() if len({r.subreddit for r in rs}) > 1]
    top = sorted(several, key=len, reverse=True)[:3]
    return [r for rs in top for r in rs]


def _store(sessions: Any, refs: list[TlcRef], outcomes: dict[str, float]) -> None:
    with sessions() as s:
        upsert(
            s,
            PostRow,
            [
                {
                    "name": p,
                    "subreddit": "College",
                    "title": "t",
                    "selftext": "",
                    "author": None,
                    "score": 1,
                    "created_utc": 0,
                    "retrieved_on": None,
                }
                for p in {r.post for r in refs}
            ],
        )
        upsert(
            s,
            TlcRow,
            [
                {
                    "name": r.name,
                    "post_name": r.post,
                    "subreddit": r.subreddit,
                    "author": r.author,
                    "body": "x",
                    "score": 1,
                    "created_utc": r.created_utc,
                    "ingest_ms": 0,
                    "stored_ms": 0,
                    "status": "scored",
                }
                for r in refs
            ],
        )
        upsert(
            s,
            OutcomeRow,
            [
                {
                    "tlc_name": k,
                    "post_name": "t3_x",
                    "subreddit": "College",
                    "as_of_utc": 0,
                    "trajectory": v,
                    "metrics": {},
                    "n_replies": 0,
                    "versions": {},
                    "computed_ms": 0,
                }
                for k, v in outcomes.items()
            ],
        )
        s.commit()


def test_storage_contexts_equal_the_training_history(db_url: str, real_refs) -> None:
    refs = real_refs
    assert len(refs) > 50
    outcomes = {r.name: float(i % 7) - 2.0 for i, r in enumerate(refs) if i % 3}
    _, sessions = open_database(db_url)
    _store(sessions, refs, outcomes)
    by_scope = {}
    for scope in ("subreddit", "all"):
        want = author_history(refs, outcomes, H, scope=scope)
        with sessions() as s:
            q = _joined().where(TlcRow.name.in_([r.name for r in refs]))
            got = author_contexts(s, list(s.execute(q).tuples()), H, scope=scope)
        assert got == {k: want[k] for k in got} and set(got) == set(want)
        by_scope[scope] = got
    # these authors post in several subreddits: the default scope really is narrower
    assert any(by_scope["subreddit"][k].prior_tlcs < by_scope["all"][k].prior_tlcs for k in got)
    assert any(c.n_outcomes > 0 for c in got.values())
    assert any(c.prior_tlcs_post > 0 for c in got.values())


def _joined() -> Any:
    from sqlalchemy import select

    return select(TlcRow, PostRow).join(PostRow, PostRow.name == TlcRow.post_name)


class _CtxForecaster(TinyForecaster):
    """Records the groups it is given; uses context like a context bundle."""

    version = "ctx-test"
    use_context = True

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[tuple[Any, ...]] = []

    def predict_many(
        self, groups: Any, empathy: Any = None, *, checkpoint: int = 0, timelines: Any = None
    ) -> list[Any]:
        self.groups += [tuple(g) for g in groups]
        return [TinyForecast(0.0, -1.0, 1.0, []) for g in groups for _ in g[1]]


def test_scorer_passes_each_tlcs_context_to_the_forecaster(tmp_path: Path) -> None:
    bus = EmbeddedBus()
    fc = _CtxForecaster()
    stage = scorer_stage(f"sqlite:///{tmp_path / 'db.sqlite'}", bus, fc, horizon_s=H)
    sessions = stage.sessions
    t0 = 1_600_000_000
    post = submission(t0)

    def tlc(i: int, author: str, t: int, link: str = "t3_p") -> dict[str, Any]:
        return {
            "id": f"c{i}",
            "name": f"t1_c{i}",
            "parent_id": link,
            "link_id": link,
            "subreddit": "College",
            "author": author,
            "body": "hello there",
            "score": 1,
            "created_utc": t,
        }

    old = tlc(0, "ann", t0 - 3 * H, link="t3_old")
    stage.handle(
        [
            message(
                TOPIC_SUBMISSIONS,
                "t3_old",
                post | {"id": "old", "name": "t3_old", "created_utc": t0 - 3 * H},
            ),
            message(TOPIC_COMMENTS, "t3_old", old),
        ]
    )
    with sessions() as s:
        upsert(
            s,
            OutcomeRow,
            [
                {
                    "tlc_name": "t1_c0",
                    "post_name": "t3_old",
                    "subreddit": "College",
                    "as_of_utc": t0,
                    "trajectory": 1.5,
                    "metrics": {},
                    "n_replies": 2,
                    "versions": {},
                    "computed_ms": 0,
                }
            ],
        )
        s.commit()
    fc.groups.clear()
    stage.handle(
        [
            message(TOPIC_SUBMISSIONS, "t3_p", post),
            message(TOPIC_COMMENTS, "t3_p", tlc(1, "ann", t0 + 60)),
            message(TOPIC_COMMENTS, "t3_p", tlc(2, "ann", t0 + 120)),
            message(TOPIC_COMMENTS, "t3_p", tlc(3, "[deleted]", t0 + 130)),
        ]
    )
    (g,) = fc.groups
    _post, nodes, n_prior, ctx = g
    by = dict(zip([n.name for n in nodes], ctx))
    assert n_prior is not None and sorted(n_prior) == [0, 1, 2]
    assert by["t1_c1"] == TlcContext(1, 1, 0, 1, 1.5)
    assert by["t1_c2"] == TlcContext(2, 2, 1, 1, 1.5)  # same batch, earlier TLC counts
    assert by["t1_c3"] is None  # deleted author: no history
