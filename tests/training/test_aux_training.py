"""Training the aux bundle on small real slices: round-trip, calibration, CLI output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from training.aux.bundle import write_trained_aux
from training.aux.data import DataMissingError, group_split, load_advice, load_perspective
from training.aux.datasets import AuxData, load_aux_data
from training.aux.fit import TrainedAux, fit_calibrator, train_aux
from training.cli import main

from models.aux import AUX_HEADS, AuxModels
from models.bundle import Registry
from tests.tiny_aux import TINY_AUX

LIMIT = 150


@pytest.fixture(scope="module")
def tiny_data(data_dir: Path) -> AuxData:
    return load_aux_data(data_dir, limit=LIMIT, college_negatives=2000)


@pytest.fixture(scope="module")
def tiny_trained(tiny_data: AuxData) -> TrainedAux:
    return train_aux(tiny_data, TINY_AUX)


@pytest.fixture(scope="module")
def tiny_registry(tiny_trained: TrainedAux, tmp_path_factory: pytest.TempPathFactory) -> Registry:
    reg = Registry(tmp_path_factory.mktemp("auxreg"))
    t = tiny_trained
    write_trained_aux(reg, t)
    return reg


def test_every_head_gets_training_and_validation_data(tiny_data: AuxData) -> None:
    for head in AUX_HEADS:
        texts, y, w = tiny_data.heads[head].arrays("train")
        assert len(texts) >= LIMIT and len(y) == len(texts) == len(w)
        assert len(tiny_data.heads[head].arrays("val")[0]) > 0
    assert set(tiny_data.heads["info"].arrays("train")[1]) == {0.0, 1.0}
    pol = tiny_data.heads["politeness"].arrays("train")[1]
    assert pol.min() >= -1 and pol.max() <= 1


def test_bundle_scores_equal_training_side_predictions(
    tiny_trained: TrainedAux, tiny_registry: Registry, tiny_data: AuxData
) -> None:
    texts = tiny_data.evals["advice"]["test"].texts[:40] + ["", "lol", "THANK YOU so much!!"]
    t = tiny_trained
    z = t.featurizer.transform(texts) @ t.weights + t.bias  # the matrix sklearn was fitted on
    loaded = AuxModels.from_registry(tiny_registry).score(texts)
    expect = {
        "toxicity": t.calibrator(z[:, 0]),
        "politeness": np.clip(z[:, 1], -1, 1),
        "supportiveness": np.clip(z[:, 2], -1, 1),
        "advice": 1 / (1 + np.exp(-z[:, 3])),
        "info": 1 / (1 + np.exp(-z[:, 4])),
    }
    for head in AUX_HEADS:
        np.testing.assert_allclose(loaded[head], expect[head], rtol=1e-4, atol=1e-5)


def test_tiny_heads_learn_their_task(tiny_registry: Registry, tiny_data: AuxData) -> None:
    from sklearn.metrics import roc_auc_score

    aux = AuxModels.from_registry(tiny_registry)
    info = tiny_data.evals["info"]["test"]
    assert roc_auc_score(info.y, aux.score(info.texts)["info"]) > 0.8
    sup = tiny_data.evals["supportiveness"]["goemotions_test"]
    assert np.corrcoef(aux.score(sup.texts)["supportiveness"], sup.y)[0, 1] > 0.1


def test_toxicity_calibration_is_monotone(tiny_trained: TrainedAux) -> None:
    p = tiny_trained.calibrator(np.linspace(-20, 20, 401))
    assert (np.diff(p) >= -1e-12).all() and p.min() >= 0 and p.max() <= 1


def test_isotonic_calibration_recovers_a_monotone_map() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=600)
    y = np.clip(1 / (1 + np.exp(-2 * z)) + rng.normal(scale=0.05, size=600), 0, 1)
    cal, info = fit_calibrator(z, y, "isotonic")
    assert cal.kind == "isotonic" and info["n"] == 600
    grid = np.linspace(-3, 3, 61)
    assert (np.diff(cal(grid)) >= 0).all()
    assert np.abs(cal(grid) - 1 / (1 + np.exp(-2 * grid))).mean() < 0.06
    _auto, info = fit_calibrator(z, y, "auto")
    assert set(info["cv"]) == {"isotonic", "quantile", "platt"}
    assert info["chosen"] == max(
        info["cv"], key=lambda k: (info["cv"][k]["kappa"], -info["cv"][k]["mse"])
    )
    q, _ = fit_calibrator(z, y, "quantile")
    # quantile matching: the share above each threshold matches the reference's
    for t in (0.5, 0.8):
        assert abs((q(z) >= t).mean() - (y >= t).mean()) < 0.02


def test_eval_json_is_one_object_with_every_head(
    tiny_registry: Registry, data_dir: Path, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        [
            "aux",
            "--no-train",
            "--eval",
            "--json",
            "--limit",
            str(LIMIT),
            "--data",
            str(data_dir),
            "--registry",
            str(tiny_registry.root),
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["version"] == tiny_registry.current_version("aux")
    for head in AUX_HEADS:
        assert "heldout" in out[head] and "paper" in out[head]
    assert out["advice"]["paper"]["f1"] == 0.762 and out["info"]["paper"]["f1"] == 0.713
    assert out["advice"]["heldout"]["test"]["threshold"] == 0.7
    ph = out["toxicity"]["heldout"]["perspective_heldout"]
    assert {"at_0.5", "at_0.8", "calibration_error", "pearson_r"} <= set(ph)
    assert 0 <= ph["at_0.5"]["accuracy"] <= 1
    assert out["toxicity"]["heldout"]["toxichat_test"]["auc"] is not None
    assert 0 <= out["toxicity"]["heldout"]["goemotions_benign_test"]["rate_at_0.5"] <= 1
    assert {"test", "college_test"} <= set(out["info"]["heldout"])
    assert {"test", "paper_like_test"} <= set(out["advice"]["heldout"])
    saved = json.loads((var_dir / "reports" / "aux" / f"eval-{out['version']}.json").read_text())
    assert saved["version"] == out["version"]


def test_missing_data_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DataMissingError):
        load_aux_data(tmp_path)
    assert main(["aux", "--data", str(tmp_path), "--registry", str(tmp_path / "r")]) == 2
    assert "missing" in capsys.readouterr().err


def test_splits_are_grouped_and_disjoint(data_dir: Path) -> None:
    keys = ["a", "b", "a", "c", "b"] * 3
    s = group_split(keys)
    for k in set(keys):
        assert len(set(s[[i for i, x in enumerate(keys) if x == k]])) == 1
    pz = load_perspective(data_dir / "aux")
    assert not set(pz["train"].texts) & set(pz["test"].texts)
    ad = load_advice(data_dir / "aux", limit=50)
    assert set(ad["train"].y) <= {0.0, 1.0} and all(ad["train"].texts)


def test_validation_score_is_macro_averaged_over_sources() -> None:
    from training.aux.fit import validation_score

    y = np.array([0, 1, 0, 1, 0, 0, 1, 1], dtype=float)
    z = np.array([0.1, 0.9, 0.2, 0.8, 0.9, 0.8, 0.1, 0.2])  # source a perfect, b inverted
    src = np.array(["a"] * 4 + ["b"] * 4, dtype=object)
    assert validation_score("logistic", y, z, src) == pytest.approx(0.5)
    one_class = np.array(["pos"] * 4 + ["neg"] * 4, dtype=object)
    y2 = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=float)
    z2 = np.array([0.9, 0.8, 0.7, 0.6, 0.1, 0.2, 0.3, 0.65])
    pooled = validation_score("logistic", y2, z2, one_class)  # no source has both classes
    assert pooled == pytest.approx(15 / 16)


def test_cli_trains_a_current_bundle_with_its_heldout_figures(
    data_dir: Path, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reg = Registry(var_dir / "reg")
    rc = main(
        [
            "aux",
            "--data",
            str(data_dir),
            "--registry",
            str(reg.root),
            "--limit",
            "60",
            "--char-bits",
            "10",
            "--vocab-min-df",
            "2",
            "--json",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    bundle = reg.current("aux")
    assert bundle.version == out["version"]
    assert bundle.metrics["advice"]["heldout"]["test"] == out["advice"]["heldout"]["test"]
    assert bundle.params["validation"]["toxicity"]["calibration"]["chosen"] == "isotonic"
    assert bundle.config["training_data_hash"]
    scores = AuxModels.from_bundle(bundle).score(["thanks a lot!", "go away idiot"])
    assert all(v.shape == (2,) for v in scores.values())


def test_fixed_regularisation_skips_the_validation_grid(tiny_data: AuxData) -> None:
    import dataclasses

    from training.commands.aux import _fixed_reg

    grid = dataclasses.replace(TINY_AUX, c_grid=(1.0, 4.0), alpha_grid=(1.0, 3.0))
    cfg = dataclasses.replace(grid, fixed_reg=_fixed_reg("toxicity=4, politeness=3"))
    t = train_aux(tiny_data, cfg)
    assert t.validation["toxicity"]["by_reg"].keys() == {"4.0"}
    assert t.validation["politeness"]["by_reg"].keys() == {"3.0"}
    assert t.validation["advice"]["by_reg"].keys() == {"1.0", "4.0"}  # still chosen
    assert t.params["chosen_reg"]["toxicity"] == 4.0
    with pytest.raises(Exception, match="HEAD=VALUE"):
        _fixed_reg("nonsense=1")


def test_features_assembled_from_the_idf_pass_equal_featurising_again(
    tiny_trained: TrainedAux, tiny_data: AuxData
) -> None:
    from training.aux.fit import FeatureCache, fit_idf

    from models.aux import Featurizer

    f = tiny_trained.featurizer
    distinct = list(dict.fromkeys(tiny_data.all_train_texts()))[:300]
    more = tiny_data.evals["advice"]["test"].texts[:50] + distinct[:20]  # some seen, some not
    parts: list = []
    idf = fit_idf(Featurizer(f.spec), distinct, chunk=64, keep=parts)
    assert np.array_equal(idf, fit_idf(Featurizer(f.spec), distinct, chunk=64))
    assert len(parts) == (len(distinct) + 63) // 64
    g = Featurizer(f.spec, idf=idf)
    fresh = FeatureCache(g, distinct + more, chunk=64)
    reused = FeatureCache(g, distinct + more, chunk=64, known=(distinct, parts))
    for texts in (distinct, more, more[::-1]):
        a, b = fresh.rows(texts), reused.rows(texts)
        assert a.shape == b.shape and (a != b).nnz == 0


def test_logistic_heads_reach_the_primal_solvers_optimum(
    tiny_trained: TrainedAux, tiny_data: AuxData
) -> None:
    """The logistic heads are fitted with liblinear's dual solver (faster on many more
    features than texts): same weighted L2 objective, so the primal Newton solver's scores."""
    from sklearn.linear_model import LogisticRegression
    from training.aux.fit import FeatureCache, _fit_linear

    texts, y, w = tiny_data.heads["advice"].arrays("train")
    x = FeatureCache(tiny_trained.featurizer, texts).rows(texts)
    coef, intercept = _fit_linear("logistic", x, y, w, 4.0)
    primal = LogisticRegression(C=4.0, solver="liblinear", tol=1e-8, max_iter=1000)
    primal.fit(x, (y > 0.5).astype(int), sample_weight=w)
    z, z_primal = x @ coef + intercept, primal.decision_function(x)
    assert np.corrcoef(z, z_primal)[0, 1] > 0.999
    assert np.abs(z - z_primal).max() < 0.05 * np.abs(z_primal).max()


def test_large_c_keeps_the_primal_solver(monkeypatch: pytest.MonkeyPatch) -> None:
    """The dual solver converges slowly at large C: there the primal one fits the head."""
    import scipy.sparse as sp
    from training.aux import fit

    seen: list[bool] = []

    class Spy(fit.LogisticRegression):  # type: ignore[misc]
        def fit(self, *a: object, **k: object) -> Spy:
            seen.append(self.dual)
            return super().fit(*a, **k)  # type: ignore[no-any-return]

    monkeypatch.setattr(fit, "LogisticRegression", Spy)
    x = sp.csr_matrix(np.eye(6, 8))
    y, w = np.array([0, 1, 0, 1, 0, 1.0]), np.ones(6)
    for c in (4.0, fit.DUAL_MAX_C, 64.0):
        fit._fit_linear("logistic", x, y, w, c)
    assert seen == [True, True, False]
