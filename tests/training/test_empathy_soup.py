"""The greedy weight soup of a recipe's seeds (training.empathy.soup) and its place in the
protocol (training.empathy.job.run_protocol)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file
from training.empathy.soup import average_weights, greedy_soup


def _save(tmp_path: Path, name: str, **tensors: list[float]) -> Path:
    path = tmp_path / f"{name}.safetensors"
    save_file({k: torch.tensor(v, dtype=torch.float32) for k, v in tensors.items()}, str(path))
    return path


def test_average_weights_is_the_elementwise_mean(tmp_path: Path) -> None:
    a = _save(tmp_path, "a", w=[1.0, 2.0], b=[0.5])
    b = _save(tmp_path, "b", w=[3.0, -2.0], b=[1.5])
    soup = average_weights([a, b])
    assert torch.equal(soup["w"], torch.tensor([2.0, 0.0])) and torch.equal(
        soup["b"], torch.tensor([1.0])
    )
    assert soup["w"].dtype == torch.float32
    with pytest.raises(ValueError, match="do not match"):
        average_weights([a, _save(tmp_path, "c", w=[1.0, 2.0])])
    with pytest.raises(ValueError):
        average_weights([])


def test_greedy_soup_keeps_only_the_models_that_do_not_lower_the_score(tmp_path: Path) -> None:
    # validation score: closeness to 2.0; ranked best first (1.0 alone scores -1)
    ranked = [
        _save(tmp_path, "first", w=[1.0]),
        _save(tmp_path, "far", w=[-10.0]),  # 1 and -10 average to -4.5: left out
        _save(tmp_path, "helps", w=[3.0]),  # 1 and 3 average to 2.0: kept
    ]
    seen: list[float] = []

    def score(state: dict[str, Any]) -> tuple[float, float]:
        w = float(state["w"][0])
        seen.append(w)
        return -((w - 2.0) ** 2), w

    soup = greedy_soup(ranked, score, first_score=-1.0)
    assert soup is not None and soup.members == [0, 2]
    assert soup.score == 0.0 and soup.result == 2.0
    assert seen == [-4.5, 2.0]


def test_greedy_soup_is_none_when_the_best_model_stays_alone(tmp_path: Path) -> None:
    ranked = [_save(tmp_path, "a", w=[2.0]), _save(tmp_path, "b", w=[8.0])]
    assert greedy_soup(ranked, lambda s: (-float(s["w"][0]), None), first_score=-2.0) is None


@pytest.mark.slow
def test_the_protocol_bundles_the_soup_only_when_it_validates_at_least_as_well(
    tmp_path: Path, data_dir: Path
) -> None:
    import numpy as np
    from training.empathy.data import dataset_path, split_dataset
    from training.empathy.job import head, run_protocol
    from training.empathy.metrics import SETTINGS
    from training.empathy.trainer import Args

    from models.bundle import Registry
    from tests.empathy_support import TINY

    data = head(split_dataset(dataset_path(data_dir)), TINY["train"], TINY["eval"])
    args = Args(epochs=TINY["epochs"], max_len=TINY["max_len"], patience=1, threads=2)
    res = run_protocol(
        data,
        args,
        [0, 1],
        registry=Registry(tmp_path / "registry"),
        report_dir=tmp_path / "report",
        baselines=False,
    )
    s, bundle = res.summary, res.bundle
    assert bundle is not None

    def mean(scores: dict[str, Any]) -> float:
        return float(np.mean([scores[k]["f1"] for k in SETTINGS]))

    best = max(s["runs"], key=lambda r: mean(r["valid"]))
    assert bundle.params["soup_seeds"] == s["bundle_soup"]
    assert bundle.metrics["test"] == s["bundle_test"]
    report = (tmp_path / "report" / "report.md").read_text()
    if s["bundle_soup"] is None:
        assert bundle.metrics["valid"] == best["valid"] and "soup" not in report
    else:
        assert s["bundle_soup"][0] == best["seed"] and sorted(s["bundle_soup"]) == [0, 1]
        assert mean(bundle.metrics["valid"]) >= mean(best["valid"])
        assert s["soup"] == s["bundle_test"] and "greedy weight soup of seeds" in report
