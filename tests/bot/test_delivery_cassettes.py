"""Delivery, config and approvals on recorded real Reddit traffic (praw + vcrpy); what writes to
Reddit is tested against the dev server, which enforces Reddit's rules (test_moderation.py)."""

from __future__ import annotations

from urllib.parse import parse_qs

from bot.actions import ActionExecutor
from bot.approvals import ApprovalService, ApprovalStore
from bot.config import ConfigLoader, ConfigStore, SubredditConfig
from bot.delivery import ModeratorDelivery
from bot.modmail_commands import ModmailCommandReader
from bot.suggestions import PostSuggestion, StaticSuggestionSource

SUB = "prosocialtest"  # what <TEST_SUBREDDIT> stands for in the replayed cassettes
BOT = "prosocial_bot"  # what <USERNAME> stands for


def _form(request) -> dict[str, str]:
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    return {k: v[0] for k, v in parse_qs(body or "").items()}


def _suggestion(n: int = 4) -> PostSuggestion:
    tlcs = tuple(f"t1_c{i}" for i in range(n))
    return PostSuggestion(
        post="t3_abc",
        subreddit=SUB,
        title="Is grad school worth it?",
        permalink=f"/r/{SUB}/comments/abc/is_grad_school/",
        current_order=tlcs,
        suggested_order=tuple(reversed(tlcs)),
        reasons={tlcs[-1]: "provides empathy; long, specific answer"},
    )


def test_dry_run_delivery_sends_nothing(replay, praw_reddit):
    delivery = ModeratorDelivery(praw_reddit, ApprovalStore(), BOT, send=False)
    with replay("TestSubredditModmail.test_create"):
        result = delivery.deliver_digest(
            SUB, SubredditConfig(), StaticSuggestionSource([_suggestion()])
        )
    assert not result.sent and result.digest and not result.digest.empty
    assert replay.sent == []


def test_invalid_wiki_config_keeps_last_good_and_tells_the_mods(replay, praw_reddit):
    store = ConfigStore()
    good = SubredditConfig(horizon_hours=24, dry_run=False)
    store.save_good(SUB, good, "r1")
    told: list[tuple[str, str, str]] = []
    loader = ConfigLoader(praw_reddit, store, page="test", notify=lambda *a: told.append(a))
    with replay("TestWikiPage.test_content_md"):  # the page holds "Body: <uuid>"
        result = loader.load(SUB)
    assert result.source == "last_good" and result.config == good
    assert "Body" in result.error and len(told) == 1
    assert "not applied" in told[0][1] and "Body" in told[0][2]


def test_missing_wiki_config_means_safe_defaults(replay, praw_reddit):
    loader = ConfigLoader(praw_reddit, ConfigStore(), page="invalid")
    with replay("TestWikiPage.test_invalid_page"):
        result = loader.load(SUB)
    assert result.source == "default" and result.config.dry_run
    assert "not found" in result.error


def _approved(store: ApprovalStore, action: str, target: str, params: dict) -> None:
    p = store.propose(SUB, action, target, params, 1.0)
    service = ApprovalService(store, lambda sub, user: user == "mod_alice", lambda: 2.0)
    assert service.handle_text(SUB, "mod_alice", f"thanks!\n!approve {p.id}")[0].endswith(
        "approved by u/mod_alice"
    )


def test_unapproved_or_dry_run_actions_touch_nothing(replay, praw_reddit):
    store = ApprovalStore()
    store.propose(SUB, "highlights", "t3_x1", {"tlcs": "t1_a"}, 1.0)  # never approved
    _approved(store, "suggested_sort", "t3_4s2idz", {"sort": "random"})
    with replay("TestSubmissionModeration.test_suggested_sort"):
        done = ActionExecutor(praw_reddit, store, bot_username=BOT, clock=lambda: 3.0).run_approved(
            SUB, dry_run=True
        )
    assert replay.sent == [] and len(done) == 1
    assert store.action_log(SUB)[0]["dry_run"] == 1


def test_approval_reply_is_an_internal_modmail_message(replay, praw_reddit):
    reader = ModmailCommandReader(
        praw_reddit, ApprovalService(ApprovalStore(), lambda s, u: True, lambda: 0), BOT, send=True
    )
    with replay("TestModmailConversation.test_reply__internal"):
        reader.reply(SUB, "1mahha", "- #1 sticky_comment t1_x: approved by u/mod_alice")
    form = _form(replay.sent[-1])
    assert form["isInternal"] == "True" and "approved by u/mod_alice" in form["body"]
