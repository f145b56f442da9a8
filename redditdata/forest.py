"""Rebuilding each post's comment forest (and so each TLC's reply tree) from events.

:func:`build_thread` turns one post's comments into a :class:`redditdata.tree.Thread`, reporting
duplicates, orphans (parent missing), cycles and comments of another post by reason.
:func:`iter_threads` streams the threads of a dump directory: when the comments file is grouped
by post (as reddit-college is) it holds one post's comments at a time; otherwise it groups in
memory.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from redditdata.dumps import BadRecord, DumpReport, find_dump_files, iter_events
from redditdata.events import Comment, Submission
from redditdata.tree import Node, Post, Thread

__all__ = [
    "PostFields",
    "build_thread",
    "iter_threads",
    "load_posts",
    "node_from_event",
    "post_from_event",
]

logger = logging.getLogger(__name__)

_SNIFF = 20_000


class PostFields(Protocol):
    """What a post is made from: a submission event, or a post the service stored."""

    @property
    def name(self) -> str: ...
    @property
    def subreddit(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def selftext(self) -> str: ...
    @property
    def author(self) -> str | None: ...
    @property
    def score(self) -> int: ...
    @property
    def created_utc(self) -> int: ...
    @property
    def retrieved_on(self) -> int | None: ...


def post_from_event(s: PostFields) -> Post:
    return Post(
        name=s.name,
        subreddit=s.subreddit,
        title=s.title,
        selftext=s.selftext,
        author=s.author,
        score=s.score,
        created_utc=s.created_utc,
        retrieved_on=s.retrieved_on,
    )


def node_from_event(c: Comment) -> Node:
    """A comment event as a tree node (no replies yet)."""
    return Node(c.name, c.parent_id, c.author, c.body, c.score, c.created_utc)


def _bad(report: DumpReport | None, c: Comment, reason: str) -> None:
    if report is not None:
        report.reject(
            BadRecord("forest", 0, f"{reason}: {c.name} in {c.link_id}", c.model_dump_json()[:2000])
        )


def build_thread(
    post: Post, comments: Iterable[Comment], report: DumpReport | None = None
) -> Thread:
    """Assemble a post's forest. Bad comments are reported, never raised."""
    nodes: dict[str, Node] = {}
    for c in comments:
        if c.link_id != post.name:
            _bad(report, c, "wrong_post")
            continue
        if c.name in nodes:
            _bad(report, c, "duplicate")
            continue
        nodes[c.name] = node_from_event(c)
    children: dict[str, list[Node]] = defaultdict(list)
    for n in nodes.values():
        children[n.parent].append(n)
    for lst in children.values():
        lst.sort(key=lambda n: (n.created_utc, n.name))
    thread = Thread(post=post, tlcs=list(children.get(post.name, [])))
    reached: set[str] = set()
    stack = [(t, 0) for t in thread.tlcs]
    while stack:
        node, depth = stack.pop()
        node.depth = depth
        reached.add(node.name)
        node.children = children.get(node.name, [])
        stack.extend((ch, depth + 1) for ch in node.children)
    if len(reached) != len(nodes):
        for n in nodes.values():
            if n.name in reached:
                continue
            # Walk up: a missing ancestor means orphan; coming back to a seen node means cycle.
            seen = {n.name}
            cur = n
            reason = "orphan"
            while True:
                parent = nodes.get(cur.parent)
                if parent is None:
                    break
                if parent.name in seen:
                    reason = "cycle"
                    break
                seen.add(parent.name)
                cur = parent
            if report is not None:
                report.reject(
                    BadRecord("forest", 0, f"{reason}: {n.name} in {post.name}", n.body[:200])
                )
    if report is not None:
        report.accepted["threads"] += 1
    return thread


def load_posts(
    path: str | os.PathLike[str],
    report: DumpReport,
    keep: Callable[[Submission], bool] | None = None,
) -> dict[str, Post]:
    posts: dict[str, Post] = {}
    for s in iter_events(path, "submission", report):
        assert isinstance(s, Submission)
        if keep is not None and not keep(s):
            continue
        if s.name in posts:
            report.reject(BadRecord(str(path), 0, f"duplicate: {s.name}", s.title[:200]))
            continue
        posts[s.name] = post_from_event(s)
    return posts


def iter_threads(
    directory: str | os.PathLike[str],
    report: DumpReport | None = None,
    *,
    subreddits: Iterable[str] | None = None,
    max_threads: int | None = None,
    min_age_s: int | None = None,
    grouped: bool | None = None,
) -> Iterator[Thread]:
    """Threads of a dump directory, in file order of their first comment.

    ``min_age_s`` keeps only posts scraped at least that long after posting (mature outcomes).
    ``grouped`` forces (True) or forbids (False) the streaming path; ``None`` sniffs the file.
    Posts without comments are yielded too (with no TLCs) after the commented ones.
    """
    report = report if report is not None else DumpReport()
    files = find_dump_files(directory)
    subs = {s.lower() for s in subreddits} if subreddits else None

    def keep(s: Submission) -> bool:
        if subs is not None and s.subreddit.lower() not in subs:
            return False
        return min_age_s is None or (
            s.retrieved_on is not None and s.retrieved_on - s.created_utc >= min_age_s
        )

    posts = load_posts(files.submissions, report, keep) if files.submissions else {}
    if files.comments is None:
        return
    events: Iterator[Comment] = (
        c for c in iter_events(files.comments, "comment", report) if isinstance(c, Comment)
    )
    if grouped is None:
        head = list(itertools.islice(events, _SNIFF))
        grouped = _looks_grouped(head)
        events = itertools.chain(head, events)
    emitted = 0
    done: set[str] = set()
    if grouped:
        for link_id, group in itertools.groupby(events, key=lambda c: c.link_id):
            if link_id in done:
                for c in group:
                    _bad(report, c, "split_thread")
                continue
            done.add(link_id)
            post = posts.get(link_id)
            if post is None:
                if subs is None and min_age_s is None:
                    for c in group:
                        _bad(report, c, "missing_post")
                else:
                    for _ in group:
                        pass
                continue
            yield build_thread(post, group, report)
            emitted += 1
            if max_threads is not None and emitted >= max_threads:
                return
    else:
        by_post: dict[str, list[Comment]] = defaultdict(list)
        for c in events:
            if c.link_id in posts:
                by_post[c.link_id].append(c)
            elif subs is None and min_age_s is None:
                _bad(report, c, "missing_post")
        for link_id, comments in by_post.items():
            done.add(link_id)
            yield build_thread(posts[link_id], comments, report)
            emitted += 1
            if max_threads is not None and emitted >= max_threads:
                return
    for name, post in posts.items():
        if name not in done:
            yield Thread(post=post, tlcs=[])
            emitted += 1
            if max_threads is not None and emitted >= max_threads:
                return


def _looks_grouped(head: list[Comment]) -> bool:
    seen: set[str] = set()
    prev = None
    for c in head:
        if c.link_id != prev:
            if c.link_id in seen:
                return False
            seen.add(c.link_id)
            prev = c.link_id
    return True
