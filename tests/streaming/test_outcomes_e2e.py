"""End to end on real reddit-college slices: a tiny aux bundle, ``prosocial-train trajectory``
on one slice, ``prosocial outcomes`` (resumable, JSONL and Parquet) on another."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from models.aux import AuxModels
from models.bundle import Registry
from models.metrics.conversation import conversation_metrics
from models.metrics.names import METRIC_NAMES, METRIC_SIGNS
from models.outcomes import Outcome, OutcomeComputer
from models.trajectory import Trajectory
from redditdata.forest import iter_threads
from streaming.cli import main as prosocial

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registry(
    tiny_aux_registry: Path, train_slice: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """aux + trajectory bundles; the trajectory trained by the real CLI on the train slice."""

    from training.cli import main as prosocial_train

    root = tmp_path_factory.mktemp("registry")
    shutil.copytree(tiny_aux_registry, root, dirs_exist_ok=True)
    var = tmp_path_factory.mktemp("var")
    buf = io.StringIO()
    with pytest.MonkeyPatch.context() as env, contextlib.redirect_stdout(buf):
        env.setenv("PROSOCIAL_VAR_DIR", str(var))
        rc = prosocial_train(
            ["trajectory", "--data", str(train_slice), "--registry", str(root), "--json"]
        )
    assert rc == 0
    report = json.loads(buf.getvalue())
    assert (var / "reports" / "trajectory" / "loadings.png").stat().st_size > 0
    (root / "report.json").write_text(json.dumps(report))
    return root


def _tlcs(dump: Path) -> list:  # type: ignore[type-arg]
    return [t for th in iter_threads(dump) for t in th.tlcs]


def test_trajectory_report_and_bundle(registry: Path) -> None:
    report = json.loads((registry / "report.json").read_text())
    assert list(report["loadings"]) == list(METRIC_NAMES)
    assert 0 < report["explained_variance_ratio"] < 1
    assert report["n_train_conversations"] > 50 and report["n_heldout_conversations"] > 0
    signed = sum(METRIC_SIGNS[m] * v for m, v in report["loadings"].items())
    assert signed > 0
    # conversation size metrics carry the shared "more, deeper conversation" variance
    for m in ("subsequent_comments", "conversation_depth", "sustained_partners"):
        assert report["loadings"][m] > 0.1
    traj = Trajectory.from_registry(Registry(registry))
    assert traj.version == report["version"]
    assert traj.markers is not None and traj.markers.source == "liwc-coord"


def test_outcomes_cli_resumes_jsonl_without_duplicates(
    registry: Path, eval_slice: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    assert (
        prosocial(
            [
                "outcomes",
                "--data",
                str(eval_slice),
                "--out",
                str(out),
                "--registry",
                str(registry),
                "--limit",
                "25",
                "--json",
            ]
        )
        == 0
    )
    first = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(first) == 25
    with out.open("a") as fh:  # a run killed mid-write leaves a torn line
        fh.write('{"tlc": "t1_torn", "met')
    assert (
        prosocial(
            ["outcomes", "--data", str(eval_slice), "--out", str(out), "--registry", str(registry)]
        )
        == 0
    )
    rows = [Outcome.from_dict(json.loads(x)) for x in out.read_text().splitlines()]
    tlcs = _tlcs(eval_slice)
    assert sorted(r.tlc for r in rows) == sorted(t.name for t in tlcs)
    assert all(r.trajectory is not None and np.isfinite(r.trajectory) for r in rows)
    assert {r.versions["trajectory"] for r in rows} == {
        Registry(registry).current_version("trajectory")
    }


def test_outcomes_match_reference_metrics_on_real_threads(registry: Path, eval_slice: Path) -> None:
    reg = Registry(registry)
    aux = AuxModels.from_registry(reg)
    computer = OutcomeComputer(aux, Trajectory.from_registry(reg))
    tlcs = [t for t in _tlcs(eval_slice) if t.size() > 1][:40]
    outs = computer.compute(tlcs)
    for tlc, o in zip(tlcs, outs):
        assert o.metrics == pytest.approx(
            conversation_metrics(tlc, aux, computer.markers), abs=1e-9
        )


def test_trajectory_ranks_bigger_friendlier_conversations_higher(
    registry: Path, eval_slice: Path
) -> None:
    reg = Registry(registry)
    outs = OutcomeComputer(AuxModels.from_registry(reg), Trajectory.from_registry(reg)).compute(
        _tlcs(eval_slice)
    )
    traj = np.array([o.trajectory for o in outs])
    size = np.array([o.metrics["subsequent_comments"] for o in outs])
    assert spearmanr(traj, size).statistic > 0.5


def test_outcomes_cli_parquet_resume(registry: Path, eval_slice: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "out.parquet"
    args = ["outcomes", "--data", str(eval_slice), "--out", str(out), "--registry", str(registry)]
    assert prosocial([*args, "--limit", "10"]) == 0
    assert pq.read_table(out).num_rows == 10
    assert prosocial(args) == 0
    table = pq.read_table(out)
    names = table.column("tlc").to_pylist()
    assert len(names) == len(set(names)) == len(_tlcs(eval_slice))
    assert set(METRIC_NAMES) <= set(table.column_names)
    assert not (tmp_path / "out.parquet.partial").exists()


def test_outcomes_cli_names_the_training_command_when_bundles_are_missing(
    tiny_aux_registry: Path, eval_slice: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["outcomes", "--data", str(eval_slice), "--out", str(tmp_path / "o.jsonl")]
    # aux missing, then aux present and trajectory missing
    for registry, hint in ((empty, "aux"), (tiny_aux_registry, "trajectory")):
        assert prosocial([*argv, "--registry", str(registry)]) == 2
        assert f"prosocial-train {hint}" in capsys.readouterr().err
