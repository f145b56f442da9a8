"""Erasing Reddit users' words from everything the service stores.

A deleted or removed item keeps only what evaluation needs — ids, timestamps, numeric scores,
forecasts and outcomes — and loses its text and author in every table that holds them, in the
dead-letter store, and so in anything exported afterwards. The tables are a registry of
:class:`Erasable` entries (table, id column, text / author / JSON columns): a new table that
stores text is one more :func:`register` call, and erasure, retention and the privacy report
all cover it. Every erasure is recorded in ``erasures`` (name, kind, reason, when; no text).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Table, and_, or_, select, update

from streaming.storage import (
    DeadLetterRow,
    PostRow,
    ReplyRow,
    ScoreRow,
    SessionFactory,
    TlcRow,
    upsert,
)
from streaming.storage.privacy_tables import ErasureRow

__all__ = [
    "MARKERS",
    "REASONS",
    "Erasable",
    "Eraser",
    "Reason",
    "erasables",
    "register",
    "scrub_text",
]

logger = logging.getLogger(__name__)

Reason = Literal["deleted", "removed", "account_deleted", "retention"]
REASONS: tuple[str, ...] = ("deleted", "removed", "account_deleted", "retention")

#: What an erased text column holds afterwards (Reddit's own markers where they exist, so
#: readers of exports skip the text as they skip Reddit's deleted comments).
MARKERS: dict[str, str] = {
    "deleted": "[deleted]",
    "removed": "[removed]",
    "account_deleted": "[deleted]",
    "retention": "[expired]",
}

#: authors that are not accounts (never expanded into "every item of this user")
_NOT_ACCOUNTS = {"", "[deleted]", "[removed]"}

_CHUNK = 500


@dataclass(frozen=True)
class Erasable:
    """A table holding users' text: rows are keyed by ``id_column`` (a Reddit fullname).

    ``kind`` names the Reddit item of a *primary* table (``post``, ``tlc``, ``reply``):
    primary rows are re-checked on Reddit, expire under retention and are recorded in
    ``erasures``; a secondary table (``kind=None``) is only cleaned along with them.
    ``json_columns`` lose every ``"text"`` key (empathy keeps labels and probabilities).
    """

    table: Any  # a mapped class or a ``sqlalchemy.Table``
    id_column: str
    text_columns: tuple[str, ...] = ()
    author_columns: tuple[str, ...] = ()
    json_columns: tuple[str, ...] = ()
    kind: str | None = None
    created_column: str = "created_utc"

    def column(self, name: str) -> Any:
        if isinstance(self.table, Table):
            return self.table.c[name]
        return getattr(self.table, name)


_REGISTRY: list[Erasable] = [
    Erasable(PostRow, "name", ("title", "selftext"), ("author",), kind="post"),
    Erasable(TlcRow, "name", ("body",), ("author",), kind="tlc"),
    Erasable(ScoreRow, "tlc_name", json_columns=("empathy",)),
    Erasable(ReplyRow, "name", ("body",), ("author",), kind="reply"),
]


def register(entry: Erasable) -> None:
    """Add a table that stores text (idempotent)."""
    if entry not in _REGISTRY:
        _REGISTRY.append(entry)


def erasables(primary_only: bool = False) -> list[Erasable]:
    return [e for e in _REGISTRY if e.kind is not None or not primary_only]


def scrub_text(value: Any) -> Any:
    """``value`` without any ``"text"`` key, at any depth."""
    if isinstance(value, dict):
        return {k: scrub_text(v) for k, v in value.items() if k != "text"}
    if isinstance(value, list):
        return [scrub_text(v) for v in value]
    return value


def _chunks(items: list[str], n: int = _CHUNK) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class Eraser:
    """Erases items by fullname (or every item of a deleted account) in every registered
    table and in the dead-letter store. ``clock`` is the service clock (seconds)."""

    def __init__(
        self,
        sessions: SessionFactory,
        clock: Callable[[], float],
        registry: Iterable[Erasable] | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self._registry = list(registry) if registry is not None else None
        self.erased_total: dict[str, int] = defaultdict(int)

    @property
    def registry(self) -> list[Erasable]:
        return self._registry if self._registry is not None else erasables()

    # -- queries -----------------------------------------------------------------------
    def erased(self, names: Iterable[str]) -> set[str]:
        """Which of ``names`` are already erased."""
        out: set[str] = set()
        with self.sessions() as s:
            for chunk in _chunks(sorted(set(names))):
                out.update(s.scalars(select(ErasureRow.name).where(ErasureRow.name.in_(chunk))))
        return out

    def authors_of(self, names: Iterable[str]) -> set[str]:
        """The stored author names of ``names`` (accounts only)."""
        out: set[str] = set()
        names = sorted(set(names))
        with self.sessions() as s:
            for e in self.registry:
                for col in e.author_columns:
                    for chunk in _chunks(names):
                        query = select(e.column(col)).where(e.column(e.id_column).in_(chunk))
                        out.update(a for a in s.scalars(query) if a)
        return out - _NOT_ACCOUNTS

    # -- erasure -----------------------------------------------------------------------
    def erase(self, items: Mapping[str, str], via: str) -> int:
        """Erase each fullname in ``items`` for its reason; returns the stored items erased
        (already-erased items are skipped, except that a later reason is not recorded)."""
        todo = {n: r for n, r in items.items() if r in MARKERS}
        if not todo:
            return 0
        todo = {n: r for n, r in todo.items() if n not in self.erased(todo)}
        if not todo:
            return 0
        now = int(self.clock())
        by_reason: dict[str, list[str]] = defaultdict(list)
        for n, r in todo.items():
            by_reason[r].append(n)
        records: list[dict[str, Any]] = []
        with self.sessions() as s:
            for reason, names in by_reason.items():
                for chunk in _chunks(sorted(names)):
                    for e in self.registry:
                        found = self._erase_rows(s, e, chunk, reason)
                        if e.kind is not None:
                            records += [
                                {
                                    "name": n,
                                    "kind": e.kind,
                                    "reason": reason,
                                    "via": via,
                                    "erased_utc": now,
                                }
                                for n in found
                            ]
                    self._erase_dead_letters(s, [DeadLetterRow.raw.contains(n) for n in chunk])
            for chunk_rows in (records[i : i + _CHUNK] for i in range(0, len(records), _CHUNK)):
                upsert(s, ErasureRow, chunk_rows)
            s.commit()
        counts: dict[str, int] = defaultdict(int)
        for rec in records:
            counts[rec["reason"]] += 1
            self.erased_total[rec["reason"]] += 1
        if records:
            logger.info("erased %d stored items via %s: %s", len(records), via, dict(counts))
        return len(records)

    def erase_accounts(self, names: Iterable[str], via: str) -> int:
        """Items whose account was deleted: erase them and every stored item of the
        authors they had when stored."""
        names = set(names)
        authors = self.authors_of(names)
        n = self.erase(dict.fromkeys(names, "account_deleted"), via)
        return n + self.erase_authors(authors, via)

    def erase_authors(self, authors: Iterable[str], via: str) -> int:
        """Erase every stored item written by ``authors`` (a deleted account)."""
        authors = sorted(set(authors) - _NOT_ACCOUNTS)
        if not authors:
            return 0
        names: set[str] = set()
        with self.sessions() as s:
            for e in self.registry:
                if e.kind is None:
                    continue
                for col in e.author_columns:
                    for chunk in _chunks(authors):
                        query = select(e.column(e.id_column)).where(e.column(col).in_(chunk))
                        names.update(s.scalars(query))
            conds = []
            for a in authors:
                conds += [
                    DeadLetterRow.raw.contains(f'"author": "{a}"'),
                    DeadLetterRow.raw.contains(f'"author":"{a}"'),
                ]
            for i in range(0, len(conds), _CHUNK):
                self._erase_dead_letters(s, conds[i : i + _CHUNK])
            s.commit()
        return self.erase(dict.fromkeys(names, "account_deleted"), via)

    def _erase_rows(self, s: Any, e: Erasable, names: list[str], reason: str) -> list[str]:
        idc = e.column(e.id_column)
        found = list(s.scalars(select(idc).where(idc.in_(names))))
        if not found:
            return []
        values: dict[str, Any] = {c: MARKERS[reason] for c in e.text_columns}
        values.update({c: None for c in e.author_columns})
        if values:
            s.execute(update(e.table).where(idc.in_(found)).values(**values))
        for col in e.json_columns:
            jc = e.column(col)
            for name, value in s.execute(select(idc, jc).where(idc.in_(found))).tuples():
                if value is not None:
                    s.execute(update(e.table).where(idc == name).values({col: scrub_text(value)}))
        return found

    @staticmethod
    def _erase_dead_letters(s: Any, conds: list[Any]) -> int:
        """Dead letters whose raw record matches: raw emptied, reason cut to its kind (a
        validation message can quote the input)."""
        if not conds:
            return 0
        rows = list(
            s.execute(
                select(DeadLetterRow.id, DeadLetterRow.reason).where(
                    and_(DeadLetterRow.raw != "", or_(*conds))
                )
            ).tuples()
        )
        for ident, reason in rows:
            s.execute(
                update(DeadLetterRow)
                .where(DeadLetterRow.id == ident)
                .values(raw="", reason=reason.split(":", 1)[0] + ": [erased]")
            )
        return len(rows)
