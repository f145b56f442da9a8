"""Approval of actions on Reddit: a service of its own, whatever the channel.

The bot only *proposes* actions (sticky a comment, set a post's suggested sort). A moderator
approves or rejects a proposal by its number; today the channel is a modmail reply command
(:mod:`bot.modmail_commands`), later a dashboard can call the same :class:`ApprovalService`.
Every proposal, decision and execution is kept in SQLite with who approved it.

Commands (one per line, case-insensitive): ``!approve 3 5``, ``!reject 4``, ``!status``.
A proposal left unanswered for ``max_age_s`` expires (:meth:`ApprovalService.expire`). Each
answer (approved, rejected, expired) is handed to ``on_decision`` — the service stores it as a
training label (:class:`streaming.feedback.FeedbackRecorder`).
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["ACTIONS", "ApprovalService", "ApprovalStore", "Proposal", "parse_commands"]

ACTIONS = ("sticky_comment", "suggested_sort")
Status = Literal["proposed", "approved", "rejected", "expired", "executed", "dry_run", "failed"]
#: called with (proposal, decision, moderator or None, time) on approve / reject / expire
OnDecision = Callable[["Proposal", str, "str | None", float], None]

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
CREATE TABLE IF NOT EXISTS handled_messages (message_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS digests (subreddit TEXT NOT NULL, conversation TEXT,
    sent_at REAL NOT NULL, posts INTEGER NOT NULL, dry_run INTEGER NOT NULL);
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


class ApprovalStore:
    def __init__(self, path: str | Path = ":memory:") -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

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
        with self._lock:
            row = self._db.execute("SELECT * FROM proposals WHERE id=?", (pid,)).fetchone()
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
        return cur.rowcount == 1

    def expire(self, before: float, now: float) -> list[Proposal]:
        """Mark proposals still unanswered since before ``before`` as expired."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM proposals WHERE status='proposed' AND created_at < ? ORDER BY id",
                (before,),
            ).fetchall()
            self._db.execute(
                "UPDATE proposals SET status='expired', decided_at=? WHERE status='proposed' "
                "AND created_at < ?",
                (now, before),
            )
        return [self._row(r) for r in rows]

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
        with self._lock:
            cur = self._db.execute(q + " ORDER BY id", args)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    def first_time(self, message_id: str) -> bool:
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO handled_messages VALUES (?)", (message_id,)
            )
        return cur.rowcount == 1

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


class ApprovalService:
    """Decisions on proposals; ``may_approve(subreddit, user)`` says who can decide."""

    def __init__(
        self,
        store: ApprovalStore,
        may_approve: Callable[[str, str], bool],
        clock: Callable[[], float],
        on_decision: OnDecision | None = None,
    ) -> None:
        self.store = store
        self.may_approve = may_approve
        self.clock = clock
        self.on_decision = on_decision

    def approve(self, subreddit: str, pid: int, moderator: str) -> str:
        return self._decide(subreddit, pid, moderator, "approved")

    def reject(self, subreddit: str, pid: int, moderator: str) -> str:
        return self._decide(subreddit, pid, moderator, "rejected")

    def _decide(self, subreddit: str, pid: int, moderator: str, status: Status) -> str:
        p = self.store.get(pid)
        if p is None or p.subreddit != subreddit.lower():
            return f"#{pid}: no such proposal in r/{subreddit}"
        if not self.may_approve(subreddit, moderator):
            return f"#{pid}: u/{moderator} may not approve actions here"
        now = self.clock()
        if not self.store.decide(pid, status, moderator, now):
            return f"#{pid}: already {p.status}"
        if self.on_decision is not None:
            self.on_decision(p, status, moderator, now)
        return f"#{pid} {p.action} {p.target}: {status} by u/{moderator}"

    def expire(self, max_age_s: float) -> list[Proposal]:
        """Expire proposals unanswered for ``max_age_s``; each is reported to ``on_decision``."""
        now = self.clock()
        gone = self.store.expire(now - max_age_s, now)
        if self.on_decision is not None:
            for p in gone:
                self.on_decision(p, "expired", None, now)
        return gone

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
