"""Sentence splitting for Reddit comments.

:func:`split_sentences` turns a comment body into the sentences the classifier labels. It copes
with Reddit markdown (links ``[text](url)``, bare URLs, bold/italic/strike/superscript markers,
headers, bullet and numbered lists, tables, horizontal rules, code blocks, HTML entities),
quotes (``>`` lines are someone else's words and are dropped unless ``keep_quotes``), emoji (kept
inside sentences; an emoji-only fragment joins the previous sentence), common abbreviations and
run-on text (fragments longer than ``max_words`` are cut at commas/conjunctions, else every
``max_words`` words). The work is bounded: at most ``max_chars`` characters are read and at most
``max_sentences`` sentences returned. Binary-looking text (mostly control or replacement
characters) yields no sentences. Never raises for any ``str`` input.
"""

from __future__ import annotations

import html
import re
import unicodedata

__all__ = [
    "MAX_CHARS",
    "MAX_SENTENCES",
    "MAX_WORDS",
    "clean_text",
    "looks_binary",
    "split_sentences",
]

MAX_CHARS = 20_000
MAX_SENTENCES = 128
MAX_WORDS = 48

_CODE_BLOCK = re.compile(r"```.*?(```|$)", re.DOTALL)
_INDENT_CODE = re.compile(r"^(?: {4}|\t).*$", re.MULTILINE)
_MD_LINK = re.compile(r"!?\[([^\]\n]*)\]\(\s*<?[^)\s]*>?(?:\s+\"[^\"]*\")?\s*\)")
_URL = re.compile(r"(?:https?://|www\.)\S+|\b/?r/\w+/comments/\S+", re.IGNORECASE)
_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3}|~~|\^|`+|>!|!<)")
_HEADER = re.compile(r"^\s{0,3}#{1,6}\s*")
_BULLET = re.compile(r"^\s*(?:[-*+\u2022]|\d{1,3}[.)])\s+")
_RULE = re.compile(r"^\s*(?:[-*_=]\s*){3,}$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_QUOTE = re.compile(r"^\s*(?:&gt;|>)")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")
_ABBREV = re.compile(
    r"\b(?:mr|mrs|ms|dr|prof|sr|jr|st|vs|etc|e\.g|i\.e|approx|dept|univ|no|vol|fig|"
    r"[a-z])\.$",
    re.IGNORECASE,
)
# A boundary: terminal punctuation (optionally closing quotes/brackets) then space.
_BOUNDARY = re.compile(r"(?<=[.!?\u2026])[\"'\u201d\u2019)\]]*\s+|(?<=[\u3002\uff01\uff1f])\s*")
_WORD = re.compile(r"\w", re.UNICODE)
_SOFT_CUT = re.compile(r"(?<=[,;:])\s+|\s+(?=(?:and|but|so|because|or|then)\b)", re.IGNORECASE)


def looks_binary(text: str) -> bool:
    """True when more than 30% of the characters are control/replacement/private-use."""
    if not text:
        return False
    sample = text[:4000]
    bad = sum(
        1
        for ch in sample
        if ch == "\ufffd"
        or (unicodedata.category(ch) in ("Cc", "Co", "Cs", "Cn") and ch not in "\n\r\t")
    )
    return bad > 0.3 * len(sample)


def clean_text(text: str, max_chars: int = MAX_CHARS) -> str:
    """Bounded, printable text: drops control characters, unescapes HTML entities."""
    text = text[:max_chars]
    text = html.unescape(text)
    text = "".join(
        ch
        for ch in text
        if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs", "Co", "Cn")
    )
    return text.replace("\ufffd", " ").replace("\r", "")


def _strip_markdown_line(line: str) -> str:
    line = _HEADER.sub("", line)
    line = _BULLET.sub("", line)
    line = _MD_LINK.sub(lambda m: m.group(1), line)
    line = _URL.sub(" ", line)
    line = _EMPHASIS.sub("", line)
    line = line.replace("|", " ")
    return _SPACES.sub(" ", line).strip()


def _paragraphs(text: str, keep_quotes: bool) -> list[str]:
    text = _CODE_BLOCK.sub("\n", text)
    text = _INDENT_CODE.sub("", text)
    out: list[str] = []
    for raw in text.split("\n"):
        if _RULE.match(raw) or _TABLE_SEP.match(raw):
            continue
        if _QUOTE.match(raw):
            if not keep_quotes:
                continue
            raw = _QUOTE.sub("", raw).lstrip("> ")
        line = _strip_markdown_line(raw)
        if line:
            out.append(line)
    return out


def _split_long(sentence: str, max_words: int) -> list[str]:
    words = sentence.split()
    if len(words) <= max_words:
        return [sentence]
    pieces: list[str] = []
    cur = ""
    for part in _SOFT_CUT.split(sentence):
        if not part:
            continue
        cand = f"{cur} {part}".strip() if cur else part.strip()
        if len(cand.split()) > max_words and cur:
            pieces.append(cur)
            cur = part.strip()
        else:
            cur = cand
    if cur:
        pieces.append(cur)
    out: list[str] = []
    for p in pieces:  # still too long (no commas/conjunctions): hard cut
        w = p.split()
        out.extend(" ".join(w[i : i + max_words]) for i in range(0, len(w), max_words))
    return out


def _split_paragraph(par: str) -> list[str]:
    parts: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(par):
        head = par[start : m.start()].rstrip("\"'\u201d\u2019)]")
        if _ABBREV.search(head):
            continue
        parts.append(par[start : m.end()].strip())
        start = m.end()
    parts.append(par[start:].strip())
    return [p for p in parts if p]


def split_sentences(
    text: str,
    *,
    keep_quotes: bool = False,
    max_chars: int = MAX_CHARS,
    max_sentences: int = MAX_SENTENCES,
    max_words: int = MAX_WORDS,
) -> list[str]:
    """The sentences of a Reddit comment body (possibly none)."""
    if not isinstance(text, str) or not text.strip() or looks_binary(text[:max_chars]):
        return []
    out: list[str] = []
    for par in _paragraphs(clean_text(text, max_chars), keep_quotes):
        for sent in _split_paragraph(par):
            for piece in _split_long(sent, max_words):
                if not _WORD.search(piece):  # emoji / punctuation only: attach to previous
                    if out:
                        out[-1] = f"{out[-1]} {piece}"
                    continue
                out.append(piece)
                if len(out) >= max_sentences:
                    return out
    return out
