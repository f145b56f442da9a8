"""Pure parts of delivery: wiki config validation, approvals, digest selection, back-off."""

from __future__ import annotations

import prawcore
import pytest

from bot.approvals import ApprovalService, ApprovalStore, parse_commands
from bot.backoff import Backoff
from bot.config import EXAMPLE_YAML, ConfigStore, SubredditConfig, parse_config
from bot.digest import MAX_MODMAIL_CHARS, build_digest
from bot.errors import ConfigError, RetriesExhausted
from bot.ratelimit import RateBudget
from bot.suggestions import EmpathySeeker, PostSuggestion, rank_distance


def test_example_config_is_valid_and_not_the_defaults():
    cfg = parse_config(EXAMPLE_YAML)
    assert cfg.actions.highlights and cfg.channels.wiki and cfg.digest.hour_utc == 14
    assert cfg != SubredditConfig() and cfg.dry_run


@pytest.mark.parametrize(
    "text, why",
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("digest: [every\n", "not valid YAML"),
        ("- a\n- b\n", "mapping"),
        ("horizon_hours: -3\n", "horizon_hours"),
        ("colour: blue\n", "colour"),
        ("digest: {every_hours: often}\n", "digest.every_hours"),
    ],
)
def test_bad_config_pages_are_rejected_with_the_reason(text, why):
    with pytest.raises(ConfigError, match=why):
        parse_config(text)


def test_config_store_reports_a_bad_revision_once():
    store = ConfigStore()
    assert store.first_report("GradSchool", "r7") and not store.first_report("gradschool", "r7")
    assert store.first_report("GradSchool", "r8")


def test_commands_are_parsed_line_by_line():
    assert parse_commands("thanks\n!approve 3, 5\n!Reject #4\nnot !approve 9") == [
        ("approve", [3, 5]),
        ("reject", [4]),
    ]


def test_approval_needs_an_approver_and_happens_once():
    store = ApprovalStore()
    a = store.propose("GradSchool", "highlights", "t3_x", {}, 1.0)
    assert store.propose("gradschool", "highlights", "t3_x", {}, 2.0).id == a.id
    svc = ApprovalService(store, lambda sub, u: u == "mod_alice", lambda: 5.0)
    assert "may not approve" in svc.approve("GradSchool", a.id, "random_user")
    assert "approved by u/mod_alice" in svc.approve("GradSchool", a.id, "mod_alice")
    assert "already approved" in svc.approve("GradSchool", a.id, "mod_alice")
    assert "no such proposal" in svc.approve("College", a.id, "mod_alice")
    b = store.propose("GradSchool", "suggested_sort", "t3_p", {"sort": "top"}, 1.0)
    assert svc.handle_text("GradSchool", "mod_alice", f"!reject {b.id}")[0].endswith(
        "rejected by u/mod_alice"
    )
    assert [p.id for p in store.with_status("gradschool", "approved")] == [a.id]
    with pytest.raises(ValueError):
        store.propose("GradSchool", "ban_user", "t2_x", {}, 1.0)


def test_rank_distance():
    assert rank_distance(["a", "b", "c"], ["a", "b", "c"]) == 0
    assert rank_distance(["a", "b", "c"], ["c", "b", "a"]) == 1
    assert rank_distance(["a", "b", "c", "d"], ["b", "a", "c", "d"]) == pytest.approx(1 / 6)
    assert rank_distance(["a"], ["a"]) == 0


def _post(
    i: int,
    order: tuple[str, ...],
    suggested: tuple[str, ...],
    seekers: tuple[EmpathySeeker, ...] = (),
) -> PostSuggestion:
    return PostSuggestion(
        f"t3_p{i}",
        "GradSchool",
        f"Post {i}",
        f"/r/GradSchool/comments/p{i}/",
        order,
        suggested,
        {suggested[0]: "reason " * 3},
        seekers,
    )


def test_digest_lists_the_most_reordered_posts_and_old_enough_seekers():
    now = 1_700_000_000
    seeker_old = EmpathySeeker(
        "t1_s1", "t3_p0", "anna", "/r/x/comments/p0/_/s1/", "I feel lost", now - 3 * 3600
    )
    seeker_new = EmpathySeeker("t1_s2", "t3_p0", "ben", "/r/x/comments/p0/_/s2/", "help", now - 600)
    same = _post(0, ("a", "b", "c"), ("a", "b", "c"), (seeker_old, seeker_new))
    flipped = _post(1, ("a", "b", "c", "d"), ("d", "c", "b", "a"))
    slight = _post(2, ("a", "b", "c", "d"), ("b", "a", "c", "d"))
    small = _post(3, ("a", "b"), ("b", "a"))
    cfg = SubredditConfig(
        thresholds={
            "min_rank_distance": 0.1,
            "min_tlcs": 3,
            "max_posts": 5,
            "empathy_unanswered_hours": 2,
        }
    )
    d = build_digest("GradSchool", [same, flipped, slight, small], cfg, now)
    assert [p.post for p in d.posts] == ["t3_p1", "t3_p2"]
    assert [e.tlc for e in d.seekers] == ["t1_s1"]
    assert "Post 1" in d.body and "t1_s1" in d.body and "t1_s2" not in d.body
    assert d.body.index("Post 1") < d.body.index("Post 2")


def test_digest_fits_a_modmail_message():
    many = [_post(i, tuple("abcdefgh"), tuple(reversed("abcdefgh"))) for i in range(50)]
    cfg = SubredditConfig(thresholds={"max_posts": 50})
    d = build_digest("GradSchool", many, cfg, 1_700_000_000)
    assert len(d.body) <= MAX_MODMAIL_CHARS and d.body.endswith("(digest truncated)")


class _Resp:
    def __init__(self, status: int, headers: dict[str, str]) -> None:
        self.status_code = status
        self.headers = headers
        self.text = ""
        self.reason = ""


def test_backoff_retries_transient_errors_and_waits_for_the_announced_reset():
    slept: list[float] = []
    calls = iter(
        [
            prawcore.TooManyRequests(_Resp(429, {"x-ratelimit-reset": "42"})),
            prawcore.ServerError(_Resp(500, {})),
            "ok",
        ]
    )

    def fn():
        v = next(calls)
        if isinstance(v, Exception):
            raise v
        return v

    b = Backoff(sleep=slept.append, base_s=1, cap_s=60)
    assert b.call(fn) == "ok"
    assert slept[0] == 42 and 0.5 <= slept[1] <= 2 and b.retries == 2


def test_backoff_gives_up_and_does_not_retry_permanent_errors():
    b = Backoff(sleep=lambda s: None, max_tries=3)
    with pytest.raises(RetriesExhausted):
        b.call(lambda: (_ for _ in ()).throw(prawcore.ServerError(_Resp(503, {}))))
    with pytest.raises(prawcore.NotFound):
        b.call(lambda: (_ for _ in ()).throw(prawcore.NotFound(_Resp(404, {}))))


def test_rate_budget_counts_the_window_and_asks_for_a_pause_when_low():
    t = [0.0]
    budget = RateBudget(lambda: t[0], limit=10, reserve=2)
    for _ in range(7):
        budget.record(200, {"x-ratelimit-remaining": "300", "x-ratelimit-reset": "100"})
        t[0] += 1
    assert budget.in_window() == 7 and budget.pause_needed() == 0
    budget.record(200, {})
    assert budget.pause_needed() == pytest.approx(600 - 7)  # 8 >= 10 - 2: wait for the oldest
    budget.record(429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "30"})
    assert budget.throttled == 1 and budget.pause_needed() == pytest.approx(30)
    t[0] += 700
    assert budget.in_window() == 0
