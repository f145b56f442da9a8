"""Matching the teacher's pooled sentence vectors (``Args.distill_embedding``): the loss, the
student that learns it, and the teacher cache that keeps the vectors."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from training.empathy import distill
from training.empathy.data import EmpathyData, Split
from training.empathy.trainer import Args, Trainer, Transfer, vector_loss
from training.errors import TrainingError

from tests.training.test_empathy_teacher_cache import _data, _FakeTeacher, _probs

WIDTH = 6  # the fake teacher's vector width
FAKE: Any = _FakeTeacher  # trains like a Trainer, in the ways train_teachers calls


def test_the_loss_is_the_mean_cosine_distance() -> None:
    target = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
    aligned = torch.tensor([[5.0, 0.0], [0.0, 0.1], [1.0, 0.0]])
    assert vector_loss(aligned, target).item() == pytest.approx(0.0, abs=1e-6)
    orthogonal = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, -4.0]])
    assert vector_loss(orthogonal, target).item() == pytest.approx(1.0)
    assert vector_loss(-aligned, target).item() == pytest.approx(2.0)


def test_a_transfer_set_needs_one_vector_row_per_text() -> None:
    soft = {"seek": np.zeros((2, 2), dtype=np.float32)}
    with pytest.raises(TrainingError, match="2 texts but 3 embedding rows"):
        Transfer(["a", "b"], soft, embeddings=np.zeros((3, 4), dtype=np.float32))


class _TinyTrainer(Trainer):
    """The real training loop on a one-layer, 32-wide BERT (random weights, MiniLM tokenizer)."""

    def _build(self) -> tuple[Any, Any]:
        from training.empathy.trainer import default_base_model
        from transformers import AutoTokenizer, BertConfig

        from models.empathy.network import HEADS, EmpathyNet

        tok = AutoTokenizer.from_pretrained(default_base_model())
        cfg = BertConfig(
            vocab_size=tok.vocab_size,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
        )
        return EmpathyNet(cfg, HEADS, dropout=0.0), tok


def _texts_data(n: int = 24) -> EmpathyData:
    words = ["worried", "thanks", "anyone", "luck", "exam", "hope", "class", "sorry"]
    rng = np.random.default_rng(3)

    def split(k: int) -> Split:
        texts = [" ".join(rng.choice(words, 4)) for _ in range(k)]
        return Split(texts, rng.integers(0, 3, k).astype(np.int64))

    return EmpathyData(split(n), split(8), split(8), 42, "h")


def test_the_student_learns_to_point_where_the_teacher_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _texts_data()
    vectors = np.random.default_rng(0).normal(size=(len(data.train), 5)).astype(np.float32)
    seen: list[float] = []

    def spy(mapped: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        out = vector_loss(mapped, target)
        seen.append(float(out.detach()))
        return out

    monkeypatch.setattr("training.empathy.trainer.vector_loss", spy)
    args = Args(
        epochs=12,
        patience=99,
        batch_size=8,
        lr=3e-3,
        head_lr=3e-2,
        distill_embedding=5.0,
        bf16=False,
        threads=1,
        freeze_word_embeddings=False,
    )
    _TinyTrainer(args, data, soft_embeddings=vectors).train()
    per_epoch = len(seen) // args.epochs
    assert per_epoch == 3  # every batch adds the term
    first, last = np.mean(seen[:per_epoch]), np.mean(seen[-per_epoch:])
    assert last < first - 0.3, (first, last)
    # without its weight the term is not computed at all
    seen.clear()
    _TinyTrainer(Args(epochs=1, bf16=False, threads=1), data, soft_embeddings=vectors).train()
    assert seen == []


def test_a_weight_without_the_teachers_vectors_is_a_clear_error() -> None:
    with pytest.raises(TrainingError, match="pooled vectors of the train split"):
        _TinyTrainer(Args(epochs=1, distill_embedding=1.0, bf16=False), _texts_data()).train()


def _vectors(model: Any, tokenizer: Any, texts: list[str], max_len: int, **_: Any) -> np.ndarray:
    seed = float(model.weight.item())
    return np.array([[seed + len(t) + j for j in range(WIDTH)] for t in texts], dtype=np.float32)


def test_the_cache_keeps_the_vectors_and_fills_them_from_kept_weights(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(distill, "predict_probs", _probs)
    calls: list[int] = []

    def counted(model: Any, *a: Any, **k: Any) -> np.ndarray:
        calls.append(len(a[1]))
        return _vectors(model, *a, **k)

    monkeypatch.setattr(distill, "embed_texts", counted)
    _FakeTeacher.trained = []
    data, args = _data(), Args(epochs=1)
    texts = ["a transfer sentence", "another one", "x"]

    def teachers(embeddings: bool) -> Any:
        return distill.train_teachers(
            data,
            args,
            [100],
            trainer=FAKE,
            transfer_texts=texts,
            cache_dir=tmp_path,
            embeddings=embeddings,
        )

    plain = teachers(False)  # trained and kept without vectors
    assert _FakeTeacher.trained == [100] and calls == []
    assert plain.embeddings is None and plain.transfer is not None
    assert plain.transfer.embeddings is None
    got = teachers(True)  # the kept weights give the vectors; nothing is trained again
    assert _FakeTeacher.trained == [100] and calls == [len(data.train), len(texts)]
    model = _FakeTeacher(args, data)._model(100.0)
    np.testing.assert_allclose(got.embeddings, _vectors(model, None, data.train.texts, 8))
    assert got.transfer is not None
    np.testing.assert_allclose(got.transfer.embeddings, _vectors(model, None, texts, 8))
    again = teachers(True)  # now kept: neither trained nor embedded again
    assert _FakeTeacher.trained == [100] and len(calls) == 2
    np.testing.assert_allclose(again.embeddings, got.embeddings)


def test_a_fresh_teacher_keeps_its_vectors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(distill, "predict_probs", _probs)
    monkeypatch.setattr(distill, "embed_texts", _vectors)
    _FakeTeacher.trained = []
    data, args = _data(), Args(epochs=1)
    got = distill.train_teachers(data, args, [7], trainer=FAKE, cache_dir=tmp_path, embeddings=True)
    assert got.embeddings is not None and got.embeddings.shape == (len(data.train), WIDTH)
    assert got.transfer is None
    kept = list(tmp_path.glob("*/embed-*.npz"))
    assert len(kept) == 1


def test_empathy_teacher_takes_the_weight() -> None:
    from training.commands import empathy_teacher

    parser = argparse.ArgumentParser()
    empathy_teacher.register(parser.add_subparsers())
    ns = parser.parse_args(["empathy-teacher", "--distill-embedding", "0.5"])
    assert ns.distill_embedding == 0.5
    assert parser.parse_args(["empathy-teacher"]).distill_embedding is None


def test_the_weight_does_not_change_which_teacher_is_kept() -> None:
    data = _data()
    key = distill.teachers_key(data, Args(), [100], FAKE)
    weighed = Args(distill_embedding=2.0)
    assert distill.teachers_key(data, weighed, [100], FAKE) == key
    assert distill.teachers_key(data, Args(epochs=9), [100], FAKE) != key


def test_embed_texts_gives_each_text_its_own_vector_in_input_order() -> None:
    from training.empathy.trainer import embed_texts

    torch.manual_seed(0)
    model, tok = _TinyTrainer(Args(), _texts_data())._build()
    texts = ["a much longer sentence about exams and luck and hope", "hi", "", "thanks anyone"]
    got = embed_texts(model, tok, texts, max_len=32, batch_size=2)
    assert got.shape == (len(texts), 32)
    for text, row in zip(texts, got, strict=True):
        enc = tok([text], truncation=True, max_length=32, return_tensors="pt")
        with torch.inference_mode():
            want = model.embed(enc["input_ids"], enc["attention_mask"])[0].numpy()
        np.testing.assert_allclose(row, want, rtol=1e-4, atol=1e-5)


def test_gradient_clipping_covers_the_training_only_projection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _texts_data()
    vectors = np.random.default_rng(1).normal(size=(len(data.train), 5)).astype(np.float32)
    clipped: list[int] = []
    real_clip = torch.nn.utils.clip_grad_norm_

    def spy(params: Any, max_norm: float, **kw: Any) -> torch.Tensor:
        params = list(params)
        clipped.append(sum(p.numel() for p in params))
        return real_clip(params, max_norm, **kw)

    monkeypatch.setattr("torch.nn.utils.clip_grad_norm_", spy)
    args = Args(epochs=1, batch_size=8, distill_embedding=1.0, bf16=False, threads=1)
    trainer = _TinyTrainer(args, data, soft_embeddings=vectors)
    model_size = sum(p.numel() for p in trainer._build()[0].parameters())
    trainer.train()
    # the model's parameters plus the 32 -> 5 linear map (weights and bias)
    assert clipped and set(clipped) == {model_size + 32 * 5 + 5}
