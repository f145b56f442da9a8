"""Ensemble distillation: soft labels from several teacher seeds for one MiniLM student.

Teachers are ordinary fine-tunes (:class:`training.empathy.trainer.Trainer`, early stopping on
validation) with their own seeds; their head probabilities on the *train* split are averaged
(optionally softened with a temperature) and become the student's soft targets, mixed into its
loss with ``Args.distill_alpha``. Given a transfer set (unlabelled sentences, e.g. real Reddit
sentences), the teachers label it too and a student learns those rows from the soft targets alone
(:class:`training.empathy.trainer.Transfer`). Only train and validation are touched here; the
teachers' ensemble is scored on test for the report only. Serving stays one MiniLM-sized model.

With a ``cache_dir`` each teacher seed's weights, its probabilities on iEmpathize and its
summary are kept under a key of the data, the arguments, that seed and the trainer, and a later
run loads every seed it finds instead of training it again (a set of seeds that adds one to a
kept set trains only the new one); a seed's probabilities on a transfer set are kept beside it
under a key of the texts, so a run with another transfer set only labels it with the kept
weights. With ``embeddings``, each seed's pooled sentence vectors of the train split and the
transfer set are kept too (``embed-<transfer key>.npz``; from kept weights when missing), for a
student that matches them (``Args.distill_embedding``; docs/architecture.md, "Empathy
distillation").
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.empathy.data import EmpathyData
from training.empathy.metrics import SETTINGS, evaluate, tune_decisions
from training.empathy.seeds import train_per_seed
from training.empathy.trainer import Args, Trainer, Transfer, embed_texts, predict_probs

__all__ = [
    "Teachers",
    "soften",
    "teachers_key",
    "train_teacher",
    "train_teachers",
    "transfer_key",
]

logger = logging.getLogger(__name__)


@dataclass
class Teachers:
    soft_targets: dict[str, np.ndarray]  # head -> (n_train, n_classes), averaged over teachers
    summary: dict[str, Any]
    #: the transfer set with the teachers' averaged (softened) probabilities, if one was given
    transfer: Transfer | None = None
    #: the teachers' mean pooled sentence vectors of the train split, if asked for
    embeddings: np.ndarray | None = None


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
    transfer_texts: Sequence[str] = (),
    save_dirs: Mapping[int, Path] | None = None,
    embeddings: bool = False,
) -> dict[str, Any]:
    """Fine-tune one teacher (a ``trainer``: MiniLM by default, or e.g. the MPNet
    :class:`training.empathy.teacher.TeacherTrainer`); return its probabilities on
    train / valid / test (and on ``transfer_texts``; with ``embeddings``, its pooled vectors
    of train and the transfer set too); when ``save_dirs`` names a directory for
    ``seed``, its weights are saved there as ``teacher-seed<seed>.safetensors``."""
    a = dataclasses.replace(args, seed=int(seed))
    res = trainer(a, data, progress=progress).train()
    out = {
        "seed": int(seed),
        "best_epoch": res.best_epoch,
        "seconds": round(res.seconds, 1),
        "ptrain": predict_probs(res.model, res.tokenizer, data.train.texts, a.max_len),
        "pv": predict_probs(res.model, res.tokenizer, data.valid.texts, a.max_len),
        "pt": predict_probs(res.model, res.tokenizer, data.test.texts, a.max_len),
    }
    if transfer_texts:
        t0 = time.perf_counter()
        say = progress or (lambda m: logger.info("%s", m))
        say(f"teacher seed {seed}: labelling {len(transfer_texts):,} transfer sentences")
        out["ptransfer"] = predict_probs(
            res.model, res.tokenizer, list(transfer_texts), a.max_len, progress=say
        )
        out["transfer_seconds"] = round(time.perf_counter() - t0, 1)
    if embeddings:
        out.update(_embed(res.model, res.tokenizer, data, a, transfer_texts, progress))
    save_dir = (save_dirs or {}).get(int(seed))
    if save_dir is not None:
        from safetensors.torch import save_file

        save_dir.mkdir(parents=True, exist_ok=True)
        save_file(
            {k: v.detach().float().contiguous() for k, v in res.model.state_dict().items()},
            str(_weights(save_dir, seed)),
        )
    return out


def _embed(
    model: Any,
    tokenizer: Any,
    data: EmpathyData,
    args: Args,
    texts: Sequence[str],
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """A teacher's pooled vectors of the train split and of ``texts`` (under bf16 autocast
    when ``args.bf16``), in the layout of its probabilities (split -> name -> rows)."""

    def vectors(rows: Sequence[str]) -> dict[str, np.ndarray]:
        pooled = embed_texts(
            model, tokenizer, list(rows), args.max_len, bf16=args.bf16, progress=progress
        )
        return {"pooled": pooled}

    out = {"etrain": vectors(data.train.texts)}
    if texts:
        out["etransfer"] = vectors(texts)
    return out


#: Arguments that do not decide a teacher's weights: how many threads, the seed (keyed apart),
#: and what only a student reads (a student-only argument added later stays out, so the
#: teachers kept before it are still found).
_NOT_IN_KEY = ("threads", "seed", "distill_embedding")


def teachers_key(
    data: EmpathyData, args: Args, seeds: Sequence[int], trainer: type[Trainer]
) -> str:
    """The cache key of a set of teachers: what decides their weights. The cache keeps each
    seed under the key of its one-seed set."""
    spec = {
        "data": data.data_hash,
        "split_seed": data.seed,
        "n": [len(data.train), len(data.valid), len(data.test)],
        "args": {k: v for k, v in args.to_dict().items() if k not in _NOT_IN_KEY},
        "seeds": [int(s) for s in seeds],
        "trainer": f"{trainer.__module__}.{trainer.__qualname__}",
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def transfer_key(texts: Sequence[str]) -> str:
    """The cache key of a transfer set: its texts, in order."""
    h = hashlib.sha256(f"{len(texts)}\0".encode())
    for text in texts:
        h.update(text.encode("utf-8", "replace") + b"\0")
    return h.hexdigest()[:16]


_SPLITS = ("ptrain", "pv", "pt", "ptransfer")
#: the pooled vectors' "splits" (kept apart from the probabilities, in ``embed-<key>.npz``)
_VECTORS = ("etrain", "etransfer")

#: One teacher seed's probabilities (split -> head -> array) and its run summary.
_Seed = tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]


def _save_probs(path: Path, means: dict[str, dict[str, np.ndarray]]) -> None:
    arrays = {f"{split}/{head}": v for split, probs in means.items() for head, v in probs.items()}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def _load_probs(path: Path) -> dict[str, dict[str, np.ndarray]]:
    means: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path) as z:
        for name in z.files:
            split, head = name.split("/", 1)
            means.setdefault(split, {})[head] = z[name]
    return means


def _weights(store: Path, seed: int) -> Path:
    return store / f"teacher-seed{int(seed)}.safetensors"


def _transfer_file(store: Path, texts: Sequence[str]) -> Path:
    return store / f"transfer-{transfer_key(texts)}.npz"


def _vectors_file(store: Path, texts: Sequence[str]) -> Path:
    return store / f"embed-{transfer_key(texts)}.npz"


def _load_seed(
    store: Path,
    data: EmpathyData,
    args: Args,
    seed: int,
    trainer: type[Trainer],
    texts: Sequence[str],
    say: Callable[[str], None],
    embeddings: bool = False,
) -> _Seed | None:
    """One kept teacher seed (``None`` when it must be trained): its probabilities and run;
    a transfer set it has not labelled yet (or, with ``embeddings``, whose pooled vectors are
    not kept) is labelled with its kept weights and kept."""
    if not (store / "summary.json").exists():  # written last: a seed kept whole
        return None
    probs = _load_probs(store / "probs.npz")
    summary = json.loads((store / "summary.json").read_text())
    kept = _transfer_file(store, texts)
    if texts and kept.exists():
        probs.update(_load_probs(kept))
    vectors = _vectors_file(store, texts)
    if embeddings and vectors.exists():
        probs.update(_load_probs(vectors))
    labelled = not texts or "ptransfer" in probs
    if not labelled or (embeddings and "etrain" not in probs):
        if not _weights(store, seed).exists():
            return None
        a = dataclasses.replace(args, seed=int(seed))
        model, tokenizer = trainer(a, data).load(_weights(store, seed))
        if not labelled:
            say(f"teacher seed {seed}: labelling {len(texts):,} transfer sentences (kept weights)")
            probs["ptransfer"] = predict_probs(
                model, tokenizer, list(texts), a.max_len, progress=say
            )
            _save_probs(kept, {"ptransfer": probs["ptransfer"]})
        if embeddings and "etrain" not in probs:
            say(
                f"teacher seed {seed}: pooled vectors of {len(data.train) + len(texts):,} sentences"
            )
            got = _embed(model, tokenizer, data, a, texts, say)
            probs.update(got)
            _save_probs(vectors, got)
    say(f"teacher seed {seed}: loaded from {store} (trained {summary.get('trained_at', '?')})")
    run = {**summary["runs"][0], "trained_at": summary.get("trained_at")}
    return probs, run


def _save_seed(
    store: Path,
    probs: dict[str, dict[str, np.ndarray]],
    run: dict[str, Any],
    data: EmpathyData,
    args: Args,
    texts: Sequence[str],
) -> None:
    """Keep one trained seed: probabilities on iEmpathize, on the transfer set, and its summary."""
    store.mkdir(parents=True, exist_ok=True)
    _save_probs(
        store / "probs.npz",
        {k: v for k, v in probs.items() if k != "ptransfer" and k not in _VECTORS},
    )
    if "ptransfer" in probs:
        _save_probs(_transfer_file(store, texts), {"ptransfer": probs["ptransfer"]})
    if "etrain" in probs:
        _save_probs(_vectors_file(store, texts), {k: probs[k] for k in _VECTORS if k in probs})
    summary = _summary([probs], [run], data, args, len(texts))
    tmp = store / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, default=str))
    os.replace(tmp, store / "summary.json")


def _summary(
    probs: Sequence[dict[str, dict[str, np.ndarray]]],
    runs: Sequence[dict[str, Any]],
    data: EmpathyData,
    args: Args,
    n_transfer: int,
) -> dict[str, Any]:
    pv = _mean([p["pv"] for p in probs])
    dec = tune_decisions(pv, data.valid.labels)
    return {
        "seeds": [int(r["seed"]) for r in runs],
        "runs": [{k: v for k, v in r.items() if k != "trained_at"} for r in runs],
        "ensemble_valid": evaluate(pv, data.valid.labels, dec),
        "ensemble_test": evaluate(_mean([p["pt"] for p in probs]), data.test.labels, dec),
        "n_transfer": n_transfer,
        "seconds": round(sum(float(r["seconds"]) for r in runs), 1),
        "trained_at": max(
            (str(r.get("trained_at") or "") for r in runs),
            default="",
        )
        or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "args": args.to_dict(),
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
    transfer_texts: Sequence[str] = (),
    cache_dir: Path | None = None,
    embeddings: bool = False,
) -> Teachers:
    """Train the teachers (``jobs`` processes) and average their probabilities on the train
    split (and on ``transfer_texts``); with ``cache_dir``, reuse or keep each seed there, so
    adding a seed to a set trains only the new one. With ``embeddings``, their pooled sentence
    vectors too (averaged over seeds: one teacher seed is what a student should match)."""
    say = progress or (lambda m: logger.info("%s", m))
    if not seeds:
        raise ValueError("distillation needs at least one teacher seed")
    seeds = [int(s) for s in seeds]
    transfer_texts = list(transfer_texts)
    stores = (
        {}
        if cache_dir is None
        else {s: cache_dir / teachers_key(data, args, [s], trainer) for s in seeds}
    )
    got: dict[int, _Seed] = {}
    for s, store in stores.items():
        kept = _load_seed(store, data, args, s, trainer, transfer_texts, say, embeddings)
        if kept is not None:
            got[s] = kept
    missing = [s for s in seeds if s not in got]
    t0 = time.perf_counter()
    if missing:
        outs = train_per_seed(
            functools.partial(
                train_teacher,
                data,
                args,
                trainer=trainer,
                transfer_texts=transfer_texts,
                save_dirs={s: stores[s] for s in missing if s in stores},
                embeddings=embeddings,
            ),
            missing,
            jobs=jobs,
            progress=say,
        )
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for o in outs:
            probs = {k: o[k] for k in _SPLITS + _VECTORS if k in o}
            run = {
                "seed": o["seed"],
                "best_epoch": o["best_epoch"],
                "seconds": o["seconds"],
                "transfer_seconds": o.get("transfer_seconds"),
                "valid": evaluate(
                    o["pv"], data.valid.labels, tune_decisions(o["pv"], data.valid.labels)
                ),
                "trained_at": stamp,
            }
            got[int(o["seed"])] = (probs, run)
            if int(o["seed"]) in stores:
                _save_seed(stores[int(o["seed"])], probs, run, data, args, transfer_texts)
    every = [got[s] for s in seeds]
    means = {k: _mean([p[k] for p, _ in every]) for k in _SPLITS + _VECTORS if k in every[0][0]}
    summary = _summary(
        [p for p, _ in every], [r for _, r in every], data, args, len(transfer_texts)
    )
    summary.update(trained=missing, wall_seconds=round(time.perf_counter() - t0, 1))
    if stores:
        summary["cache"] = [str(stores[s]) for s in seeds]
    ens = summary["ensemble_valid"]
    say("teachers: ensemble valid F1 " + " ".join(f"{s}={ens[s]['f1']:.2f}" for s in SETTINGS))
    return _teachers(means, summary, temperature, transfer_texts)


def _teachers(
    means: dict[str, dict[str, np.ndarray]],
    summary: dict[str, Any],
    temperature: float,
    transfer_texts: list[str],
) -> Teachers:
    summary = {**summary, "temperature": temperature}
    soft = {k: soften(v, temperature) for k, v in means["ptrain"].items()}
    transfer = None
    if transfer_texts and "ptransfer" in means:
        transfer = Transfer(
            transfer_texts,
            {k: soften(v, temperature) for k, v in means["ptransfer"].items()},
            embeddings=means.get("etransfer", {}).get("pooled"),
        )
    vectors = means.get("etrain", {}).get("pooled")
    return Teachers(soft_targets=soft, summary=summary, transfer=transfer, embeddings=vectors)
