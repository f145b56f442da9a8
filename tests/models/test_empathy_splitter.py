"""Sentence splitting of Reddit comments for the empathy classifier."""

from __future__ import annotations

import pytest

from models.empathy.splitter import MAX_SENTENCES, looks_binary, split_sentences


def test_splits_on_terminal_punctuation_and_keeps_abbreviations() -> None:
    text = "I am so sorry to hear that. Dr. Smith said rest, e.g. sleep, helps! Hang in there?"
    assert split_sentences(text) == [
        "I am so sorry to hear that.",
        "Dr. Smith said rest, e.g. sleep, helps!",
        "Hang in there?",
    ]


def test_markdown_links_urls_and_emphasis_are_reduced_to_text() -> None:
    text = "**Totally** normal, see [this guide](https://example.org/a_b) or https://x.co/y."
    (sent,) = split_sentences(text)
    assert "http" not in sent and "*" not in sent and "[" not in sent
    assert sent.startswith("Totally normal, see this guide")


def test_quotes_are_dropped_unless_asked_for() -> None:
    text = "> Is this normal?\n\nYes. It happened to me too."
    assert split_sentences(text) == ["Yes.", "It happened to me too."]
    assert split_sentences(text, keep_quotes=True)[0] == "Is this normal?"
    assert split_sentences("&gt; quoted only") == []


def test_lists_headers_tables_rules_and_code_become_clean_lines() -> None:
    text = (
        "# Advice\n* talk to your advisor\n1. sleep more\n\n---\n|a|b|\n|--|--|\n"
        "```\ncode here\n```\nGood luck"
    )
    assert split_sentences(text) == [
        "Advice",
        "talk to your advisor",
        "sleep more",
        "a b",
        "Good luck",
    ]


def test_run_on_text_is_cut_into_bounded_pieces() -> None:
    words = (
        "i dont know what to do and i keep failing my classes and my parents are mad "
        "and i cant sleep "
    ) * 20
    sents = split_sentences(words, max_words=30)
    assert len(sents) > 5
    assert all(len(s.split()) <= 30 for s in sents)
    assert " ".join(sents).split() == words.split()


def test_emoji_stay_and_emoji_only_fragments_join_previous() -> None:
    assert split_sentences("You got this 💪 Good luck! 😀😀") == ["You got this 💪 Good luck! 😀😀"]
    assert split_sentences("Thanks! 🙏") == ["Thanks! 🙏"]


@pytest.mark.parametrize(
    "text", ["", "   \n\t ", "**__~~~~__**", "---", "😀😀😀", "\x00\x01\x02\x03\ufffd\ufffd" * 50]
)
def test_degenerate_input_has_no_sentences(text: str) -> None:
    assert split_sentences(text) == []


def test_binary_detection() -> None:
    assert looks_binary("\x00\x01\x02" * 10 + "abc")
    assert not looks_binary("plain text, with a tab\tand newline\n")


def test_huge_input_is_bounded() -> None:
    text = "This is a sentence. " * 10_000  # 200k characters
    sents = split_sentences(text)
    assert len(sents) == MAX_SENTENCES
    one_word = split_sentences("x" * 100_000)
    assert len(one_word) == 1 and len(one_word[0]) <= 20_000


def test_non_english_and_cjk_are_split() -> None:
    assert split_sentences("Je suis très triste. Merci beaucoup!") == [
        "Je suis très triste.",
        "Merci beaucoup!",
    ]
    assert split_sentences("我很难过。你好吗？") == ["我很难过。", "你好吗？"]
