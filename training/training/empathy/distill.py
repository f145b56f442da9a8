"""Ensemble distillation: soft labels from several teacher seeds for one MiniLM student.

Teachers are ordinary fine-tunes (:class:`training.empathy.trainer.Trainer`, early stopping on
validation) with their own seeds; their head probabilities on the *train* split are averaged
(optionally softened with a temperature) and become the student's soft targets, mixed into its
loss with ``Args.distill_alpha``. Only train and validation are touched here; the teachers'
ensemble is scored on test for the report only. Serving stays one MiniLM-sized model.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.empathy.data import EmpathyData
from training.empathy.metrics import SETTINGS, evaluate, tune_decisions
from training.empathy.seeds import train_per_seed
from training.empathy.trainer import Args, Trainer, predict_probs

__all__ = ["Teachers", "soften", "train_teacher", "train_teachers"]

logger = logging.getLogger(__name__)


@dataclass
class Teachers:
    soft_targets: dict[str, np.ndarray]  # head -> (n_train, n_classes), averaged over teachers
    summary: dict[str, Any]


def soften(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Re-scale probabilities as if their logits were divided by ``temperature``."""
    if temperature == 1.0:
        return probs
    logp = np.log(np.clip(probs, 1e-9, 1.0)) / temperature
    logp -= logp.max(-1, keepdims=True)
    e = np.exp(logp)
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def train_teacher(
    data: EmpathyData,
    args: Args,
    seed: int,
    progress: Callable[[str], None] | None = None,
    trainer: type[Trainer] = Trainer,
) -> dict[str, Any]:
    """Fine-tune one teacher (a ``trainer``: MiniLM by default, or e.g. the MPNet
    :class:`training.empathy.teacher.TeacherTrainer`); return its probabilities on
    train / valid / test."""
    a = dataclasses.replace(args, seed=int(seed))
    res = trainer(a, data, progress=progress).train()
    return {
        "seed": int(seed),
        "best_epoch": res.best_epoch,
        "seconds": round(res.seconds, 1),
        "ptrain": predict_probs(res.model, res.tokenizer, data.train.texts, a.max_len),
        "pv": predict_probs(res.model, res.tokenizer, data.valid.texts, a.max_len),
        "pt": predict_probs(res.model, res.tokenizer, data.test.texts, a.max_len),
    }


def _mean(probs: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.mean([p[k] for p in probs], 0).astype(np.float32) for k in probs[0]}


def train_teachers(
    data: EmpathyData,
    args: Args,
    seeds: Sequence[int],
    *,
    temperature: float = 1.0,
    jobs: int = 1,
    progress: Callable[[str], None] | None = None,
    trainer: type[Trainer] = Trainer,
) -> Teachers:
    """Train the teachers (``jobs`` processes) and average their train-split probabilities."""
    say = progress or (lambda m: logger.info("%s", m))
    if not seeds:
        raise ValueError("distillation needs at least one teacher seed")
    t0 = time.perf_counter()
    outs = train_per_seed(
        functools.partial(train_teacher, data, args, trainer=trainer),
        seeds,
        jobs=jobs,
        progress=say,
    )
    pv, pt = _mean([o["pv"] for o in outs]), _mean([o["pt"] for o in outs])
    dec = tune_decisions(pv, data.valid.labels)
    runs = [
        {
            "seed": o["seed"],
            "best_epoch": o["best_epoch"],
            "seconds": o["seconds"],
            "valid": evaluate(
                o["pv"], data.valid.labels, tune_decisions(o["pv"], data.valid.labels)
            ),
        }
        for o in outs
    ]
    summary = {
        "seeds": [int(s) for s in seeds],
        "temperature": temperature,
        "runs": runs,
        "ensemble_valid": evaluate(pv, data.valid.labels, dec),
        "ensemble_test": evaluate(pt, data.test.labels, dec),
        "seconds": round(sum(o["seconds"] for o in outs), 1),
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }
    ens = summary["ensemble_valid"]
    say("teachers: ensemble valid F1 " + " ".join(f"{s}={ens[s]['f1']:.2f}" for s in SETTINGS))
    soft = {k: soften(v, temperature) for k, v in _mean([o["ptrain"] for o in outs]).items()}
    return Teachers(soft_targets=soft, summary=summary)
