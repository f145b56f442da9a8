from __future__ import annotations

from models.metrics.structure import (
    community_score,
    conversation_depth,
    direct_replies,
    structure_metrics,
    subsequent_comments,
    sustained_conversation,
    sustained_partners,
)
from tests.models.fakes import tree


def test_counts_exclude_the_tlc_itself() -> None:
    t = tree(("op", "tlc", 100, [("a", "r1", 3, [("b", "r2", -1)]), ("c", "r3", 2)]))
    assert subsequent_comments(t) == 3
    assert direct_replies(t) == 2
    assert community_score(t) == 3 - 1 + 2  # TLC's own 100 is not counted


def test_lone_tlc_has_zero_everything() -> None:
    t = tree(("op", "alone", 50))
    assert structure_metrics(t) == {k: 0.0 for k in structure_metrics(t)}


def test_depth_is_longest_reply_chain() -> None:
    t = tree(("op", "tlc", [("a", "1", [("b", "2", [("c", "3")])]), ("d", "1b")]))
    assert conversation_depth(t) == 3


def test_partners_count_distinct_pairs_among_replies_only() -> None:
    # a→op is an edge to the TLC (ignored); b→a and a→b are one pair; c→a is another
    t = tree(("op", "tlc", [("a", "x", [("b", "y", [("a", "z")]), ("c", "w")])]))
    assert sustained_partners(t) == 2


def test_partners_ignore_self_replies_and_deleted_authors() -> None:
    t = tree(("op", "tlc", [("a", "x", [("a", "more", [("[deleted]", "gone")]), (None, "anon")])]))
    assert sustained_partners(t) == 0


def test_sustained_conversation_counts_alternating_turns() -> None:
    t = tree(("op", "tlc", [("a", "1", [("b", "2", [("a", "3", [("b", "4", [("c", "5")])])])])]))
    assert sustained_conversation(t) == 4  # a,b,a,b; c breaks the two-person chain


def test_sustained_conversation_restarts_with_a_new_pair() -> None:
    t = tree(("op", "tlc", [("a", "1", [("b", "2", [("c", "3", [("b", "4", [("c", "5")])])])])]))
    assert sustained_conversation(t) == 4  # b,c,b,c after a,b


def test_sustained_conversation_zero_without_reply_to_reply() -> None:
    t = tree(("op", "tlc", [("a", "1"), ("b", "2")]))
    assert sustained_conversation(t) == 0
    assert sustained_partners(t) == 0
