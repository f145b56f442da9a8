"""A tiny empathy bundle trained once per test session on a small real iEmpathize slice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

__all__ = ["TINY", "hand_gate", "tiny_empathy"]

#: Slice sizes: train / valid / test sentences (real iEmpathize rows, paper split).
TINY = {"train": 240, "eval": 120, "epochs": 1, "max_len": 32}


def tiny_empathy(factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Any]:
    """Train (once per session; cached under the session's base temp dir) and return
    ``{"registry": Path, "bundle": Bundle, "summary": dict, "data": EmpathyData}``."""
    from training.empathy.data import dataset_path, split_dataset
    from training.empathy.job import head, run_protocol
    from training.empathy.trainer import Args

    from models.bundle import Registry

    root = factory.getbasetemp() / "empathy-tiny"
    data = head(split_dataset(dataset_path(data_dir)), TINY["train"], TINY["eval"])
    registry = Registry(root / "registry")
    cache = getattr(tiny_empathy, "_cache", None)
    if cache is not None and cache["root"] == root:
        return cache
    args = Args(epochs=TINY["epochs"], max_len=TINY["max_len"], patience=1, threads=2)
    res = run_protocol(
        data, args, [0], registry=registry, report_dir=root / "report", baselines=False
    )
    out = {
        "root": root,
        "registry": root / "registry",
        "bundle": res.bundle,
        "summary": res.summary,
        "data": data,
        "report_dir": root / "report",
    }
    tiny_empathy._cache = out  # type: ignore[attr-defined]
    return out


def hand_gate(thresholds: dict[str, float] | None = None, temperature: float = 1.0) -> Any:
    """A real :class:`models.empathy.gate.EmpathyGate` with hand-set weights: "thanks" /
    "luck" push towards providing, "anyone" / "worried" towards seeking, everything else
    leans to none."""
    import numpy as np

    from models.aux.features import Featurizer, FeaturizerSpec
    from models.empathy.gate import EmpathyGate

    vocab = ("thanks", "luck", "anyone", "worried")
    feats = Featurizer(FeaturizerSpec(vocab=vocab, char_bits=8))
    w = np.zeros((feats.n_features, 3), dtype=np.float32)
    w[0, 2] = w[1, 2] = 6.0
    w[2, 1] = w[3, 1] = 5.0
    return EmpathyGate(
        feats,
        w,
        np.array([1.5, 0.0, 0.0]),
        labels=["none", "seeking", "providing"],
        temperature=temperature,
        thresholds=thresholds,
    )
