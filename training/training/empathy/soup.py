"""Greedy weight soups of a recipe's seeds (docs/architecture.md, "Empathy distillation").

Wortsman et al. (ICML 2022), "Model soups": models fine-tuned from one pretrained checkpoint
can be averaged in weight space, and the average often scores like an ensemble of them while
costing one model at inference. The seeds of one empathy recipe all start from the same MiniLM
encoder and differ only in head initialisation and data order, and their heads are linear over
nearly the same features, so averaging the heads is close to averaging their logits.

The *greedy* soup ranks the candidates by validation score, starts from the best and adds each
next one only if the soup's validation score does not drop; :func:`greedy_soup` returns nothing
when no candidate joined, so the best single model stays the choice. Every decision here uses
validation only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import torch

__all__ = ["Soup", "average_weights", "greedy_soup"]

T = TypeVar("T")


@dataclass
class Soup(Generic[T]):
    """The greedy soup: which candidates (indices into the ranked list) it averages, its
    validation score and what the scoring function returned for it."""

    members: list[int]
    score: float
    result: T


def average_weights(paths: Sequence[str | Path]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the state dicts saved (safetensors) at ``paths``."""
    from safetensors.torch import load_file

    if not paths:
        raise ValueError("a soup needs at least one model")
    total: dict[str, torch.Tensor] = {}
    for path in paths:
        state = load_file(str(path))
        if total and state.keys() != total.keys():
            raise ValueError(f"{path}: its weights do not match the other models'")
        for name, tensor in state.items():
            t = tensor.double()
            total[name] = total[name] + t if name in total else t
    return {name: (t / len(paths)).float() for name, t in total.items()}


def greedy_soup(
    ranked: Sequence[str | Path],
    score: Callable[[dict[str, torch.Tensor]], tuple[float, T]],
    *,
    first_score: float,
) -> Soup[T] | None:
    """Add the models at ``ranked`` (best validation score first; ``first_score`` is the
    first's) one by one to a weight average, keeping each whose addition does not lower
    ``score``; ``None`` when the best model alone remains."""
    members, best, result = [0], first_score, None
    for i in range(1, len(ranked)):
        s, r = score(average_weights([ranked[j] for j in [*members, i]]))
        if s >= best:
            members, best, result = [*members, i], s, r
    if result is None:
        return None
    return Soup(members=members, score=best, result=result)
