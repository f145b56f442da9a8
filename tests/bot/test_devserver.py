"""The dev Reddit server with the real praw client on loopback (real reddit-college threads)."""

from __future__ import annotations

import pytest

from bot.backoff import Backoff
from bot.devserver import DevRedditServer, FaultPlan
from bot.errors import FetchError
from bot.permissions import check_permissions
from bot.ratelimit import RateBudget
from bot.threads import RedditThreadFetcher
from redditdata.tree import walk
from tests.bot.support import dev_reddit


def test_listing_cursors_follow_reddit_semantics(dev_world):
    sub = next(iter(dev_world.subreddits.values()))
    items = dev_world.visible([sub], "t1")
    page, after, _ = dev_world.listing([sub], "t1", 5, None, None)
    assert [i.name for i in page] == [i.name for i in items[:5]] and after == items[4].name
    older, _, _ = dev_world.listing([sub], "t1", 5, None, after)
    assert [i.name for i in older] == [i.name for i in items[5:10]]
    newer, _, _ = dev_world.listing([sub], "t1", 3, items[5].name, None)
    assert [i.name for i in newer] == [i.name for i in items[2:5]]
    assert dev_world.listing([sub], "t1", 5, "t1_gone", None)[0] == []  # stale cursor


def _depth(world, name: str) -> int:
    d, item = 0, world.items[name]
    while item.data["parent_id"].startswith("t1_"):
        d, item = d + 1, world.items[item.data["parent_id"]]
    return d


def test_threads_come_back_complete_through_more_and_continue_stubs(dev_world):
    budget = RateBudget()
    big = max(dev_world.comments_by_post, key=lambda p: len(dev_world.comments_by_post[p]))
    expected = {c.name for c in dev_world.thread_comments(big)}
    assert len(expected) > 60  # more than the first page: stubs must be expanded
    assert max(_depth(dev_world, n) for n in expected) > 3  # "continue this thread" needed
    with DevRedditServer(dev_world, tree_limit=20, max_depth=3) as srv:
        reddit = dev_reddit(srv.url, budget)
        thread, report = RedditThreadFetcher(reddit, budget=budget).fetch_with_report(big)
    got = [n.name for t in thread.tlcs for n in walk(t)]
    assert len(got) == len(set(got)) and set(got) == expected
    assert report.complete and report.requests > 2
    continued = [p for _, m, p, _ in srv.log if m == "GET" and p.count("/") >= 4]
    assert continued  # GET /comments/{post}/_/{comment} was used
    parents = {c.name: c.data["parent_id"] for c in dev_world.thread_comments(big)}
    for t in thread.tlcs:
        for n in walk(t):
            assert n.parent == parents[n.name]


def test_missing_thread_is_a_fetch_error(dev_world):
    with DevRedditServer(dev_world) as srv:
        fetcher = RedditThreadFetcher(dev_reddit(srv.url), backoff=Backoff(sleep=lambda s: None))
        with pytest.raises(FetchError):
            fetcher.fetch("t3_zzzzzz")


def test_faults_carry_rate_limit_headers_and_the_fetcher_rides_them_out(dev_world, monkeypatch):
    monkeypatch.setattr("prawcore.sessions.time.sleep", lambda s: None)
    monkeypatch.setattr("prawcore.rate_limit.time.sleep", lambda s: None)
    budget = RateBudget()
    faults = FaultPlan(rate=0.4, seed=3, timeout_delay_s=0.3)
    big = max(dev_world.comments_by_post, key=lambda p: len(dev_world.comments_by_post[p]))
    with DevRedditServer(dev_world, faults, tree_limit=20) as srv:
        reddit = dev_reddit(srv.url, budget, timeout_cap=0.1)
        fetcher = RedditThreadFetcher(
            reddit, budget=budget, backoff=Backoff(sleep=lambda s: None, max_tries=12)
        )
        thread = fetcher.fetch(big)
    assert thread.n_comments == len(dev_world.thread_comments(big))
    n_faults = sum(faults.injected.values())
    assert n_faults > 0 and budget.requests >= n_faults + 2  # every fault cost a retry
    assert budget.remaining is not None  # X-Ratelimit-* were read


def test_permission_check_names_what_is_missing(dev_world):
    subs = list(dev_world.subreddits.values())
    dev_world.moderators = {subs[0].lower(): {"prosocial_bot": ["mail"]}}
    with DevRedditServer(dev_world) as srv:
        reports = check_permissions(
            dev_reddit(srv.url),
            subs[:1] + ["NotModHere"],
            backoff=Backoff(sleep=lambda s: None, max_tries=1),
        )
    assert not reports[0].ok and reports[0].missing == ["posts", "wiki"]
    assert "posts, wiki" in reports[0].explain()
    assert not reports[1].ok


def test_server_refuses_non_loopback(dev_world):
    with pytest.raises(ValueError):
        DevRedditServer(dev_world, host="0.0.0.0")


def test_removed_locked_thread_keeps_deleted_comments_as_structure(dev_world):
    big = max(dev_world.comments_by_post, key=lambda p: len(dev_world.comments_by_post[p]))
    post = dev_world.items[big]
    post.data.update(
        selftext="[removed]", removed_by_category="moderator", locked=True, archived=True
    )
    comments = dev_world.thread_comments(big)
    parents = {c.data["parent_id"] for c in comments}
    victim = next(c for c in comments if c.name in parents)  # a comment with replies
    victim.data.update(body="[deleted]", author="[deleted]")
    with DevRedditServer(dev_world) as srv:
        thread, report = RedditThreadFetcher(dev_reddit(srv.url)).fetch_with_report(big)
    assert report.post_removed and report.locked and report.archived
    assert report.deleted_comments >= 1
    node = next(n for t in thread.tlcs for n in walk(t) if n.name == victim.name)
    assert node.is_deleted and node.author is None and node.children
    assert thread.n_comments == len(comments)


def test_a_request_asking_to_close_gets_an_answer_that_says_so():
    """prawcore asks for its token with ``Connection: close``; an answer without the header
    leaves the connection in the client's pool, whose next request then finds it closed
    (``RemoteDisconnected``) whenever the server closes first."""
    import http.client

    from bot.devserver.world import RedditWorld

    with DevRedditServer(RedditWorld([], [], start=0.0, late_fraction=0.0)) as srv:
        host, port = srv.url.removeprefix("http://").split(":")
        form = "grant_type=password&username=u&password=p"
        answers = []
        for connection in ("close", "keep-alive"):
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
            conn.request(
                "POST",
                "/api/v1/access_token",
                body=form,
                headers={
                    "Connection": connection,
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            )
            response = conn.getresponse()
            response.read()
            answers.append((response.status, response.getheader("Connection"), response.will_close))
            conn.close()
    assert answers == [(200, "close", True), (200, None, False)]
