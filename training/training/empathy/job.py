"""The empathy training job: the paper's protocol end to end (split, baselines, fine-tune per
seed, report, bundle).

For every training seed the same fixed 60/20/20 split is used; the model with early stopping on
validation is scored on test with decision rules tuned on validation. Figures are the mean ± sd
over seeds (plus, for reference, the probability-averaged ensemble of the seeds). The seed with the
best validation score becomes the bundle.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.torch import save_file

from models.bundle import Bundle, Registry
from training.empathy.baselines import run_baselines
from training.empathy.bundle import write_bundle
from training.empathy.data import EmpathyData, Split
from training.empathy.distill import Teachers, train_teachers
from training.empathy.metrics import SETTINGS, Decision, confusion, evaluate, tune_decisions
from training.empathy.report import plot_confusion, summarise, write_report
from training.empathy.seeds import train_per_seed
from training.empathy.soup import greedy_soup
from training.empathy.trainer import Args, Trainer, Transfer, predict_probs

__all__ = ["ProtocolResult", "head", "run_protocol", "train_seed"]

logger = logging.getLogger(__name__)


@dataclass
class ProtocolResult:
    summary: dict[str, Any]
    bundle: Bundle | None
    report_dir: Path


def _mean_valid(scores: dict[str, dict[str, float]]) -> float:
    return float(np.mean([scores[s]["f1"] for s in SETTINGS]))


def train_seed(
    data: EmpathyData,
    args: Args,
    seed: int,
    out_dir: Path,
    progress: Callable[[str], None] | None = None,
    soft_targets: Mapping[str, np.ndarray] | None = None,
    transfer: Transfer | None = None,
    soft_embeddings: np.ndarray | None = None,
) -> dict[str, Any]:
    """Fine-tune one seed; save its weights to ``out_dir``; return its figures and probs."""
    a = dataclasses.replace(args, seed=int(seed))
    res = Trainer(
        a,
        data,
        soft_targets=soft_targets,
        transfer=transfer,
        soft_embeddings=soft_embeddings,
        progress=progress,
    ).train()
    pv = predict_probs(res.model, res.tokenizer, data.valid.texts, a.max_len)
    pt = predict_probs(res.model, res.tokenizer, data.test.texts, a.max_len)
    dec = tune_decisions(pv, data.valid.labels)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"seed{seed}.safetensors"
    save_file(
        {k: v.detach().float().contiguous() for k, v in res.model.state_dict().items()},
        str(weights),
    )
    run = {
        "seed": seed,
        "best_epoch": res.best_epoch,
        "seconds": round(res.seconds, 1),
        "examples_per_s": round(res.examples_seen / max(res.seconds, 1e-9), 1),
        "valid": evaluate(pv, data.valid.labels, dec),
        "test": evaluate(pt, data.test.labels, dec),
        "test_untuned": evaluate(pt, data.test.labels),
        "decisions": {k: d.to_dict() for k, d in dec.items()},
        "history": res.history,
    }
    return {"run": run, "pv": pv, "pt": pt, "weights": str(weights)}


def _soup(
    data: EmpathyData, args: Args, outs: Sequence[dict[str, Any]], best_valid: float
) -> dict[str, Any] | None:
    """The greedy weight soup of the seeds (:mod:`training.empathy.soup`), scored like a seed
    (decisions tuned on validation), or ``None`` when no seed improves on the best alone."""
    ranked = sorted(outs, key=lambda o: _mean_valid(o["run"]["valid"]), reverse=True)

    def score(state: dict[str, Any]) -> tuple[float, tuple[Any, Any, Any]]:
        model, tokenizer = Trainer(args, data).load(state)
        pv = predict_probs(model, tokenizer, data.valid.texts, args.max_len)
        dec = tune_decisions(pv, data.valid.labels)
        return _mean_valid(evaluate(pv, data.valid.labels, dec)), (model, tokenizer, (pv, dec))

    soup = greedy_soup([o["weights"] for o in ranked], score, first_score=best_valid)
    if soup is None:
        return None
    model, tokenizer, (pv, dec) = soup.result
    pt = predict_probs(model, tokenizer, data.test.texts, args.max_len)
    return {
        "seeds": [int(ranked[i]["run"]["seed"]) for i in soup.members],
        "model": model,
        "tokenizer": tokenizer,
        "dec": dec,
        "pt": pt,
        "run": {
            "valid": evaluate(pv, data.valid.labels, dec),
            "test": evaluate(pt, data.test.labels, dec),
        },
    }


def _base_model_name(base: str | None) -> str:
    """The encoder the fine-tune started from (a DAPT directory names its own base)."""
    if base is None:
        return "sentence-transformers/all-MiniLM-L6-v2"
    meta = Path(base) / "dapt.json"
    if meta.exists():
        return f"{base} (DAPT of sentence-transformers/all-MiniLM-L6-v2)"
    return str(base)


def run_protocol(
    data: EmpathyData,
    args: Args,
    seeds: Sequence[int],
    *,
    registry: Registry | None,
    report_dir: Path,
    lexicon_dir: Path | None = None,
    baselines: bool = True,
    progress: Callable[[str], None] | None = None,
    jobs: int = 1,
    teachers: Sequence[int] = (),
    distill_temperature: float = 1.0,
    distilled_from: Teachers | None = None,
    make_current: bool = True,
    soup: bool = True,
) -> ProtocolResult:
    """``jobs`` > 1 trains seeds in that many processes (``args.threads`` threads each).

    With ``teachers`` (seeds disjoint from ``seeds``), every seed is a student distilled from the
    averaged train-split probabilities of those teachers (:mod:`training.empathy.distill`);
    ``distilled_from`` gives teachers trained beforehand (e.g. the MPNet teacher,
    :mod:`training.empathy.teacher`). ``make_current`` points the registry at the bundle.
    With ``soup`` and several seeds, the greedy weight soup of the seeds becomes the bundle when
    its validation score is at least the best seed's (:mod:`training.empathy.soup`)."""
    say = progress or (lambda m: logger.info("%s", m))
    t0 = time.perf_counter()
    summary: dict[str, Any] = {
        "split_seed": data.seed,
        "seeds": list(seeds),
        "n": [len(data.train), len(data.valid), len(data.test)],
        "args": args.to_dict(),
        "data_hash": data.data_hash,
    }
    if baselines:
        say("baselines (TF-IDF + linear, lexicon) ...")
        tb = time.perf_counter()
        summary["baselines"] = run_baselines(data, lexicon_dir)
        summary["baseline_seconds"] = round(time.perf_counter() - tb, 1)
    soft, transfer, vectors = None, None, None
    if distilled_from is not None:
        soft, summary["teachers"] = distilled_from.soft_targets, distilled_from.summary
        transfer, vectors = distilled_from.transfer, distilled_from.embeddings
    elif teachers:
        say(f"distillation: training teachers {list(teachers)} ...")
        tch = train_teachers(
            data, args, teachers, temperature=distill_temperature, jobs=jobs, progress=say
        )
        soft, summary["teachers"] = tch.soft_targets, tch.summary
    runs: list[dict[str, Any]] = []
    test_probs: list[dict[str, np.ndarray]] = []
    valid_probs: list[dict[str, np.ndarray]] = []
    best: tuple[float, str, int, dict[str, Any]] | None = None
    train_seconds = 0.0
    tw = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="empathy-seeds-") as tmp:
        outs = train_per_seed(
            functools.partial(
                train_seed,
                data,
                args,
                out_dir=Path(tmp),
                soft_targets=soft,
                transfer=transfer,
                soft_embeddings=vectors,
            ),
            seeds,
            jobs=jobs,
            progress=say,
        )
        for o in outs:
            run = o["run"]
            runs.append(run)
            valid_probs.append(o["pv"])
            test_probs.append(o["pt"])
            train_seconds += run["seconds"]
            say(
                f"seed {run['seed']}: test {run['test']} (best epoch {run['best_epoch']}, "
                f"{run['seconds']:.0f} s)"
            )
            score = _mean_valid(run["valid"])
            if best is None or score > best[0]:
                dec = {k: Decision(**v) for k, v in run["decisions"].items()}
                best = (
                    score,
                    o["weights"],
                    int(run["seed"]),
                    {"dec": dec, "pt": o["pt"], "run": run},
                )
        assert best is not None
        souped = _soup(data, args, outs, best[0]) if soup and len(outs) > 1 else None
        if souped is None:
            model, tokenizer = Trainer(args, data).load(best[1])
        else:
            model, tokenizer = souped["model"], souped["tokenizer"]
    summary["train_wall_seconds"] = round(time.perf_counter() - tw, 1)
    summary["runs"] = runs
    summary["minilm"] = summarise([r["test"] for r in runs])
    summary["minilm_untuned"] = summarise([r["test_untuned"] for r in runs])
    if len(runs) > 1:
        ev = {k: np.mean([p[k] for p in valid_probs], 0) for k in valid_probs[0]}
        et = {k: np.mean([p[k] for p in test_probs], 0) for k in test_probs[0]}
        summary["ensemble"] = evaluate(et, data.test.labels, tune_decisions(ev, data.valid.labels))
    summary["train_seconds"] = round(train_seconds, 1)
    _, _, bseed, extra = best
    summary["bundle_seed"] = bseed
    summary["bundle_soup"] = None
    what = f"MiniLM seed {bseed}"
    if souped is not None:
        say(f"greedy soup of seeds {souped['seeds']}: valid {souped['run']['valid']}")
        extra = souped
        summary["bundle_soup"] = souped["seeds"]
        summary["soup"] = souped["run"]["test"]
        what = f"MiniLM soup of seeds {souped['seeds']}"
    summary["bundle_test"] = extra["run"]["test"]
    cms = {s: confusion(extra["pt"], data.test.labels, s, extra["dec"][s]) for s in SETTINGS}
    plot_confusion(cms, report_dir / "confusion.png", f"iEmpathize test split, {what}")
    summary["confusion"] = {s: cm.tolist() for s, cm in cms.items()}
    bundle = None
    if registry is not None:
        bundle = write_bundle(
            registry,
            model,
            tokenizer,
            decisions=extra["dec"],
            params={
                "split_seed": data.seed,
                "train_seed": bseed,
                "soup_seeds": summary["bundle_soup"],
                "train_max_len": args.max_len,
                "base_model": _base_model_name(args.base_model),
                "distill_teachers": [int(t) for t in teachers],
                "distill_teacher_model": distilled_from.summary.get("model")
                if distilled_from is not None
                else None,
                "distill_transfer_sentences": len(transfer) if transfer is not None else 0,
                "args": dataclasses.replace(args, seed=bseed).to_dict(),
            },
            metrics={
                "test": extra["run"]["test"],
                "valid": extra["run"]["valid"],
                "protocol_mean": summary["minilm"],
                "seeds": list(seeds),
                "n_test": len(data.test),
            },
            data_hash=data.data_hash,
            make_current=make_current,
        )
        summary["bundle"] = bundle.version
    summary["total_seconds"] = round(time.perf_counter() - t0, 1)
    md = write_report(report_dir, summary)
    say(f"report: {md}")
    return ProtocolResult(summary=summary, bundle=bundle, report_dir=report_dir)


def head(data: EmpathyData, n_train: int, n_eval: int) -> EmpathyData:
    """A small slice of the split (for ``--quick`` runs and tests)."""

    def cut(s: Split, n: int) -> Split:
        return s.head(n)

    return dataclasses.replace(
        data,
        train=cut(data.train, n_train),
        valid=cut(data.valid, n_eval),
        test=cut(data.test, n_eval),
    )
