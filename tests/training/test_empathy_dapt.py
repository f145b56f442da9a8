"""Domain-adaptive MLM pre-training and ensemble distillation on tiny real slices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.empathy_support import TINY


def test_masking_never_hides_special_tokens_and_always_picks_one() -> None:
    from training.empathy.dapt import mask_tokens

    ids = torch.tensor([[101, 2000, 2001, 2002, 102, 0], [101, 2003, 102, 0, 0, 0]])
    attn = (ids != 0).long()
    special = torch.tensor([0, 101, 102, 103])
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        out, pick = mask_tokens(
            ids, attn, mask_id=103, vocab_size=30522, special=special, prob=0.15, gen=gen
        )
        assert bool(pick.any())
        assert not bool((pick & torch.isin(ids, special)).any())
        assert torch.equal(out[~pick], ids[~pick])
    big = torch.randint(1000, 2000, (64, 64))
    _, pick = mask_tokens(
        big,
        torch.ones_like(big),
        mask_id=103,
        vocab_size=30522,
        special=special,
        prob=0.15,
        gen=gen,
    )
    assert 0.10 < float(pick.float().mean()) < 0.20


def test_soften_keeps_argmax_and_flattens() -> None:
    from training.empathy.distill import soften

    p = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1]], dtype=np.float32)
    s = soften(p, 2.0)
    np.testing.assert_allclose(s.sum(1), 1.0, rtol=1e-5)
    assert (s.argmax(1) == p.argmax(1)).all()
    assert (s.max(1) < p.max(1)).all()
    assert soften(p, 1.0) is p


def test_corpus_sentences_are_real_filtered_and_seeded(data_dir: Path) -> None:
    from training.empathy.dapt import comments_path, load_sentences

    kw: dict[str, Any] = {"n_comments": 400, "n_sentences": 300, "min_words": 4, "max_scan": 2000}
    a, ha = load_sentences(comments_path(data_dir), seed=0, **kw)
    b, hb = load_sentences(comments_path(data_dir), seed=0, **kw)
    c, hc = load_sentences(comments_path(data_dir), seed=1, **kw)
    assert c != a
    assert a == b and ha == hb and hc != ha
    assert len(a) == 300
    assert all(len(s.split()) >= 4 for s in a)
    assert not any(s in ("[deleted]", "[removed]") for s in a)


@pytest.mark.slow
def test_dapt_trains_the_encoder_and_fine_tune_starts_from_it(
    tmp_path: Path, data_dir: Path
) -> None:
    from safetensors.torch import load_file
    from training.empathy.dapt import DaptArgs, comments_path, load_sentences, run_dapt
    from training.empathy.data import dataset_path, split_dataset
    from training.empathy.job import head, run_protocol
    from training.empathy.trainer import Args, default_base_model

    from models.bundle import Registry

    sents, digest = load_sentences(
        comments_path(data_dir),
        n_comments=1500,
        n_sentences=400,
        min_words=4,
        seed=0,
        max_scan=3000,
    )
    args = DaptArgs(
        steps=12,
        batch_size=16,
        head_warmup=4,
        head_lr=2e-3,
        lr=1e-4,
        max_len=32,
        n_heldout=64,
        threads=2,
        log_every=4,
    )
    data = head(split_dataset(dataset_path(data_dir)), TINY["train"], TINY["eval"])
    res = run_dapt(sents, args, tmp_path / "enc", corpus_hash=digest, extra=data.train.texts[:50])
    assert res.steps == 12
    assert res.heldout_loss_after < res.heldout_loss_before
    meta = json.loads((tmp_path / "enc" / "dapt.json").read_text(encoding="utf-8"))
    assert meta["corpus_sha256"] == digest and meta["steps_done"] == 12
    assert meta["n_extra"] == 50
    assert [h["step"] for h in meta["history"]] == [4, 8, 12]
    base = load_file(str(Path(default_base_model()) / "model.safetensors"))
    new = load_file(str(tmp_path / "enc" / "model.safetensors"))
    key = next(k for k in new if k.endswith("encoder.layer.5.output.dense.weight"))
    old_key = next(k for k in base if k.endswith("encoder.layer.5.output.dense.weight"))
    assert not torch.equal(new[key], base[old_key])  # the encoder moved after head warm-up
    emb = next(k for k in new if k.endswith("word_embeddings.weight"))
    old_emb = next(k for k in base if k.endswith("word_embeddings.weight"))
    assert torch.equal(new[emb], base[old_emb])  # frozen (tied decoder)

    targs = Args(
        epochs=1, max_len=TINY["max_len"], patience=1, threads=2, base_model=str(tmp_path / "enc")
    )
    out = run_protocol(
        data,
        targs,
        [0],
        registry=Registry(tmp_path / "reg"),
        report_dir=tmp_path / "rep",
        baselines=False,
        teachers=[100],
    )
    assert out.bundle is not None
    p = out.bundle.params
    assert "DAPT" in p["base_model"] and p["distill_teachers"] == [100]
    assert p["args"]["base_model"] == str(tmp_path / "enc")
    t = out.summary["teachers"]
    assert t["seeds"] == [100] and set(t["ensemble_valid"]) == {"multi", "seek", "provide"}
