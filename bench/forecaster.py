"""Forecaster inference speed on real reddit-college threads, fast path vs baseline, same run.

Scores the TLCs of the first matured threads (``--tlcs`` in total) with
``Forecaster.predict`` — feature extraction (VADER, textstat, spelling, MPQA, numpy LDA,
TLC-level prosocial metrics incl. the aux models), the n-gram text score, XGBoost and the
per-TLC reasons — in two modes:

* ``fast``: the service's path — the post's features cached per post, TLCs arriving one at a
  time (streaming) and whole posts batched;
* ``baseline``: ``fast=False`` (no post cache; fp32 empathy model when used).

If the bundle uses the empathy direction, both "given empathy" (the service computes it
anyway) and "including empathy" are timed. Also times the MiniLM encoder int8 vs fp32 (the
MiniLM comparison model's cost) and reads the bundle's training time.
Writes ``bench/results/forecaster.json``.

    python bench/forecaster.py [--registry DIR] [--tlcs 2000]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "training")]


def load_posts(data_dir: Path, n_tlcs: int):  # type: ignore[no-untyped-def]
    from redditdata.forest import iter_threads

    out, k = [], 0
    for th in iter_threads(data_dir / "reddit-college", min_age_s=48 * 3600):
        tl = [t for t in th.tlcs][:40]
        if not tl:
            continue
        out.append((th.post, tl))
        k += len(tl)
        if k >= n_tlcs:
            break
    return out, k


def _best(fn, fc, posts, empathy, repeats: int = 2) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeats):
        fc.features.clear_post_cache()  # every repeat starts cold: no post seen yet
        t0 = time.perf_counter()
        fn(fc, posts, empathy)
        best = min(best, time.perf_counter() - t0)
    return best


def _batched(fc, posts, empathy):  # type: ignore[no-untyped-def]
    for j, (post, tl) in enumerate(posts):
        fc.predict(post, tl, None if empathy is None else empathy[j])


def _streaming(fc, posts, empathy):  # type: ignore[no-untyped-def]
    for j, (post, tl) in enumerate(posts):
        for i in range(len(tl)):
            # as the stream sees it: one new TLC, i earlier TLCs on its post
            fc.predict(post, [tl[i]], None if empathy is None else [empathy[j][i]], n_prior=[i])


def time_batched(fc, posts, empathy=None) -> float:  # type: ignore[no-untyped-def]
    return _best(_batched, fc, posts, empathy)


def time_streaming(fc, posts, empathy=None) -> float:  # type: ignore[no-untyped-def]
    return _best(_streaming, fc, posts, empathy)


def main() -> int:
    import torch

    from bench.common import bench_parser, write_result
    from models.bundle import Registry
    from models.forecaster.encoder import MiniLMEncoder
    from models.forecaster.model import Forecaster
    from models.paths import resolve_data_dir, resolve_registry_dir

    ap = bench_parser(__doc__, "forecaster")
    ap.add_argument("--tlcs", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--encoder-texts", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    reg = Registry(resolve_registry_dir(args.registry))
    posts, n = load_posts(resolve_data_dir(args.data), args.tlcs)
    res: dict = {"tlcs": n, "posts": len(posts), "threads": args.threads}
    fast = Forecaster.from_registry(reg, fast=True)
    base = Forecaster.from_registry(reg, fast=False)
    res["bundle"] = fast.version
    res["uses_empathy"] = fast.use_empathy
    res["train_seconds"] = fast.params.get("train_seconds")
    fast.predict(*posts[0])  # warm-up (lazy resources)
    base.predict(*posts[0])
    emp = None
    if fast.use_empathy:
        t0 = time.perf_counter()
        emp = [fast.empathy.predict_comments([t.body for t in tl]) for _, tl in posts]
        res["empathy_fast_tlcs_per_s"] = n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for _, tl in posts:
            base.empathy.predict_comments([t.body for t in tl])
        res["empathy_fp32_tlcs_per_s"] = n / (time.perf_counter() - t0)
    res["fast_batched_tlcs_per_s"] = n / time_batched(fast, posts, emp)
    res["fast_streaming_tlcs_per_s"] = n / time_streaming(fast, posts, emp)
    res["baseline_batched_tlcs_per_s"] = n / time_batched(base, posts, emp)
    res["baseline_streaming_tlcs_per_s"] = n / time_streaming(base, posts, emp)
    res["speedup_streaming"] = (
        res["fast_streaming_tlcs_per_s"] / res["baseline_streaming_tlcs_per_s"]
    )
    res["speedup_batched"] = res["fast_batched_tlcs_per_s"] / res["baseline_batched_tlcs_per_s"]
    if emp is not None:
        res["fast_batched_incl_empathy_tlcs_per_s"] = n / time_batched(fast, posts)
        res["baseline_batched_incl_empathy_tlcs_per_s"] = n / time_batched(base, posts)
    texts = [t.body for _, tl in posts for t in tl][: args.encoder_texts]
    for name, flag in (("int8", True), ("fp32", False)):
        enc = MiniLMEncoder(fast=flag, threads=args.threads)
        enc.encode(texts[:8])
        t0 = time.perf_counter()
        enc.encode(texts)
        res[f"minilm_{name}_texts_per_s"] = len(texts) / (time.perf_counter() - t0)
    res["minilm_speedup"] = res["minilm_int8_texts_per_s"] / res["minilm_fp32_texts_per_s"]
    res["goal_tlcs_per_s"] = 200
    write_result(res, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
