"""Session fixtures shared by the end-to-end tests: a tiny aux bundle trained on small real
slices of ``<data>/aux`` and small real reddit-college dump slices."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.bundle import Registry

__all__ = ["eval_slice", "tiny_aux_registry", "train_slice"]


@pytest.fixture(scope="session")
def tiny_aux_registry(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding a current ``aux`` bundle trained on 150 items per dataset split."""
    from training.aux.bundle import write_trained_aux
    from training.aux.datasets import load_aux_data
    from training.aux.fit import train_aux

    from tests.tiny_aux import TINY_AUX

    t = train_aux(load_aux_data(data_dir, limit=150, college_negatives=2000), TINY_AUX)
    root = tmp_path_factory.mktemp("e2e-registry")
    write_trained_aux(Registry(root), t)
    return root


@pytest.fixture(scope="session")
def train_slice(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.slices import write_slice

    return write_slice(data_dir, tmp_path_factory.mktemp("slice-train"), n_threads=120)


@pytest.fixture(scope="session")
def eval_slice(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.slices import write_slice

    return write_slice(
        data_dir, tmp_path_factory.mktemp("slice-eval"), n_threads=40, skip_threads=120
    )
