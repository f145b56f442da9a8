"""Benchmark: texts/s of ``AuxModels.score`` on real reddit-college comments.

Measured in the same run:
- ``batched``: one ``score`` call per 4,096 comments (how outcome computation should call it);
- ``per_thread``: one call per post's comments (the natural unit of outcome metrics);
- baseline ``per_text``: one ``score`` call per comment (naive per-comment use);
- baseline ``sklearn``: a scikit-learn pipeline of the same shape (TfidfVectorizer word 1–2
  grams + char_wb 3–5 grams, five linear heads), fitted on the benchmark comments with dummy
  targets for timing only.
Peak RSS of the process is reported. Writes ``bench/results/aux.json``.

Run: ``python bench/aux.py [--n 20000] [--registry DIR] [--data DIR]`` (needs a trained bundle:
``prosocial-train aux``).
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import resource
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "training")]

from models.aux import AuxModels
from models.bundle import Registry
from models.paths import resolve_data_dir, resolve_registry_dir


def _comments(data: Path, n: int) -> tuple[list[str], list[str]]:
    texts, links = [], []
    with gzip.open(data / "reddit-college" / "comments.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in itertools.islice(fh, n):
            r = json.loads(line)
            texts.append(str(r.get("body", "")))
            links.append(str(r.get("link_id", "")))
    return texts, links


def _best(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _sklearn_baseline(texts: list[str]) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import FeatureUnion

    union = FeatureUnion(
        [
            ("w", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)),
            (
                "c",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True
                ),
            ),
        ]
    )
    x = union.fit_transform(texts)
    rng = np.random.default_rng(0)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", message=".*converge.*")
    heads = [
        LogisticRegression(max_iter=50).fit(x, rng.integers(0, 2, x.shape[0])) for _ in range(3)
    ] + [Ridge().fit(x, rng.normal(size=x.shape[0])) for _ in range(2)]

    def run() -> None:
        xx = union.transform(texts)
        for h in heads[:3]:
            h.predict_proba(xx)
        for h in heads[3:]:
            h.predict(xx)

    return len(texts) / _best(run, 1)


def main() -> int:
    from bench.common import bench_parser, write_result

    ap = bench_parser(__doc__.split("\n")[0], "aux")
    ap.add_argument("--n", type=int, default=20000, help="comments to score")
    ap.add_argument("--per-text-n", type=int, default=2000, help="comments for the naive baseline")
    ap.add_argument(
        "--sklearn-n", type=int, default=10000, help="comments for the sklearn baseline"
    )
    args = ap.parse_args()

    texts, links = _comments(resolve_data_dir(args.data), args.n)
    t = time.perf_counter()
    aux = AuxModels.from_registry(Registry(resolve_registry_dir(args.registry)))
    load_s = time.perf_counter() - t
    aux.score(texts[:100])  # warm-up
    rss_after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    batched = len(texts) / _best(lambda: aux.score(texts))
    c0 = time.process_time()
    aux.score(texts)
    batched_cpu = len(texts) / max(time.process_time() - c0, 1e-9)
    threads: dict[str, list[str]] = defaultdict(list)
    for body, link in zip(texts, links, strict=True):
        threads[link].append(body)
    groups = list(threads.values())
    per_thread = len(texts) / _best(lambda: [aux.score(g) for g in groups])
    sub = texts[: args.per_text_n]
    per_text = len(sub) / _best(lambda: [aux.score([x]) for x in sub], 1)
    rss_aux = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sk = _sklearn_baseline(texts[: args.sklearn_n])

    result = {
        "bundle_version": aux.version,
        "n_texts": len(texts),
        "mean_chars": round(float(np.mean([len(x) for x in texts])), 1),
        "n_threads": len(groups),
        "load_seconds": round(load_s, 2),
        "aux_batched_texts_per_s": round(batched, 1),
        "aux_batched_texts_per_cpu_s": round(batched_cpu, 1),
        "aux_per_thread_texts_per_s": round(per_thread, 1),
        "baseline_per_text_texts_per_s": round(per_text, 1),
        "baseline_sklearn_texts_per_s": round(sk, 1),
        "speedup_batched_vs_per_text": round(batched / per_text, 2),
        "speedup_batched_vs_sklearn": round(batched / sk, 2),
        "speedup_per_thread_vs_per_text": round(per_thread / per_text, 2),
        "peak_rss_mb_after_load": round(rss_after_load, 1),
        "peak_rss_mb_aux": round(rss_aux, 1),
        "peak_rss_mb_total_incl_sklearn_baseline": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        ),
        "target_texts_per_s": 5000,
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
