"""Domain-adaptive pre-training (DAPT) of the MiniLM encoder on real Reddit text.

The paper (Hosseini & Caragea, AAAI 2021, Table 6) continues masked-LM training of BERT on
in-domain text before fine-tuning. :func:`run_dapt` does the same for MiniLM: sentences are cut
from a random sample of ``reddit-college`` comments with the classifier's own splitter
(:func:`models.empathy.splitter.split_sentences`), then ``BertForMaskedLM`` starts from the
all-MiniLM-L6-v2 weights. That checkpoint ships no MLM head, so the head (transform + bias) starts
untrained and its decoder is tied to the word embeddings; the first ``head_warmup`` steps train
the head alone (encoder frozen) so that its random gradients do not wreck the pretrained encoder.
Logits are computed for masked positions only (cheap); the word embeddings stay frozen by
default, as in fine-tuning. The result is an encoder directory (``config.json``,
``model.safetensors``, tokenizer, ``dapt.json``) for ``prosocial-train empathy --base-model``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from training.empathy.trainer import EncoderArgs, default_base_model, pad_ids
from training.errors import TrainingError

__all__ = [
    "DaptArgs",
    "DaptError",
    "DaptResult",
    "DaptTrainer",
    "comments_path",
    "load_sentences",
    "mask_tokens",
    "run_dapt",
]

logger = logging.getLogger(__name__)

_SKIP_BODIES = frozenset({"", "[deleted]", "[removed]"})


class DaptError(TrainingError):
    """The DAPT corpus is missing or yields no usable text."""


@dataclass
class DaptArgs(EncoderArgs):
    """DAPT hyper-parameters (the encoder's, with MLM's batch, learning rate and warm-up);
    ``max_minutes`` bounds the wall time of the training loop."""

    batch_size: int = 64
    lr: float = 5e-5
    warmup: float = 0.06
    steps: int = 1000
    head_warmup: int = 100  # steps that train the MLM head only (encoder frozen)
    mlm_prob: float = 0.15
    n_comments: int = 60_000  # comments sampled from the corpus
    n_sentences: int = 60_000  # sentences kept (after splitting and filtering)
    min_words: int = 4
    n_heldout: int = 512  # sentences kept aside for the held-out MLM loss
    max_minutes: float | None = None
    log_every: int = 50


@dataclass
class DaptResult:
    out_dir: Path
    steps: int
    seconds: float
    heldout_loss_before: float
    heldout_loss_after: float
    n_sentences: int
    history: list[dict[str, Any]]


def comments_path(data_dir: Path) -> Path:
    return Path(data_dir) / "reddit-college" / "comments.jsonl.gz"


def load_sentences(
    path: Path,
    *,
    n_comments: int,
    n_sentences: int,
    min_words: int,
    seed: int,
    max_scan: int | None = None,
) -> tuple[list[str], str]:
    """Sentences from a seeded random sample of comment bodies; returns them and a hash.

    ``max_scan`` reads only the first N lines of the corpus (small slices for tests)."""
    from models.empathy.splitter import split_sentences

    if not Path(path).exists():
        raise DaptError(f"DAPT corpus not found: {path}")
    bodies: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if max_scan is not None and n >= max_scan:
                break
            body = str(json.loads(line).get("body") or "").strip()
            if body not in _SKIP_BODIES:
                bodies.append(body)
    if not bodies:
        raise DaptError(f"no comment bodies in {path}")
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(bodies))[:n_comments]
    sents: list[str] = []
    for i in pick:
        sents.extend(s for s in split_sentences(bodies[int(i)]) if len(s.split()) >= min_words)
    if not sents:
        raise DaptError(f"no sentences with >= {min_words} words in {path}")
    order = rng.permutation(len(sents))[:n_sentences]
    out = [sents[int(i)] for i in order]
    digest = hashlib.sha256("\n".join(out).encode("utf-8")).hexdigest()
    logger.info(
        "DAPT corpus: %d comments of %d -> %d sentences kept", len(pick), len(bodies), len(out)
    )
    return out, digest


def mask_tokens(
    ids: torch.Tensor,
    attn: torch.Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    special: torch.Tensor,
    prob: float,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking (80% [MASK], 10% random, 10% kept) of ``prob`` of the real tokens.

    Returns the corrupted ids and a boolean tensor of the positions to predict (at least one per
    batch)."""
    cand = attn.bool() & ~torch.isin(ids, special)
    pick = (torch.rand(ids.shape, generator=gen) < prob) & cand
    if not bool(pick.any()):
        nz = cand.nonzero()
        if len(nz):
            r, c = nz[int(torch.randint(len(nz), (1,), generator=gen))]
            pick[r, c] = True
    out = ids.clone()
    roll = torch.rand(ids.shape, generator=gen)
    out[pick & (roll < 0.8)] = mask_id
    rand_pos = pick & (roll >= 0.8) & (roll < 0.9)
    out[rand_pos] = torch.randint(vocab_size, (int(rand_pos.sum()),), generator=gen)
    return out, pick


def _mlm_loss(
    model: Any,
    x: torch.Tensor,
    m: torch.Tensor,
    target: torch.Tensor,
    pick: torch.Tensor,
    bf16: bool,
) -> torch.Tensor:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        hidden = model.bert(input_ids=x, attention_mask=m).last_hidden_state
        logits = model.cls(hidden[pick])
    return F.cross_entropy(logits.float(), target[pick])


class _Masker:
    def __init__(self, tok: Any, vocab_size: int, prob: float) -> None:
        self.mask_id = int(tok.mask_token_id)
        self.vocab_size = vocab_size
        self.prob = prob
        self.special = torch.tensor(sorted(set(tok.all_special_ids)), dtype=torch.long)

    def __call__(
        self, x: torch.Tensor, m: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return mask_tokens(
            x,
            m,
            mask_id=self.mask_id,
            vocab_size=self.vocab_size,
            special=self.special,
            prob=self.prob,
            gen=gen,
        )


@torch.no_grad()
def _heldout_loss(model: Any, batches: list[tuple[torch.Tensor, ...]], bf16: bool) -> float:
    model.eval()
    tot, n = 0.0, 0
    for x, m, target, pick in batches:
        k = int(pick.sum())
        tot += float(_mlm_loss(model, x, m, target, pick, bf16)) * k
        n += k
    return tot / max(n, 1)


def run_dapt(
    sentences: Sequence[str],
    args: DaptArgs,
    out_dir: Path,
    *,
    corpus_hash: str = "",
    extra: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> DaptResult:
    """Continue MLM training on ``sentences``; write the encoder + tokenizer to ``out_dir``.

    The first ``args.n_heldout`` sentences are held out for the MLM loss; ``extra`` sentences
    (e.g. the task's *train* split texts, task-adaptive pre-training) join the training pool
    only."""
    trainer = DaptTrainer(args, progress=progress)
    trainer.prepare(sentences, extra)
    before = trainer.heldout_loss()
    trainer.say(
        f"DAPT: {len(trainer.train_ids)} train / {trainer.n_heldout} held-out sentences; "
        f"held-out MLM loss before {before:.3f}"
    )
    steps, seconds = trainer.train()
    after = trainer.heldout_loss()
    trainer.say(f"DAPT: held-out MLM loss {before:.3f} -> {after:.3f} in {seconds / 60:.1f} min")
    result = DaptResult(
        out_dir=Path(out_dir),
        steps=steps,
        seconds=seconds,
        heldout_loss_before=before,
        heldout_loss_after=after,
        n_sentences=len(sentences),
        history=trainer.history,
    )
    trainer.save(result, n_extra=len(extra), corpus_hash=corpus_hash)
    return result


class DaptTrainer:
    """The DAPT steps of :func:`run_dapt`: :meth:`prepare` (model, tokenizer, held-out
    batches), :meth:`train` (head warm-up, then encoder and head), :meth:`heldout_loss`,
    :meth:`save`."""

    def __init__(self, args: DaptArgs, progress: Callable[[str], None] | None = None) -> None:
        from transformers import AutoTokenizer, BertForMaskedLM

        self.args = args
        self.say = progress or (lambda msg: logger.info("%s", msg))
        torch.manual_seed(args.seed)
        torch.set_num_threads(max(1, args.threads))
        self.gen = torch.Generator().manual_seed(args.seed)
        self.rng = np.random.default_rng(args.seed)
        self.base = args.base_model or default_base_model()
        self.tokenizer = AutoTokenizer.from_pretrained(self.base)
        self.model = BertForMaskedLM.from_pretrained(self.base)
        self.model.tie_weights()
        self.embeddings = self.model.bert.embeddings.word_embeddings.weight
        if self.model.cls.predictions.decoder.weight is not self.embeddings:
            raise DaptError("MLM decoder is not tied to the word embeddings")
        self.masker = _Masker(self.tokenizer, int(self.model.config.vocab_size), args.mlm_prob)
        self.train_ids: list[list[int]] = []
        self.held: list[tuple[torch.Tensor, ...]] = []
        self.n_heldout = 0
        self.history: list[dict[str, Any]] = []

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.args.max_len)
        return list(enc["input_ids"])

    def prepare(self, sentences: Sequence[str], extra: Sequence[str] = ()) -> None:
        """Tokenise; hold out the first ``n_heldout`` sentences, masked once (fixed seed)."""
        a = self.args
        if len(sentences) <= a.n_heldout:
            raise DaptError(f"need more than {a.n_heldout} sentences, got {len(sentences)}")
        ids = self._encode(sentences)
        held_ids, self.train_ids = ids[: a.n_heldout], ids[a.n_heldout :]
        self.n_heldout = len(held_ids)
        if extra:
            self.train_ids += self._encode(extra)
        held_gen = torch.Generator().manual_seed(10_000 + a.seed)
        self.held = []
        for s in range(0, len(held_ids), a.batch_size):
            x, m = pad_ids(held_ids[s : s + a.batch_size], self.tokenizer.pad_token_id)
            masked, pick = self.masker(x, m, held_gen)
            self.held.append((masked, m, x, pick))

    def heldout_loss(self) -> float:
        return _heldout_loss(self.model, self.held, self.args.bf16)

    def _optimizer(self) -> tuple[torch.optim.Optimizer, Any, list[torch.nn.Parameter]]:
        """AdamW over encoder and head, and the schedule: the head alone for ``head_warmup``
        steps, then linear warm-up and decay for the encoder, linear decay for the head."""
        a = self.args
        self.embeddings.requires_grad_(not a.freeze_word_embeddings)
        named = list(self.model.named_parameters())
        head_params = [
            p
            for n, p in named
            if n.startswith("cls.") and p.requires_grad and p is not self.embeddings
        ]
        encoder_params = [p for n, p in named if n.startswith("bert.") and p.requires_grad]
        optimizer = torch.optim.AdamW(
            [{"params": encoder_params, "lr": a.lr}, {"params": head_params, "lr": a.head_lr}],
            weight_decay=a.weight_decay,
        )
        warm = max(1, int(a.warmup * a.steps))
        head_warm = min(a.head_warmup, a.steps)

        def encoder_factor(step: int) -> float:
            if step < head_warm:
                return 0.0
            s = step - head_warm
            span = max(1, a.steps - head_warm)
            if s < warm:
                return (s + 1) / warm
            return max(0.0, (span - s) / max(1, span - warm))

        def head_factor(step: int) -> float:
            return max(0.0, (a.steps - step) / a.steps) if step >= head_warm else 1.0

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, [encoder_factor, head_factor])
        return optimizer, schedule, encoder_params

    def train(self) -> tuple[int, float]:
        """The training loop; returns (steps done, seconds). Stops early at ``max_minutes``."""
        a = self.args
        optimizer, schedule, encoder_params = self._optimizer()
        head_warm = min(a.head_warmup, a.steps)
        order = self.rng.permutation(len(self.train_ids))
        pos, run_loss, run_n, step = 0, 0.0, 0, 0
        t0 = time.perf_counter()
        self.model.train()
        for step in range(1, a.steps + 1):
            for p in encoder_params:
                p.requires_grad_(step > head_warm)
            if pos + a.batch_size > len(order):
                order, pos = self.rng.permutation(len(self.train_ids)), 0
            rows = [self.train_ids[int(i)] for i in order[pos : pos + a.batch_size]]
            pos += a.batch_size
            x, m = pad_ids(rows, self.tokenizer.pad_token_id)
            masked, pick = self.masker(x, m, self.gen)
            loss = _mlm_loss(self.model, masked, m, x, pick, a.bf16)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            trainable = [p for p in self.model.parameters() if p.requires_grad]
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            schedule.step()
            run_loss += float(loss.detach())
            run_n += 1
            elapsed = time.perf_counter() - t0
            over = a.max_minutes is not None and elapsed > 60 * a.max_minutes
            if step % a.log_every == 0 or step == a.steps or over:
                self._log(step, run_loss / run_n, elapsed)
                run_loss, run_n = 0.0, 0
                self.model.train()
            if over:
                self.say(f"DAPT: time limit of {a.max_minutes} min reached at step {step}")
                break
        return step, time.perf_counter() - t0

    def _log(self, step: int, loss: float, elapsed: float) -> None:
        a = self.args
        rec = {"step": step, "loss": round(loss, 4), "seconds": round(elapsed, 1)}
        self.history.append(rec)
        eta = elapsed / step * (a.steps - step)
        self.say(
            f"DAPT step {step}/{a.steps} loss {rec['loss']:.4f} "
            f"{step * a.batch_size / elapsed:.0f} seq/s eta {eta / 60:.1f} min"
        )

    def save(self, result: DaptResult, *, n_extra: int, corpus_hash: str) -> None:
        """The encoder, tokenizer and ``dapt.json`` (arguments, losses, history)."""
        out_dir = result.out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self.model.bert.save_pretrained(str(out_dir))
        self.tokenizer.save_pretrained(str(out_dir))
        meta = {
            "base_model": self.base,
            "args": self.args.to_dict(),
            "steps_done": result.steps,
            "seconds": round(result.seconds, 1),
            "n_sentences": result.n_sentences,
            "n_extra": n_extra,
            "corpus_sha256": corpus_hash,
            "heldout_loss_before": round(result.heldout_loss_before, 4),
            "heldout_loss_after": round(result.heldout_loss_after, 4),
            "history": result.history,
        }
        (out_dir / "dapt.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
