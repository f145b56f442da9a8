"""`prosocial empathy` and `prosocial-train eval-empathy` command lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streaming.cli import main as prosocial
from tests.empathy_support import tiny_empathy


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Any]:
    return tiny_empathy(tmp_path_factory, data_dir)


def test_missing_bundle_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = prosocial(["empathy", "--registry", str(tmp_path), "hello there"])
    assert rc == 2
    assert "prosocial-train empathy" in capsys.readouterr().err


@pytest.mark.slow
def test_file_json_prints_one_object_per_line(
    tiny: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "in.txt"
    lines = [
        "I am so scared. What should I do?",
        "",
        "You will get through this!\\nHugs.",
        "x" * 100_000,
    ]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rc = prosocial(["empathy", "--registry", str(tiny["registry"]), "--file", str(f), "--json"])
    assert rc == 0
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(out) == 4
    for obj, text in zip(out, [lines[0], lines[1], "You will get through this!\nHugs.", lines[3]]):
        assert obj["text"] == text
        assert obj["label"] in {"none", "seeking", "providing"}
        assert set(obj["probs"]) == {"none", "seeking", "providing"}
        for s in obj["sentences"]:
            assert set(s) == {"text", "label", "probs"}
    assert [s["text"] for s in out[2]["sentences"]] == ["You will get through this!", "Hugs."]
    assert out[1]["sentences"] == [] and out[1]["label"] == "none"


@pytest.mark.slow
def test_model_path_overrides_registry(
    tiny: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = prosocial(
        [
            "empathy",
            "--registry",
            str(tmp_path),
            "--model",
            str(tiny["bundle"].path),
            "--json",
            "Stay strong.",
            "We are with you.",
        ]
    )
    assert rc == 0
    (obj,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert obj["text"] == "Stay strong. We are with you."
    assert len(obj["sentences"]) == 2


@pytest.mark.slow
def test_eval_empathy_json_has_the_issue_shape(
    tiny: dict[str, Any], data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from training.cli import main as train_cli

    rc = train_cli(
        ["eval-empathy", "--registry", str(tiny["registry"]), "--data", str(data_dir), "--json"]
    )
    assert rc == 0
    (line,) = capsys.readouterr().out.splitlines()
    obj = json.loads(line)
    assert set(obj) == {"multi", "seek", "provide", "n_test", "seed", "model"}
    for s in ("multi", "seek", "provide"):
        assert set(obj[s]) == {"p", "r", "f1"} and 0 <= obj[s]["f1"] <= 100
    assert obj["n_test"] == 1001 and obj["seed"] == 42
    assert obj["model"] == tiny["bundle"].version
