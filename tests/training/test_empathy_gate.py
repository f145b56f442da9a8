"""Training the empathy cascade's gate on small real slices, and its bundle round trip."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from training.empathy.gate import (
    GateConfig,
    LabelCache,
    Window,
    choose_thresholds,
    evaluate_gate,
    label_windows,
    read_windows,
    train_gate,
    write_gate_bundle,
)

from models.bundle import Bundle, Registry
from models.empathy import EmpathyClassifier
from models.empathy.gate import GATE_PARAM, GATE_WEIGHTS, EmpathyGate
from models.errors import BundleError
from tests.empathy_support import tiny_empathy

pytestmark = pytest.mark.slow

CFG = GateConfig(c_grid=(4.0,), char_bits=14, min_support=5, vocab_min_df=2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Any]:
    return tiny_empathy(tmp_path_factory, data_dir)


def _window(name: str, texts: list[str], labels: np.ndarray) -> Window:
    # each iEmpathize sentence is its own one-sentence "TLC"
    w = Window(name, list(texts), np.arange(len(texts)), list(range(len(texts))))
    w.labels = np.asarray(labels, dtype=np.int64)
    return w


@pytest.fixture(scope="module")
def iempathize_windows(data_dir: Path) -> dict[str, Window]:
    from training.empathy.data import dataset_path, split_dataset

    data = split_dataset(dataset_path(data_dir))
    return {
        "train": _window("train", data.train.texts[:1200], data.train.labels[:1200]),
        "valid": _window("valid", data.valid.texts[:500], data.valid.labels[:500]),
        "test": _window("test", data.test.texts[:500], data.test.labels[:500]),
    }


def test_thresholds_keep_the_settled_agreement_on_validation() -> None:
    rng = np.random.default_rng(0)
    n = 6000
    y = rng.integers(0, 3, n)
    # 40 % clear-cut (always right, confident), the rest right with probability ~ confidence
    easy = rng.uniform(size=n) < 0.4
    conf = np.where(easy, rng.uniform(0.97, 1.0, n), rng.uniform(0.5, 0.9, n))
    top = np.where(easy | (rng.uniform(size=n) < conf), y, (y + 1) % 3)
    q = np.full((n, 3), 0.0)
    q[np.arange(n), top] = conf
    q[np.arange(n), (top + 1) % 3] = 1 - conf
    valid = Window("valid", [""] * n, np.arange(n) // 3, [0] * (n // 3), labels=y)
    th, info = choose_thresholds(
        q, valid, min_agreement=0.99, min_tlc_agreement=0.0, min_support=20
    )
    settled = q.max(1) >= np.array([th[k] for k in ("none", "seeking", "providing")])[top]
    assert settled.any() and not settled.all()
    for j in range(3):
        mine = settled & (top == j)
        assert mine.sum() >= 20 and (y[mine] == j).mean() >= 0.99
    assert info["settled_agreement"] >= 0.99
    # a TLC target the settled set cannot meet at 0.99 tightens the sentences' target
    _, info2 = choose_thresholds(
        q, valid, min_agreement=0.99, min_tlc_agreement=0.9999, min_support=20
    )
    assert info2["target_agreement"] > 0.99
    assert info2["settled_share"] <= info["settled_share"]


def test_a_gate_trained_on_a_real_slice_round_trips_through_the_bundle(
    tiny: dict[str, Any], iempathize_windows: dict[str, Window], tmp_path: Path
) -> None:
    trained = train_gate(iempathize_windows["train"], iempathize_windows["valid"], CFG)
    gate = trained.gate
    test = evaluate_gate(gate, iempathize_windows["test"])
    assert 0 <= test["settled_share"] <= 1 and test["n_sentences"] == 500
    assert test["gate_only_agreement"] > 0.5  # it learned something from 1,200 sentences
    registry = Registry(tmp_path / "registry")
    bundle = write_gate_bundle(
        registry,
        tiny["bundle"],
        trained,
        metrics={"test": test},
        windows=[iempathize_windows["train"]],
    )
    assert registry.current_version("empathy") is None  # a candidate, not served
    files = bundle.config["files"]
    for rel, digest in tiny["bundle"].config["files"].items():
        assert files[rel] == digest  # the same encoder
    assert GATE_WEIGHTS in files and "gate/featurizer.json" in files
    assert bundle.params[GATE_PARAM]["distilled_from"] == tiny["bundle"].version
    assert bundle.metrics[GATE_PARAM]["test"] == test
    loaded = EmpathyGate.from_bundle(Bundle.open(bundle.path))
    assert loaded is not None
    texts = iempathize_windows["test"].texts
    assert np.allclose(loaded.probs(texts), gate.probs(texts), atol=1e-5)
    assert (loaded.settles(loaded.probs(texts)) == gate.settles(gate.probs(texts))).all()
    clf = EmpathyClassifier.from_bundle(bundle, fast=True, mode="fp32")
    preds = clf.predict_sentences(texts[:100])
    assert clf.last_settled == sum(p.settled for p in preds)
    # a corrupt gate file fails the sha256 check before anything is loaded
    bad = tmp_path / "corrupt"
    shutil.copytree(bundle.path, bad)
    raw = bytearray((bad / GATE_WEIGHTS).read_bytes())
    raw[-1] ^= 0xFF
    (bad / GATE_WEIGHTS).write_bytes(bytes(raw))
    with pytest.raises(BundleError, match="sha256"):
        Bundle.open(bad)


def test_reddit_windows_are_split_by_time_and_labelled_once(
    tiny: dict[str, Any], data_dir: Path, tmp_path: Path
) -> None:
    comments = data_dir / "reddit-college" / "comments.jsonl.gz"
    probe = read_windows(
        comments,
        GateConfig(train_until="2100-01-01", train_sentences=10**9),
        max_comments=4000,
    )
    times = sorted(probe["train"].created_utc)
    assert len(times) > 30
    import time as _time

    def day(t: int) -> str:
        return _time.strftime("%Y-%m-%d", _time.gmtime(t))

    cfg = GateConfig(
        train_until=day(times[len(times) // 2]),
        valid_until=day(times[3 * len(times) // 4]),
        train_sentences=120,
        valid_sentences=60,
        test_sentences=60,
    )
    windows = read_windows(comments, cfg, max_comments=4000)
    tr, va, te = windows["train"], windows["valid"], windows["test"]
    assert max(tr.created_utc) < min(va.created_utc) or not va.created_utc
    if va.created_utc and te.created_utc:
        assert max(va.created_utc) < min(te.created_utc)
    for w in windows.values():
        assert len(w.tlc) == len(w.texts)
        assert w.n_tlcs == 0 or w.tlc.max() == w.n_tlcs - 1
    fp32 = EmpathyClassifier.from_bundle(tiny["bundle"], fast=False)
    cache = LabelCache(tmp_path / "labels.jsonl")
    label_windows(windows, fp32, cache=cache)
    want = [p.label for p in fp32.predict_sentences(tr.texts)]
    assert [("none", "seeking", "providing")[i] for i in tr.y()] == want
    # a second run (a new process) reads the labels back and labels nothing
    said: list[str] = []
    again = read_windows(comments, cfg, max_comments=4000)
    label_windows(again, fp32, cache=LabelCache(tmp_path / "labels.jsonl"), progress=said.append)
    assert said == []
    assert (again["train"].y() == tr.y()).all()
