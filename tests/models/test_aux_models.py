"""AuxModels loading and scoring, on a small hand-weighted bundle (no training needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from training.aux.bundle import write_aux_bundle

from models.aux import AUX_HEADS, AuxModels, Calibrator, Featurizer, FeaturizerSpec
from models.bundle import Registry
from models.errors import BundleError, BundleMissingError

VOCAB = ("thanks", "please", "idiot", "you should", "should", "because", "!")


@pytest.fixture()
def registry(registry_dir: Path) -> Registry:
    reg = Registry(registry_dir)
    spec = FeaturizerSpec(vocab=VOCAB, char_bits=10, char_ngrams=(3, 4), max_chars=500)
    feat = Featurizer(spec, idf=np.ones(len(VOCAB) + (1 << 10), dtype=np.float32))
    w = np.zeros((feat.n_features, len(AUX_HEADS)), dtype=np.float32)
    col = {t: i for i, t in enumerate(VOCAB)}
    w[col["idiot"], 0] = 8.0
    w[col["thanks"], 1] = 2.0
    w[col["please"], 1] = 2.0
    w[col["thanks"], 2] = 1.0
    w[col["idiot"], 2] = -3.0
    w[col["you should"], 3] = 6.0
    w[col["because"], 4] = 6.0
    cal = Calibrator("isotonic", x=(-5.0, 0.0, 5.0), y=(0.0, 0.2, 0.95))
    write_aux_bundle(
        reg,
        feat,
        w,
        np.full(len(AUX_HEADS), -1.0, np.float32),
        cal,
        thresholds={"advice": 0.7, "info": 0.7, "toxic": 0.5, "extremely_toxic": 0.8},
    )
    return reg


def test_scores_every_head_in_its_range(registry: Registry) -> None:
    aux = AuxModels.from_registry(registry)
    texts = ["thanks, please help", "you idiot!", "you should go because it helps", ""]
    out = aux.score(texts)
    assert tuple(out) == AUX_HEADS
    for v in out.values():
        assert v.shape == (len(texts),) and v.dtype == np.float64 and np.isfinite(v).all()
    assert ((out["toxicity"] >= 0) & (out["toxicity"] <= 1)).all()
    assert ((out["politeness"] >= -1) & (out["politeness"] <= 1)).all()
    assert out["toxicity"][1] > 0.8 > out["toxicity"][0]
    assert out["politeness"][0] > out["politeness"][1]
    assert out["supportiveness"][1] < out["supportiveness"][0]
    assert out["advice"][2] > 0.7 > out["advice"][0]
    assert out["info"][2] > 0.7 > out["info"][1]


def test_version_and_thresholds_come_from_the_bundle(registry: Registry) -> None:
    aux = AuxModels.from_registry(registry)
    assert aux.version == registry.current_version("aux")
    assert aux.thresholds["toxic"] == 0.5 and aux.thresholds["extremely_toxic"] == 0.8
    assert aux.thresholds["advice"] == 0.7 and aux.thresholds["info"] == 0.7


def test_odd_inputs_never_raise(registry: Registry) -> None:
    aux = AuxModels.from_registry(registry)
    odd = [
        "",
        " ",
        "\x00\x01\x02",
        "idiot " * 100_000,
        "日本語のテキスト 🙂",
        "\ud800 lone",
        None,
        b"\xff\xfe bytes",
        42,
        "[deleted]",
    ]
    out = aux.score(odd)  # type: ignore[arg-type]
    for v in out.values():
        assert v.shape == (len(odd),) and np.isfinite(v).all()
    assert all(v.shape == (0,) for v in aux.score([]).values())


def test_batching_does_not_change_scores(registry: Registry) -> None:
    aux = AuxModels.from_registry(registry)
    texts = [f"thanks {i} you should idiot because" * (i % 5) for i in range(50)]
    whole = aux.score(texts)
    aux.batch_size = 7
    parts = aux.score(texts)
    single = [aux.score([t]) for t in texts[:5]]
    for h in AUX_HEADS:
        np.testing.assert_allclose(whole[h], parts[h], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(whole[h][:5], [s[h][0] for s in single], rtol=1e-5, atol=1e-6)


def test_missing_bundle_names_the_training_command(registry_dir: Path) -> None:
    with pytest.raises(BundleMissingError, match="prosocial-train aux"):
        AuxModels.from_registry(Registry(registry_dir / "empty"))


def test_tampered_bundle_is_refused(registry: Registry) -> None:
    bundle = registry.current("aux")
    (bundle.path / "calibration.json").write_text('{"kind": "identity"}', encoding="utf-8")
    with pytest.raises(BundleError):
        AuxModels.from_registry(registry)


def test_featurizer_linear_matches_sparse_matrix_product() -> None:
    spec = FeaturizerSpec(vocab=VOCAB, char_bits=12, char_ngrams=(2, 5))
    rng = np.random.default_rng(0)
    feat = Featurizer(spec, idf=rng.random(len(VOCAB) + (1 << 12)).astype(np.float32) + 0.5)
    w = rng.standard_normal((feat.n_features, 3)).astype(np.float32)
    texts = ["Thanks!! thanks thanks", "", "You should, because", "ÀÉ ü 🙂 ok ok ok"]
    x = feat.transform(texts)
    direct = feat.linear(texts, feat.tables(w), np.zeros(3, np.float32))
    np.testing.assert_allclose(direct, x @ w, rtol=1e-4, atol=1e-5)
    sq = x[:, : feat.n_words].multiply(x[:, : feat.n_words]).sum(axis=1).A1
    assert abs(sq[2] - 1.0) < 1e-5  # no repeated term: the word block has unit L2 norm
    assert sq[0] > 1.0  # repeated terms: norm is over occurrences (see module docstring)


def test_isotonic_calibrator_is_monotone_and_bounded() -> None:
    cal = Calibrator("isotonic", x=(-2.0, 0.0, 1.0, 3.0), y=(0.01, 0.1, 0.5, 0.97))
    z = np.linspace(-10, 10, 201)
    p = cal(z)
    assert (np.diff(p) >= 0).all() and p.min() >= 0 and p.max() <= 1
    assert np.isfinite(cal(np.array([np.nan, np.inf, -np.inf]))).all()
    with pytest.raises(BundleError):
        Calibrator("isotonic", x=(0.0, 1.0), y=(0.5, 0.2))


@pytest.mark.parametrize("text", ["lol ", "😂", "no ", "ha", "a"])
def test_repeat_window_makes_runs_count_once(text: str) -> None:
    spec = FeaturizerSpec(
        vocab=("lol", "lol lol", "no", "no no", "ha"), char_bits=12, repeat_window=(8, 2)
    )
    feat = Featurizer(spec, idf=np.ones(5 + (1 << 12), dtype=np.float32))
    x = feat.transform([text * 6, text * 300]).toarray()
    np.testing.assert_allclose(x[0, : feat.n_sparse], x[1, : feat.n_sparse], atol=1e-6)
    assert np.abs(x[:, : feat.n_sparse]).max() <= 1.0 + 1e-6  # no run swamps the vector
    off = Featurizer(FeaturizerSpec(vocab=spec.vocab, char_bits=12), idf=feat.idf)
    assert np.abs(off.transform([text * 300]).toarray()[0, : off.n_sparse]).max() > 2.0


def test_repeat_window_keeps_linear_equal_to_matrix_and_batch_independent() -> None:
    spec = FeaturizerSpec(vocab=VOCAB, char_bits=12, char_ngrams=(2, 5), repeat_window=(8, 2))
    rng = np.random.default_rng(3)
    feat = Featurizer(spec, idf=rng.random(len(VOCAB) + (1 << 12)).astype(np.float32) + 0.5)
    w = rng.standard_normal((feat.n_features, 2)).astype(np.float32)
    texts = ["thanks thanks thanks!!!!", "aaaa", "", "no no no", "you should because 😂😂😂"]
    whole = feat.linear(texts, feat.tables(w), np.zeros(2, np.float32))
    np.testing.assert_allclose(whole, feat.transform(texts) @ w, rtol=1e-4, atol=1e-5)
    single = np.vstack([feat.linear([t], feat.tables(w), np.zeros(2, np.float32)) for t in texts])
    np.testing.assert_allclose(whole, single, rtol=1e-5, atol=1e-6)
