"""Batched inference of the empathy network's heads: the one loop serving and training share.

:func:`run_heads` writes every head's softmax probabilities for some token sequences into
preallocated arrays. The classifier (:class:`models.empathy.EmpathyClassifier`, any of its
fp32 / bf16 / int8 / ONNX models) and the trainer's validation and test predictions both call
it, so what training measures is what serving computes.

Sequences are batched by length (:func:`batches`: cut where padding would cost more than
another batch), and a batch holds at most ``batch_size`` sequences and (beyond
its first) at most ``max_tokens`` padded positions (rows × width, default ``batch_size`` ×
:data:`TOKENS_PER_ROW`): short sentences go many to a batch, long ones few, so a batch that
spans the long tail of a small scoring batch is not padded to its longest sentence (on real
r/college TLCs in the scorer's 128-TLC batches, behind the gate, bf16 on one thread: ~1.15×
less CPU than a fixed 64 rows per batch, the same TLC labels). Shapes are rounded up (width
to a multiple of :data:`WIDTH_STEP`, rows to one of :data:`ROW_STEPS`): the CPU kernels cache
one compiled primitive per input shape, and unbounded shapes grew a scorer's memory by ~100 MB
per 1,000 TLCs. Padding rows get one attended position and their output is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "BATCH_OVERHEAD_TOKENS",
    "ROW_STEPS",
    "TOKENS_PER_ROW",
    "WIDTH_STEP",
    "ExitProbe",
    "HeadsModel",
    "LowerModel",
    "MiddleModel",
    "UpperModel",
    "batches",
    "padded_batch",
    "run_heads",
    "run_heads_with_exits",
    "sorted_batches",
]

#: Batch widths are rounded up to a multiple of this many tokens.
WIDTH_STEP = 8
#: Batch heights are rounded up to the first of these row counts that fits.
ROW_STEPS = (1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256)

#: The default padded-token budget of a batch is ``batch_size`` rows of this many tokens.
TOKENS_PER_ROW = 16

#: A batch's fixed cost in padded positions, what :func:`batches` weighs an extra batch at:
#: on one AVX2 core the MiniLM network took ~0.3 ms per padded position in fp32 (0.17 in int8)
#: and ~6-10 ms per call beyond it in torch (~0.2 ms in ONNX Runtime).
BATCH_OVERHEAD_TOKENS = 24

#: ``model(input_ids, attention_mask)`` → logits per head name.
HeadsModel = Callable[["torch.Tensor", "torch.Tensor"], Mapping[str, "torch.Tensor"]]
#: The encoder's first layers: ``(input_ids, attention_mask)`` → (hidden states, pooled).
LowerModel = Callable[["torch.Tensor", "torch.Tensor"], tuple["torch.Tensor", "torch.Tensor"]]
#: Layers between two exits: ``(hidden states, attention_mask)`` → (hidden states, pooled).
MiddleModel = Callable[["torch.Tensor", "torch.Tensor"], tuple["torch.Tensor", "torch.Tensor"]]
#: The remaining layers and heads: ``(hidden states, attention_mask)`` → logits per head.
UpperModel = Callable[["torch.Tensor", "torch.Tensor"], Mapping[str, "torch.Tensor"]]


class ExitProbe(Protocol):
    """What :func:`run_heads_with_exits` calls of an early exit (:class:`models.empathy.exit.
    EarlyExit`)."""

    labels: list[str]

    def probs(self, pooled: np.ndarray) -> np.ndarray: ...

    def settles(self, probs: np.ndarray) -> np.ndarray: ...


def _round_up(n: int, step: int) -> int:
    return -(-n // step) * step


def _rows_for(n: int) -> int:
    return next((r for r in ROW_STEPS if r >= n), n)


def batches(
    lengths: Sequence[int],
    batch_size: int,
    max_tokens: int,
    overhead: int = BATCH_OVERHEAD_TOKENS,
) -> list[slice]:
    """Consecutive slices of sequences sorted by ``lengths`` (ascending): each at most
    ``batch_size`` long and, beyond its first sequence, at most ``max_tokens`` padded
    positions (rows rounded up to :data:`ROW_STEPS` × width rounded up to :data:`WIDTH_STEP`).

    The cuts minimise the padded positions plus ``overhead`` per batch (dynamic programming
    over the sorted lengths): a call's few sentences are not all padded to its longest one,
    nor up to the next row step, when two batches cost less."""
    n = len(lengths)
    widths = [_round_up(max(1, int(x)), WIDTH_STEP) for x in lengths]
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        width = widths[j - 1]
        for i in range(j - 1, max(0, j - batch_size) - 1, -1):
            rows = _rows_for(j - i)
            if j - i > 1 and rows * width > max_tokens:
                break  # longer batches ending here only grow
            cost = best[i] + rows * width + overhead
            if cost <= best[j]:  # a tie goes to the longer batch: fewer calls
                best[j], cut[j] = cost, i
    out = []
    j = n
    while j > 0:
        out.append(slice(cut[j], j))
        j = cut[j]
    return out[::-1]


def padded_batch(
    ids: Sequence[Sequence[int]], sel: np.ndarray, lengths: np.ndarray, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch of sequences ``sel``: ids and attention mask, shapes rounded up."""
    import torch

    width = _round_up(max(1, int(lengths[sel].max())), WIDTH_STEP)
    n_rows = _rows_for(len(sel))
    x = torch.full((n_rows, width), pad_id, dtype=torch.long)
    mask = torch.zeros((n_rows, width), dtype=torch.long)
    mask[len(sel) :, 0] = 1  # padding rows: one attended position, output dropped
    for row, i in enumerate(sel.tolist()):
        x[row, : len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
        mask[row, : len(ids[i])] = 1
    return x, mask


def sorted_batches(
    ids: Sequence[Sequence[int]],
    rows: np.ndarray | None,
    batch_size: int,
    max_tokens: int | None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The lengths of ``ids`` and the ``rows`` (default: all) cut into :func:`batches` in
    length order, each batch the array of its row indices."""
    rows = np.arange(len(ids)) if rows is None else np.asarray(rows)
    lengths = np.array([len(x) for x in ids])
    order = rows[np.argsort(lengths[rows], kind="stable")]
    budget = max_tokens if max_tokens is not None else batch_size * TOKENS_PER_ROW
    return lengths, [order[part] for part in batches(lengths[order].tolist(), batch_size, budget)]


def run_heads(
    model: HeadsModel,
    ids: Sequence[Sequence[int]],
    out: Mapping[str, np.ndarray],
    *,
    rows: np.ndarray | None = None,
    batch_size: int = 64,
    max_tokens: int | None = None,
    pad_id: int = 0,
    bf16_autocast: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> None:
    """Write ``softmax(model(...))`` of each head into ``out[head][row]`` for the ``rows`` of
    ``ids`` (default: all), in length-sorted batches of at most ``batch_size`` sequences and
    ``max_tokens`` padded positions (default ``batch_size`` × :data:`TOKENS_PER_ROW`).

    ``bf16_autocast`` runs the model under CPU bfloat16 autocast (training's validation on a
    CPU with native bf16); serving's bf16 model is already in bfloat16. ``on_batch`` is called
    after each batch with the number of rows done so far.
    """
    import torch

    lengths, parts = sorted_batches(ids, rows, batch_size, max_tokens)
    done = 0
    with torch.inference_mode():
        for sel in parts:
            x, mask = padded_batch(ids, sel, lengths, pad_id)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16_autocast):
                logits = model(x, mask)
            for head, values in logits.items():
                if head in out:
                    out[head][sel] = torch.softmax(values[: len(sel)].float(), -1).numpy()
            done += len(sel)
            if on_batch is not None:
                on_batch(done)


def run_heads_with_exits(
    parts: Sequence[LowerModel | MiddleModel],
    upper: UpperModel,
    probes: Sequence[ExitProbe],
    ids: Sequence[Sequence[int]],
    out: Mapping[str, np.ndarray],
    *,
    rows: np.ndarray | None = None,
    batch_size: int = 64,
    max_tokens: int | None = None,
    pad_id: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`run_heads` with early exits: ``parts[0]`` (the encoder's first layers) runs on
    each batch and ``probes[0]`` reads its pooled state; the sentences it settles stop there,
    the others continue through ``parts[1]`` (the layers up to the next exit, from the same
    hidden states) to ``probes[1]``, and so on; what the last probe leaves runs ``upper`` and
    gets every head's softmax in ``out``. Returns, for ``rows`` (default: all) in their order,
    the probabilities of the last probe each sentence reached and the settled mask; settled
    rows of ``out`` are left as they were.

    The sentences left at a stage wait and go on together in batches of exactly a
    :data:`ROW_STEPS` height within the token budget (only the last one is padded), instead of
    each batch's few rows padded up to the next row step."""
    import torch

    if len(parts) != len(probes) or not probes:
        raise ValueError(f"{len(parts)} encoder parts for {len(probes)} exits")
    rows = np.arange(len(ids)) if rows is None else np.asarray(rows)
    pos = np.full(len(ids), -1, dtype=np.int64)
    pos[rows] = np.arange(len(rows))
    q_all = np.zeros((len(rows), len(probes[0].labels)), dtype=np.float64)
    settled_all = np.zeros(len(rows), dtype=bool)
    lengths, cuts = sorted_batches(ids, rows, batch_size, max_tokens)
    budget = max_tokens if max_tokens is not None else batch_size * TOKENS_PER_ROW
    #: waiting[i]: the rows probe i left, for parts[i + 1] (or ``upper`` after the last)
    waiting = [_Waiting() for _ in probes]

    def exit_at(i: int, sel: np.ndarray, hidden: Any, pooled: Any, mask: Any) -> None:
        q = probes[i].probs(pooled[: len(sel)].float().numpy())
        done = probes[i].settles(q)
        q_all[pos[sel]] = q
        settled_all[pos[sel[done]]] = True
        go = np.flatnonzero(~done)
        if len(go):
            width = _round_up(max(1, int(lengths[sel[go]].max())), WIDTH_STEP)
            index = torch.from_numpy(go)
            waiting[i].add(sel[go], hidden[index, :width], mask[index, :width])

    def go_on(i: int, sel: np.ndarray, hidden: Any, mask: Any) -> None:
        """Rows probe ``i`` left: through the next part and its probe, or ``upper``."""
        pad = _rows_for(len(sel)) - len(sel)
        if pad:  # padding rows repeat the first live row; their output is dropped
            hidden = torch.cat([hidden, hidden[:1].expand(pad, -1, -1)])
            mask = torch.cat([mask, mask[:1].expand(pad, -1)])
        hidden, mask = hidden.contiguous(), mask.contiguous()
        if i + 1 < len(probes):
            nxt, pooled = parts[i + 1](hidden, mask)
            exit_at(i + 1, sel, nxt, pooled, mask)
            return
        logits = upper(hidden, mask)
        for head, values in logits.items():
            if head in out:
                out[head][sel] = torch.softmax(values[: len(sel)].float(), -1).numpy()

    with torch.inference_mode():
        for sel in cuts:
            x, mask = padded_batch(ids, sel, lengths, pad_id)
            hidden, pooled = parts[0](x, mask)
            exit_at(0, sel, hidden, pooled, mask)
            for i, queue in enumerate(waiting):  # a stage only feeds the ones after it
                while len(queue) >= (step := _full_step(queue.width, batch_size, budget)):
                    go_on(i, *queue.take(step))
        for i, queue in enumerate(waiting):  # the rest: exact row steps where cheaper
            while len(queue):
                rest = batches([queue.width] * len(queue), batch_size, budget)
                go_on(i, *queue.take(rest[0].stop))
    return q_all, settled_all


def _full_step(width: int, batch_size: int, budget: int) -> int:
    """The tallest :data:`ROW_STEPS` height within ``batch_size`` and the token ``budget`` at
    ``width`` (at least one row)."""
    fits = [r for r in ROW_STEPS if r <= batch_size and r * width <= budget]
    return fits[-1] if fits else 1


class _Waiting:
    """Rows waiting for the upper part: their indices, hidden states and attention masks, in
    arrival order; :meth:`take` pads the widths of the rows it takes to the widest of them."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, torch.Tensor, torch.Tensor]] = []

    def __len__(self) -> int:
        return sum(len(sel) for sel, _, _ in self._parts)

    @property
    def width(self) -> int:
        return max((int(h.shape[1]) for _, h, _ in self._parts), default=0)

    def add(self, sel: np.ndarray, hidden: torch.Tensor, mask: torch.Tensor) -> None:
        self._parts.append((sel, hidden, mask))

    def take(self, n: int) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
        import torch
        import torch.nn.functional as F

        got: list[tuple[np.ndarray, torch.Tensor, torch.Tensor]] = []
        while n > 0 and self._parts:
            sel, h, m = self._parts.pop(0)
            if len(sel) > n:  # split: the rest waits at the front
                self._parts.insert(0, (sel[n:], h[n:], m[n:]))
                sel, h, m = sel[:n], h[:n], m[:n]
            got.append((sel, h, m))
            n -= len(sel)
        width = max(int(h.shape[1]) for _, h, _ in got)
        return (
            np.concatenate([sel for sel, _, _ in got]),
            torch.cat([F.pad(h, (0, 0, 0, width - h.shape[1])) for _, h, _ in got]),
            torch.cat([F.pad(m, (0, width - m.shape[1])) for _, _, m in got]),
        )
