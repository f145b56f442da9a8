"""The empathy-direction network: a MiniLM (BERT) encoder, mean pooling, one head per setting.

The paper (Hosseini & Caragea, AAAI 2021, Table 5) trains a classifier per setting: binary
seek-vs-rest, binary provide-vs-rest and 3-class. :class:`EmpathyNet` shares one encoder and keeps
a separate linear head per setting (``multi``: 3 logits, ``seek``/``provide``: 2 logits each).
Training (``training.empathy``) fits it; :mod:`models.empathy.classifier` loads it for inference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["HEADS", "LABELS", "EmpathyNet", "build_encoder_config", "mean_pool"]

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


class EmpathyNet(nn.Module):
    """Encoder + dropout + one linear head per setting; ``forward`` returns logits per head."""

    def __init__(
        self, encoder_config: Any, heads: Mapping[str, int] | None = None, dropout: float = 0.1
    ) -> None:
        super().__init__()
        from transformers import BertModel

        self.encoder = BertModel(encoder_config, add_pooling_layer=False)
        self.dropout = nn.Dropout(dropout)
        hidden = int(encoder_config.hidden_size)
        self.heads = nn.ModuleDict({k: nn.Linear(hidden, n) for k, n in (heads or HEADS).items()})

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(out.last_hidden_state, attention_mask)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        pooled = self.dropout(self.embed(input_ids, attention_mask))
        return {k: head(pooled) for k, head in self.heads.items()}
