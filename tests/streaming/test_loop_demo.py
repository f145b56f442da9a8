"""The retraining loop on a small real slice (r/GradSchool): replay 1–4 Oct 2021 with a champion,
train a challenger from the database, shadow it on 5–8 Oct, compare, promote or refuse; a
challenger trained on shuffled outcomes is refused."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from models.bundle import Registry
from models.registry import audit_log, challenger_version
from streaming.loop import LoopConfig, run_loop

# three forecaster trainings and three replays: minutes on a 2-core CPU
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2700)]

SUBS = ("GradSchool",)
LIGHT = ("--max-threads", "150", "--no-time-split", "--n-boot", "10", "--no-empathy",
         "--lda-iterations", "20", "--weight-schemes", "none")  # fmt: skip


def _train(argv: list[str]) -> None:
    from training.cli import main as prosocial_train

    with contextlib.redirect_stdout(io.StringIO()):
        assert prosocial_train(argv) == 0


@pytest.fixture(scope="module")
def champion_registry(
    tiny_aux_registry: Path,
    train_slice: Path,
    data_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    root = tmp_path_factory.mktemp("loop-registry")
    shutil.copytree(tiny_aux_registry, root, dirs_exist_ok=True)
    _train(["trajectory", "--data", str(train_slice), "--registry", str(root)])
    dump = str(data_dir / "reddit-college")
    _train(["forecaster", "--data", dump, "--registry", str(root), *LIGHT])
    return root


def test_loop_promotes_or_refuses_on_evidence_and_refuses_shuffled(
    champion_registry: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROSOCIAL_VAR_DIR", str(tmp_path / "var"))
    reg_dir = tmp_path / "registry"
    shutil.copytree(champion_registry, reg_dir)
    reg = Registry(reg_dir)
    champion = reg.current_version("forecaster")
    cfg = LoopConfig(
        data=data_dir,
        registry=reg_dir,
        work=tmp_path / "work",
        month1=("2021-10-01", "2021-10-05"),
        month2=("2021-10-05", "2021-10-09"),
        subreddits=SUBS,
        trainer=[sys.executable, "-m", "training.cli"],
        train_args=LIGHT,
        n_boot=50,
        worse_seed=1,
    )
    rep = run_loop(cfg)
    json.dumps(rep, default=str)
    assert set(rep) >= {"champion", "challenger", "compare", "decision", "worse_challenger"}
    assert rep["champion"]["version"] == champion
    ch = rep["challenger"]["version"]
    assert ch != champion and rep["challenger"]["trained_on"]["tlcs"] > 50
    # the challenger trained on month 1 only, was compared on month 2
    assert rep["challenger"]["trained_on"]["until"] <= rep["compare"]["window"]["since"]
    assert rep["compare"]["champion"] == champion and rep["compare"]["challenger"] == ch
    overall = rep["compare"]["by_subreddit"]["*"]
    assert overall["n_tlcs"] > 100
    for fig in ("r2", "pairwise_acc", "pairwise_acc_time_matched", "ndcg5"):
        assert fig in overall["champion"] and fig in overall["challenger"]["ci"]
    assert SUBS[0] in rep["compare"]["by_subreddit"]
    sc = rep["challenger"]["shadow_cost"]
    assert sc["tlcs"] >= overall["n_tlcs"] and sc["tlcs_per_s"] > 0
    # promotion follows the gate, both ways, and is in the audit log
    d = rep["decision"]
    assert d["promoted"] == d["promote"]
    actions = [e.action for e in audit_log(reg, "forecaster")]
    assert actions.count("candidate") == 2 and "challenger" in actions
    assert reg.current_version("forecaster") == (ch if d["promote"] else champion)
    w = rep["worse_challenger"]
    assert w["trained_on"]["shuffle_seed"] == 1
    assert not w["decision"]["promote"] and not w["decision"]["promoted"]
    assert reg.current_version("forecaster") != w["version"]
    assert challenger_version(reg, "forecaster") is None
