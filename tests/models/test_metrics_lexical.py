from __future__ import annotations

from collections.abc import Callable

import pytest

from models.metrics.conversation import compliments, gratitude, laughter, personal_disclosure
from models.metrics.lexical import (
    compliment_candidates,
    count_compliments,
    count_gratitude,
    count_laughter,
    has_disclosure,
)
from tests.models.fakes import tree


@pytest.mark.parametrize(
    ("count", "text", "n"),
    [
        (count_gratitude, "Thanks! Thank you so much, I really appreciate it.", 3),
        (count_gratitude, "I'm so thankful for this sub and grateful for you", 2),
        (count_gratitude, "thanksgiving break is long", 0),  # whole words only
        (count_gratitude, "Bless your soul. I feel blessed and contented.", 3),
        (count_gratitude, "no gratitude here", 0),
        (count_laughter, "haha that's great", 1),
        (count_laughter, "HAHAHAHA lol lmao hehe", 3),
        (count_laughter, "hahhahaaha", 1),
        (count_laughter, "looool", 1),
        (count_laughter, "Hello there, the hat is halal", 0),
    ],
)
def test_gratitude_lexicon_and_laughter_regex_count(
    count: Callable[[str], int], text: str, n: int
) -> None:
    assert count(text) == n


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I failed my exam", True),
        ("I’m a junior", True),
        ("im so tired", True),
        ("You should study more", False),
        ("We got in", False),  # plural first person is not self-disclosure here
    ],
)
def test_disclosure_is_singular_first_person(text: str, expected: bool) -> None:
    assert has_disclosure(text) is expected


def test_compliment_needs_strong_positive_sentiment() -> None:
    assert count_compliments("You are so amazing and wonderful, seriously!") == 1
    assert count_compliments("Your essay is great and super helpful, love it") == 1
    assert count_compliments("You are going to the library tomorrow") == 0


def test_compliment_skips_generic_you_after_if_or_when() -> None:
    assert compliment_candidates("If you are amazing and wonderful and great") == []
    assert count_compliments("when you're amazing and wonderful and great, people notice") == 0


def test_compliment_scores_only_the_five_following_words() -> None:
    assert compliment_candidates("you are one two three four five six") == [
        "one two three four five"
    ]


def test_tree_level_lexical_metrics_sum_over_replies_and_skip_tlc_and_deleted() -> None:
    t = tree(
        (
            "op",
            "thank you haha I",
            [
                ("a", "thanks! lol", [("b", "I agree, haha", [("op", "[deleted]")])]),
                ("c", "You are awesome and amazing and brilliant"),
                ("d", "[removed]"),
            ],
        )
    )
    assert gratitude(t) == 1
    assert laughter(t) == 2
    assert personal_disclosure(t) == 1
    assert compliments(t) == 1
