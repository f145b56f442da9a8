"""Writing the ``forecaster`` bundle (layout: :mod:`models.forecaster.model`)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from models.bundle import BundleWriter, Registry
from models.trajectory import MARKERS_FILE, SAFE_FILE, TRAJECTORY_FILE, Trajectory
from training.forecaster.trainer import Trained

__all__ = ["write_bundle"]


def write_bundle(
    tr: Trained,
    registry: Registry,
    *,
    subj: tuple[list[str], list[str]],
    metrics: dict[str, Any],
    params: dict[str, Any],
    data_hash: str,
    make_current: bool = True,
    trajectory: Trajectory | None = None,
) -> str:
    """Write ``tr`` as a ``forecaster`` bundle; ``trajectory``: the trajectory (and safe
    outcome) the checkpoint features were measured with, stored in the bundle so serving
    measures conversations exactly as training did."""
    fe = tr.extractor
    p = dict(params)
    p |= {
        "feature_names": fe.names,
        "main_feature_names": tr.main_names,
        "subreddits": fe.subreddits,
        "metric_names": fe.metric_names,
        "use_empathy": fe.use_empathy,
        "use_context": fe.use_context,
        "mean_value": tr.mean_value,
        "conformal_q": tr.conformal_q,
        "main": (
            "xgboost(features + n-gram text score"
            + (" + relative n-gram text score)" if tr.text_rel_ridge is not None else ")")
        ),
        "n_topics": tr.topics.k,
        "checkpoints": sorted(tr.checkpoints),
        "checkpoint_models": {
            str(d): {"feature_names": cp.names, "conformal_q": cp.conformal_q}
            for d, cp in tr.checkpoints.items()
        },
        "subreddit_offsets": {str(d): off for d, off in tr.offsets.items()},
    }
    with BundleWriter(
        registry,
        "forecaster",
        labels=[str(params.get("target", "trajectory"))],
        features=tr.main_names,
        params=p,
        metrics=metrics,
        training_data_hash=data_hash,
        make_current=make_current,
    ) as w:
        w.save_tensors(
            "topics.safetensors",
            {"phi": tr.topics.phi.astype(np.float32), "alpha": tr.topics.alpha.astype(np.float64)},
        )
        w.save_json("topics_vocab.json", tr.topics.vocab)
        w.save_json("subjectivity.json", {"strong": list(subj[0]), "weak": list(subj[1])})
        w.save_json("ngram_vocab.json", tr.ridge.vocab)
        w.save_tensors("text_ridge.safetensors", tr.text_ridge.tensors())
        w.save_tensors("ridge.safetensors", tr.ridge.tensors())
        if tr.text_rel_ridge is not None:
            w.save_tensors("text_rel_ridge.safetensors", tr.text_rel_ridge.tensors())
        tr.main.save_model(os.fspath(w.dir / "main.json"))
        tr.gbm.save_model(os.fspath(w.dir / "gbm.json"))
        for d, cp in tr.checkpoints.items():
            cp.model.save_model(os.fspath(w.dir / f"checkpoint_{d}.json"))
        if trajectory is not None:
            w.save_json(TRAJECTORY_FILE, trajectory.to_json())
            if trajectory.markers is not None:
                w.save_json(MARKERS_FILE, trajectory.markers.to_json())
            if trajectory.safe is not None:
                w.save_json(SAFE_FILE, trajectory.safe.to_json())
        version = w.version
    return version
