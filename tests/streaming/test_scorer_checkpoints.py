"""The scorer re-forecasts each TLC once per checkpoint, from the replies stored by then; the
suggester ranks by each TLC's latest forecast."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import event, select, update

from models.forecaster.checkpoint import visible_at
from redditdata.events import TOPIC_COMMENTS, TOPIC_SCORES, TOPIC_SUBMISSIONS
from redditdata.tree import iter_replies
from streaming.bus.base import Message
from streaming.bus.embedded import EmbeddedBus
from streaming.stages.scorer import ScorerStage
from streaming.stages.suggester import SuggesterStage
from streaming.storage import CheckpointScoreRow, ReplyRow, ScoreRow, TlcRow
from tests.streaming.support import message, scorer_stage, submission
from tests.streaming.tiny import TinyForecast

T0 = 1_600_000_000


class SeeingForecaster:
    """Forecast = number of replies visible at the checkpoint (0 at creation); records the
    reply names it was shown per (TLC, checkpoint)."""

    version = "seeing-1"
    use_context = False
    use_empathy = False

    def __init__(self) -> None:
        self.checkpoints: dict[int, None] = {900: None, 3600: None}
        self.seen: dict[tuple[str, int], list[str]] = {}

    def predict_many(
        self, groups: Any, empathy: Any = None, *, checkpoint: int = 0, timelines: Any = None
    ) -> list[TinyForecast]:
        out = []
        for _post, tlcs, *_ in groups:
            for t in tlcs:
                vis = visible_at(t, t.created_utc + checkpoint) if checkpoint else t
                names = [r.name for r in iter_replies(vis)]
                self.seen[(t.name, checkpoint)] = names
                v = float(len(names)) - t.created_utc * 1e-9
                out.append(TinyForecast(v, v - 0.1, v + 0.1, [("replies so far", 1.0)]))
        return out


def _msg(topic: str, value: dict[str, Any]) -> Message:
    return message(topic, value.get("link_id", value["name"]), value)


def _comment(name: str, parent: str, at: int, author: str = "u") -> dict[str, Any]:
    return {
        "id": name[3:],
        "name": name,
        "parent_id": parent,
        "link_id": "t3_p",
        "subreddit": "College",
        "author": author,
        "body": f"comment {name}",
        "score": 1,
        "created_utc": T0 + at,
    }


def _checkpoint_scorer(tmp_path: Path, fc: SeeingForecaster, bus: EmbeddedBus) -> ScorerStage:
    """A scorer re-forecasting at +15 min and +1 h."""
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    return scorer_stage(db, bus, fc, horizon_s=48 * 3600, checkpoints=(900, 3600))


def test_checkpoint_reforecasts_read_replies_so_far_and_rerank(tmp_path: Path) -> None:
    fc, bus = SeeingForecaster(), EmbeddedBus()
    scorer = _checkpoint_scorer(tmp_path, fc, bus)
    sessions, clock, metrics, dead = scorer.sessions, scorer.clock, scorer.metrics, scorer.dead
    post = submission(T0)
    scorer.handle(
        [
            _msg(TOPIC_SUBMISSIONS, post),
            _msg(TOPIC_COMMENTS, _comment("t1_a", "t3_p", 10)),
            _msg(TOPIC_COMMENTS, _comment("t1_b", "t3_p", 20)),
            _msg(TOPIC_COMMENTS, _comment("t1_b1", "t1_b", 300)),
            _msg(TOPIC_COMMENTS, _comment("t1_b2", "t1_b1", 400)),
        ]
    )
    assert scorer.run_checkpoints() == 0  # the event clock has not reached +15 min
    # replies arriving later, one of them after a's +15 min checkpoint
    scorer.handle(
        [
            _msg(TOPIC_COMMENTS, _comment("t1_a1", "t1_a", 800)),
            _msg(TOPIC_COMMENTS, _comment("t1_a2", "t1_a", 1000)),
            _msg(TOPIC_COMMENTS, _comment("t1_a3", "t1_a1", 2000)),
            _msg(TOPIC_COMMENTS, _comment("t1_x", "t3_other", 2500)),  # another post
        ]
    )
    with sessions() as s:
        assert len(s.scalars(select(ReplyRow)).all()) == 6
    assert scorer.run_checkpoints() == 2  # both TLCs' +15 min, once
    assert scorer.run_checkpoints() == 0  # never twice
    assert fc.seen[("t1_a", 900)] == ["t1_a1"]  # t1_a2 (+1000 s) is after the checkpoint
    assert fc.seen[("t1_b", 900)] == ["t1_b1", "t1_b2"]
    sugg = SuggesterStage(sessions, clock, metrics, dead)
    row = sugg.suggest("t3_p")
    assert row is not None and row["revision"] == 2 + 2
    assert [o["tlc"] for o in row["order"]] == ["t1_b", "t1_a"]  # b's 2 replies beat a's 1
    clock.observe(T0 + 3700)
    assert scorer.run_checkpoints() == 2
    assert sorted(fc.seen[("t1_a", 3600)]) == ["t1_a1", "t1_a2", "t1_a3"]
    with sessions() as s:
        rows = s.scalars(select(CheckpointScoreRow)).all()
        assert {(r.tlc_name, r.checkpoint_s, r.forecaster_version) for r in rows} == {
            (t, d, "seeing-1") for t in ("t1_a", "t1_b") for d in (900, 3600)
        }
    published = [json.loads(m.value) for m in bus.messages(TOPIC_SCORES)]
    assert sorted(p["checkpoint"] for p in published if p["checkpoint"]) == [900] * 2 + [3600] * 2
    # at +1 h a has 3 replies to b's 2: each TLC ranked by its latest forecast
    row = sugg.suggest("t3_p")
    assert row is not None and row["revision"] == 2 + 4
    assert [o["tlc"] for o in row["order"]] == ["t1_a", "t1_b"]


def test_only_revisions_covering_a_new_tlc_record_an_ingest_latency(tmp_path: Path) -> None:
    """A re-rank after checkpoint re-forecasts is not an ingest latency (it would count the
    time since the post's last TLC arrived); a revision that first covers a TLC is, also after
    a restart of the suggester."""
    scorer = _checkpoint_scorer(tmp_path, SeeingForecaster(), EmbeddedBus())
    sessions, clock, metrics, dead = scorer.sessions, scorer.clock, scorer.metrics, scorer.dead

    def tlc(name: str, at: int) -> Message:
        return _msg(TOPIC_COMMENTS, {**_comment(name, "t3_p", at), "_ingest_ms": 1_000 + at})

    scorer.handle([_msg(TOPIC_SUBMISSIONS, submission(T0)), tlc("t1_a", 10)])
    sugg = SuggesterStage(sessions, clock, metrics, dead)
    first = sugg.suggest("t3_p")
    assert first is not None and first["latency_s"] is not None  # a's first suggestion
    clock.observe(T0 + 1000)
    assert scorer.run_checkpoints() == 1
    rerank = sugg.suggest("t3_p")
    assert rerank is not None and rerank["revision"] == 2 and rerank["latency_s"] is None
    scorer.handle([tlc("t1_b", 1100)])
    fresh = sugg.suggest("t3_p")
    assert fresh is not None and fresh["revision"] == 3 and fresh["latency_s"] is not None
    clock.observe(T0 + 3700)
    assert scorer.run_checkpoints() == 2
    restarted = SuggesterStage(sessions, clock, metrics, dead)  # nothing in memory
    again = restarted.suggest("t3_p")
    assert again is not None and again["revision"] == 5 and again["latency_s"] is None
    assert list(restarted.latencies) == [] and len(sugg.latencies) == 2


def test_a_reforecast_backlog_is_worked_off_in_bounded_runs_one_per_tick(tmp_path: Path) -> None:
    """One tick re-forecasts at most ``max_per_tick`` (earliest checkpoint first); while the
    last run was full the next tick runs again without waiting for the sweep interval."""
    fc = SeeingForecaster()
    scorer = _checkpoint_scorer(tmp_path, fc, EmbeddedBus())
    scorer.reforecast.max_per_tick = 2
    scorer.handle(
        [_msg(TOPIC_SUBMISSIONS, submission(T0))]
        + [_msg(TOPIC_COMMENTS, _comment(f"t1_{i}", "t3_p", 10 + i)) for i in range(3)]
    )
    scorer.clock.observe(T0 + 4000)  # 3 TLCs x 2 checkpoints due
    runs = []
    for i in range(5):
        scorer.sweep_every_s = 0.0 if i == 0 else 3600.0  # only the first tick is a sweep
        before = scorer.reforecast.made
        scorer.tick()
        runs.append(scorer.reforecast.made - before)
    assert runs == [2, 2, 2, 0, 0]
    assert sorted(k for k in fc.seen if k[1]) == [
        (f"t1_{i}", d) for i in range(3) for d in (900, 3600)
    ]
    assert [k[1] for k in fc.seen if k[1]][:3] == [900, 900, 900]  # earliest checkpoint first


def test_due_reads_start_at_the_floor_and_a_late_read_finds_tlcs_scored_late(
    tmp_path: Path,
) -> None:
    """After the first read a delay's due read starts at its floor (the oldest TLC due at the
    last read), so its cost follows the backlog, not every TLC ever stored; a TLC scored after
    its checkpoint had passed (its post came late) is found by the next late read, which walks
    only the TLCs scored since the last one, and a drain reads everything at once."""
    fc = SeeingForecaster()
    scorer = _checkpoint_scorer(tmp_path, fc, EmbeddedBus())
    wall = [0.0]
    scorer.reforecast.monotonic = lambda: wall[0]
    scorer.handle(
        [
            _msg(TOPIC_SUBMISSIONS, submission(T0)),
            _msg(TOPIC_COMMENTS, _comment("t1_a", "t3_p", 10)),
            _msg(TOPIC_COMMENTS, _comment("t1_b", "t3_p", 20)),
        ]
    )
    late = {**_comment("t1_c", "t3_q", 30), "link_id": "t3_q"}
    scorer.handle([_msg(TOPIC_COMMENTS, late)])  # pending: its post is not here yet
    scorer.clock.observe(T0 + 1000)
    assert scorer.run_checkpoints() == 2  # a and b at +15 min (the first read: everything)
    wall[0] = 10.0
    with _statements(scorer.sessions, with_values=True) as seen:
        assert scorer.run_checkpoints() == 0
    # the read starts at a's creation, an index range in creation order: nothing older is
    # visited, and nothing is sorted
    due = [(q, v) for q, v in seen if "created_utc >=" in q]
    assert len(due) == 2  # one read per delay; +15 min's starts at a
    due = [(q, v) for q, v in due if T0 + 10 in v]
    assert len(due) == 1
    assert _plan(scorer.sessions, *due[0]) == [
        "SEARCH tlcs USING INDEX ix_tlcs_status_created (status=? AND created_utc>? AND created_utc<?)"
    ]
    scorer.handle([_msg(TOPIC_SUBMISSIONS, submission(T0, "t3_q"))])  # c is scored now
    with scorer.sessions() as s:  # stamped before its transaction committed (the margin)
        s.execute(update(ScoreRow).values(scored_ms=ScoreRow.scored_ms - 20_000))
        s.commit()
    wall[0] = 20.0
    assert scorer.run_checkpoints() == 0  # c is older than the +15 min floor
    wall[0] = 31.0
    with _statements(scorer.sessions, with_values=True) as seen:
        assert scorer.run_checkpoints() == 1  # the late read finds it
    assert ("t1_c", 900) in fc.seen
    # every read of tlcs is bounded: at a floor, or at the names a late read found
    reads = [q for q, _ in seen if "FROM tlcs" in q and "created_utc <=" in q]
    assert reads and all("created_utc >=" in q or "tlcs.name IN" in q for q in reads)
    # a late read starts from the recently scored TLCs: an index range of scores
    late_reads = [(q, v) for q, v in seen if "FROM scores" in q and "scored_ms >=" in q]
    assert len(late_reads) == 2  # one per delay
    assert _plan(scorer.sessions, *late_reads[0], table="scores") == [
        "SEARCH scores USING INDEX ix_scores_scored_ms (scored_ms>?)"
    ]
    late_d = {**_comment("t1_d", "t3_r", 40), "link_id": "t3_r"}
    scorer.handle([_msg(TOPIC_COMMENTS, late_d)])
    wall[0] = 35.0
    assert scorer.run_checkpoints() == 0
    scorer.handle([_msg(TOPIC_SUBMISSIONS, submission(T0, "t3_r"))])
    scorer.drain()  # within 30 s of the last late read, yet it finds d
    assert ("t1_d", 900) in fc.seen


def _plan(sessions: Any, statement: str, values: Any, table: str = "tlcs") -> list[str]:
    """SQLite's plan of ``statement``: its steps over ``table`` and any sort."""
    with sessions() as s:
        cursor = s.connection().connection.driver_connection.cursor()
        rows = cursor.execute("EXPLAIN QUERY PLAN " + statement, values).fetchall()
    return [r[3] for r in rows if f" {table} " in f" {r[3]} " or "TEMP B-TREE" in r[3]]


@contextlib.contextmanager
def _statements(sessions: Any, with_values: bool = False) -> Iterator[list[Any]]:
    """The SQL statements executed through ``sessions``' engine inside the block (with their
    bound values: ``with_values``)."""
    engine = sessions.kw["bind"]
    seen: list[Any] = []

    def record(*args: Any) -> None:
        seen.append((args[2], args[3]) if with_values else args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_revision_reads_its_post_in_two_statements(tmp_path: Path) -> None:
    """A revision costs two reads (the post's scores, its re-forecasts: their number is the
    revision's count too) and one write, whatever the post holds."""
    scorer = _checkpoint_scorer(tmp_path, SeeingForecaster(), EmbeddedBus())
    sessions, clock, metrics, dead = scorer.sessions, scorer.clock, scorer.metrics, scorer.dead
    scorer.handle(
        [_msg(TOPIC_SUBMISSIONS, submission(T0))]
        + [_msg(TOPIC_COMMENTS, _comment(f"t1_{c}", "t3_p", 10 + i)) for i, c in enumerate("abc")]
    )
    sugg = SuggesterStage(sessions, clock, metrics, dead)
    assert sugg.suggest("t3_p") is not None
    clock.observe(T0 + 4000)
    assert scorer.run_checkpoints() == 6
    with _statements(sessions) as statements:
        row = sugg.suggest("t3_p")
    assert row is not None and row["revision"] == 3 + 6
    assert len(statements) == 3, statements


def _statements_of_a_reforecast_run(tmp_path: Path, posts: int) -> int:
    """Statements one re-forecast run executes for 2 TLCs (each with a reply) on each of
    ``posts`` posts."""
    fc = SeeingForecaster()
    scorer = _checkpoint_scorer(tmp_path, fc, EmbeddedBus())
    batch = []
    for p in range(posts):
        post = f"t3_p{p}"
        batch.append(_msg(TOPIC_SUBMISSIONS, submission(T0, post)))
        for i in range(2):
            tlc = {**_comment(f"t1_{p}x{i}", post, 10 + i), "link_id": post}
            reply = {**_comment(f"t1_{p}x{i}r", tlc["name"], 60 + i), "link_id": post}
            batch += [_msg(TOPIC_COMMENTS, tlc), _msg(TOPIC_COMMENTS, reply)]
    scorer.handle(batch)
    scorer.clock.observe(T0 + 1000)  # every TLC's +15 min checkpoint is due
    with _statements(scorer.sessions) as statements:
        assert scorer.run_checkpoints() == 2 * posts
    # each TLC was shown its own reply, however the threads were read
    assert all(
        fc.seen[(f"t1_{p}x{i}", 900)] == [f"t1_{p}x{i}r"] for p in range(posts) for i in (0, 1)
    )
    return len(statements)


def test_a_reforecast_run_reads_the_threads_of_all_its_posts_at_once(tmp_path: Path) -> None:
    """The stored TLCs and replies of a run's posts are read in one statement each, not one
    pair per post: a run over 6 posts executes as many statements as a run over 1."""
    one = _statements_of_a_reforecast_run(tmp_path / "one", 1)
    six = _statements_of_a_reforecast_run(tmp_path / "six", 6)
    assert six == one


class HalfOwnedBus(EmbeddedBus):
    """A member of a two-scorer group: it owns post ``t3_mine`` and not ``t3_theirs``."""

    def owns(self, group_id: str, topic: str, key: str) -> bool:
        assert (group_id, topic) == ("prosocial-scorer", TOPIC_COMMENTS)
        return key == "t3_mine"


def test_a_scorer_re_forecasts_only_the_posts_whose_partition_it_owns(tmp_path: Path) -> None:
    fc = SeeingForecaster()
    scorer = _checkpoint_scorer(tmp_path, fc, HalfOwnedBus())
    scorer.reforecast.max_per_tick = 2  # the other member's TLCs are older: look past them
    msgs = []
    for post, at in (("t3_theirs", 0), ("t3_mine", 100)):
        msgs.append(_msg(TOPIC_SUBMISSIONS, submission(T0 + at, post)))
        for i in range(3):
            c = _comment(f"t1_{post[3:]}{i}", post, at + 10 + i)
            msgs.append(_msg(TOPIC_COMMENTS, c | {"link_id": post}))
    scorer.handle(msgs)
    scorer.clock.observe(T0 + 5000)
    loaded: list[str] = []

    def on_load(target: TlcRow, _context: Any) -> None:
        loaded.append(target.post_name)

    # a fresh session per run: every row a run reads as an object is loaded anew
    event.listen(TlcRow, "load", on_load)
    try:
        while scorer.run_checkpoints():
            pass
    finally:
        event.remove(TlcRow, "load", on_load)
    assert sorted(k for k in fc.seen if k[1]) == [
        (f"t1_mine{i}", d) for i in range(3) for d in (900, 3600)
    ]
    # the other member's due TLCs were looked past as names, never loaded as rows
    assert loaded and set(loaded) == {"t3_mine"}
