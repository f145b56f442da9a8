"""The teacher cache keeps each seed on its own: a set that adds a seed to a kept one trains
only the new seed, and its averages equal those of the seeds trained together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from training.empathy import distill
from training.empathy.data import EmpathyData, Split
from training.empathy.trainer import Args

HEADS = {"multi": 3, "seek": 2, "provide": 2}


def _data() -> EmpathyData:
    rng = np.random.default_rng(0)

    def split(n: int, tag: str) -> Split:
        return Split([f"{tag} {i}" for i in range(n)], rng.integers(0, 3, n).astype(np.int64))

    return EmpathyData(split(12, "train"), split(9, "valid"), split(9, "test"), 42, "h")


@dataclass
class _Result:
    model: torch.nn.Module
    tokenizer: Any
    best_epoch: int = 1
    seconds: float = 0.1


class _FakeTeacher:
    """A "teacher" whose only weight is its seed: probabilities follow from it and the text."""

    trained: ClassVar[list[int]] = []

    def __init__(self, args: Args, data: EmpathyData, progress: Any = None) -> None:
        self.args = args

    def _model(self, seed: float) -> torch.nn.Module:
        m = torch.nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            m.weight.fill_(seed)
        return m

    def train(self) -> _Result:
        _FakeTeacher.trained.append(int(self.args.seed))
        return _Result(self._model(float(self.args.seed)), None)

    def load(self, path: Path) -> tuple[torch.nn.Module, Any]:
        from safetensors.torch import load_file

        return self._model(float(load_file(str(path))["weight"].item())), None


def _probs(model: Any, tokenizer: Any, texts: list[str], max_len: int, **_: Any) -> dict:
    seed = float(model.weight.item())
    out = {}
    for head, k in HEADS.items():
        x = np.array([[(seed * (j + 1) + len(t)) % 7 + 1 for j in range(k)] for t in texts])
        out[head] = (x / x.sum(1, keepdims=True)).astype(np.float32)
    return out


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[_FakeTeacher]:
    monkeypatch.setattr(distill, "predict_probs", _probs)
    _FakeTeacher.trained = []
    return _FakeTeacher


def test_adding_a_seed_trains_only_that_seed(fake: Any, tmp_path: Path) -> None:
    data, args = _data(), Args(epochs=1)
    texts = ["a transfer sentence", "another one", "x"]

    def teachers(seeds: list[int], cache: Path | None, transfer: list[str] = texts) -> Any:
        return distill.train_teachers(
            data, args, seeds, trainer=fake, transfer_texts=transfer, cache_dir=cache
        )

    one = teachers([100], tmp_path / "c")
    assert fake.trained == [100]
    two = teachers([100, 101], tmp_path / "c")
    assert fake.trained == [100, 101]  # seed 100 came from the cache
    assert two.summary["trained"] == [101] and two.summary["seeds"] == [100, 101]
    assert len(two.summary["cache"]) == 2 and two.summary["cache"][0] == one.summary["cache"][0]
    together = teachers([100, 101], None)  # both trained in one go, nothing cached
    assert fake.trained == [100, 101, 100, 101]
    for head in HEADS:
        np.testing.assert_allclose(two.soft_targets[head], together.soft_targets[head])
        assert two.transfer is not None and together.transfer is not None
        np.testing.assert_allclose(two.transfer.soft[head], together.transfer.soft[head])
    assert two.summary["ensemble_test"] == together.summary["ensemble_test"]
    # a new transfer set is labelled by the kept weights of every seed, none trained again
    other = teachers([101, 100], tmp_path / "c", transfer=["new", "texts"])
    assert fake.trained == [100, 101, 100, 101]
    assert other.transfer is not None
    np.testing.assert_allclose(
        other.transfer.soft["seek"],
        (
            _probs(fake(args, data)._model(100.0), None, ["new", "texts"], 8)["seek"]
            + _probs(fake(args, data)._model(101.0), None, ["new", "texts"], 8)["seek"]
        )
        / 2,
        rtol=1e-6,
    )
