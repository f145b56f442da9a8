"""iEmpathize: reading ``dataset.csv`` and the paper's random 60/20/20 split.

The CSV (``text,label``; 0 none, 1 seeking, 2 providing) has a few bytes that are not UTF-8,
so each line is decoded as UTF-8 and, failing that, as cp1252 (latin-1 superset). The split is a
stratified random 60/20/20 train/validation/test split with a fixed seed (the paper's Table 4
protocol); the binary settings (seek-vs-rest, provide-vs-rest) are derived from the 3-class label.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.bundle import hash_files
from training.errors import TrainingError

__all__ = [
    "SPLIT_SEED",
    "EmpathyData",
    "Split",
    "binary_labels",
    "dataset_path",
    "load_dataset",
    "split_dataset",
]

logger = logging.getLogger(__name__)

#: The fixed seed of the 60/20/20 split (constant across training seeds, as in the paper).
SPLIT_SEED = 42


class DataError(TrainingError):
    """The iEmpathize CSV is missing or malformed."""


@dataclass(frozen=True)
class Split:
    texts: list[str]
    labels: np.ndarray  # int64, 0 none / 1 seeking / 2 providing

    def __len__(self) -> int:
        return len(self.texts)

    def head(self, n: int) -> Split:
        return Split(self.texts[:n], self.labels[:n])


@dataclass(frozen=True)
class EmpathyData:
    train: Split
    valid: Split
    test: Split
    seed: int
    data_hash: str


def dataset_path(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / "iempathize" / "dataset.csv"


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def load_dataset(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """All ``(texts, labels)`` of the CSV, in file order."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} not found (iEmpathize dataset.csv)")
    lines = [_decode(b) for b in path.read_bytes().splitlines(keepends=True)]
    reader = csv.reader(io.StringIO("".join(lines)))
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header[:2]] != ["text", "label"]:
        raise DataError(f"{path}: expected header text,label, got {header}")
    texts: list[str] = []
    labels: list[int] = []
    for i, row in enumerate(reader, start=2):
        if len(row) < 2:
            raise DataError(f"{path}:{i}: expected 2 columns")
        lab = int(row[-1])
        if lab not in (0, 1, 2):
            raise DataError(f"{path}:{i}: label {lab} not in 0/1/2")
        texts.append(",".join(row[:-1]).replace("\xa0", " ").strip())
        labels.append(lab)
    logger.info("read %d sentences from %s", len(texts), path)
    return texts, np.asarray(labels, dtype=np.int64)


def split_dataset(
    path: str | os.PathLike[str],
    seed: int = SPLIT_SEED,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> EmpathyData:
    """Stratified random train/valid/test split of the CSV with a fixed seed."""
    texts, labels = load_dataset(path)
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[], [], []]
    for lab in np.unique(labels):
        idx = np.flatnonzero(labels == lab)
        rng.shuffle(idx)
        n_tr = round(fractions[0] * len(idx))
        n_va = round(fractions[1] * len(idx))
        parts[0].extend(idx[:n_tr])
        parts[1].extend(idx[n_tr : n_tr + n_va])
        parts[2].extend(idx[n_tr + n_va :])
    splits = []
    for p in parts:
        order = np.asarray(p, dtype=np.int64)
        rng.shuffle(order)
        splits.append(Split([texts[i] for i in order], labels[order]))
    return EmpathyData(
        train=splits[0],
        valid=splits[1],
        test=splits[2],
        seed=seed,
        data_hash=hash_files([Path(path)]),
    )


def binary_labels(labels: np.ndarray, setting: str) -> np.ndarray:
    """Positive = seeking (``seek``) or providing (``provide``); everything else negative."""
    if setting == "seek":
        return (labels == 1).astype(np.int64)
    if setting == "provide":
        return (labels == 2).astype(np.int64)
    if setting == "multi":
        return labels
    raise ValueError(f"unknown setting {setting!r}")
