"""Batched inference of the empathy network's heads: the one loop serving and training share.

:func:`run_heads` writes every head's softmax probabilities for some token sequences into
preallocated arrays. The classifier (:class:`models.empathy.EmpathyClassifier`, any of its
fp32 / bf16 / int8 / ONNX models) and the trainer's validation and test predictions both call
it, so what training measures is what serving computes.

Sequences are batched by length. Shapes are rounded up (width to a multiple of
:data:`WIDTH_STEP`, rows to one of :data:`ROW_STEPS`): the CPU kernels cache one compiled
primitive per input shape, and unbounded shapes grew a scorer's memory by ~100 MB per 1,000
TLCs. Padding rows get one attended position and their output is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["ROW_STEPS", "WIDTH_STEP", "HeadsModel", "run_heads"]

#: Batch widths are rounded up to a multiple of this many tokens.
WIDTH_STEP = 8
#: Batch heights are rounded up to the first of these row counts that fits.
ROW_STEPS = (1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256)

#: ``model(input_ids, attention_mask)`` → logits per head name.
HeadsModel = Callable[["torch.Tensor", "torch.Tensor"], Mapping[str, "torch.Tensor"]]


def _round_up(n: int, step: int) -> int:
    return -(-n // step) * step


def run_heads(
    model: HeadsModel,
    ids: Sequence[Sequence[int]],
    out: Mapping[str, np.ndarray],
    *,
    rows: np.ndarray | None = None,
    batch_size: int = 64,
    pad_id: int = 0,
    bf16_autocast: bool = False,
) -> None:
    """Write ``softmax(model(...))`` of each head into ``out[head][row]`` for the ``rows`` of
    ``ids`` (default: all), ``batch_size`` sequences at a time.

    ``bf16_autocast`` runs the model under CPU bfloat16 autocast (training's validation on a
    CPU with native bf16); serving's bf16 model is already in bfloat16.
    """
    import torch

    rows = np.arange(len(ids)) if rows is None else np.asarray(rows)
    lengths = np.array([len(x) for x in ids])
    order = rows[np.argsort(lengths[rows], kind="stable")]
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            sel = order[start : start + batch_size]
            width = _round_up(max(1, int(lengths[sel].max())), WIDTH_STEP)
            n_rows = next((r for r in ROW_STEPS if r >= len(sel)), len(sel))
            x = torch.full((n_rows, width), pad_id, dtype=torch.long)
            mask = torch.zeros((n_rows, width), dtype=torch.long)
            mask[len(sel) :, 0] = 1  # padding rows: one attended position, output dropped
            for row, i in enumerate(sel.tolist()):
                x[row, : len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
                mask[row, : len(ids[i])] = 1
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16_autocast):
                logits = model(x, mask)
            for head, values in logits.items():
                if head in out:
                    out[head][sel] = torch.softmax(values[: len(sel)].float(), -1).numpy()
