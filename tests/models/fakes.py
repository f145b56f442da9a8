"""Test-only stand-ins: a tiny deterministic implementation of the aux-model protocol and a
tree builder for hand-made conversations."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from redditdata.tree import Node

__all__ = ["FakeAux", "tree"]

_RUDE = ("idiot", "stupid", "hate", "shut up", "dumb")


class FakeAux:
    """Scores texts with transparent keyword rules; counts calls and texts."""

    version = "fake-1"

    def __init__(self) -> None:
        self.thresholds = {"toxic": 0.5, "extremely_toxic": 0.8, "advice": 0.7, "info": 0.7}
        self.calls = 0
        self.texts = 0

    def score(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        self.calls += 1
        self.texts += len(texts)
        low = [t.lower() for t in texts]
        rude = np.array([sum(t.count(w) for w in _RUDE) for t in low], dtype=np.float64)
        return {
            "toxicity": np.minimum(1.0, 0.45 * rude),
            "politeness": np.array(
                [0.5 if "please" in t else (-0.5 if "shut up" in t else 0.0) for t in low]
            ),
            "supportiveness": np.array([0.8 if "you can do it" in t else 0.1 for t in low]),
            "advice": np.array([0.9 if "you should" in t else 0.2 for t in low]),
            "info": np.array([0.75 if "because" in t else 0.1 for t in low]),
        }


_ids = itertools.count(1)


def tree(spec: Any, parent: str = "t3_post", depth: int = 0) -> Node:
    """Build a Node from ``(author, body[, score], [children])`` tuples."""
    author, body, *rest = spec
    score = rest[0] if rest and isinstance(rest[0], int) else 1
    kids = rest[-1] if rest and isinstance(rest[-1], list) else []
    n = next(_ids)
    node = Node(
        name=f"t1_x{n}",
        parent=parent,
        author=author,
        body=body,
        score=score,
        created_utc=1_600_000_000 + n,
        depth=depth,
    )
    node.children = [tree(k, node.name, depth + 1) for k in kids]
    return node
