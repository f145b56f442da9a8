"""Distillation on a transfer set: unlabelled rows learnt from the teacher's probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from training.empathy.trainer import Args, Trainer, Transfer, _batches
from training.errors import TrainingError


def _trainer(alpha: float = 0.5) -> Trainer:
    return Trainer(Args(distill_alpha=alpha), data=None)  # type: ignore[arg-type]


def test_a_transfer_row_has_only_the_soft_term_and_a_labelled_row_the_blend() -> None:
    torch.manual_seed(0)
    logits = {"seek": torch.randn(4, 2)}
    targets = {"seek": torch.tensor([1, 0, -1, -1])}  # two train rows, two transfer rows
    soft = {"seek": torch.tensor([[0.2, 0.8], [0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])}
    rows = np.arange(4)
    got = _trainer(alpha=0.25)._loss(logits, rows, targets, soft)

    logp = F.log_softmax(logits["seek"], -1)
    kd = -(soft["seek"] * logp).sum(-1)
    hard = -logp[torch.arange(2), targets["seek"][:2]]
    want = torch.cat([0.25 * hard + 0.75 * kd[:2], kd[2:]]).mean()
    assert torch.allclose(got, want)


def test_without_a_transfer_set_the_loss_is_the_batch_mean_blend_as_before() -> None:
    torch.manual_seed(1)
    logits = {"multi": torch.randn(5, 3)}
    targets = {"multi": torch.tensor([0, 1, 2, 1, 0])}
    soft = {"multi": torch.softmax(torch.randn(5, 3), -1)}
    rows = np.arange(5)
    got = _trainer()._loss(logits, rows, targets, soft)
    hard = F.cross_entropy(logits["multi"], targets["multi"])
    kd = -(soft["multi"] * F.log_softmax(logits["multi"], -1)).sum(-1).mean()
    assert torch.allclose(got, 0.5 * hard + 0.5 * kd)
    plain = _trainer()._loss(logits, rows, targets, None)
    assert torch.allclose(plain, hard)


def test_batches_cover_exactly_the_rows_of_the_epoch() -> None:
    lengths = list(range(100))
    rows = np.concatenate([np.arange(10), np.array([50, 60, 70])])
    got = _batches(lengths, 4, np.random.default_rng(0), rows)
    assert sorted(int(i) for b in got for i in b) == sorted(rows.tolist())
    every = _batches(lengths, 4, np.random.default_rng(0))
    assert sorted(int(i) for b in every for i in b) == lengths


def test_a_transfer_set_needs_one_probability_row_per_text() -> None:
    with pytest.raises(TrainingError, match="2 texts but 3 seek rows"):
        Transfer(["a", "b"], {"seek": np.zeros((3, 2), dtype=np.float32)})
    assert len(Transfer(["a"], {"seek": np.zeros((1, 2), dtype=np.float32)})) == 1
