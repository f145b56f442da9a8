"""Training from the service's own database: ``--from-db URL [--since --until --subreddits]``.

The window is exported (:func:`streaming.export.export_dump`) to a temporary dump directory
and the command's usual dump path trains on it — one code path for dumps and the database.
The bundle is a **candidate**: registered, never made current by training; the registry's
audit log records what it was trained on (``prosocial models promote`` makes it champion).

Import direction: ``training`` → ``streaming.storage`` / ``streaming.export`` (reading the
database); serving code never imports ``training``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["add_from_db_args", "add_registering_args", "exported_window", "run_from_db"]

logger = logging.getLogger(__name__)


def add_registering_args(
    p: argparse.ArgumentParser, train: Callable[[argparse.Namespace], int], name: str
) -> None:
    """``--candidate`` and the ``--from-db`` options of a command that trains bundle ``name``:
    it runs ``train`` on its ``--data`` dump, or on an exported window of the database."""
    p.add_argument(
        "--candidate", action="store_true", help="register the bundle without making it current"
    )
    add_from_db_args(p)
    p.set_defaults(
        func=lambda args: run_from_db(args, train, name) if args.from_db else train(args)
    )


def add_from_db_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--from-db",
        metavar="URL",
        default=None,
        help="train on the service database's back-filled outcomes (a candidate bundle)",
    )
    p.add_argument("--since", default=None, help="with --from-db: posts created at or after")
    p.add_argument("--until", default=None, help="with --from-db: posts created before")
    p.add_argument("--subreddits", default="", help="with --from-db: comma-separated")
    p.add_argument(
        "--shuffle-outcomes",
        type=int,
        default=None,
        metavar="SEED",
        help="with --from-db: train on shuffled outcomes (a deliberately worse candidate)",
    )


@contextlib.contextmanager
def exported_window(args: argparse.Namespace) -> Iterator[tuple[Path, dict[str, Any]]]:
    """A temporary dump of the window; beside it ``aux`` links to the data directory's (the
    lexicons the trainers read from the dump's parent)."""
    from models.paths import resolve_data_dir
    from streaming.export import export_dump
    from streaming.replay import parse_time
    from streaming.storage import open_database

    tmp = Path(tempfile.mkdtemp(prefix="prosocial-from-db-"))
    try:
        data = resolve_data_dir(getattr(args, "data", None))
        for base in (data, data.parent):
            if (base / "aux").is_dir():
                (tmp / "aux").symlink_to((base / "aux").resolve())
                break
        _, sessions = open_database(args.from_db)
        summary = export_dump(
            sessions,
            tmp / "dump",
            since=parse_time(args.since),
            until=parse_time(args.until),
            subreddits=[s.strip() for s in args.subreddits.split(",") if s.strip()],
            shuffle_seed=args.shuffle_outcomes,
        )
        yield tmp / "dump", summary.as_dict()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_from_db(
    args: argparse.Namespace, train: Callable[[argparse.Namespace], int], name: str
) -> int:
    """Export the window, run ``train`` on it with ``args.candidate`` set, record the new
    bundle as a candidate."""
    from models.bundle import Registry
    from models.paths import resolve_registry_dir
    from models.registry import register_candidate
    from streaming.storage.db import make_engine

    registry = Registry(resolve_registry_dir(args.registry))
    before = set(registry.versions(name))
    with exported_window(args) as (dump, summary):
        if summary["tlcs"] == 0:
            logger.error("no back-filled reply trees in the window of %s", args.from_db)
            return 2
        args.data = str(dump)
        args.candidate = True
        rc = train(args)
    new = sorted(set(registry.versions(name)) - before)
    if rc == 0 and new:
        url = make_engine(args.from_db).url.render_as_string(hide_password=True)
        for v in new:
            register_candidate(
                registry,
                name,
                v,
                reason="trained from the service database",
                info={"trained_on": {**summary, "database": url, "out": None}},
            )
            logger.info("%s candidate %s registered (not current)", name, v)
    return rc
