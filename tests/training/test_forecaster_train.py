"""Training the forecaster on a small real slice: bundle round-trip, forecasts, eval JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from training.forecaster.bundle_io import write_bundle
from training.forecaster.dataset import build_examples, split_by_post, structural_target
from training.forecaster.evaluate import eval_json, predict_examples
from training.forecaster.pipeline import train_models
from training.forecaster.run import MPQA_REL

from models.bundle import Registry
from models.forecaster.model import Forecast, Forecaster
from models.forecaster.text import load_mpqa

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slice_examples(data_dir: Path):
    return build_examples(data_dir / "reddit-college", structural_target, max_threads=30)


@pytest.fixture(scope="module")
def trained(slice_examples, data_dir: Path, tmp_path_factory):
    subj = load_mpqa(str(data_dir / MPQA_REL))
    split = split_by_post(slice_examples)
    tr = train_models(slice_examples, split, subj=subj, n_boot=10, lda_iterations=20)
    reg = Registry(tmp_path_factory.mktemp("registry"))
    version = write_bundle(tr, reg, subj=subj, metrics={}, params={"target": "structural"},
                           data_hash="test")
    return tr, split, reg, version


def test_bundle_round_trip_reproduces_training_predictions(trained, slice_examples):
    tr, split, reg, version = trained
    fc = Forecaster.from_registry(reg)
    assert fc.version == version
    test_ex = slice_examples.subset(split.test)
    preds = predict_examples(fc, test_ex)
    for k in ("main", "gbm", "ridge", "mean"):
        np.testing.assert_allclose(preds[k], tr.preds[k], rtol=1e-4, atol=1e-4)
    files = {p.suffix for p in reg.current("forecaster").path.iterdir()}
    assert files <= {".json", ".safetensors"}


def test_predict_gives_intervals_and_reasons(trained, slice_examples):
    _, split, reg, _ = trained
    fc = Forecaster.from_registry(reg)
    test_ex = slice_examples.subset(split.test)
    post, idx = next(iter(test_ex.by_post()))
    out = fc.predict(post, [test_ex.tlcs[i] for i in idx])
    assert len(out) == len(idx) and all(isinstance(f, Forecast) for f in out)
    for f in out:
        assert f.lower < f.value < f.upper
        assert len(f.reasons) == 3 and len({r[0] for r in f.reasons}) == 3
    assert fc.predict(post, []) == []


def test_one_batch_across_posts_equals_one_call_per_post(trained, slice_examples):
    _, split, reg, _ = trained
    fc = Forecaster.from_registry(reg)
    test_ex = slice_examples.subset(split.test)
    groups = [(post, [test_ex.tlcs[i] for i in idx], None) for post, idx in test_ex.by_post()]
    assert len(groups) >= 2
    many = fc.predict_many(groups + [(groups[0][0], [], None)])
    one = [f for post, tlcs, _ in groups for f in fc.predict(post, tlcs)]
    assert len(many) == len(one) == sum(len(g[1]) for g in groups)
    np.testing.assert_allclose([f.value for f in many], [f.value for f in one], rtol=1e-5)
    assert [[r[0] for r in f.reasons] for f in many] == [[r[0] for r in f.reasons] for f in one]


def test_training_reports_every_model_and_reference_on_the_same_test_rows(trained):
    tr, split = trained[0], trained[1]
    for k in ("main", "mean", "ridge", "gbm", "main_no_time", "chronological", "reddit_order",
              "oracle"):
        assert len(tr.preds[k]) == len(split.test)
        assert {"r2", "pairwise_acc", "pairwise_acc_time_matched", "ndcg5"} <= set(tr.results[k])
    assert tr.results["oracle"]["pairwise_acc"] == 1.0
    assert tr.results["mean"]["pairwise_acc"] == 0.5
    assert set(tr.results["_margins"]) >= {"mean", "ridge", "gbm", "chronological"}


def test_eval_json_has_the_issue_shape(trained, slice_examples):
    _, split, reg, _ = trained
    test_ex = slice_examples.subset(split.test)
    out = eval_json(test_ex, predict_examples(Forecaster.from_registry(reg), test_ex))
    keys = {"n_tlc", "n_posts", "mse", "r2", "spearman", "pairwise_acc",
            "pairwise_acc_time_matched", "ndcg5", "baselines"}
    assert set(out) == keys
    assert set(out["baselines"]) == {"mean", "ridge", "gbm", "reddit_order", "chronological"}
    assert set(out["baselines"]["gbm"]) == keys - {"n_tlc", "n_posts", "baselines"}
    assert "r2" not in out["baselines"]["chronological"]
    assert out["n_tlc"] == len(split.test)
    json.dumps(out)


def test_eval_forecaster_cli_prints_one_json_object(trained, data_dir, capsys):
    from training.cli import main

    reg = trained[2]
    rc = main(["eval-forecaster", "--registry", str(reg.root), "--data",
               str(data_dir / "reddit-college"), "--max-threads", "5", "--json"])
    assert rc == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    obj = json.loads(out[0])
    assert obj["n_posts"] == 5 and obj["baselines"]["mean"]["pairwise_acc"] == 0.5


def test_minilm_model_trains_on_frozen_encodings_and_scores_the_same_test_rows(trained,
                                                                              slice_examples):
    from training.forecaster.dataset import Split
    from training.forecaster.neural import train_minilm

    tr, full = trained[0], trained[1]
    split = Split(full.train, full.val, full.test[:120], "by_post")
    res, pred, info = train_minilm(slice_examples, split, tr, max_train=300, max_val=100,
                                   n_boot=0, epochs=3)
    assert pred.shape == (120,) and np.all(np.isfinite(pred))
    assert info["n_train"] == 300 and 0 <= info["best_epoch"] < 3
    assert {"r2", "pairwise_acc", "ndcg5"} <= set(res)
