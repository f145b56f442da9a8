"""The back-fill fetcher on recorded real comment forests (praw + vcrpy replay)."""

from __future__ import annotations

import json

from bot.threads import RedditThreadFetcher
from redditdata.tree import walk
from tests.bot.support import load_cassette


def _recorded_comment_names(cassette_dir, name: str) -> set[str]:
    """Every t1 fullname in the recorded responses (the listing and morechildren bodies)."""
    names: set[str] = set()

    def visit(obj):
        if isinstance(obj, dict):
            if obj.get("kind") == "t1" and isinstance(obj.get("data"), dict):
                names.add(obj["data"]["name"])
            for v in obj.values():
                visit(v)
        elif isinstance(obj, list):
            for v in obj:
                visit(v)

    for it in load_cassette(cassette_dir, name)["interactions"][1:]:
        visit(json.loads(it["response"]["body"]["string"]))
    return names


def test_large_thread_comes_out_as_one_complete_tree(replay, praw_reddit, cassette_dir):
    name = "TestCommentForest.test_replace__all_large"
    fetcher = RedditThreadFetcher(praw_reddit, request_budget=400, budget=praw_reddit.test_budget)
    with replay(name):
        thread, report = fetcher.fetch_with_report("t3_n49rw")
    assert thread.n_comments == 1428
    assert report.complete and report.skipped_more == 0 and not report.rejected
    names = [n.name for t in thread.tlcs for n in walk(t)]
    assert len(names) == len(set(names)) == 1428
    assert set(names) == _recorded_comment_names(cassette_dir, name)
    for tlc in thread.tlcs:  # every child hangs under its recorded parent
        assert tlc.parent == "t3_n49rw" and tlc.depth == 0
        for node in walk(tlc):
            for ch in node.children:
                assert ch.parent == node.name and ch.depth == node.depth + 1
    assert thread.post.subreddit == "announcements" and thread.post.retrieved_on
    # token + listing + 235 expansions: every recorded exchange, none repeated
    assert report.requests == len(load_cassette(cassette_dir, name)["interactions"])
    assert report.archived and report.deleted_comments > 0


def test_budget_stops_expansion_and_reports_the_thread_incomplete(replay, praw_reddit):
    fetcher = RedditThreadFetcher(praw_reddit, request_budget=20, budget=praw_reddit.test_budget)
    with replay("TestCommentForest.test_replace__all_large"):
        thread, report = fetcher.fetch_with_report("t3_n49rw")
    assert not report.complete and report.skipped_more > 0
    assert report.requests <= 20
    assert 0 < thread.n_comments < 1428


def test_smaller_thread_and_deleted_comments_are_kept_in_the_tree(
    replay, praw_reddit, cassette_dir
):
    name = "TestCommentForest.test_replace__all"
    fetcher = RedditThreadFetcher(praw_reddit, budget=praw_reddit.test_budget)
    with replay(name):
        thread, report = fetcher.fetch_with_report("3hahrw")
    expected = _recorded_comment_names(cassette_dir, name)
    got = {n.name for t in thread.tlcs for n in walk(t)}
    assert got == expected and report.complete
    deleted = [n for t in thread.tlcs for n in walk(t) if n.is_deleted]
    assert len(deleted) == report.deleted_comments + report.removed_comments + sum(
        1 for n in deleted if n.body not in ("[deleted]", "[removed]")
    )
