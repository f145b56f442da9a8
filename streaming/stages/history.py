"""What storage knows about a TLC's post and author before it: the forecaster's order and
context inputs, computed by the database.

Both functions answer for a whole scorer batch in one SQL statement: the batch's TLCs are a
``VALUES`` table of bound parameters (each statement is built once per batch size), and each
answer is a correlated ``COUNT`` / ``SUM`` over an index range (``tlcs(post_name, created_utc,
name)``, ``tlcs(author, created_utc)``). Nothing but the answers crosses into Python, so the
cost per TLC stays flat however long an author's history or a post's thread grows (the first
version loaded every earlier TLC of each author and post into memory on every batch).

"Before" is the total order ``(created_utc, name)``, as in training
(``training.forecaster.history``): a TLC stored in the same second as another counts as
earlier when its name sorts first.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Select,
    String,
    and_,
    bindparam,
    column,
    func,
    literal,
    or_,
    select,
    values,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.expression import CTE, ColumnElement, ScalarSelect

from models.forecaster.context import TlcContext, author_key
from streaming.storage import OutcomeRow, PostRow, TlcRow

__all__ = ["author_contexts", "prior_tlc_counts"]

#: rows per statement (bound parameters: SQLite allows 32,766, PostgreSQL 65,535)
CHUNK = 500

#: the batch table's columns, in order, and their types
_COLUMNS = ("name", "author", "sub", "post", "created")
_TYPES = (String, String, String, String, BigInteger)

Row = tuple[str, str | None, str, str, int]


def _batch(n: int) -> CTE:
    """A batch of ``n`` TLCs as a ``VALUES`` table ``batch(name, author, sub, post, created)``
    of bound parameters (:func:`_params`; a CTE: SQLite has no column aliases on a ``VALUES``
    subquery)."""
    cols = list(zip(_COLUMNS, _TYPES))
    return (
        values(*(column(c, t) for c, t in cols), name="batch")
        .data([tuple(bindparam(f"{c}_{i}", type_=t) for c, t in cols) for i in range(n)])
        .cte("batch")
    )


def _params(rows: Sequence[Row]) -> dict[str, object]:
    """The bound values of :func:`_batch` for ``rows``."""
    return {f"{c}_{i}": v for i, row in enumerate(rows) for c, v in zip(_COLUMNS, row)}


def _before(earlier: type[TlcRow], batch: CTE) -> ColumnElement[bool]:
    """``earlier`` was created before the batch TLC (ties broken by fullname)."""
    return or_(
        earlier.created_utc < batch.c.created,
        and_(earlier.created_utc == batch.c.created, earlier.name < batch.c.name),
    )


def _author_count(batch: CTE, same: str | None = None) -> ScalarSelect[int]:
    """Count of the author's stored TLCs before each batch TLC; ``same``: only those in the
    same subreddit (``"sub"``) or on the same post (``"post"``)."""
    earlier = aliased(TlcRow)
    cond = [earlier.author == batch.c.author, _before(earlier, batch)]
    if same == "sub":
        cond.append(func.lower(earlier.subreddit) == batch.c.sub)
    elif same == "post":
        cond.append(earlier.post_name == batch.c.post)
    return select(func.count()).select_from(earlier).where(*cond).scalar_subquery()


# The statements are built once per batch size (and horizon, scope), their values bound at
# execution: built anew, the two cost a scorer's call of a few TLCs ~14 ms of Python (one AVX2
# core). SQLAlchemy cannot cache their compiled form (a ``VALUES`` table has no cache key), and
# compiling them took ~6.5 ms a call, against well under 1 ms in SQLite itself: they are
# compiled once per dialect too (:func:`_compiled`) and run as the driver's SQL.
@functools.lru_cache(maxsize=256)
def _prior_statement(n: int) -> Select[Any]:
    batch = _batch(n)
    earlier = aliased(TlcRow)
    count = (
        select(func.count())
        .select_from(earlier)
        .where(earlier.post_name == batch.c.post, _before(earlier, batch))
        .scalar_subquery()
    )
    return select(batch.c.name, count)


@functools.lru_cache(maxsize=256)
def _contexts_statement(n: int, horizon_s: int, same: str | None) -> Select[Any]:
    batch = _batch(n)
    earlier, outcome = aliased(TlcRow), aliased(OutcomeRow)
    matured = (
        select(earlier)
        .join(outcome, outcome.tlc_name == earlier.name)
        .where(
            earlier.author == batch.c.author,
            _before(earlier, batch),
            earlier.created_utc + literal(int(horizon_s)) <= batch.c.created,
            outcome.trajectory.is_not(None),
            *([func.lower(earlier.subreddit) == batch.c.sub] if same else []),
        )
    )
    n_out = matured.with_only_columns(func.count()).scalar_subquery()
    sum_out = matured.with_only_columns(
        func.coalesce(func.sum(outcome.trajectory), 0.0)
    ).scalar_subquery()
    return select(
        batch.c.name,
        _author_count(batch, same),
        _author_count(batch, "sub"),
        _author_count(batch, "post"),
        n_out,
        sum_out,
    )


@dataclass(frozen=True)
class _Compiled:
    """A history statement compiled for one dialect: its SQL, the names of its positional
    parameters in order (``None`` where the driver takes them by name) and the values bound
    when it was built (the horizon)."""

    sql: str
    positions: tuple[str, ...] | None
    fixed: Mapping[str, Any]

    def run(self, s: Session, values: Mapping[str, object]) -> Iterable[Any]:
        """The result rows of this statement with ``values`` bound."""
        params = {**self.fixed, **values}
        if self.positions is None:
            return s.connection().exec_driver_sql(self.sql, params)
        return s.connection().exec_driver_sql(self.sql, tuple(params[k] for k in self.positions))


@functools.lru_cache(maxsize=256)
def _compiled(stmt: Select[Any], dialect: Dialect) -> _Compiled:
    """``stmt`` (one of the cached statements above) compiled once for ``dialect``."""
    c = stmt.compile(dialect=dialect)
    positions = tuple(c.positiontup) if c.positional and c.positiontup is not None else None
    return _Compiled(str(c), positions, dict(c.params))


def prior_tlc_counts(s: Session, todo: Sequence[tuple[TlcRow, PostRow]]) -> dict[str, int]:
    """For each TLC, how many stored TLCs of its post come before it (a forecaster feature),
    over every stored TLC of the post, not just this batch."""
    out: dict[str, int] = {}
    for i in range(0, len(todo), CHUNK):
        rows: list[Row] = [
            (t.name, "", "", t.post_name, t.created_utc) for t, _ in todo[i : i + CHUNK]
        ]
        stmt = _compiled(_prior_statement(len(rows)), s.get_bind().dialect)
        out |= {name: int(c) for name, c in stmt.run(s, _params(rows))}
    return out


def author_contexts(
    s: Session,
    todo: Sequence[tuple[TlcRow, PostRow]],
    horizon_s: int,
    scope: str = "subreddit",
) -> dict[str, TlcContext]:
    """Each TLC's author history (:class:`TlcContext`): the author's stored TLCs before it
    (anywhere / in the subreddit / on the post) and the back-filled trajectories of those
    created ≥ ``horizon_s`` before it. TLCs of deleted or unknown authors get none (= a
    first-time author). ``scope="subreddit"`` (default) counts only the TLC's own subreddit
    ("anywhere" then means the same subreddit, and so do the matured outcomes); ``"all"``
    counts every stored subreddit — an explicit per-deployment opt-in (``history_scope``)."""
    if scope not in ("subreddit", "all"):
        raise ValueError(f"history scope must be 'subreddit' or 'all', got {scope!r}")
    same = "sub" if scope == "subreddit" else None
    named: list[Row] = [
        (t.name, t.author, t.subreddit.lower(), t.post_name, t.created_utc)
        for t, _ in todo
        if author_key(t.author) is not None
    ]
    out: dict[str, TlcContext] = {}
    for i in range(0, len(named), CHUNK):
        rows = named[i : i + CHUNK]
        stmt = _compiled(_contexts_statement(len(rows), int(horizon_s), same), s.get_bind().dialect)
        for name, n, n_sub, n_post, k, total in stmt.run(s, _params(rows)):
            out[name] = TlcContext(int(n), int(n_sub), int(n_post), int(k), float(total))
    return out
