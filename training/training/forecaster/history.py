"""Author history before each TLC, computed in time order over a whole dump (no leakage).

For every TLC the author's counts of *strictly earlier* TLCs (anywhere, in the subreddit, on
the post) and the mean outcome of the author's earlier TLCs whose outcome had matured —
``created_utc + horizon ≤`` this TLC's ``created_utc`` — are what the stream scorer can read
from its storage when the TLC arrives (:class:`models.forecaster.context.TlcContext`).
Earlier outcomes are measured at the horizon (replies within ``horizon`` of the TLC), as the
service's back-fill stores them, not at scrape time.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from models.forecaster.context import TlcContext, author_key
from redditdata.dumps import DumpReport, find_dump_files, iter_json_lines
from redditdata.tree import Node

__all__ = ["HISTORY_SCOPES", "TlcRef", "author_history", "dump_tlcs", "prune_to_horizon"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TlcRef:
    """The fields of a TLC the history needs."""

    name: str
    post: str
    subreddit: str
    author: str | None
    created_utc: int


def dump_tlcs(directory: str | os.PathLike[str]) -> tuple[TlcRef, ...]:
    """Every TLC of a dump directory's comments file (matured thread or not); remembered per
    file version within a process (a dump is read-only)."""
    files = find_dump_files(directory)
    if files.comments is None:
        return ()
    st = files.comments.stat()
    return _read_tlcs(str(files.comments), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=2)
def _read_tlcs(path: str, _mtime_ns: int, _size: int) -> tuple[TlcRef, ...]:
    out: list[TlcRef] = []
    for _, obj in iter_json_lines(Path(path), DumpReport()):
        link, parent = obj.get("link_id"), obj.get("parent_id")
        name = obj.get("name") or (f"t1_{obj['id']}" if obj.get("id") else None)
        if not link or parent != link or not name:
            continue
        try:
            created = int(float(obj.get("created_utc")))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        out.append(
            TlcRef(
                str(name), str(link), str(obj.get("subreddit") or ""), obj.get("author"), created
            )
        )
    return tuple(out)


#: Where an author's history is counted: ``"subreddit"`` (the default: only the subreddit
#: the TLC is in, no profiling across communities) or ``"all"`` (every subreddit of the data:
#: an explicit per-deployment opt-in).
HISTORY_SCOPES = ("subreddit", "all")


def author_history(
    tlcs: Iterable[TlcRef],
    outcomes: dict[str, float],
    horizon_s: int,
    scope: str = "subreddit",
) -> dict[str, TlcContext]:
    """:class:`TlcContext` of every TLC with a known author, keyed by TLC fullname.

    ``scope="subreddit"`` (default): the author's earlier TLCs and matured outcomes are
    counted in the TLC's own subreddit only (``prior_tlcs`` then equals ``prior_tlcs_sub``);
    ``"all"`` counts them across every subreddit of the data.

    ``outcomes``: TLC fullname → outcome at the horizon (TLCs without one do not count as
    matured outcomes). TLCs are processed in ``(created_utc, name)`` order; a TLC sees only
    TLCs before it in that order and outcomes that matured at or before its creation."""
    if scope not in HISTORY_SCOPES:
        raise ValueError(f"history scope must be one of {HISTORY_SCOPES}, got {scope!r}")
    refs = sorted({t.name: t for t in tlcs}.values(), key=lambda t: (t.created_utc, t.name))

    def key(t: TlcRef) -> str | None:
        a = author_key(t.author)
        if a is None or scope == "all":
            return a
        return f"{a}\x00{t.subreddit.lower()}"  # one history per (author, subreddit)

    matured = sorted(
        (t.created_utc + horizon_s, t.name, key(t), outcomes[t.name])
        for t in refs
        if t.name in outcomes and key(t) is not None
    )
    n_all: dict[str, int] = defaultdict(int)
    n_sub: dict[tuple[str, str], int] = defaultdict(int)
    n_post: dict[tuple[str, str], int] = defaultdict(int)
    n_out: dict[str, int] = defaultdict(int)
    s_out: dict[str, float] = defaultdict(float)
    out: dict[str, TlcContext] = {}
    j = 0
    for t in refs:
        while j < len(matured) and matured[j][0] <= t.created_utc:
            _, _, a, v = matured[j]
            assert a is not None
            n_out[a] += 1
            s_out[a] += v
            j += 1
        a = key(t)
        if a is None:
            continue
        sub = t.subreddit.lower()
        out[t.name] = TlcContext(n_all[a], n_sub[(a, sub)], n_post[(a, t.post)], n_out[a], s_out[a])
        n_all[a] += 1
        n_sub[(a, sub)] += 1
        n_post[(a, t.post)] += 1
    logger.info(
        "author history: %d TLCs, %d authors, %d matured outcomes",
        len(out),
        len(n_all),
        len(matured),
    )
    return out


def prune_to_horizon(tlc: Node, horizon_s: int) -> Node | None:
    """A copy of ``tlc``'s reply tree keeping replies created within ``horizon_s`` of the TLC
    (and whose parents were kept); ``None`` when nothing is cut (the tree is already that)."""
    until = tlc.created_utc + horizon_s

    cut = False
    root = tlc.detached()
    stack = [(tlc, root)]
    while stack:  # iterative: reply chains can be deeper than Python's recursion limit
        src, dst = stack.pop()
        for c in src.children:
            if c.created_utc <= until:
                k = c.detached()
                dst.children.append(k)
                stack.append((c, k))
            else:
                cut = True
    return root if cut else None
