"""Training the forecaster on a small real slice: bundle round-trip, forecasts, eval JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from training.forecaster.bundle import write_bundle
from training.forecaster.dataset import build_examples, split_by_post, structural_target
from training.forecaster.evaluate import eval_json, predict_examples
from training.forecaster.job import MPQA_REL
from training.forecaster.trainer import ForecasterArgs, ForecasterTrainer, TextInputs

from models.bundle import Registry, data_window
from models.forecaster.context import CONTEXT_FEATURES, TlcContext
from models.forecaster.model import RETRAIN_COMMAND, Forecast, Forecaster
from models.forecaster.text import load_mpqa

pytestmark = pytest.mark.slow


CHECKPOINTS = (900, 3600)


@pytest.fixture(scope="module")
def slice_examples(data_dir: Path):
    from models.forecaster.checkpoint import CheckpointFeaturizer
    from models.outcomes import OutcomeComputer

    fz = CheckpointFeaturizer(OutcomeComputer(None, None, memo=True))
    return build_examples(
        data_dir / "reddit-college",
        structural_target,
        max_threads=30,
        checkpoints=CHECKPOINTS,
        featurizer=fz,
    )


@pytest.fixture(scope="module")
def trained(slice_examples, data_dir: Path, tmp_path_factory):
    subj = load_mpqa(str(data_dir / MPQA_REL))
    split = split_by_post(slice_examples)
    # one checkpoint model (+1 h) keeps the fixture cheap; the examples carry both delays
    args = ForecasterArgs(n_boot=10, lda_iterations=20, checkpoints=(3600,))
    tr = ForecasterTrainer(args, slice_examples, split, TextInputs(subj)).train()
    reg = Registry(tmp_path_factory.mktemp("registry"))
    version = write_bundle(
        tr,
        reg,
        subj=subj,
        metrics={},
        params={"target": "structural"},
        data_hash="test",
        data_window=data_window(slice_examples.arrays()[3], source="slice"),
    )
    return tr, split, reg, version


def test_bundle_with_the_relative_text_score_round_trips(slice_examples, data_dir: Path, tmp_path):
    from models.forecaster.model import TEXT_REL_SCORE

    subj = load_mpqa(str(data_dir / MPQA_REL))
    split = split_by_post(slice_examples)
    args = ForecasterArgs(
        n_boot=0,
        lda_iterations=20,
        ablations=False,
        weight_schemes=("sqrt",),
        text_relative=True,
        checkpoints=(),
    )
    tr = ForecasterTrainer(args, slice_examples, split, TextInputs(subj)).train()
    assert tr.main_names[-2:] == ["tlc_wording_ngram_score", TEXT_REL_SCORE]
    assert tr.info["main_weights"] == "sqrt" and tr.text_rel_ridge is not None
    reg = Registry(tmp_path)
    write_bundle(tr, reg, subj=subj, metrics={}, params={"target": "structural"}, data_hash="test")
    fc = Forecaster.from_registry(reg)
    assert fc.text_rel_ridge is not None
    preds = predict_examples(fc, slice_examples.subset(split.test))
    np.testing.assert_allclose(preds["main"], tr.preds["main"], rtol=1e-4, atol=1e-4)


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
    window = json.loads((reg.current("forecaster").path / "config.json").read_text())["data_window"]
    created = [t.created_utc for t in slice_examples.tlcs]
    assert window == {
        "from_utc": min(created),
        "until_utc": max(created),
        "items": len(created),
        "source": "slice",
    }


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
    for k in (
        "main",
        "mean",
        "ridge",
        "gbm",
        "main_no_time",
        "main_no_author",
        "main_no_context",
        "chronological",
        "reddit_order",
        "oracle",
    ):
        assert len(tr.preds[k]) == len(split.test)
        assert {"r2", "pairwise_acc", "pairwise_acc_time_matched", "ndcg5"} <= set(tr.results[k])
    assert tr.results["oracle"]["pairwise_acc"] == 1.0
    assert tr.results["mean"]["pairwise_acc"] == 0.5
    assert set(tr.results["_margins"]) >= {"mean", "ridge", "gbm", "chronological"}
    assert "pairwise_acc_post_macro" in tr.results["main"]


def test_main_model_weighting_is_chosen_on_the_balanced_validation_objective(trained):
    from training.forecaster.weights import DEFAULT_SCHEMES

    info = trained[0].info
    cands = info["main_weight_candidates_val"]
    assert set(cands) == set(DEFAULT_SCHEMES)
    assert info["main_weights"] == min(cands, key=lambda k: cands[k]["mse_balanced"])
    rel = info["text_relative_val"]
    assert rel["kept"] == (rel["with"]["mse_balanced"] < rel["without"]["mse_balanced"])
    assert info["text_relative"] == rel["kept"]


def test_eval_json_has_the_issue_shape(trained, slice_examples):
    _, split, reg, _ = trained
    test_ex = slice_examples.subset(split.test)
    out = eval_json(test_ex, predict_examples(Forecaster.from_registry(reg), test_ex))
    keys = {
        "n_tlc",
        "n_posts",
        "mse",
        "r2",
        "spearman",
        "pairwise_acc",
        "pairwise_acc_time_matched",
        "ndcg5",
        "pairwise_acc_post_macro",
        "baselines",
    }
    assert set(out) == keys | {"target", "by_checkpoint"}
    # every delay the examples carry (900 s is re-forecast by the +1 h model)
    assert list(out["by_checkpoint"]) == ["0", "900", "3600"]
    for block in out["by_checkpoint"].values():
        assert set(block) == keys
        assert set(block["baselines"]) == {"mean", "chronological", "reddit_order"}
    assert out["by_checkpoint"]["0"]["r2"] == out["r2"]
    assert set(out["baselines"]) == {"mean", "ridge", "gbm", "reddit_order", "chronological"}
    assert set(out["baselines"]["gbm"]) == keys - {"n_tlc", "n_posts", "baselines"}
    assert "r2" not in out["baselines"]["chronological"]
    assert out["n_tlc"] == len(split.test)
    json.dumps(out)


def test_eval_forecaster_cli_prints_one_json_object(trained, data_dir, capsys):
    from training.cli import main

    reg = trained[2]
    rc = main(
        [
            "eval-forecaster",
            "--registry",
            str(reg.root),
            "--data",
            str(data_dir / "reddit-college"),
            "--max-threads",
            "5",
            "--json",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    obj = json.loads(out[0])
    assert obj["n_posts"] == 5 and obj["baselines"]["mean"]["pairwise_acc"] == 0.5


def test_minilm_model_trains_on_frozen_encodings_and_scores_the_same_test_rows(
    trained, slice_examples
):
    from training.forecaster.dataset import Split
    from training.forecaster.neural import train_minilm

    tr, full = trained[0], trained[1]
    split = Split(full.train, full.val, full.test[:120], "by_post")
    res, pred, info = train_minilm(
        slice_examples, split, tr, max_train=300, max_val=100, n_boot=0, epochs=3
    )
    assert pred.shape == (120,) and np.all(np.isfinite(pred))
    assert info["n_train"] == 300 and 0 <= info["best_epoch"] < 3
    assert {"r2", "pairwise_acc", "ndcg5"} <= set(res)


def test_context_bundle_reads_contexts_and_defaults_to_a_first_time_author(trained, slice_examples):
    tr, split, reg, _ = trained
    fc = Forecaster.from_registry(reg)
    assert fc.use_context and fc.main_names[-len(CONTEXT_FEATURES) - 1 : -1] == list(
        CONTEXT_FEATURES
    )
    test_ex = slice_examples.subset(split.test)
    groups = [
        (post, [test_ex.tlcs[i] for i in idx], None, [test_ex.context[i] for i in idx])
        for post, idx in test_ex.by_post()
    ]
    assert any(c is not None and c.prior_tlcs > 0 for g in groups for c in g[3])
    with_ctx = fc.predict_many(groups)
    np.testing.assert_allclose([f.value for f in with_ctx], tr.preds["main"], rtol=1e-4, atol=1e-4)
    # missing context = every author new (documented default), both spellings agree
    bare = fc.predict_many([g[:3] for g in groups])
    empty = fc.predict_many([(p, t, n, [TlcContext()] * len(t)) for p, t, n, _ in groups])
    np.testing.assert_allclose([f.value for f in bare], [f.value for f in empty], rtol=1e-6)
    post, tlcs, _, contexts = groups[0]
    x_ctx, _ = fc.design_many([(post, tlcs, None, contexts)])
    x_bare, _ = fc.design_many([(post, tlcs, None)])
    j = fc.features.names.index("author_log_prior_tlcs")
    assert (x_ctx[:, j] != x_bare[:, j]).any() or not any(
        c is not None and c.prior_tlcs for c in contexts
    )


def test_bundle_without_context_keeps_its_layout_and_unknown_layouts_name_the_retrain(trained):
    """A bundle trained before context features (no ``use_context``) is read with the old
    layout; a layout this code does not know fails naming the retrain command."""
    from models.bundle import Bundle
    from models.errors import BundleError

    _, _, reg, _ = trained
    b = reg.current("forecaster")
    cfg = json.loads(json.dumps(dict(b.config)))
    p = cfg["params"]
    p.pop("use_context")
    p["feature_names"] = p["feature_names"][: -len(CONTEXT_FEATURES)]
    fc = Forecaster(Bundle(b.path, cfg))
    assert not fc.use_context and fc.features.names == p["feature_names"]
    p["feature_names"] = [*p["feature_names"], "something_new"]
    with pytest.raises(BundleError, match=RETRAIN_COMMAND):
        Forecaster(Bundle(b.path, cfg))


def test_checkpoint_models_round_trip_and_see_the_conversation_so_far(trained, slice_examples):
    tr, split, reg, _ = trained
    assert sorted(tr.checkpoints) == [3600]
    fc = Forecaster.from_registry(reg)
    assert sorted(fc.checkpoints) == [3600]
    preds = predict_examples(fc, slice_examples.subset(split.test))
    np.testing.assert_allclose(
        preds["checkpoint_3600"], tr.checkpoints[3600].test_pred, rtol=1e-4, atol=1e-4
    )
    # a checkpoint forecast knows the replies so far: it beats the forecast at creation
    by_cp = tr.by_checkpoint
    assert by_cp["3600"]["main"]["r2"] > by_cp["0"]["main"]["r2"]
    assert fc.model_for(7200) == 3600 and fc.model_for(900) == 3600 and fc.model_for(0) == 0


def test_predict_many_at_a_checkpoint_reads_the_replies_as_they_stood(trained, data_dir):
    from redditdata.forest import iter_threads

    fc = Forecaster.from_registry(trained[2])
    thread = next(
        t for t in iter_threads(data_dir / "reddit-college", max_threads=40) if len(t.tlcs) >= 3
    )
    group = [(thread.post, thread.tlcs, None)]
    at_creation = fc.predict_many(group)
    later = fc.predict_many(group, checkpoint=3600)
    assert len(later) == len(thread.tlcs)
    assert [f.value for f in later] != [f.value for f in at_creation]
    assert any(r[0] == "replies so far" for f in later for r in f.reasons)


def test_checkpoint_reforecasts_reuse_the_rows_from_creation(trained, data_dir):
    """A checkpoint re-forecast reuses each TLC's row from its forecast at creation (as
    training does): the same values as designing it again, for fully, partly and not at all
    remembered batches."""
    from redditdata.forest import iter_threads

    threads = [
        t for t in iter_threads(data_dir / "reddit-college", max_threads=40) if len(t.tlcs) >= 3
    ][:2]
    groups = [(t.post, t.tlcs, None) for t in threads]
    plain = Forecaster.from_registry(trained[2], design_cache_size=0)
    cached = Forecaster.from_registry(trained[2])
    assert cached.design_rows.size > 0 and plain.design_rows.size == 0
    want = [f.value for f in plain.predict_many(groups, checkpoint=3600)]
    cached.predict_many(groups[:1])  # only the first post forecast at creation
    assert len(cached.design_rows) == len(threads[0].tlcs)
    assert [f.value for f in cached.predict_many(groups, checkpoint=3600)] == pytest.approx(want)
    cached.predict_many(groups[1:])
    assert [f.value for f in cached.predict_many(groups, checkpoint=3600)] == pytest.approx(want)
    tiny = Forecaster.from_registry(trained[2], design_cache_size=2)
    tiny.predict_many(groups)
    assert len(tiny.design_rows) == 2  # bounded: the oldest rows dropped, then designed again
    assert [f.value for f in tiny.predict_many(groups, checkpoint=3600)] == pytest.approx(want)
