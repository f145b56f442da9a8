"""The paper's protocol end to end: split, baselines, fine-tune per seed, report, bundle.

For every training seed the same fixed 60/20/20 split is used; the model with early stopping on
validation is scored on test with decision rules tuned on validation. Figures are the mean ± sd
over seeds (plus, for reference, the probability-averaged ensemble of the seeds). The seed with the
best validation score becomes the bundle.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.bundle import Bundle, Registry
from training.empathy.baselines import run_baselines
from training.empathy.data import EmpathyData, Split
from training.empathy.export import write_bundle
from training.empathy.metrics import SETTINGS, confusion, evaluate, tune_decisions
from training.empathy.report import plot_confusion, summarise, write_report
from training.empathy.trainer import Args, Trainer, predict_probs

__all__ = ["ProtocolResult", "head", "run_protocol"]

logger = logging.getLogger(__name__)


@dataclass
class ProtocolResult:
    summary: dict[str, Any]
    bundle: Bundle | None
    report_dir: Path


def _mean_valid(scores: dict[str, dict[str, float]]) -> float:
    return float(np.mean([scores[s]["f1"] for s in SETTINGS]))


def run_protocol(data: EmpathyData, args: Args, seeds: Sequence[int], *,
                 registry: Registry | None, report_dir: Path,
                 lexicon_dir: Path | None = None, baselines: bool = True,
                 progress: Callable[[str], None] | None = None) -> ProtocolResult:
    say = progress or (lambda m: logger.info("%s", m))
    t0 = time.perf_counter()
    summary: dict[str, Any] = {"split_seed": data.seed, "seeds": list(seeds),
                               "n": [len(data.train), len(data.valid), len(data.test)],
                               "args": args.to_dict(), "data_hash": data.data_hash}
    if baselines:
        say("baselines (TF-IDF + linear, lexicon) ...")
        tb = time.perf_counter()
        summary["baselines"] = run_baselines(data, lexicon_dir)
        summary["baseline_seconds"] = round(time.perf_counter() - tb, 1)
    runs: list[dict[str, Any]] = []
    test_probs: list[dict[str, np.ndarray]] = []
    valid_probs: list[dict[str, np.ndarray]] = []
    best: tuple[float, Any, int, dict[str, Any]] | None = None
    train_seconds = 0.0
    for seed in seeds:
        a = dataclasses.replace(args, seed=int(seed))
        res = Trainer(a, data, progress=say).train()
        train_seconds += res.seconds
        pv = predict_probs(res.model, res.tokenizer, data.valid.texts, a.max_len)
        pt = predict_probs(res.model, res.tokenizer, data.test.texts, a.max_len)
        dec = tune_decisions(pv, data.valid.labels)
        v_scores = evaluate(pv, data.valid.labels, dec)
        run = {"seed": seed, "best_epoch": res.best_epoch, "seconds": round(res.seconds, 1),
               "examples_per_s": round(res.examples_seen / max(res.seconds, 1e-9), 1),
               "valid": v_scores, "test": evaluate(pt, data.test.labels, dec),
               "test_untuned": evaluate(pt, data.test.labels),
               "decisions": {k: d.to_dict() for k, d in dec.items()}, "history": res.history}
        runs.append(run)
        valid_probs.append(pv)
        test_probs.append(pt)
        say(f"seed {seed}: test {run['test']} (best epoch {res.best_epoch}, "
            f"{res.seconds:.0f} s)")
        score = _mean_valid(v_scores)
        if best is None or score > best[0]:
            best = (score, res, int(seed), {"dec": dec, "pt": pt, "run": run})
    summary["runs"] = runs
    summary["minilm"] = summarise([r["test"] for r in runs])
    summary["minilm_untuned"] = summarise([r["test_untuned"] for r in runs])
    if len(runs) > 1:
        ev = {k: np.mean([p[k] for p in valid_probs], 0) for k in valid_probs[0]}
        et = {k: np.mean([p[k] for p in test_probs], 0) for k in test_probs[0]}
        summary["ensemble"] = evaluate(et, data.test.labels, tune_decisions(ev, data.valid.labels))
    summary["train_seconds"] = round(train_seconds, 1)
    assert best is not None
    _, res, bseed, extra = best
    summary["bundle_seed"] = bseed
    summary["bundle_test"] = extra["run"]["test"]
    cms = {s: confusion(extra["pt"], data.test.labels, s, extra["dec"][s]) for s in SETTINGS}
    plot_confusion(cms, report_dir / "confusion.png",
                   f"iEmpathize test split, MiniLM seed {bseed}")
    summary["confusion"] = {s: cm.tolist() for s, cm in cms.items()}
    bundle = None
    if registry is not None:
        bundle = write_bundle(
            registry, res.model, res.tokenizer, decisions=extra["dec"],
            params={"split_seed": data.seed, "train_seed": bseed, "train_max_len": args.max_len,
                    "base_model": "sentence-transformers/all-MiniLM-L6-v2",
                    "args": dataclasses.replace(args, seed=bseed).to_dict()},
            metrics={"test": extra["run"]["test"], "valid": extra["run"]["valid"],
                     "protocol_mean": summary["minilm"], "seeds": list(seeds),
                     "n_test": len(data.test)},
            data_hash=data.data_hash)
        summary["bundle"] = bundle.version
    summary["total_seconds"] = round(time.perf_counter() - t0, 1)
    md = write_report(report_dir, summary)
    say(f"report: {md}")
    return ProtocolResult(summary=summary, bundle=bundle, report_dir=report_dir)


def head(data: EmpathyData, n_train: int, n_eval: int) -> EmpathyData:
    """A small slice of the split (for ``--quick`` runs and tests)."""
    def cut(s: Split, n: int) -> Split:
        return s.head(n)

    return dataclasses.replace(data, train=cut(data.train, n_train),
                               valid=cut(data.valid, n_eval), test=cut(data.test, n_eval))
