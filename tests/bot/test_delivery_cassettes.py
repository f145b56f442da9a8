"""Delivery, config and approved actions on recorded real Reddit traffic (praw + vcrpy)."""

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


def test_digest_goes_to_modmail_as_a_conversation_with_the_bot(replay, praw_reddit):
    store = ApprovalStore()
    delivery = ModeratorDelivery(praw_reddit, store, BOT, send=True, clock=lambda: 1.7e9)
    config = SubredditConfig(actions={"sticky_comment": True})
    with replay("TestSubredditModmail.test_create"):
        result = delivery.deliver_digest(SUB, config, StaticSuggestionSource([_suggestion()]))
    assert result.sent and result.conversation == "p1pc"
    form = _form(replay.sent[-1])
    assert form["srName"] == SUB and form["to"] == BOT and form["isAuthorHidden"] == "False"
    assert "Is grad school worth it?" in form["body"] and "!approve 1" in form["body"]
    assert "t1_c3" in form["body"] and "provides empathy" in form["body"]
    assert store.digests(SUB)[0][1] == "p1pc"
    assert [p.action for p in result.digest.proposals] == ["sticky_comment"]


def test_dry_run_delivery_sends_nothing(replay, praw_reddit):
    delivery = ModeratorDelivery(praw_reddit, ApprovalStore(), BOT, send=False)
    with replay("TestSubredditModmail.test_create"):
        result = delivery.deliver_digest(
            SUB, SubredditConfig(), StaticSuggestionSource([_suggestion()])
        )
    assert not result.sent and result.digest and not result.digest.empty
    assert replay.sent == []


def test_wiki_suggestions_page_is_edited(replay, praw_reddit):
    delivery = ModeratorDelivery(praw_reddit, ApprovalStore(), BOT, send=True)
    with replay("TestWikiPage.test_edit"):
        assert delivery.write_wiki(SUB, "test", "current suggestions")
    form = _form(replay.sent[-1])
    assert form["page"] == "test" and form["content"] == "current suggestions"


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


def test_approved_sticky_is_performed_and_logged_with_its_approver(replay, praw_reddit):
    store = ApprovalStore()
    _approved(store, "sticky_comment", "t1_da2g5y6", {"post": "t3_5cu71v"})
    with replay("TestCommentModeration.test_distinguish__sticky"):
        done = ActionExecutor(praw_reddit, store, clock=lambda: 3.0).run_approved(
            SUB, dry_run=False
        )
    assert [o for _, o in done] == ["ok"]
    form = _form(replay.sent[-1])
    assert form == {"api_type": "json", "how": "yes", "id": "t1_da2g5y6", "sticky": "True"}
    log = store.action_log(SUB)
    assert log[0]["approved_by"] == "mod_alice" and log[0]["dry_run"] == 0
    assert store.with_status(SUB, "executed")[0].target == "t1_da2g5y6"


def test_approved_suggested_sort_is_performed(replay, praw_reddit):
    store = ApprovalStore()
    _approved(store, "suggested_sort", "t3_4s2idz", {"sort": "random"})
    with replay("TestSubmissionModeration.test_suggested_sort"):
        ActionExecutor(praw_reddit, store).run_approved(SUB, dry_run=False)
    assert _form(replay.sent[-1])["sort"] == "random"
    assert store.action_log(SUB)[0]["outcome"] == "ok"


def test_unapproved_or_dry_run_actions_touch_nothing(replay, praw_reddit):
    store = ApprovalStore()
    store.propose(SUB, "sticky_comment", "t1_x1", {}, 1.0)  # never approved
    _approved(store, "suggested_sort", "t3_4s2idz", {"sort": "random"})
    with replay("TestSubmissionModeration.test_suggested_sort"):
        done = ActionExecutor(praw_reddit, store).run_approved(SUB, dry_run=True)
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
