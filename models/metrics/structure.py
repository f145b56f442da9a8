"""Tree-shape and participation metrics of a TLC's reply tree (TLC excluded).

* :func:`subsequent_comments` — every reply under the TLC.
* :func:`direct_replies` — replies whose parent is the TLC.
* :func:`conversation_depth` — length of the longest reply chain (a direct reply is depth 1).
* :func:`community_score` — sum of the replies' scores.
* :func:`sustained_partners` — distinct unordered pairs of users where one replied to the
  other *among the replies* (edges whose parent is the TLC do not count: a lone reply to the
  TLC is not yet a conversation between partners). Deleted authors never form a pair.
* :func:`sustained_conversation` — turns in the longest strict two-person back-and-forth
  (A, B, A, B, … along one parent→child chain of replies); 0 when no reply has a reply from
  another user.

The paper reports the same occurrence rate (43.5%) for the last two, which is what these
definitions give: both are non-zero exactly when some reply has a reply from someone else.
"""

from __future__ import annotations

from redditdata.tree import Node, iter_replies

__all__ = [
    "community_score",
    "conversation_depth",
    "direct_replies",
    "structure_metrics",
    "subsequent_comments",
    "sustained_conversation",
    "sustained_partners",
    "valid_author",
]


def valid_author(author: str | None) -> bool:
    """An author that identifies a person (not missing, not ``[deleted]``)."""
    return bool(author) and author not in ("[deleted]", "[removed]")


def subsequent_comments(tlc: Node) -> int:
    """Number of replies in the TLC's tree."""
    return tlc.size() - 1


def direct_replies(tlc: Node) -> int:
    """Number of replies directly to the TLC."""
    return len(tlc.children)


def conversation_depth(tlc: Node) -> int:
    """Longest reply chain below the TLC (0 with no replies)."""
    best = 0
    stack = [(c, 1) for c in tlc.children]
    while stack:
        node, d = stack.pop()
        best = max(best, d)
        stack.extend((c, d + 1) for c in node.children)
    return best


def community_score(tlc: Node) -> int:
    """Sum of every reply's score."""
    return sum(int(n.score) for n in iter_replies(tlc))


def sustained_partners(tlc: Node) -> int:
    """Distinct user pairs with a reply-to-reply exchange below the TLC."""
    pairs: set[tuple[str, str]] = set()
    for parent in iter_replies(tlc):
        a = parent.author
        if not valid_author(a):
            continue
        for child in parent.children:
            b = child.author
            if valid_author(b) and b != a:
                assert a is not None and b is not None
                pairs.add((a, b) if a < b else (b, a))
    return len(pairs)


def sustained_conversation(tlc: Node) -> int:
    """Turns in the longest alternating two-person chain of replies (0 if none ≥ 2 turns)."""
    best = 0
    # state per node: (length of the alternating chain ending here, author before this one)
    stack: list[tuple[Node, int, str | None]] = [(c, 1, None) for c in tlc.children]
    while stack:
        node, length, prev = stack.pop()
        if length > best and length >= 2:
            best = length
        me = node.author
        for child in node.children:
            b = child.author
            if not (valid_author(me) and valid_author(b)) or b == me:
                stack.append((child, 1, None))
            elif length >= 2 and b == prev:
                stack.append((child, length + 1, me))
            else:
                stack.append((child, 2, me))
    return best


def structure_metrics(tlc: Node) -> dict[str, float]:
    """All structural metrics of one TLC."""
    return {
        "community_score": float(community_score(tlc)),
        "subsequent_comments": float(subsequent_comments(tlc)),
        "direct_replies": float(direct_replies(tlc)),
        "conversation_depth": float(conversation_depth(tlc)),
        "sustained_partners": float(sustained_partners(tlc)),
        "sustained_conversation": float(sustained_conversation(tlc)),
    }
