"""Distilling the MPNet teacher into MiniLM students: the served L6 and a smaller, faster one.

:func:`distil_students` fine-tunes the teacher (:mod:`training.empathy.teacher`, the paper's
protocol: fixed split, early stopping on validation, decisions tuned on validation) once, takes
its train-split probabilities as soft targets (:func:`training.empathy.distill.train_teachers`)
and runs the ordinary protocol (:func:`training.empathy.job.run_protocol`) for each student
with them. A student with fewer layers starts from MiniLM-L6 with ``layers`` of its six layers
kept, evenly spaced and including the first and the last (:func:`minilm_student_dir`, built
once in the cache directory); it is an ordinary BERT bundle, so serving loads it unchanged.
The served student (6 layers) is made current; smaller ones are written beside it.

Given transfer sentences (:func:`reddit_sentences`: real Reddit TLC sentences from before the
gate's validation window), the teacher labels them and every student also learns them from the
teacher's probabilities alone: the iEmpathize train split is small (3,004 sentences), and a
transfer set is how a student can take more of a stronger teacher's knowledge than the train
split carries (docs/architecture.md, "Empathy distillation").
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from models.bundle import Registry
from training.empathy.data import EmpathyData
from training.empathy.distill import train_teachers
from training.empathy.job import run_protocol
from training.empathy.metrics import SETTINGS
from training.empathy.report import PAPER
from training.empathy.teacher import TeacherTrainer
from training.empathy.trainer import Args, default_base_model

__all__ = [
    "SERVED_LAYERS",
    "distil_students",
    "kept_layers",
    "minilm_student_dir",
    "reddit_sentences",
]

logger = logging.getLogger(__name__)

#: Layers of the served student (all-MiniLM-L6-v2 as it is).
SERVED_LAYERS = 6


def kept_layers(n_layers: int, keep: int) -> list[int]:
    """``keep`` of ``n_layers`` layer indices, evenly spaced, first and last included."""
    if keep >= n_layers:
        return list(range(n_layers))
    if keep <= 1:
        return [n_layers - 1]
    step = (n_layers - 1) / (keep - 1)
    return sorted({round(i * step) for i in range(keep)})


def minilm_student_dir(layers: int, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """A MiniLM encoder directory with ``layers`` of all-MiniLM-L6-v2's layers (the model
    itself for 6)."""
    from models.paths import default_cache_dir

    base = Path(default_base_model())
    if layers >= SERVED_LAYERS:
        return base
    from transformers import AutoTokenizer, BertModel

    keep = kept_layers(SERVED_LAYERS, layers)
    root = Path(cache_dir if cache_dir is not None else default_cache_dir()) / "students"
    final = root / f"minilm-l{len(keep)}-{'-'.join(map(str, keep))}"
    if (final / "config.json").exists() and (final / "model.safetensors").exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".student-", dir=root))
    try:
        model = BertModel.from_pretrained(str(base), add_pooling_layer=False)
        model.encoder.layer = type(model.encoder.layer)([model.encoder.layer[i] for i in keep])
        model.config.num_hidden_layers = len(keep)
        model.save_pretrained(str(tmp))
        AutoTokenizer.from_pretrained(str(base)).save_pretrained(str(tmp))
        (tmp / "student.json").write_text(
            json.dumps({"from": "sentence-transformers/all-MiniLM-L6-v2", "kept_layers": keep})
        )
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "model.safetensors").exists():
                shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def reddit_sentences(
    comments: Path,
    n: int,
    *,
    seed: int = 0,
    max_comments: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[str]:
    """``n`` sentences of whole TLCs sampled from a dump's ``comments`` file before the empathy
    gate's validation window (the gate's own train sampling:
    :func:`training.empathy.gate.read_windows`)."""
    from training.empathy.gate import GateConfig, read_windows

    cfg = GateConfig(train_sentences=n, valid_sentences=0, test_sentences=0, seed=seed)
    windows = read_windows(comments, cfg, max_comments=max_comments, progress=progress)
    return windows["train"].texts[:n]


def _f1s(scores: dict[str, Any]) -> dict[str, float]:
    return {s: scores[s]["f1"] for s in SETTINGS if s in scores}


def distil_students(
    data: EmpathyData,
    teacher: Args,
    student: Args,
    *,
    teacher_seeds: Sequence[int],
    student_seeds: Sequence[int],
    student_layers: Sequence[int] = (SERVED_LAYERS, 3),
    registry: Registry | None,
    report_dir: Path,
    temperature: float = 1.0,
    transfer_texts: Sequence[str] = (),
    teacher_cache: Path | None = None,
    soup: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Teacher once (or loaded from ``teacher_cache``), then one protocol run per student;
    returns the side-by-side summary (also written to ``report_dir/distill.json``)."""
    say = progress or (lambda m: logger.info("%s", m))
    t0 = time.perf_counter()
    say(
        f"teacher: all-mpnet-base-v2, seeds {list(teacher_seeds)}, "
        f"{len(transfer_texts)} transfer sentences"
    )
    tch = train_teachers(
        data,
        teacher,
        teacher_seeds,
        temperature=temperature,
        progress=say,
        trainer=TeacherTrainer,
        transfer_texts=transfer_texts,
        cache_dir=teacher_cache,
        embeddings=student.distill_embedding > 0,
    )
    tch.summary["model"] = "sentence-transformers/all-mpnet-base-v2"
    out: dict[str, Any] = {
        "teacher": {
            "model": tch.summary["model"],
            "seeds": list(teacher_seeds),
            "test": tch.summary["ensemble_test"],
            "valid": tch.summary["ensemble_valid"],
            "runs": tch.summary["runs"],
            "seconds": tch.summary["seconds"],
            "args": teacher.to_dict(),
            "cache": tch.summary.get("cache"),
        },
        "transfer_sentences": len(transfer_texts),
        "transfer_per_epoch": student.transfer_per_epoch,
        "students": {},
        "paper": PAPER,
        "n": [len(data.train), len(data.valid), len(data.test)],
    }
    say(
        "teacher test F1 "
        + " ".join(f"{k}={v:.2f}" for k, v in _f1s(out["teacher"]["test"]).items())
    )
    # smaller students first: the served one is written last and made current
    for layers in sorted(set(student_layers)):
        base = minilm_student_dir(layers)
        args = dataclasses.replace(
            student, base_model=None if layers >= SERVED_LAYERS else str(base)
        )
        name = f"minilm-l{min(layers, SERVED_LAYERS)}"
        say(f"student {name}: seeds {list(student_seeds)}")
        res = run_protocol(
            data,
            args,
            student_seeds,
            registry=registry,
            report_dir=report_dir / name,
            baselines=False,
            progress=say,
            distilled_from=tch,
            make_current=layers >= SERVED_LAYERS,
            soup=soup,
        )
        s = res.summary
        out["students"][name] = {
            "layers": min(layers, SERVED_LAYERS),
            "kept_layers": kept_layers(SERVED_LAYERS, layers),
            "protocol_mean": s["minilm"],
            "bundle": s.get("bundle"),
            "bundle_soup": s.get("bundle_soup"),
            "bundle_test": s["bundle_test"],
            "train_seconds": s["train_seconds"],
        }
    out["seconds"] = round(time.perf_counter() - t0, 1)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "distill.json").write_text(json.dumps(out, indent=2, default=str))
    return out
