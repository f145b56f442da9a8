"""``prosocial models list|show|history|shadow|compare|promote|rollback``: the registry's
champions and challengers, compared on back-filled outcomes and promoted only on evidence."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from streaming.clikit import print_json

__all__ = ["gate_thresholds", "register", "run_compare"]


def _registry(args: argparse.Namespace) -> Any:
    from models.bundle import Registry
    from models.paths import resolve_registry_dir

    return Registry(resolve_registry_dir(args.registry_dir))


def _out(obj: Any) -> None:
    from streaming.stages.scorer import jsonable

    print_json(jsonable(obj), indent=2)


def _add_window(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config file (settings; args > env > file)")
    p.add_argument("--database-url", dest="database_url", help="SQLAlchemy URL")
    p.add_argument("--since", help="TLCs created at or after (2021-10-01 or epoch seconds)")
    p.add_argument("--until", help="TLCs created before")
    p.add_argument("--subreddits", default="", help="comma-separated (default: all)")
    p.add_argument("--champion", help="champion version (default: the one that scored most)")
    p.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples over posts")
    p.add_argument(
        "--target",
        choices=("trajectory", "safe"),
        default=None,
        help="the outcome compared on (default: the challenger bundle's target)",
    )


def _add_gate(p: argparse.ArgumentParser) -> None:
    from streaming.gate import GateThresholds

    d = GateThresholds()
    p.add_argument("--primary", default=d.primary, help="metric that must improve overall")
    p.add_argument(
        "--guard-metrics",
        default=",".join(d.guard_metrics),
        help="metrics on which no subreddit may be worse beyond noise",
    )
    p.add_argument("--min-posts", type=int, default=d.min_posts, help="'enough data' per subreddit")
    p.add_argument("--tolerance", type=float, default=d.tolerance)
    p.add_argument("--min-gain", type=float, default=d.min_gain)
    p.add_argument("--require-significant", action="store_true")


def gate_thresholds(args: argparse.Namespace) -> Any:
    from streaming.gate import GateThresholds

    return GateThresholds(
        primary=args.primary,
        guard_metrics=tuple(m.strip() for m in args.guard_metrics.split(",") if m.strip()),
        min_posts=args.min_posts,
        tolerance=args.tolerance,
        min_gain=args.min_gain,
        require_significant=args.require_significant,
    )


def register(sub: Any) -> None:
    p = sub.add_parser("models", help="registry: list, compare, promote, roll back")
    p.add_argument("--registry", dest="registry_dir", help="model registry directory")
    cmds = p.add_subparsers(dest="models_command", required=True)

    q = cmds.add_parser("list", help="versions per model with their role")
    q.add_argument("name", nargs="?", default=None)
    q.set_defaults(func=run_list)

    q = cmds.add_parser("show", help="one bundle's config (default: the champion)")
    q.add_argument("name")
    q.add_argument("version", nargs="?")
    q.set_defaults(func=run_show)

    q = cmds.add_parser("history", help="the audit log of a model name")
    q.add_argument("name")
    q.set_defaults(func=run_history)

    q = cmds.add_parser("shadow", help="set (or --clear) the challenger scored in shadow")
    q.add_argument("name")
    q.add_argument("version", nargs="?")
    q.add_argument("--clear", action="store_true")
    q.add_argument("--reason", default="")
    q.add_argument("--by", default=None, help="who (default: the OS user)")
    q.set_defaults(func=run_shadow)

    q = cmds.add_parser("compare", help="champion vs challenger on back-filled outcomes")
    q.add_argument("name", choices=["forecaster"])
    q.add_argument("challenger", help="challenger version (scored in shadow)")
    _add_window(q)
    _add_gate(q)
    q.add_argument("--out", help="also write the JSON report here")
    q.set_defaults(func=run_compare)

    q = cmds.add_parser("promote", help="make a version the champion if the gate passes")
    q.add_argument("name")
    q.add_argument("version")
    q.add_argument("--evidence", help="a compare report (JSON); else compare now")
    _add_window(q)
    _add_gate(q)
    q.add_argument("--force", action="store_true", help="promote even if the gate refuses")
    q.add_argument("--reason", default="")
    q.add_argument("--by", default=None, help="who (default: the OS user)")
    q.set_defaults(func=run_promote)

    q = cmds.add_parser("rollback", help="restore the previous champion")
    q.add_argument("name")
    q.add_argument("--reason", default="")
    q.add_argument("--by", default=None)
    q.set_defaults(func=run_rollback)


def run_list(args: argparse.Namespace) -> int:
    from models.registry import list_bundles

    reg = _registry(args)
    names = [args.name] if args.name else sorted(p.name for p in reg.root.iterdir() if p.is_dir())
    rows = [
        {"name": b.name, "version": b.version, "role": b.role, "created_utc": b.created_utc}
        for n in names
        for b in list_bundles(reg, n)
    ]
    _out(rows)
    return 0


def run_show(args: argparse.Namespace) -> int:
    from models.errors import ModelsError

    try:
        b = _registry(args).get(args.name, args.version, verify=False)
    except ModelsError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    _out(dict(b.config))
    return 0


def run_history(args: argparse.Namespace) -> int:
    from models.registry import audit_log

    _out([e.as_dict() for e in audit_log(_registry(args), args.name)])
    return 0


def run_shadow(args: argparse.Namespace) -> int:
    from models.errors import ModelsError
    from models.registry import set_challenger

    if not args.clear and not args.version:
        sys.stderr.write("give a version or --clear\n")
        return 2
    try:
        e = set_challenger(
            _registry(args),
            args.name,
            None if args.clear else args.version,
            by=args.by,
            reason=args.reason,
        )
    except ModelsError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    _out(e.as_dict())
    return 0


def _compare(args: argparse.Namespace, challenger: str) -> dict[str, Any]:
    from models.registry import audit_log
    from streaming.compare import compare_models
    from streaming.replay import parse_time
    from streaming.settings import load_settings
    from streaming.storage import open_database

    settings = load_settings(args.config, database_url=args.database_url)
    _, sessions = open_database(settings.database_url)
    reg = _registry(args)
    trained_on = None
    target = getattr(args, "target", None) or str(
        reg.get(args.name, challenger, verify=False).params.get("target", "trajectory")
    )
    for e in audit_log(reg, args.name):
        if e.action == "candidate" and e.version == challenger:
            trained_on = dict((e.info or {}).get("trained_on") or {}) or None
    return compare_models(
        sessions,
        challenger=challenger,
        champion=args.champion,
        since=parse_time(args.since),
        until=parse_time(args.until),
        subreddits=[s.strip() for s in args.subreddits.split(",") if s.strip()],
        n_boot=args.n_boot,
        trained_on=trained_on,
        target=target,
    )


def run_compare(args: argparse.Namespace) -> int:
    from streaming.gate import decide

    report = _compare(args, args.challenger)
    report["gate"] = decide(report, gate_thresholds(args)).as_dict()
    if args.out:
        from streaming.stages.scorer import jsonable

        Path(args.out).write_text(json.dumps(jsonable(report), indent=2))
    _out(report)
    return 0


def run_promote(args: argparse.Namespace) -> int:
    from models.errors import ModelsError
    from models.registry import promote
    from streaming.gate import decide

    reg = _registry(args)
    if args.evidence:
        report = json.loads(Path(args.evidence).read_text())
        if str(report.get("challenger")) != args.version:
            sys.stderr.write(
                f"{args.evidence} compares {report.get('challenger')}, not {args.version}\n"
            )
            return 2
    elif args.name == "forecaster":
        report = _compare(args, args.version)
    else:
        report = {}
    decision = decide(report, gate_thresholds(args))
    result: dict[str, Any] = {"decision": decision.as_dict(), "promoted": False}
    if not decision.promote and not args.force:
        result["refused"] = decision.reasons
        _out(result)
        return 1
    try:
        e = promote(
            reg,
            args.name,
            args.version,
            by=args.by,
            reason=args.reason,
            force=args.force and not decision.promote,
            evidence={
                "gate": decision.as_dict(),
                "champion": report.get("champion"),
                "window": report.get("window"),
                "overall": (report.get("by_subreddit", {}).get("*") or {}).get("paired"),
            },
        )
    except ModelsError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    result |= {"promoted": True, "audit": e.as_dict()}
    _out(result)
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    from models.errors import ModelsError
    from models.registry import rollback

    try:
        e = rollback(_registry(args), args.name, by=args.by, reason=args.reason)
    except ModelsError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    _out(e.as_dict())
    return 0
