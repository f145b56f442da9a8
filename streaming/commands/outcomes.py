"""``prosocial outcomes``: outcome metrics + trajectory of every TLC in a dump.

Uses the registry's current ``aux`` and ``trajectory`` bundles (if one is missing it names the
command that trains it and exits 2). Resumable: TLCs already in ``--out`` are skipped and new
rows appended. Batches TLCs so each aux call scores many replies at once.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from models.bundle import Registry
from models.errors import BundleMissingError
from models.outcomes import OutcomeComputer
from models.paths import resolve_data_dir, resolve_registry_dir
from redditdata.dumps import DumpReport
from redditdata.forest import iter_threads
from redditdata.tree import Node, Thread
from streaming.clikit import fail, print_json
from streaming.errors import StreamingError
from streaming.outcome_files import existing_tlcs, infer_format, open_sink
from streaming.progress import counter

__all__ = ["compute_outcomes", "register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "outcomes", help="compute every TLC's outcome metrics + trajectory", description=__doc__
    )
    p.add_argument("--data", help="dump directory (or the data dir holding reddit-college/)")
    p.add_argument("--out", required=True, help="output file (.jsonl or .parquet)")
    p.add_argument(
        "--format",
        choices=("parquet", "jsonl"),
        default=None,
        help="output format (default: from the --out suffix, else jsonl)",
    )
    p.add_argument("--limit", type=int, default=None, help="stop after N new TLC outcomes")
    p.add_argument("--registry", help="model registry directory")
    p.add_argument("--subreddit", action="append", help="only these subreddits (repeatable)")
    p.add_argument(
        "--batch-comments", type=int, default=20_000, help="comments per aux batch (default 20000)"
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run)


def _batches(
    threads: Iterator[Thread], done: set[str], limit: int | None, batch_comments: int
) -> Iterator[tuple[list[Node], int, int]]:
    """(TLC batch, threads consumed, TLCs skipped) groups."""
    batch: list[Node] = []
    size = n_threads = skipped = taken = 0
    for th in threads:
        n_threads += 1
        for tlc in th.tlcs:
            if tlc.name in done:
                skipped += 1
                continue
            if limit is not None and taken >= limit:
                break
            batch.append(tlc)
            taken += 1
            size += tlc.size()
        if size >= batch_comments or (limit is not None and taken >= limit):
            yield batch, n_threads, skipped
            batch, size, n_threads, skipped = [], 0, 0, 0
            if limit is not None and taken >= limit:
                return
    if batch or n_threads:
        yield batch, n_threads, skipped


def compute_outcomes(
    data: Path,
    out: Path,
    computer: OutcomeComputer,
    *,
    fmt: str | None = None,
    limit: int | None = None,
    subreddits: list[str] | None = None,
    batch_comments: int = 20_000,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Compute and append the outcomes of every not-yet-written TLC; return a summary."""
    f = infer_format(out, fmt)
    done = existing_tlcs(out, f)
    report = DumpReport()
    threads = iter_threads(data, report, subreddits=subreddits)
    sink = open_sink(out, f)
    task = progress.add_task("outcomes", total=limit) if progress is not None else None
    written = skipped = n_threads = comments = 0
    t0 = time.perf_counter()
    try:
        for tlcs, k, s in _batches(threads, done, limit, batch_comments):
            n_threads += k
            skipped += s
            if tlcs:
                outcomes = computer.compute(tlcs)
                sink.write(outcomes)
                written += len(outcomes)
                comments += sum(o.n_replies + 1 for o in outcomes)
            if progress is not None and task is not None:
                rate = comments / max(time.perf_counter() - t0, 1e-9)
                progress.update(
                    task,
                    completed=written,
                    description=f"{n_threads:,} threads, {comments:,} comments ({rate:,.0f}/s)",
                )
    finally:
        sink.close()
    elapsed = time.perf_counter() - t0
    return {
        "out": str(out),
        "format": f,
        "written": written,
        "skipped_existing": skipped,
        "already_present": len(done),
        "threads": n_threads,
        "comments": comments,
        "seconds": round(elapsed, 3),
        "comments_per_second": round(comments / elapsed, 1) if elapsed > 0 else None,
        "versions": dict(computer.versions),
        "dump_report": {"accepted": dict(report.accepted), "rejected": dict(report.rejected)},
    }


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    registry = Registry(resolve_registry_dir(args.registry))
    try:
        from models.aux import AuxModels
        from models.trajectory import Trajectory

        aux = AuxModels.from_registry(registry)
        trajectory = Trajectory.from_registry(registry)
    except BundleMissingError as exc:
        err.print(f"[red]error:[/red] {exc}")
        if exc.hint:
            err.print(f"train it first: [bold]{exc.hint}[/bold]")
        return 2
    computer = OutcomeComputer(aux, trajectory)
    with counter(err, "TLCs") as progress:
        try:
            summary = compute_outcomes(
                resolve_data_dir(args.data),
                Path(args.out),
                computer,
                fmt=args.format,
                limit=args.limit,
                subreddits=args.subreddit,
                batch_comments=args.batch_comments,
                progress=progress,
            )
        except StreamingError as exc:
            return fail(err, exc, 1)
    if args.json:
        print_json(summary)
    else:
        Console().print(
            f"wrote {summary['written']:,} TLC outcomes to {summary['out']} "
            f"({summary['skipped_existing']:,} already there) — {summary['comments']:,} comments "
            f"in {summary['seconds']:.1f}s ({summary['comments_per_second'] or 0:,.0f}/s); "
            f"rejected dump records: {sum(summary['dump_report']['rejected'].values())}"
        )
    return 0
