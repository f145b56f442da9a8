"""The heads' loss weights: parsed from ``--loss-weights``, carried to the students' Args and
applied per head in the trainer's loss."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
import training.commands.empathy as empathy_cmd
from training.commands import empathy_teacher
from training.commands.options import loss_weights
from training.empathy.trainer import Args, Trainer


def test_parses_named_heads_and_keeps_the_others_at_one() -> None:
    assert loss_weights("seek=1.5") == {"multi": 1.0, "seek": 1.5, "provide": 1.0}
    assert loss_weights(" multi=0.5 , provide=2,") == {"multi": 0.5, "seek": 1.0, "provide": 2.0}


@pytest.mark.parametrize("text", ["seeking=2", "seek", "seek=much", "seek=-1", "seek=nan"])
def test_rejects_unknown_heads_and_bad_weights(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        loss_weights(text)


@pytest.mark.parametrize("mod", [empathy_cmd, empathy_teacher])
def test_student_commands_take_the_option(mod: object) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    mod.register(sub)  # type: ignore[attr-defined]
    name = mod.__name__.rsplit(".", 1)[1].replace("_", "-")  # type: ignore[attr-defined]
    ns = parser.parse_args([name, "--loss-weights", "seek=2"])
    assert ns.loss_weights == {"multi": 1.0, "seek": 2.0, "provide": 1.0}
    assert parser.parse_args([name]).loss_weights is None
    with pytest.raises(SystemExit):
        parser.parse_args([name, "--loss-weights", "empathy=2"])


def _loss(weights: dict[str, float]) -> float:
    trainer = Trainer(Args(loss_weights=weights), data=None)  # type: ignore[arg-type]
    gen = torch.Generator().manual_seed(0)
    logits = {
        "multi": torch.randn(4, 3, generator=gen),
        "seek": torch.randn(4, 2, generator=gen),
        "provide": torch.randn(4, 2, generator=gen),
    }
    targets = {
        "multi": torch.tensor([0, 1, 2, 0]),
        "seek": torch.tensor([0, 1, 0, 0]),
        "provide": torch.tensor([0, 0, 1, 0]),
    }
    return float(trainer._loss(logits, np.arange(4), targets, None))


def test_the_loss_weighs_each_head_by_its_weight() -> None:
    ones = {"multi": 1.0, "seek": 1.0, "provide": 1.0}
    only = {h: _loss({**{k: 0.0 for k in ones}, h: 1.0}) for h in ones}
    assert all(v > 0 for v in only.values())
    assert _loss(ones) == pytest.approx(sum(only.values()), rel=1e-6)
    assert _loss({**ones, "seek": 3.0}) == pytest.approx(sum(only.values()) + 2 * only["seek"])
