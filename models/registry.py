"""Registry operations: champions, candidates, challengers, promotion, rollback, audit log.

A bundle written with ``make_current=False`` is a *candidate*: registered, not served. The
*champion* is the version ``CURRENT`` names; one *challenger* per model name (the
``CHALLENGER`` pointer file) is scored in shadow beside it. Every change of a pointer (and
every candidate registered by retraining) is appended to ``<root>/<name>/AUDIT.jsonl`` with
who, when, why, whether the promotion gate was overridden (``force``) and the evidence::

    reg = Registry(root)
    register_candidate(reg, "forecaster", version, by="ci", info={"trained_on": {...}})
    set_challenger(reg, "forecaster", version, by="alice", reason="shadow for a week")
    promote(reg, "forecaster", version, by="alice", reason="better on Nov", evidence={...})
    rollback(reg, "forecaster", by="bob", reason="complaints")

Deciding *whether* to promote is not done here (the service's promotion gate decides from a
comparison on back-filled outcomes); this module records and applies the decision.
"""

from __future__ import annotations

import getpass
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models.bundle import Registry
from models.errors import BundleError

__all__ = [
    "AuditEntry",
    "BundleInfo",
    "audit_log",
    "challenger_version",
    "list_bundles",
    "previous_champion",
    "promote",
    "register_candidate",
    "rollback",
    "set_challenger",
]

AUDIT = "AUDIT.jsonl"
CHALLENGER = "CHALLENGER"


@dataclass(frozen=True)
class AuditEntry:
    at: float
    name: str
    action: str  # candidate | challenger | promote | rollback
    version: str | None
    previous: str | None
    by: str
    reason: str
    force: bool = False
    info: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__, info=dict(self.info or {}))


@dataclass(frozen=True)
class BundleInfo:
    name: str
    version: str
    created_utc: int | None
    role: str  # champion | challenger | candidate
    metrics: Mapping[str, Any]
    params: Mapping[str, Any]


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _append(registry: Registry, entry: AuditEntry) -> AuditEntry:
    d = registry.root / entry.name
    d.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry.as_dict(), sort_keys=True, default=str) + "\n"
    with open(d / AUDIT, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
    return entry


def audit_log(registry: Registry, name: str) -> list[AuditEntry]:
    p = registry.root / name / AUDIT
    if not p.exists():
        return []
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            out.append(AuditEntry(**d))
    return out


def challenger_version(registry: Registry, name: str) -> str | None:
    p = registry.root / name / CHALLENGER
    if not p.exists():
        return None
    v = p.read_text(encoding="utf-8").strip()
    return v or None


def _exists(registry: Registry, name: str, version: str) -> None:
    if not (registry.root / name / version / "config.json").exists():
        raise BundleError(f"no bundle {name}@{version} in {registry.root}")


def register_candidate(
    registry: Registry,
    name: str,
    version: str,
    *,
    by: str | None = None,
    reason: str = "trained",
    info: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Record a newly trained (not current) bundle and what it was trained on."""
    _exists(registry, name, version)
    return _append(
        registry,
        AuditEntry(
            time.time(),
            name,
            "candidate",
            version,
            registry.current_version(name),
            _who(by),
            reason,
            info=info,
        ),
    )


def set_challenger(
    registry: Registry,
    name: str,
    version: str | None,
    *,
    by: str | None = None,
    reason: str = "",
) -> AuditEntry:
    """Point ``CHALLENGER`` at ``version`` (scored in shadow), or clear it with ``None``."""
    p = registry.root / name / CHALLENGER
    previous = challenger_version(registry, name)
    if version is None:
        p.unlink(missing_ok=True)
    else:
        _exists(registry, name, version)
        if version == registry.current_version(name):
            raise BundleError(f"{name}@{version} is the champion; a challenger must differ")
        tmp = p.with_suffix(".tmp")
        tmp.write_text(version + "\n", encoding="utf-8")
        os.replace(tmp, p)
    return _append(
        registry,
        AuditEntry(time.time(), name, "challenger", version, previous, _who(by), reason),
    )


def promote(
    registry: Registry,
    name: str,
    version: str,
    *,
    by: str | None = None,
    reason: str = "",
    force: bool = False,
    evidence: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Make ``version`` the champion (the caller has applied the gate, or ``force``)."""
    _exists(registry, name, version)
    previous = registry.current_version(name)
    registry.set_current(name, version)
    if challenger_version(registry, name) == version:
        (registry.root / name / CHALLENGER).unlink(missing_ok=True)
    return _append(
        registry,
        AuditEntry(
            time.time(), name, "promote", version, previous, _who(by), reason, force, evidence
        ),
    )


def previous_champion(registry: Registry, name: str) -> str | None:
    """The champion before the current one took over (from the audit log)."""
    current = registry.current_version(name)
    for e in reversed(audit_log(registry, name)):
        if e.action in ("promote", "rollback") and e.version == current:
            return e.previous
    return None


def rollback(
    registry: Registry, name: str, *, by: str | None = None, reason: str = ""
) -> AuditEntry:
    """Restore the previous champion."""
    current = registry.current_version(name)
    prev = previous_champion(registry, name)
    if prev is None:
        raise BundleError(
            f"{name}: no previous champion recorded in {registry.root / name / AUDIT}"
        )
    _exists(registry, name, prev)
    registry.set_current(name, prev)
    return _append(
        registry,
        AuditEntry(time.time(), name, "rollback", prev, current, _who(by), reason),
    )


def list_bundles(registry: Registry, name: str) -> list[BundleInfo]:
    current = registry.current_version(name)
    challenger = challenger_version(registry, name)
    out = []
    for v in registry.versions(name):
        b = registry.get(name, v, verify=False)
        role = "champion" if v == current else "challenger" if v == challenger else "candidate"
        out.append(
            BundleInfo(
                name,
                v,
                b.config.get("created_utc"),
                role,
                b.metrics,
                b.params,
            )
        )
    return out
