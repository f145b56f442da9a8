"""Conversation trees: a post, its top-level comments (TLCs) and each TLC's reply tree.

These are plain, dependency-free containers that the outcome metrics read. They are built by
``redditdata.forest`` (from dumps or the stream) and by ``bot`` (from the Reddit API).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["Node", "Post", "Thread", "iter_replies", "walk"]


@dataclass(slots=True, eq=False)
class Node:
    """One comment. ``name`` is the fullname (``t1_…``), ``parent`` the parent's fullname."""

    name: str
    parent: str
    author: str | None
    body: str
    score: int
    created_utc: int
    children: list[Node] = field(default_factory=list)
    depth: int = 0  # 0 = TLC

    @property
    def is_deleted(self) -> bool:
        return self.body in ("[deleted]", "[removed]") or self.author in (None, "[deleted]")

    def detached(self) -> Node:
        """A copy of this comment without its replies."""
        return Node(
            self.name,
            self.parent,
            self.author,
            self.body,
            self.score,
            self.created_utc,
            depth=self.depth,
        )

    def size(self) -> int:
        """Number of comments in this subtree, this one included."""
        n = 0
        stack = [self]
        while stack:
            node = stack.pop()
            n += 1
            stack.extend(node.children)
        return n


@dataclass(slots=True)
class Post:
    name: str
    subreddit: str
    title: str
    selftext: str
    author: str | None
    score: int
    created_utc: int
    retrieved_on: int | None = None


@dataclass(slots=True)
class Thread:
    """A post and its TLCs (each the root of its reply tree), TLCs in creation order."""

    post: Post
    tlcs: list[Node] = field(default_factory=list)

    @property
    def n_comments(self) -> int:
        return sum(t.size() for t in self.tlcs)

    def age_at_scrape(self) -> int | None:
        """Seconds between posting and retrieval (how mature the outcome is), if known."""
        if self.post.retrieved_on is None:
            return None
        return self.post.retrieved_on - self.post.created_utc


def walk(root: Node) -> Iterator[Node]:
    """Pre-order traversal of a subtree, root included, children in creation order."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def iter_replies(tlc: Node) -> Iterator[Node]:
    """Every comment under a TLC, the TLC itself excluded (the paper's outcome scope)."""
    it = walk(tlc)
    next(it)
    yield from it
