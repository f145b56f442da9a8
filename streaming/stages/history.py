"""What storage knows about a TLC's post and author before it: the forecaster's order and
context inputs, computed by the database.

Both functions answer for a whole scorer batch in one SQL statement: the batch's TLCs are a
``VALUES`` table, and each answer is a correlated ``COUNT`` / ``SUM`` over an index range
(``tlcs(post_name, created_utc, name)``, ``tlcs(author, created_utc)``). Nothing but the answers crosses into
Python, so the cost per TLC stays flat however long an author's history or a post's thread
grows (the first version loaded every earlier TLC of each author and post into memory on
every batch).

"Before" is the total order ``(created_utc, name)``, as in training
(``training.forecaster.history``): a TLC stored in the same second as another counts as
earlier when its name sorts first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    and_,
    column,
    func,
    literal,
    or_,
    select,
    values,
)
from sqlalchemy.orm import aliased

from models.forecaster.context import TlcContext, author_key
from streaming.storage import OutcomeRow, PostRow, TlcRow

__all__ = ["author_contexts", "prior_tlc_counts"]

#: rows per statement (bound parameters: SQLite allows 32,766, PostgreSQL 65,535)
CHUNK = 500


def _batch(rows: Sequence[tuple[str, str | None, str, str, int]]) -> Any:
    """The batch as a ``VALUES`` table ``q(name, author, sub, post, created)`` (a CTE: SQLite
    has no column aliases on a ``VALUES`` subquery)."""
    return (
        values(
            column("name", String),
            column("author", String),
            column("sub", String),
            column("post", String),
            column("created", BigInteger),
            name="q",
        )
        .data(list(rows))
        .cte("q")
    )


def _before(h: Any, q: Any) -> Any:
    return or_(h.created_utc < q.c.created, and_(h.created_utc == q.c.created, h.name < q.c.name))


def _author_count(q: Any, same: str | None = None) -> Any:
    """Count of the author's stored TLCs before each batch TLC; ``same``: only those in the
    same subreddit (``"sub"``) or on the same post (``"post"``)."""
    h = aliased(TlcRow)
    cond = [h.author == q.c.author, _before(h, q)]
    if same == "sub":
        cond.append(func.lower(h.subreddit) == q.c.sub)
    elif same == "post":
        cond.append(h.post_name == q.c.post)
    return select(func.count()).select_from(h).where(*cond).scalar_subquery()


def prior_tlc_counts(s: Any, todo: Sequence[tuple[TlcRow, PostRow]]) -> dict[str, int]:
    """For each TLC, how many stored TLCs of its post come before it (a forecaster feature),
    over every stored TLC of the post, not just this batch."""
    out: dict[str, int] = {}
    for i in range(0, len(todo), CHUNK):
        q = _batch([(t.name, "", "", t.post_name, t.created_utc) for t, _ in todo[i : i + CHUNK]])
        h = aliased(TlcRow)
        n = (
            select(func.count())
            .select_from(h)
            .where(h.post_name == q.c.post, _before(h, q))
            .scalar_subquery()
        )
        out |= {name: int(c) for name, c in s.execute(select(q.c.name, n))}
    return out


def author_contexts(
    s: Any,
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
    named = [
        (t.name, t.author, t.subreddit.lower(), t.post_name, t.created_utc)
        for t, _ in todo
        if author_key(t.author) is not None
    ]
    out: dict[str, TlcContext] = {}
    for i in range(0, len(named), CHUNK):
        q = _batch(named[i : i + CHUNK])
        h, o = aliased(TlcRow), aliased(OutcomeRow)
        matured = (
            select(h)
            .join(o, o.tlc_name == h.name)
            .where(
                h.author == q.c.author,
                _before(h, q),
                h.created_utc + literal(int(horizon_s)) <= q.c.created,
                o.trajectory.is_not(None),
                *([func.lower(h.subreddit) == q.c.sub] if same else []),
            )
        )
        n_out = matured.with_only_columns(func.count()).scalar_subquery()
        sum_out = matured.with_only_columns(
            func.coalesce(func.sum(o.trajectory), 0.0)
        ).scalar_subquery()
        stmt = select(
            q.c.name,
            _author_count(q, same),
            _author_count(q, "sub"),
            _author_count(q, "post"),
            n_out,
            sum_out,
        )
        for name, n, n_sub, n_post, k, total in s.execute(stmt):
            out[name] = TlcContext(int(n), int(n_sub), int(n_post), int(k), float(total))
    return out
