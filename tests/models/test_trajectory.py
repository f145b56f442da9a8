from __future__ import annotations

import json
import re

import numpy as np
import pytest

from models.bundle import BundleWriter, Registry
from models.errors import BundleError, BundleMissingError
from models.metrics.names import METRIC_NAMES, METRIC_TRANSFORMS
from models.trajectory import Trajectory, apply_transforms


def _write(registry: Registry, markers=None, **over) -> None:  # type: ignore[no-untyped-def]
    k = len(METRIC_NAMES)
    d = {
        "features": list(METRIC_NAMES),
        "transforms": [METRIC_TRANSFORMS[m] for m in METRIC_NAMES],
        "mean": [0.5] * k,
        "std": [2.0] * k,
        "loadings": list(np.linspace(-1, 1, k)),
    }
    d.update(over)
    with BundleWriter(registry, "trajectory", features=list(METRIC_NAMES)) as w:
        w.save_json("trajectory.json", d)
        if markers is not None:
            w.save_json("markers.json", markers)


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


@pytest.mark.parametrize(
    "over",
    [
        {"std": [0.0] * len(METRIC_NAMES)},
        {"features": ["nope"] + list(METRIC_NAMES[1:])},
        {"loadings": [1.0]},
        {"transforms": ["cube"] * len(METRIC_NAMES)},
    ],
)
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


def test_bundle_markers_drive_accommodation_in_serving(registry_dir) -> None:  # type: ignore[no-untyped-def]
    from models.metrics.accommodation import Markers
    from models.outcomes import OutcomeComputer

    only_the = Markers("test-only", ("article",), (re.compile(r"\bthe\b"),))
    reg = Registry(registry_dir)
    _write(reg, markers=only_the.to_json())
    traj = Trajectory.from_registry(reg)
    assert traj.markers is not None and traj.markers.source == "test-only"
    computer = OutcomeComputer(None, traj)
    assert computer.markers.classes == ("article",)
    assert computer.versions["markers"] == "test-only"


def test_broken_markers_file_is_a_bundle_error(registry_dir) -> None:  # type: ignore[no-untyped-def]
    reg = Registry(registry_dir)
    _write(reg, markers={"source": "x", "classes": ["a", "b"], "patterns": ["a"]})
    with pytest.raises(BundleError):
        Trajectory.from_registry(reg)
