"""What the bot writes to Reddit, against the dev server (which enforces Reddit's rules):
digests exactly once even when a POST is answered late, private wiki pages, escaped user text,
the highlights comment and suggested sort only as a moderator may, expiry and re-checks."""

from __future__ import annotations

from typing import Any

import prawcore
import pytest

from bot.actions import HIGHLIGHTS_MARK, ActionExecutor
from bot.approvals import ApprovalService, ApprovalStore
from bot.backoff import Backoff
from bot.config import SubredditConfig
from bot.delivery import ModeratorDelivery, marker
from bot.devserver import DevRedditServer, FaultPlan
from bot.modmail_commands import ModmailCommandReader
from bot.suggestions import PostSuggestion, StaticSuggestionSource
from tests.bot.support import dev_reddit

BOT = "prosocial_bot"


@pytest.fixture(autouse=True)
def _late_in_the_rate_window(dev_world):
    """The world's clock stands still here: near a rate window's end prawcore does not pace
    requests a second apart (as it does early in a window with most of the budget left)."""
    dev_world.advance(600 - dev_world.now % 600 - 5)


def _as(url: str, user: str) -> Any:
    from bot.reddit import ClientSettings, make_reddit

    return make_reddit(
        ClientSettings(
            oauth_url=url,
            reddit_url=url,
            timeout_cap=0.5,
            extra={"client_id": "t", "client_secret": "t", "username": user, "password": "t"},
        )
    )


def _post_with_tlcs(world: Any, n: int = 3) -> tuple[Any, list[Any]]:
    for post in (i for i in world.items.values() if i.kind == "t3"):
        tlcs = [
            c
            for c in world.comments_by_post.get(post.name, [])
            if c.data["parent_id"] == post.name and c.data["author"] != "AutoModerator"
        ]
        if len(tlcs) >= n:
            return post, tlcs[:n]
    raise AssertionError("no post with enough TLCs")


def _suggestion(post: Any, tlcs: list[Any], title: str | None = None) -> PostSuggestion:
    names = tuple(t.name for t in tlcs)
    return PostSuggestion(
        post=post.name,
        subreddit=post.data["subreddit"],
        title=title or post.data["title"],
        permalink=post.data["permalink"],
        current_order=names,
        suggested_order=tuple(reversed(names)),
        reasons={names[-1]: "provides empathy"},
    )


def _approve(store: ApprovalStore, sub: str, action: str, target: str, params: dict) -> int:
    p = store.propose(sub, action, target, params, 1.0)
    svc = ApprovalService(store, lambda s, u: u == "mod_alice", lambda: 2.0)
    assert svc.approve(sub, p.id, "mod_alice").endswith("approved by u/mod_alice")
    return p.id


def test_digest_is_sent_once_although_the_post_was_answered_late(dev_world):
    post, tlcs = _post_with_tlcs(dev_world)
    sub = post.data["subreddit"]
    spoof = "Grad school [click me](http://evil.example) **urgent** u/spez"
    with DevRedditServer(dev_world) as srv:
        late = iter(["late"])
        srv.faults.draw = lambda: next(late, None)  # the first request: performed, answer lost
        store = ApprovalStore()
        delivery = ModeratorDelivery(
            dev_reddit(srv.url, retries=False),
            store,
            BOT,
            send=True,
            clock=lambda: dev_world.now,
            backoff=Backoff(sleep=lambda s: None),
        )
        config = SubredditConfig(actions={"highlights": True}, channels={"wiki": False})
        source = StaticSuggestionSource([_suggestion(post, tlcs, spoof)])
        first = delivery.deliver_digest(sub, config, source)
        again = delivery.deliver_digest(sub, config, source)  # same slot: nothing new
        convs = list(dev_world.modmail.values())
    assert first.sent and again.digest is None
    assert len(convs) == 1 and convs[0].id == first.conversation
    body = convs[0].messages[0]["bodyMarkdown"]
    key = delivery.digest_key(sub, config, dev_world.now)
    assert marker(key) in body and store.delivery(key) == ("sent", first.conversation)
    assert "(http://evil" not in body and "[click me]" not in body and "**urgent**" not in body
    assert "u/spez" not in body and "proposal **#1**" in body


def test_a_restart_after_a_lost_answer_finds_the_message_instead_of_resending(dev_world, tmp_path):
    sub = next(iter(dev_world.subreddits.values()))
    with DevRedditServer(dev_world) as srv:
        store = ApprovalStore(tmp_path / "a.sqlite")
        d = ModeratorDelivery(dev_reddit(srv.url, retries=False), store, BOT, send=True)
        store.begin_delivery("alert:t1_x", sub, 1.0)  # a crash right after this POST...
        d.reddit.subreddit(sub).modmail.create(
            subject="s", body="b\n\n" + marker("alert:t1_x"), recipient=BOT
        )
        again = ModeratorDelivery(
            dev_reddit(srv.url, retries=False), ApprovalStore(tmp_path / "a.sqlite"), BOT, send=True
        )
        cid = again.send_once("alert:t1_x", sub, "s", "b")
    assert len(dev_world.modmail) == 1 and cid == next(iter(dev_world.modmail))


def test_wiki_pages_are_private_or_not_written(dev_world):
    sub = next(iter(dev_world.subreddits.values()))
    with DevRedditServer(dev_world) as srv:
        d = ModeratorDelivery(dev_reddit(srv.url, retries=False), ApprovalStore(), BOT, send=True)
        assert d.write_wiki(sub, "prosocial/suggestions", "seekers: ...")
        eve, alice = _as(srv.url, "random_user"), _as(srv.url, "mod_alice")
        with pytest.raises(prawcore.Forbidden):
            _ = eve.subreddit(sub).wiki["prosocial/suggestions"].content_md
        assert alice.subreddit(sub).wiki["prosocial/suggestions"].content_md == "seekers: ..."
        # without the wiki permission the page cannot be made private: not written, mods told
        dev_world.moderators[sub.lower()] = {BOT: ["mail", "posts"], "mod_alice": ["all"]}
        assert not d.write_wiki(sub, "prosocial/other", "seekers: ...")
    assert dev_world.wiki_settings[(sub.lower(), "prosocial/suggestions")]["permlevel"] == 2
    assert not dev_world.wiki_settings[(sub.lower(), "prosocial/suggestions")]["listed"]
    assert (sub.lower(), "prosocial/other") not in dev_world.wiki
    told = list(dev_world.modmail.values())
    assert len(told) == 1 and "wiki permission" in told[0].messages[0]["bodyMarkdown"]


def test_the_dev_server_refuses_what_reddit_refuses(dev_world):
    post, tlcs = _post_with_tlcs(dev_world)
    with DevRedditServer(dev_world) as srv:
        bot, eve = dev_reddit(srv.url, retries=False), _as(srv.url, "random_user")
        with pytest.raises(prawcore.Forbidden):  # a moderator cannot sticky a user's comment
            bot.comment(tlcs[0].data["id"]).mod.distinguish(how="yes", sticky=True)
        with pytest.raises(prawcore.Forbidden):  # a non-moderator cannot act
            eve.submission(post.data["id"]).mod.suggested_sort(sort="new")
        mine = bot.submission(post.data["id"]).reply(body="mine")
        mine.mod.distinguish(how="yes", sticky=True)  # its own top-level comment: allowed
    assert dev_world.items[mine.fullname].data["stickied"]
    assert [a["action"] for a in dev_world.mod_actions] == ["distinguish"]


def _executor(srv: DevRedditServer, store: ApprovalStore, now: float) -> ActionExecutor:
    """The bot's action executor against the dev server, its clock standing at ``now``."""
    return ActionExecutor(
        dev_reddit(srv.url, retries=False), store, bot_username=BOT, clock=lambda: now
    )


def test_highlights_comment_is_the_bots_own_edited_in_place_and_removable(dev_world):
    post, tlcs = _post_with_tlcs(dev_world)
    sub = post.data["subreddit"]
    with DevRedditServer(dev_world) as srv:
        store = ApprovalStore()
        ex = _executor(srv, store, 3.0)
        names = ",".join(t.name for t in tlcs)
        _approve(store, sub, "highlights", post.name, {"tlcs": names})
        assert [o for _, o in ex.run_approved(sub, dry_run=False)] == ["ok"]
        _approve(store, sub, "highlights", post.name, {"tlcs": tlcs[0].name})
        assert [o for _, o in ex.run_approved(sub, dry_run=False)] == ["ok"]
        mine = [c for c in dev_world.comments_by_post[post.name] if c.data["author"] == BOT]
        assert len(mine) == 1  # edited in place, never a second one
        c = mine[0].data
        assert c["stickied"] and c["distinguished"] == "moderator"
        assert HIGHLIGHTS_MARK in c["body"] and tlcs[0].data["id"] in c["body"]
        assert tlcs[1].data["id"] not in c["body"]
        _approve(store, sub, "remove_highlights", post.name, {})
        assert [o for _, o in ex.run_approved(sub, dry_run=False)] == ["ok"]
    assert mine[0].data["body"] == "[deleted]" and not mine[0].data["stickied"]
    log = store.action_log(sub)
    assert [e["approved_by"] for e in log] == ["mod_alice"] * 3


def test_actions_expire_and_are_rechecked_before_acting(dev_world):
    post, _ = _post_with_tlcs(dev_world)
    sub = post.data["subreddit"]
    with DevRedditServer(dev_world) as srv:
        store = ApprovalStore()
        ex = _executor(srv, store, 3 * 86400)
        old = store.propose(sub, "suggested_sort", post.name, {"sort": "top"}, 1.0)
        assert ex.run_approved(sub, dry_run=False, expire_hours=24) == []
        assert store.get(old.id).status == "expired"
        ex.clock = lambda: 2.0
        _approve(store, sub, "suggested_sort", post.name, {"sort": "top"})
        dev_world.moderators[sub.lower()] = {BOT: ["mail"], "mod_alice": ["all"]}
        done = ex.run_approved(sub, dry_run=False)
        assert done[0][1].startswith("refused:") and "posts" in done[0][1]
        dev_world.moderators[sub.lower()] = {BOT: ["all"], "mod_alice": ["all"]}
        _approve(store, sub, "suggested_sort", post.name, {"sort": "top"})
        assert [o for _, o in ex.run_approved(sub, dry_run=False)] == ["ok"]
    assert post.data["suggested_sort"] == "top"
    assert [a["action"] for a in dev_world.mod_actions] == ["set_suggested_sort"]


def test_a_wiki_failure_after_the_modmail_retries_the_page_alone(dev_world):
    post, tlcs = _post_with_tlcs(dev_world)
    sub = post.data["subreddit"]
    wiki_down = FaultPlan(path_outages=[("/wiki/", 0.0, float("inf"))])
    with DevRedditServer(dev_world, wiki_down) as srv:
        delivery = ModeratorDelivery(
            dev_reddit(srv.url, retries=False),
            ApprovalStore(),
            BOT,
            send=True,
            clock=lambda: dev_world.now,
            backoff=Backoff(sleep=lambda s: None, max_tries=2),
        )
        config = SubredditConfig(channels={"wiki": True, "modmail": True})
        source = StaticSuggestionSource([_suggestion(post, tlcs)])
        first = delivery.deliver_digest(sub, config, source)
        again = delivery.deliver_digest(sub, config, source)  # the wiki still down
        wiki_down.path_outages.clear()
        third = delivery.deliver_digest(sub, config, source)
        fourth = delivery.deliver_digest(sub, config, source)
        revisions = list(dev_world.wiki_revisions[(sub.lower(), "prosocial/suggestions")])
    assert first.sent and not first.wiki_written
    assert again.digest is not None and not again.sent and not again.wiki_written
    assert third.wiki_written and not third.sent and fourth.digest is None
    assert len(dev_world.modmail) == 1 and len(revisions) == 1
    key = delivery.wiki_key(sub, config, dev_world.now)
    assert marker(key) in revisions[0]["content"]


def test_a_page_write_whose_answer_was_lost_is_read_back_not_repeated(dev_world):
    sub = next(iter(dev_world.subreddits.values()))
    with DevRedditServer(dev_world) as srv:
        d = ModeratorDelivery(
            dev_reddit(srv.url, retries=False),
            ApprovalStore(),
            BOT,
            send=True,
            backoff=Backoff(sleep=lambda s: None),
        )
        assert d.make_private(sub, "prosocial/suggestions") is None
        faults = iter([None, "late"])  # the settings read, then the edit: performed, answer lost
        srv.faults.draw = lambda: next(faults, None)
        assert d.write_wiki(sub, "prosocial/suggestions", "seekers: ...", key="wiki:x:1")
    revisions = dev_world.wiki_revisions[(sub.lower(), "prosocial/suggestions")]
    assert len(revisions) == 1 and marker("wiki:x:1") in revisions[0]["content"]


def test_approval_polling_reads_only_conversations_with_new_messages(dev_world):
    post, tlcs = _post_with_tlcs(dev_world)
    sub = post.data["subreddit"]
    with DevRedditServer(dev_world) as srv:
        store = ApprovalStore()
        reddit = dev_reddit(srv.url, retries=False)
        delivery = ModeratorDelivery(reddit, store, BOT, send=True, clock=lambda: dev_world.now)
        config = SubredditConfig(actions={"highlights": True}, channels={"wiki": False})
        source = StaticSuggestionSource([_suggestion(post, tlcs)])
        digests = []
        for _ in range(3):  # three digest periods, three conversations
            digests.append(delivery.deliver_digest(sub, config, source).conversation)
            dev_world.advance(config.digest.every_hours * 3600)
        service = ApprovalService(store, lambda s, u: u == "mod_alice", lambda: dev_world.now)
        reader = ModmailCommandReader(reddit, service, BOT, send=True)
        assert reader.poll(sub) == [] and reader.conversations_read == 0
        pid = store.with_status(sub, "proposed")[0].id
        alice = _as(srv.url, "mod_alice")
        alice.subreddit(sub).modmail(digests[0]).reply(body=f"!approve {pid}")
        done = reader.poll(sub)
        assert reader.conversations_read == 1 and done[0].endswith("approved by u/mod_alice")
        assert reader.poll(sub) == [] and reader.conversations_read == 2  # its own answer
        assert reader.poll(sub) == [] and reader.conversations_read == 2
    answers = [m for m in dev_world.modmail[digests[0]].messages if m["author"]["name"] == BOT]
    assert len(answers) == 2  # the digest and one answer
