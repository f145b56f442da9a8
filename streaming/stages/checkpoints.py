"""Re-forecasting stored TLCs at checkpoints (the scorer's timer work).

A TLC scored at creation is forecast again ``delay`` seconds after it was posted, for every
configured delay, once the event clock has passed that moment. The conversation is rebuilt
from storage (the post's TLCs and the replies stored so far, :class:`~streaming.storage.ReplyRow`)
and handed to the forecaster, which cuts everything posted after the checkpoint itself
(:func:`models.forecaster.checkpoint.visible_at`): a replay that has already stored later
replies cannot leak them. Each re-forecast is one new row (TLC, checkpoint, forecaster
version) in ``checkpoint_scores``; the forecast at creation stays in ``scores``.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, asdict, dataclass, field
from typing import Any

from sqlalchemy import Select, and_, exists, select
from sqlalchemy.orm import Session

from models.forecaster.checkpoint import PostTimeline
from redditdata.forest import post_from_event
from redditdata.tree import Node
from streaming.modelset import ForecastGroup, ForecastModel
from streaming.stages.base import now_ms
from streaming.stages.history import author_contexts, prior_tlc_counts
from streaming.storage import CheckpointScoreRow, PostRow, ReplyRow, ScoreRow, TlcRow, upsert

__all__ = ["CheckpointScheduler", "StoredEmpathy", "build_post_tree"]

logger = logging.getLogger(__name__)

#: with an ownership filter, how many times ``max_per_tick`` due rows one run reads (the
#: group's other members' due rows come first about as often as this member's)
OWNERSHIP_OVERFETCH = 4
#: names per statement of a late read (:meth:`CheckpointScheduler.late`)
LATE_CHUNK = 500


@dataclass(frozen=True)
class StoredEmpathy:
    """An empathy result as the scorer stored it (what the forecaster's features read)."""

    share_seeking: float
    share_providing: float
    label: str

    @classmethod
    def of(cls, d: dict[str, Any] | None) -> StoredEmpathy:
        d = d or {}
        return cls(
            float(d.get("share_seeking") or 0.0),
            float(d.get("share_providing") or 0.0),
            str(d.get("label") or "none"),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _post_threads(
    s: Session, post_names: Sequence[str]
) -> tuple[dict[str, list[TlcRow]], dict[str, list[ReplyRow]]]:
    """The stored TLCs and replies of each post, read in two statements for all of them (one
    pair of statements per post cost a re-forecast run of 128 TLCs dozens of round trips)."""
    tlcs: dict[str, list[TlcRow]] = defaultdict(list)
    replies: dict[str, list[ReplyRow]] = defaultdict(list)
    for t in s.scalars(select(TlcRow).where(TlcRow.post_name.in_(post_names))):
        tlcs[t.post_name].append(t)
    for r in s.scalars(
        select(ReplyRow).where(
            ReplyRow.post_name.in_(post_names), ReplyRow.parent_name != ReplyRow.post_name
        )
    ):
        replies[r.post_name].append(r)
    return tlcs, replies


def build_post_tree(
    post: PostRow, tlcs: Sequence[TlcRow], replies: Sequence[ReplyRow]
) -> list[Node]:
    """The post's TLC nodes with the stored replies attached under their parents (replies
    whose parent is not stored are left out)."""
    nodes: dict[str, Node] = {}
    roots = []
    for t in sorted(tlcs, key=lambda t: (t.created_utc, t.name)):
        n = t.as_node()
        nodes[t.name] = n
        roots.append(n)
    pending = sorted(replies, key=lambda r: (r.created_utc, r.name))
    while pending:  # a parent may be stored after its child (same second): repeat
        left = []
        for r in pending:
            parent = nodes.get(r.parent_name)
            if parent is None:
                left.append(r)
                continue
            body = "[deleted]" if r.body is None else r.body  # erased at the back-fill
            n = Node(
                r.name, r.parent_name, r.author, body, 0, r.created_utc, depth=parent.depth + 1
            )
            parent.children.append(n)
            nodes[r.name] = n
        if len(left) == len(pending):
            break
        pending = left
    return roots


@dataclass(eq=False)
class CheckpointScheduler:
    """Finds TLCs due for a re-forecast and makes them (one forecaster batch per delay), at
    most ``max_per_tick`` per :meth:`run` across the delays (earliest delay first): one run
    is a bounded stall of the scorer's loop, and a backlog takes several runs.

    A delay's due read starts at its *floor*: the oldest TLC due and not re-forecast at the
    last read (by any member of the group), or the checkpoint's edge when none was. The only
    TLCs below a floor still to do are those scored after the floor passed them (their post
    came late, their partition lagged the event clock): every ``late_read_every_s`` a *late
    read* finds them among the TLCs scored since the last one (``scores(scored_ms)``, an index
    range; ``late_margin_ms`` earlier, for a scoring transaction that committed after the
    moment it stamped). So no read visits every stored TLC, except the first of each
    forecaster version and the one before a drain (:meth:`scan_all_next`)."""

    forecaster: ForecastModel | None
    delays: Sequence[int]
    _: KW_ONLY
    horizon_s: int
    config_hash: str
    history_scope: str = "subreddit"
    max_per_tick: int = 128
    #: wall seconds between two late reads (TLCs scored after their delay's floor passed them)
    late_read_every_s: float = 30.0
    #: a late read covers the TLCs scored from this long before the previous one began
    late_margin_ms: int = 60_000
    monotonic: Callable[[], float] = time.monotonic
    wall_ms: Callable[[], int] = now_ms
    made: int = field(default=0, init=False)
    #: (delay, forecaster version) -> a ``created_utc`` before which no TLC was due at the
    #: last read: the oldest due TLC then, or the checkpoint's edge when none was
    _floors: dict[tuple[int, str], int] = field(default_factory=dict, init=False)
    #: (delay, forecaster version) -> the ``scored_ms`` the next late read starts at
    _late_from: dict[tuple[int, str], int] = field(default_factory=dict, init=False)
    _late_read_at: float = field(default=-math.inf, init=False)

    def __post_init__(self) -> None:
        self.delays = tuple(sorted(int(d) for d in self.delays if int(d) > 0))

    def scan_all_next(self) -> None:
        """Make the next run's due reads cover every stored TLC (before a drain)."""
        self._floors.clear()
        self._late_from.clear()

    @property
    def version(self) -> str:
        return "none" if self.forecaster is None else str(self.forecaster.version)

    def due(
        self,
        s: Session,
        now: float,
        delay: int,
        limit: int | None = None,
        owns: Callable[[str], bool] | None = None,
        *,
        floor: int | None = None,
        names: Sequence[str] | None = None,
    ) -> list[tuple[TlcRow, PostRow, ScoreRow]]:
        """Scored TLCs whose ``delay`` checkpoint has passed and has no row yet (the oldest
        ``limit``, default ``max_per_tick``), created at ``floor`` or later if given. With
        ``owns`` (post name -> whether this member owns it), the oldest ``limit`` of the owned
        posts': the due names are read first (up to ``OWNERSHIP_OVERFETCH`` times ``limit``,
        as plain rows), then the rows of the owned ones only, so the other members' due TLCs
        are never loaded as objects. Records the delay's next floor: the oldest due TLC read
        (the other members' included), or the checkpoint's edge when none was due.

        With ``names`` only those TLCs, and the floor is left as it is (:meth:`late`)."""
        limit = self.max_per_tick if limit is None else limit
        done = exists().where(
            and_(
                CheckpointScoreRow.tlc_name == TlcRow.name,
                CheckpointScoreRow.checkpoint_s == delay,
                CheckpointScoreRow.forecaster_version == self.version,
            )
        )
        where = [
            TlcRow.status == "scored",
            ScoreRow.forecast.is_not(None),
            TlcRow.created_utc <= int(now) - delay,
            ~done,
        ]
        keep_floor = names is not None  # a late read's rows: the floor is not theirs
        if names is not None:
            where.append(TlcRow.name.in_(names))
        if floor is not None:
            where.append(TlcRow.created_utc >= floor)

        def rows(*columns: Any) -> Select[Any]:
            return (
                select(*columns)
                .join(PostRow, PostRow.name == TlcRow.post_name)
                .join(ScoreRow, ScoreRow.tlc_name == TlcRow.name)
                .where(*where)
                .order_by(TlcRow.created_utc)
            )

        edge = int(now) - delay + 1
        if owns is None:
            found = list(s.execute(rows(TlcRow, PostRow, ScoreRow).limit(limit)).tuples())
            if not keep_floor:
                self._floors[(delay, self.version)] = found[0][0].created_utc if found else edge
            return found
        candidates = s.execute(
            rows(TlcRow.name, TlcRow.post_name, TlcRow.created_utc).limit(
                limit * OWNERSHIP_OVERFETCH
            )
        ).all()
        if not keep_floor:
            self._floors[(delay, self.version)] = candidates[0][2] if candidates else edge
        mine = [name for name, post, _ in candidates if owns(post)][:limit]
        if not mine:
            return []
        query = rows(TlcRow, PostRow, ScoreRow).where(TlcRow.name.in_(mine))
        return list(s.execute(query).tuples())

    def late(
        self,
        s: Session,
        now: float,
        delay: int,
        limit: int,
        owns: Callable[[str], bool] | None,
        *,
        floor: int,
        scored_from: int,
    ) -> tuple[list[tuple[TlcRow, PostRow, ScoreRow]], bool]:
        """A late read: the due TLCs created before ``floor`` and scored at ``scored_from``
        or later (at most ``limit``), and whether that was all of them. The names of the recently
        scored TLCs below the floor not yet re-forecast at ``delay`` are read first, from
        ``scores`` alone (an index range on ``scored_ms``, a key probe of ``checkpoint_scores``
        each: the planner cannot start from every stored TLC), then :meth:`due` reads the rows
        of those this member owns, in chunks of :data:`LATE_CHUNK` names."""
        done = exists().where(
            and_(
                CheckpointScoreRow.tlc_name == ScoreRow.tlc_name,
                CheckpointScoreRow.checkpoint_s == delay,
                CheckpointScoreRow.forecaster_version == self.version,
            )
        )
        names = list(
            s.scalars(
                select(ScoreRow.tlc_name).where(
                    ScoreRow.scored_ms >= scored_from,
                    ScoreRow.created_utc < floor,
                    ScoreRow.created_utc <= int(now) - delay,
                    ScoreRow.forecast.is_not(None),
                    ~done,
                )
            )
        )
        found: list[tuple[TlcRow, PostRow, ScoreRow]] = []
        for i in range(0, len(names), LATE_CHUNK):
            left = limit - len(found)
            if left <= 0:
                return found, False
            found += self.due(s, now, delay, left, owns, names=names[i : i + LATE_CHUNK])
        return found, len(found) < limit

    def run(
        self, s: Session, now: float, owns: Callable[[str], bool] | None = None
    ) -> list[dict[str, Any]]:
        """Re-forecast due (TLC, delay) pairs, up to ``max_per_tick`` in all; returns the stored
        rows (the caller commits and publishes). With ``owns`` (post name -> whether this
        scorer owns the post's partition), only the owned posts' TLCs: N scorers in one group
        split the re-forecasts as they split the posts, instead of each making all of them."""
        forecaster = self.forecaster
        if forecaster is None or not self.delays:
            return []
        # the due reads start at each delay's floor (the first of a forecaster version reads
        # every stored TLC); every ``late_read_every_s`` a late read looks below the floors for
        # the TLCs scored since the last one (class docstring)
        started = self.monotonic()
        late = started - self._late_read_at >= self.late_read_every_s
        if late:
            self._late_read_at = started
        read_ms = self.wall_ms()
        rows: list[dict[str, Any]] = []
        for delay in self.delays:
            key = (delay, self.version)
            floor = self._floors.get(key)
            if late and floor is not None and self.max_per_tick > len(rows):
                left = self.max_per_tick - len(rows)
                since = self._late_from.get(key, 0)
                todo, complete = self.late(
                    s, now, delay, left, owns, floor=floor, scored_from=since
                )
                if complete:  # the next late read starts later
                    self._late_from[key] = read_ms - self.late_margin_ms
                if todo:
                    rows += self._forecast(s, forecaster, todo, delay)
            elif floor is None:  # a full read: everything scored so far is below its floor
                self._late_from[key] = read_ms - self.late_margin_ms
            left = self.max_per_tick - len(rows)
            if left <= 0:
                break
            todo = self.due(s, now, delay, left, owns, floor=floor)
            if todo:
                rows += self._forecast(s, forecaster, todo, delay)
        if rows:
            upsert(s, CheckpointScoreRow, rows)
            self.made += len(rows)
        return rows

    def _forecast(
        self,
        s: Session,
        forecaster: ForecastModel,
        todo: list[tuple[TlcRow, PostRow, ScoreRow]],
        delay: int,
    ) -> list[dict[str, Any]]:
        pairs = [(t, p) for t, p, _ in todo]
        # the inputs of each TLC's row at creation; not read when the forecaster still holds
        # every row from then (its re-forecast reuses them)
        rows = getattr(forecaster, "design_rows", None)
        remembered = rows is not None and rows.has_all([t.name for t, _ in pairs])
        prior = {} if remembered else prior_tlc_counts(s, pairs)
        ctx = (
            author_contexts(s, pairs, self.horizon_s, self.history_scope)
            if forecaster.use_context and not remembered
            else {}
        )
        by_post: dict[str, list[int]] = defaultdict(list)
        for i, (t, _, _) in enumerate(todo):
            by_post[t.post_name].append(i)
        groups: list[ForecastGroup] = []
        timelines: list[PostTimeline] = []
        order: list[int] = []
        empathy: list[StoredEmpathy] = []
        stored, replies = _post_threads(s, list(by_post))
        for post_name, idxs in by_post.items():
            prow = todo[idxs[0]][1]
            roots = {
                n.name: n for n in build_post_tree(prow, stored[post_name], replies[post_name])
            }
            tlcs = [roots[todo[i][0].name] for i in idxs]
            groups.append(
                (
                    post_from_event(prow),
                    tlcs,
                    [prior.get(todo[i][0].name, 0) for i in idxs],
                    [ctx.get(todo[i][0].name) for i in idxs],
                )
            )
            timelines.append(PostTimeline.of(list(roots.values())))
            empathy += [StoredEmpathy.of(todo[i][2].empathy) for i in idxs]
            order += idxs
        preds = forecaster.predict_many(
            groups,
            empathy if forecaster.use_empathy else None,
            checkpoint=delay,
            timelines=timelines,
        )
        from streaming.stages.scorer import jsonable

        made = now_ms()
        out = []
        for i, f in zip(order, preds):
            t = todo[i][0]
            out.append(
                {
                    "tlc_name": t.name,
                    "checkpoint_s": delay,
                    "forecaster_version": self.version,
                    "post_name": t.post_name,
                    "subreddit": t.subreddit,
                    "created_utc": t.created_utc,
                    "forecast": float(f.value),
                    "lower": None if f.lower is None else float(f.lower),
                    "upper": None if f.upper is None else float(f.upper),
                    "reasons": jsonable(list(f.reasons or [])),
                    "config_hash": self.config_hash,
                    "scored_ms": made,
                }
            )
        logger.debug("re-forecast %d TLCs at +%ds", len(out), delay)
        return out
