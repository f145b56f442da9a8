"""Benchmark: comments/s of outcome metrics + trajectory on real reddit-college threads.

Measured in the same run, on the same real threads (first ``--threads`` threads of the dump):

- ``batched`` — :class:`models.outcomes.OutcomeComputer` as ``prosocial outcomes`` uses it:
  TLCs grouped into batches of ~``--batch-comments`` comments, ONE aux call per batch, numpy
  aggregation, trajectory projection. Reported for the compute alone and end to end
  (including reading the gzip dump and rebuilding the reply trees).
- ``naive`` baseline — every metric computed by its own reference function
  (:func:`models.metrics.conversation.conversation_metrics`): each classifier metric walks the
  tree again and calls the aux models once per comment, then the trajectory is projected per
  TLC. Run on the first ``--baseline-tlcs`` conversations with replies (it is slow); the batched
  path is timed on exactly those conversations too, for the ratio.

"Comments" counts every comment of the measured conversations, TLCs included. Peak RSS of
the process is reported. Writes ``bench/results/outcomes.json``.

Run: ``python bench/outcomes.py [--threads 3000] [--registry DIR] [--data DIR]`` — needs the
registry's ``aux`` and ``trajectory`` bundles (``prosocial-train aux``,
``prosocial-train trajectory --data DIR``).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "training")]

from models.bundle import Registry
from models.errors import BundleMissingError
from models.metrics.conversation import conversation_metrics
from models.metrics.names import METRIC_NAMES
from models.outcomes import OutcomeComputer
from models.paths import resolve_data_dir, resolve_registry_dir
from models.trajectory import Trajectory
from redditdata.forest import iter_threads
from redditdata.tree import Node


class PerCommentAux:
    """The naive way to use the aux models: one ``score`` call per comment."""

    def __init__(self, aux: Any) -> None:
        self.aux = aux
        self.version = aux.version
        self.thresholds = aux.thresholds
        self.calls = 0

    def score(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        parts = []
        for t in texts:
            self.calls += 1
            parts.append(self.aux.score([t]))
        if not parts:
            return self.aux.score([])
        return {h: np.concatenate([p[h] for p in parts]) for h in parts[0]}


def _batches(tlcs: list[Node], batch_comments: int) -> list[list[Node]]:
    out: list[list[Node]] = []
    cur: list[Node] = []
    size = 0
    for t in tlcs:
        cur.append(t)
        size += t.size()
        if size >= batch_comments:
            out.append(cur)
            cur, size = [], 0
    if cur:
        out.append(cur)
    return out


def _batched(computer: OutcomeComputer, tlcs: list[Node], batch_comments: int) -> float:
    t0 = time.perf_counter()
    for b in _batches(tlcs, batch_comments):
        computer.compute(b)
    return time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    from bench.common import bench_parser, machine, write_result

    ap = bench_parser(__doc__, "outcomes", formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=3000, help="Reddit threads read")
    ap.add_argument("--baseline-tlcs", type=int, default=300)
    ap.add_argument("--batch-comments", type=int, default=20_000)
    args = ap.parse_args(argv)

    from models.aux import AuxModels

    reg = Registry(resolve_registry_dir(args.registry))
    try:
        aux = AuxModels.from_registry(reg)
        traj = Trajectory.from_registry(reg)
    except BundleMissingError as exc:
        print(f"bench/outcomes: {exc}", file=sys.stderr)
        return 2
    data = resolve_data_dir(args.data)
    computer = OutcomeComputer(aux, traj)
    computer.compute([])  # warm-up

    # end to end: read + rebuild trees + compute, streaming in batches like the CLI
    t0 = time.perf_counter()
    tlcs: list[Node] = []
    t_read = 0.0
    t_compute = 0.0
    pending: list[Node] = []
    size = 0
    tr = time.perf_counter()
    for th in iter_threads(data, max_threads=args.threads):
        for t in th.tlcs:
            tlcs.append(t)
            pending.append(t)
            size += t.size()
        if size >= args.batch_comments:
            t_read += time.perf_counter() - tr
            tc = time.perf_counter()
            computer.compute(pending)
            t_compute += time.perf_counter() - tc
            pending, size = [], 0
            tr = time.perf_counter()
    t_read += time.perf_counter() - tr
    if pending:
        tc = time.perf_counter()
        computer.compute(pending)
        t_compute += time.perf_counter() - tc
    t_e2e = time.perf_counter() - t0
    n_comments = sum(t.size() for t in tlcs)

    # compute-only, best of two on the trees already in memory
    t_batched = min(_batched(computer, tlcs, args.batch_comments) for _ in range(2))

    # naive baseline vs batched on the same conversations
    sub = [t for t in tlcs if t.size() > 1][: args.baseline_tlcs]
    n_sub = sum(t.size() for t in sub)
    naive_aux = PerCommentAux(aux)
    tb = time.perf_counter()
    for t in sub:
        m = conversation_metrics(t, naive_aux, computer.markers)
        traj.transform([m])
    t_naive = time.perf_counter() - tb
    t_sub = min(_batched(computer, sub, args.batch_comments) for _ in range(3))

    # the two paths agree (same numbers, different speed)
    check = sub[:50]
    ref = np.array(
        [[conversation_metrics(t, aux, computer.markers)[m] for m in METRIC_NAMES] for t in check]
    )
    got, _ = computer.metric_matrix(check)
    max_abs_diff = float(np.abs(ref - got).max()) if len(check) else 0.0

    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "bench": "outcomes",
        "machine": machine(),
        "data": {"threads": args.threads, "tlcs": len(tlcs), "comments": n_comments},
        "bundles": dict(computer.versions),
        "batched": {
            "compute_seconds": round(t_batched, 3),
            "compute_comments_per_s": round(n_comments / t_batched, 1),
            "end_to_end_seconds": round(t_e2e, 3),
            "end_to_end_comments_per_s": round(n_comments / t_e2e, 1),
            "end_to_end_read_seconds": round(t_read, 3),
            "end_to_end_compute_seconds": round(t_compute, 3),
            "batch_comments": args.batch_comments,
        },
        "baseline_same_conversations": {
            "tlcs": len(sub),
            "comments": n_sub,
            "naive_seconds": round(t_naive, 3),
            "naive_comments_per_s": round(n_sub / t_naive, 1),
            "naive_aux_calls": naive_aux.calls,
            "batched_seconds": round(t_sub, 4),
            "batched_comments_per_s": round(n_sub / t_sub, 1),
            "speedup": round(t_naive / t_sub, 1),
        },
        "max_abs_diff_batched_vs_reference": max_abs_diff,
        "peak_rss_mb": round(rss_kb / 1024, 1),
        "target_comments_per_s": 1000,
    }
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
