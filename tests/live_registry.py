"""A complete, tiny model registry (aux, trajectory, empathy, forecaster) trained on small real
slices, for tests that start the real service as a subprocess (it loads bundles from a
registry directory, never injected stand-ins)."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import pytest

__all__ = ["build_live_registry"]


def build_live_registry(data_dir: Path, root: Path, work: Path) -> Path:
    """Train every bundle the live service loads into ``root`` (``work`` for slices/reports)."""

    from training.aux.bundle import write_aux_bundle
    from training.aux.datasets import load_aux_data
    from training.aux.fit import train_aux
    from training.cli import main as prosocial_train
    from training.empathy.data import dataset_path, split_dataset
    from training.empathy.job import head, run_protocol
    from training.empathy.trainer import Args
    from training.forecaster.bundle import write_bundle
    from training.forecaster.dataset import build_examples, split_by_post, structural_target
    from training.forecaster.job import MPQA_REL
    from training.forecaster.trainer import ForecasterArgs, ForecasterTrainer, TextInputs

    from models.bundle import Registry
    from models.forecaster.text import load_mpqa
    from tests.slices import write_slice
    from tests.tiny_aux import TINY_AUX

    root.mkdir(parents=True, exist_ok=True)
    reg = Registry(root)
    t = train_aux(load_aux_data(data_dir, limit=150, college_negatives=2000), TINY_AUX)
    write_aux_bundle(
        reg,
        t.featurizer,
        t.weights,
        t.bias,
        t.calibrator,
        thresholds={"advice": 0.7, "info": 0.7, "toxic": 0.5, "extremely_toxic": 0.8},
        params=t.params,
    )
    train_slice = write_slice(data_dir, work / "slice", n_threads=120)
    with pytest.MonkeyPatch.context() as env, contextlib.redirect_stdout(io.StringIO()):
        env.setenv("PROSOCIAL_VAR_DIR", str(work / "var"))
        rc = prosocial_train(
            ["trajectory", "--data", str(train_slice), "--registry", str(root), "--json"]
        )
    assert rc == 0, "prosocial-train trajectory failed"
    data = head(split_dataset(dataset_path(data_dir)), 240, 120)
    emp = work / "empathy"
    run_protocol(
        data,
        Args(epochs=1, max_len=32, patience=1, threads=2),
        [0],
        registry=Registry(emp),
        report_dir=work / "empathy-report",
        baselines=False,
    )
    shutil.copytree(emp, root, dirs_exist_ok=True)
    subj = load_mpqa(str(data_dir / MPQA_REL))
    ex = build_examples(data_dir / "reddit-college", structural_target, max_threads=30)
    # one checkpoint model (+1 h) keeps it cheap, as the forecaster tests do
    args = ForecasterArgs(n_boot=10, lda_iterations=20, checkpoints=(3600,))
    tr = ForecasterTrainer(args, ex, split_by_post(ex), TextInputs(subj)).train()
    write_bundle(tr, reg, subj=subj, metrics={}, params={"target": "structural"}, data_hash="test")
    return root
