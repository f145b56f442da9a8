"""Approval of actions on Reddit: a service of its own, whatever the channel.

The bot only *proposes* actions (post or update its own "conversation highlights" comment on
a post, remove it, set a post's suggested sort); a proposal left undecided expires. A moderator
approves or rejects a proposal by its number; today the channel is a modmail reply command
(:mod:`bot.modmail_commands`), later a dashboard can call the same :class:`ApprovalService`.
Every proposal, decision and execution is kept in SQLite with who approved it.

Commands (one per line, case-insensitive): ``!approve 3 5``, ``!reject 4``, ``!status``.
Every answer to a proposal (approved, rejected, expired) is handed to the store's
``on_decision`` — the service keeps it as a training label
(:class:`streaming.feedback.FeedbackRecorder`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bot.approval_service import Decider
from bot.sqlite_store import SqliteStore

__all__ = ["ACTIONS", "ApprovalService", "ApprovalStore", "Proposal", "parse_commands"]

ACTIONS = ("highlights", "remove_highlights", "suggested_sort")
Status = Literal[
    "proposed", "approved", "rejected", "executing", "executed", "dry_run", "failed", "expired"
]

#: called with (proposal, decision, moderator or None, time) when a proposal is approved,
#: rejected or expires
OnDecision = Callable[["Proposal", str, "str | None", float], None]
_ANSWERS = ("approved", "rejected", "expired")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS proposals (
    id INTEGER PRIMARY KEY AUTOINCREMENT, subreddit TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT NOT NULL, params TEXT NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL,
    decided_by TEXT, decided_at REAL, result TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS one_open ON proposals (subreddit, action, target)
    WHERE status IN ('proposed', 'approved');
CREATE TABLE IF NOT EXISTS action_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, proposal_id INTEGER NOT NULL, subreddit TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT NOT NULL, params TEXT NOT NULL, approved_by TEXT NOT NULL,
    approved_at REAL NOT NULL, executed_at REAL NOT NULL, dry_run INTEGER NOT NULL,
    outcome TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
    proposal_id INTEGER PRIMARY KEY, status TEXT NOT NULL, moderator TEXT NOT NULL,
    channel TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS handled_messages (message_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS digests (subreddit TEXT NOT NULL, conversation TEXT,
    sent_at REAL NOT NULL, posts INTEGER NOT NULL, dry_run INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (key TEXT PRIMARY KEY, subreddit TEXT NOT NULL,
    status TEXT NOT NULL, conversation TEXT, begun_at REAL NOT NULL, sent_at REAL);
"""
_COMMAND = re.compile(r"^\s*!(approve|reject|status)\b([\s,#0-9]*)$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Proposal:
    id: int
    subreddit: str
    action: str
    target: str
    params: dict[str, Any]
    status: str
    created_at: float
    decided_by: str | None = None
    decided_at: float | None = None
    result: str | None = None


def parse_commands(text: str) -> list[tuple[str, list[int]]]:
    """``"!approve 3, 5\\n!reject 4"`` → ``[("approve", [3, 5]), ("reject", [4])]``."""
    return [
        (m.group(1).lower(), [int(x) for x in re.findall(r"\d+", m.group(2))])
        for m in _COMMAND.finditer(text or "")
    ]


class ApprovalStore(SqliteStore):
    schema = _SCHEMA

    def __init__(
        self, path: str | Path = ":memory:", on_decision: OnDecision | None = None
    ) -> None:
        super().__init__(path)
        self.on_decision = on_decision

    def _row(self, row: Any) -> Proposal:
        return Proposal(
            row[0],
            row[1],
            row[2],
            row[3],
            json.loads(row[4]),
            row[5],
            row[6],
            row[7],
            row[8],
            row[9],
        )

    def propose(
        self, subreddit: str, action: str, target: str, params: dict[str, Any], now: float
    ) -> Proposal:
        """A new proposal, or the open one for the same action and target."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM proposals WHERE subreddit=? AND action=? AND target=? AND "
                "status IN ('proposed','approved')",
                (subreddit.lower(), action, target),
            ).fetchone()
            if row is None:
                cur = self._db.execute(
                    "INSERT INTO proposals (subreddit, action, target, params, status, "
                    "created_at) VALUES (?,?,?,?, 'proposed', ?)",
                    (subreddit.lower(), action, target, json.dumps(params), now),
                )
                row = self._db.execute(
                    "SELECT * FROM proposals WHERE id=?", (cur.lastrowid,)
                ).fetchone()
        return self._row(row)

    def get(self, pid: int) -> Proposal | None:
        row = self._one("SELECT * FROM proposals WHERE id=?", (pid,))
        return None if row is None else self._row(row)

    def with_status(self, subreddit: str, status: str) -> list[Proposal]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM proposals WHERE subreddit=? AND status=? ORDER BY id",
                (subreddit.lower(), status),
            ).fetchall()
        return [self._row(r) for r in rows]

    def decide(
        self,
        pid: int,
        status: Status,
        by: str,
        now: float,
        only_from: tuple[str, ...] = ("proposed",),
    ) -> bool:
        with self._lock:
            cur = self._db.execute(
                f"UPDATE proposals SET status=?, decided_by=?, decided_at=? WHERE id=? AND "
                f"status IN ({','.join('?' * len(only_from))})",
                (status, by, now, pid, *only_from),
            )
        if cur.rowcount == 1 and self.on_decision is not None and status in _ANSWERS:
            p = self.get(pid)
            if p is not None:
                self.on_decision(p, status, by, now)
        return cur.rowcount == 1

    def record_execution(self, p: Proposal, now: float, dry_run: bool, outcome: str) -> None:
        status = "dry_run" if dry_run else ("executed" if outcome == "ok" else "failed")
        with self._lock:
            self._db.execute(
                "UPDATE proposals SET status=?, result=? WHERE id=?", (status, outcome, p.id)
            )
            self._db.execute(
                "INSERT INTO action_log (proposal_id, subreddit, action, target, params, "
                "approved_by, approved_at, executed_at, dry_run, outcome) VALUES "
                "(?,?,?,?,?,?,?,?,?,?)",
                (
                    p.id,
                    p.subreddit,
                    p.action,
                    p.target,
                    json.dumps(p.params),
                    p.decided_by or "?",
                    p.decided_at or 0.0,
                    now,
                    int(dry_run),
                    outcome,
                ),
            )

    def action_log(self, subreddit: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT * FROM action_log"
        args: tuple[Any, ...] = ()
        if subreddit:
            q, args = q + " WHERE subreddit=?", (subreddit.lower(),)
        return self._dicts(q + " ORDER BY id", args)

    def handled(self, message_id: str) -> bool:
        """Whether :meth:`first_time` was called with ``message_id``."""
        return (
            self._one("SELECT 1 FROM handled_messages WHERE message_id=?", (message_id,))
            is not None
        )

    def first_time(self, message_id: str) -> bool:
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO handled_messages VALUES (?)", (message_id,)
            )
        return cur.rowcount == 1

    # -- deliveries: recorded before sending, so nothing is sent twice ---------------------
    def delivery(self, key: str) -> tuple[str, str | None] | None:
        """``(status, conversation)`` of a delivery key: ``sending`` or ``sent``."""
        row = self._one("SELECT status, conversation FROM deliveries WHERE key=?", (key,))
        return None if row is None else (row[0], row[1])

    def begin_delivery(self, key: str, subreddit: str, now: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO deliveries (key, subreddit, status, begun_at) "
                "VALUES (?,?, 'sending', ?)",
                (key, subreddit.lower(), now),
            )

    def finish_delivery(self, key: str, conversation: str | None, now: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE deliveries SET status='sent', conversation=?, sent_at=? WHERE key=?",
                (conversation, now, key),
            )

    def deliveries(self, prefix: str = "") -> list[dict[str, Any]]:
        return self._dicts(
            "SELECT * FROM deliveries WHERE key LIKE ? ORDER BY begun_at", (prefix + "%",)
        )

    def ensure_highlights_table(self) -> None:
        with self._lock:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS highlights (post TEXT PRIMARY KEY, comment TEXT)"
            )

    def highlights_comment(self, post: str) -> str | None:
        """The id of the bot's highlights comment on ``post`` (None: none, or not known)."""
        row = self._one("SELECT comment FROM highlights WHERE post=?", (post,))
        return None if row is None or row[0] in (None, "posting") else str(row[0])

    def set_highlights(self, post: str, comment: str | None) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO highlights VALUES (?,?)", (post, comment))

    def expire(self, subreddit: str, created_before: float, now: float) -> int:
        """Proposals of ``subreddit`` still open from before ``created_before`` expire."""
        with self._lock:
            gone = self._db.execute(
                "SELECT * FROM proposals WHERE subreddit=? AND status IN ('proposed', 'approved') "
                "AND created_at < ? ORDER BY id",
                (subreddit.lower(), created_before),
            ).fetchall()
            cur = self._db.execute(
                "UPDATE proposals SET status='expired', decided_at=? WHERE subreddit=? AND "
                "status IN ('proposed', 'approved') AND created_at < ?",
                (now, subreddit.lower(), created_before),
            )
        if self.on_decision is not None:
            # an approved proposal that expires unexecuted keeps its moderator's answer
            for p in (self._row(row) for row in gone):
                if p.status == "proposed":
                    self.on_decision(p, "expired", None, now)
        return cur.rowcount

    def record_digest(
        self, subreddit: str, conversation: str | None, now: float, posts: int, dry_run: bool
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO digests VALUES (?,?,?,?,?)",
                (subreddit.lower(), conversation, now, posts, int(dry_run)),
            )

    def digests(self, subreddit: str | None = None) -> list[tuple[str, str | None, float]]:
        q = "SELECT subreddit, conversation, sent_at FROM digests"
        args: tuple[str, ...] = ()
        if subreddit:
            q, args = q + " WHERE subreddit=?", (subreddit.lower(),)
        with self._lock:
            return [tuple(r) for r in self._db.execute(q + " ORDER BY sent_at", args)]

    # -- decisions (first one wins, whatever the channel) and execution claims -----------
    def record_decision(
        self, pid: int, status: str, by: str, channel: str, now: float, *, claim: bool = False
    ) -> bool:
        """Record the first decision on ``pid`` and move it out of ``proposed``, atomically.

        With ``claim`` an approval is also claimed for execution in the same transaction (the
        proposal goes straight to ``executing``), so that no sweep of approved proposals in
        another process can take it between the decision and the decider's own execution."""
        moved = "executing" if claim and status == "approved" else status
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO decisions VALUES (?,?,?,?,?)",
                    (pid, status, by, channel, now),
                )
                ok = cur.rowcount == 1
                if ok:
                    cur = self._db.execute(
                        "UPDATE proposals SET status=?, decided_by=?, decided_at=? "
                        "WHERE id=? AND status='proposed'",
                        (moved, by, now, pid),
                    )
                    ok = cur.rowcount == 1
                self._db.execute("COMMIT" if ok else "ROLLBACK")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if ok and self.on_decision is not None and status in _ANSWERS:
            p = self.get(pid)
            if p is not None:  # the answer becomes a training label (any channel)
                self.on_decision(p, status, by, now)
        return ok

    def decision(self, pid: int) -> dict[str, Any] | None:
        rows = self._dicts(
            "SELECT proposal_id, status, moderator, channel, at FROM decisions WHERE proposal_id=?",
            (pid,),
        )
        return rows[0] if rows else None

    def claim(self, pid: int) -> bool:
        """Take an approved proposal for execution; only one caller ever gets it."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE proposals SET status='executing' WHERE id=? AND status='approved'", (pid,)
            )
        return cur.rowcount == 1

    def unclaim(self, pid: int) -> None:
        """Give a claimed proposal back (not performed: it is tried again later)."""
        with self._lock:
            self._db.execute(
                "UPDATE proposals SET status='approved' WHERE id=? AND status='executing'", (pid,)
            )

    def proposals(self, subreddit: str, target_in: tuple[str, ...] = ()) -> list[Proposal]:
        """Every proposal of ``subreddit`` (newest first), or those on the given targets."""
        q, args = "SELECT * FROM proposals WHERE subreddit=?", [subreddit.lower()]
        if target_in:
            q += f" AND target IN ({','.join('?' * len(target_in))})"
            args += list(target_in)
        with self._lock:
            rows = self._db.execute(q + " ORDER BY id DESC", args).fetchall()
        return [self._row(r) for r in rows]

    def decisions_of(self, subreddit: str) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._db.execute(
                "SELECT d.proposal_id, d.status, d.moderator, d.channel, d.at FROM decisions d "
                "JOIN proposals p ON p.id = d.proposal_id WHERE p.subreddit=? ORDER BY d.at",
                (subreddit.lower(),),
            )
            cols = ("proposal_id", "status", "moderator", "channel", "at")
            return [dict(zip(cols, r)) for r in cur.fetchall()]


@dataclass(eq=False)
class ApprovalService:
    """Decisions on proposals; ``may_approve(subreddit, user)`` says who can decide."""

    store: ApprovalStore
    may_approve: Callable[[str, str], bool]
    clock: Callable[[], float]

    def approve(self, subreddit: str, pid: int, moderator: str) -> str:
        return self._decide(subreddit, pid, moderator, "approved")

    def reject(self, subreddit: str, pid: int, moderator: str) -> str:
        return self._decide(subreddit, pid, moderator, "rejected")

    def _decide(self, subreddit: str, pid: int, moderator: str, status: Status) -> str:
        verdict: Any = "approve" if status == "approved" else "reject"
        decider = Decider(self.store, self.may_approve, self.clock)
        return decider.decide(subreddit, pid, moderator, verdict, "modmail").message

    def handle_text(self, subreddit: str, author: str, text: str) -> list[str]:
        """Apply every command in a message; one reply line per proposal touched."""
        out: list[str] = []
        for verb, ids in parse_commands(text):
            if verb == "status":
                for st in ("proposed", "approved"):
                    out += [
                        f"#{p.id} {p.action} {p.target}: {st}"
                        for p in self.store.with_status(subreddit, st)
                    ]
                continue
            for pid in ids:
                out.append(
                    self.approve(subreddit, pid, author)
                    if verb == "approve"
                    else self.reject(subreddit, pid, author)
                )
        return out
