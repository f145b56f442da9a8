"""The empathy-direction network: a MiniLM (BERT) encoder, mean pooling, one head per setting.

The paper (Hosseini & Caragea, AAAI 2021, Table 5) trains a classifier per setting: binary
seek-vs-rest, binary provide-vs-rest and 3-class. :class:`EmpathyNet` shares one encoder and keeps
a separate linear head per setting (``multi``: 3 logits, ``seek``/``provide``: 2 logits each).
Training (``training.empathy``) fits it; :mod:`models.empathy.classifier` loads it for inference.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

__all__ = [
    "HEADS",
    "LABELS",
    "EmpathyNet",
    "LowerNet",
    "MiddleNet",
    "PooledHeads",
    "UpperNet",
    "build_encoder_config",
    "mean_pool",
    "split_network",
]

#: The 3-class labels in dataset order (iEmpathize: 0 none, 1 seeking, 2 providing).
LABELS: tuple[str, ...] = ("none", "seeking", "providing")
#: Head name -> number of logits.
HEADS: dict[str, int] = {"multi": 3, "seek": 2, "provide": 2}


def build_encoder_config(config: Mapping[str, Any]) -> Any:
    """A ``transformers.BertConfig`` from a plain dict (the bundle's ``encoder/config.json``)."""
    from transformers import BertConfig

    cfg = {k: v for k, v in config.items() if not k.startswith("_")}
    return BertConfig(**cfg)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of token vectors over the attention mask (the all-MiniLM-L6-v2 pooling)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-6)


class PooledHeads(nn.Module):
    """An ``encoder`` (a ``transformers`` model), mean pooling, dropout and one linear head per
    setting: ``embed`` gives the pooled sentence vectors, ``classify`` their logits per head
    and ``forward`` both in turn. Training reads the pooled vectors too (a student matching
    its teacher's, docs/architecture.md, "Empathy distillation")."""

    encoder: Any

    def __init__(self, hidden: int, heads: Mapping[str, int] | None, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({k: nn.Linear(hidden, n) for k, n in (heads or HEADS).items()})

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(out.last_hidden_state, attention_mask)

    def classify(self, pooled: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = self.dropout(pooled)
        return {k: head(pooled) for k, head in self.heads.items()}

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        return self.classify(self.embed(input_ids, attention_mask))


class EmpathyNet(PooledHeads):
    """A MiniLM (BERT) encoder + mean pooling + dropout + one linear head per setting;
    ``forward`` returns logits per head."""

    def __init__(
        self, encoder_config: Any, heads: Mapping[str, int] | None = None, dropout: float = 0.1
    ) -> None:
        from transformers import BertModel

        # the encoder first, so a seed initialises the heads as it always has
        encoder = BertModel(encoder_config, add_pooling_layer=False)
        super().__init__(int(encoder_config.hidden_size), heads, dropout)
        self.encoder = encoder


def _attention_mask(config: Any, hidden: torch.Tensor, mask: torch.Tensor) -> Any:
    """The attention layers' mask for ``mask``, made as ``BertModel.forward`` makes it."""
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(config=config, inputs_embeds=hidden, attention_mask=mask)


def _run_layers(
    config: Any, layers: nn.ModuleList, hidden: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """``hidden`` through encoder ``layers`` under the attention ``mask``."""
    att = _attention_mask(config, hidden, mask)
    for block in layers:
        hidden = block(hidden, att)
    return hidden


class LowerNet(nn.Module):
    """The embeddings and the first ``layer`` encoder layers of an :class:`EmpathyNet`:
    ``(input_ids, attention_mask)`` → ``(hidden states, their mean over the mask)``, what the
    cascade's early exit (:mod:`models.empathy.exit`) reads."""

    def __init__(self, net: EmpathyNet, layer: int) -> None:
        super().__init__()
        self.config = net.encoder.config
        self.embeddings = net.encoder.embeddings
        self.layers = nn.ModuleList(net.encoder.encoder.layer[:layer])

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.embeddings(input_ids=input_ids)
        hidden = _run_layers(self.config, self.layers, hidden, attention_mask)
        return hidden, mean_pool(hidden, attention_mask)


class MiddleNet(nn.Module):
    """Encoder layers ``start`` to ``stop`` of an :class:`EmpathyNet`, between two early exits:
    ``(hidden states, attention_mask)`` → ``(hidden states, their mean over the mask)``."""

    def __init__(self, net: EmpathyNet, start: int, stop: int) -> None:
        super().__init__()
        self.config = net.encoder.config
        self.layers = nn.ModuleList(net.encoder.encoder.layer[start:stop])

    def forward(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = _run_layers(self.config, self.layers, hidden, attention_mask)
        return hidden, mean_pool(hidden, attention_mask)


class UpperNet(nn.Module):
    """The encoder layers after ``layer`` and the heads of an :class:`EmpathyNet`:
    ``(hidden states, attention_mask)`` → logits per head; ``UpperNet(LowerNet(x))`` computes
    what ``EmpathyNet(x)`` does."""

    def __init__(self, net: EmpathyNet, layer: int) -> None:
        super().__init__()
        self.config = net.encoder.config
        self.layers = nn.ModuleList(net.encoder.encoder.layer[layer:])
        self.heads = net.heads

    def forward(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        hidden = _run_layers(self.config, self.layers, hidden, attention_mask)
        pooled = mean_pool(hidden, attention_mask)
        return {k: head(pooled) for k, head in self.heads.items()}


def split_network(net: EmpathyNet, layers: int | Sequence[int]) -> tuple[Any, ...]:
    """``net`` cut after each encoder layer of ``layers`` (increasing, each 1 ≤ layer < its
    layer count): ``(LowerNet, MiddleNet..., UpperNet)``, one part more than cuts; the parts
    share ``net``'s modules (eval mode, as ``net``) and, chained, compute what it does."""
    n = len(net.encoder.encoder.layer)
    cuts = [layers] if isinstance(layers, int) else [int(k) for k in layers]
    if not cuts or any(not 1 <= k < n for k in cuts) or cuts != sorted(set(cuts)):
        raise ValueError(f"cannot cut a {n}-layer encoder after layers {cuts}")
    parts: list[nn.Module] = [LowerNet(net, cuts[0])]
    parts += [MiddleNet(net, a, b) for a, b in itertools.pairwise(cuts)]
    parts.append(UpperNet(net, cuts[-1]))
    return tuple(p.train(net.training) for p in parts)
