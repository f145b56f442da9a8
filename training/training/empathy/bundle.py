"""Writing a trained empathy network as an ``empathy`` bundle.

Bundles: docs/architecture.md, "Model bundles and the registry".

Layout: ``model.safetensors`` (the :class:`models.empathy.network.EmpathyNet` state dict),
``encoder/config.json`` (BERT config), ``tokenizer/`` (``tokenizer.json`` + vocab + configs);
``params`` carry the labels' heads, ``max_len`` for inference, the training ``max_len``, the
decision rules tuned on validation, the split seed and the training arguments.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from models.bundle import Bundle, BundleWriter, Registry
from models.empathy.classifier import BUNDLE_NAME
from models.empathy.network import HEADS, LABELS
from training.empathy.metrics import Decision

__all__ = ["INFER_MAX_LEN", "write_bundle"]

logger = logging.getLogger(__name__)

#: Inference bound on tokens per sentence (training sentences are <= 53 tokens).
INFER_MAX_LEN = 128


def write_bundle(
    registry: Registry,
    model: Any,
    tokenizer: Any,
    *,
    decisions: Mapping[str, Decision],
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
    data_hash: str,
    make_current: bool = True,
) -> Bundle:
    """Save ``model`` + ``tokenizer`` into ``registry`` and return the loaded bundle."""
    state = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    enc_cfg = model.encoder.config.to_dict()
    with BundleWriter(
        registry,
        BUNDLE_NAME,
        labels=list(LABELS),
        features=["text"],
        params={
            "heads": dict(HEADS),
            "max_len": INFER_MAX_LEN,
            "pooling": "mean",
            "batch_size": 64,
            "decisions": {k: d.to_dict() for k, d in decisions.items()},
            **dict(params),
        },
        metrics=dict(metrics),
        training_data_hash=data_hash,
        make_current=make_current,
    ) as w:
        w.save_tensors("model.safetensors", state)
        w.save_json("encoder/config.json", enc_cfg)
        with tempfile.TemporaryDirectory() as tmp:
            tokenizer.save_pretrained(tmp)
            for p in sorted(Path(tmp).iterdir()):
                if p.is_file() and p.suffix in (".json", ".txt"):
                    w.add_file(p, f"tokenizer/{p.name}")
        version = w.version
    return registry.get(BUNDLE_NAME, version)
