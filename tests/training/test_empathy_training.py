"""`prosocial-train empathy` end to end on a small real slice (tiny MiniLM fine-tune)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.empathy_support import TINY, tiny_empathy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Any]:
    return tiny_empathy(tmp_path_factory, data_dir)


def test_protocol_writes_a_verified_current_bundle(tiny: dict[str, Any]) -> None:
    from models.bundle import Registry

    reg = Registry(tiny["registry"])
    bundle = reg.current("empathy")  # verifies sha256 of every file
    assert bundle.version == tiny["summary"]["bundle"]
    assert bundle.labels == ["none", "seeking", "providing"]
    p = bundle.params
    assert p["heads"] == {"multi": 3, "seek": 2, "provide": 2}
    assert p["train_max_len"] == TINY["max_len"] and p["split_seed"] == 42
    assert set(p["decisions"]) == {"multi", "seek", "provide"}
    assert not any(f.endswith((".bin", ".pt", ".pkl")) for f in bundle.config["files"])


def test_report_has_figures_paper_rows_and_confusion_png(tiny: dict[str, Any]) -> None:
    rep = tiny["report_dir"]
    png = rep / "confusion.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (rep / "report.md").read_text(encoding="utf-8")
    assert "paper: BERT-base (Table 5)" in md and "84.49" in md
    summary = json.loads((rep / "report.json").read_text(encoding="utf-8"))
    for s in ("multi", "seek", "provide"):
        assert {"p", "r", "f1", "f1_sd"} <= set(summary["minilm"][s])
    cm = summary["confusion"]["multi"]
    assert sum(map(sum, cm)) == TINY["eval"]
    assert summary["runs"][0]["history"][0]["epoch"] == 1


def test_quick_command_prints_one_json_object(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from training.cli import main as train_cli

    rc = train_cli(
        [
            "empathy",
            "--quick",
            "--no-baselines",
            "--data",
            str(data_dir),
            "--registry",
            str(tmp_path / "reg"),
            "--report-dir",
            str(tmp_path / "rep"),
            "--json",
        ]
    )
    assert rc == 0
    (line,) = capsys.readouterr().out.splitlines()
    obj = json.loads(line)
    assert obj["seeds"] == [0] and obj["n"] == [300, 200, 200]
    assert (tmp_path / "reg" / "empathy" / "CURRENT").read_text().strip() == obj["bundle"]
