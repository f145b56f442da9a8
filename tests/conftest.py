"""Shared fixtures: the data directory, small real slices, an isolated registry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models.paths import default_data_dir


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = default_data_dir()
    if not (d / "reddit-college").exists():
        pytest.fail(f"data directory {d} missing (set PROSOCIAL_DATA_DIR); see README 'Data'")
    return d


@pytest.fixture()
def registry_dir(tmp_path: Path) -> Path:
    d = tmp_path / "registry"
    d.mkdir()
    return d


@pytest.fixture()
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's own ``PROSOCIAL_VAR_DIR`` (where commands write reports)."""
    monkeypatch.setenv("PROSOCIAL_VAR_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    # Nothing may download weights or data at run time.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # Machine-local caches (ONNX graphs, fast-path choices) stay out of the checkout's var/.
    monkeypatch.setenv("PROSOCIAL_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
