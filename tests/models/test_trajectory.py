from __future__ import annotations

import json

import numpy as np
import pytest

from models.bundle import BundleWriter, Registry
from models.errors import BundleError, BundleMissingError
from models.metrics.names import METRIC_NAMES, METRIC_TRANSFORMS
from models.trajectory import Trajectory, apply_transforms


def _write(registry: Registry, **over) -> None:  # type: ignore[no-untyped-def]
    k = len(METRIC_NAMES)
    d = {"features": list(METRIC_NAMES),
         "transforms": [METRIC_TRANSFORMS[m] for m in METRIC_NAMES],
         "mean": [0.5] * k, "std": [2.0] * k, "loadings": list(np.linspace(-1, 1, k))}
    d.update(over)
    with BundleWriter(registry, "trajectory", features=list(METRIC_NAMES)) as w:
        w.save_json("trajectory.json", d)


def test_transforms_compress_counts_and_keep_sign() -> None:
    x = np.array([[0.0, 9.0, -9.0, 0.3]])
    out = apply_transforms(x, ["log1p", "log1p", "signed_log1p", "identity"])
    assert out[0] == pytest.approx([0.0, np.log(10), -np.log(10), 0.3])


def test_transform_standardises_then_projects(registry_dir) -> None:  # type: ignore[no-untyped-def]
    reg = Registry(registry_dir)
    _write(reg)
    traj = Trajectory.from_registry(reg)
    rows = [{m: float(i) for i, m in enumerate(METRIC_NAMES)}]
    x = np.arange(len(METRIC_NAMES), dtype=float)[None, :]
    expected = ((apply_transforms(x, traj.transforms) - 0.5) / 2.0) @ traj.loadings
    assert traj.transform(rows) == pytest.approx(expected)
    assert traj.transform(x) == pytest.approx(expected)
    assert traj.version == reg.current_version("trajectory")


def test_missing_bundle_names_the_training_command(registry_dir) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BundleMissingError) as exc:
        Trajectory.from_registry(Registry(registry_dir))
    assert "prosocial-train trajectory" in str(exc.value)


@pytest.mark.parametrize("over", [{"std": [0.0] * len(METRIC_NAMES)},
                                  {"features": ["nope"] + list(METRIC_NAMES[1:])},
                                  {"loadings": [1.0]},
                                  {"transforms": ["cube"] * len(METRIC_NAMES)}])
def test_malformed_bundle_is_rejected(registry_dir, over) -> None:  # type: ignore[no-untyped-def]
    reg = Registry(registry_dir)
    _write(reg, **over)
    with pytest.raises(BundleError):
        Trajectory.from_registry(reg)


def test_tampered_bundle_fails_verification(registry_dir) -> None:  # type: ignore[no-untyped-def]
    reg = Registry(registry_dir)
    _write(reg)
    p = reg.current("trajectory", verify=False).path / "trajectory.json"
    d = json.loads(p.read_text())
    d["loadings"][0] = 99.0
    p.write_text(json.dumps(d))
    with pytest.raises(BundleError):
        Trajectory.from_registry(reg)


def test_rows_missing_a_metric_are_an_error(registry_dir) -> None:  # type: ignore[no-untyped-def]
    reg = Registry(registry_dir)
    _write(reg)
    with pytest.raises(ValueError, match="lacks"):
        Trajectory.from_registry(reg).transform([{"gratitude": 1.0}])
