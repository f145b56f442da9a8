"""Empathy-direction inference: sentences and whole comments, from an ``empathy`` bundle.

A bundle (written by ``prosocial-train empathy``) holds ``model.safetensors`` (encoder + one head
per setting), ``encoder/config.json``, ``tokenizer/tokenizer.json`` and, in ``params``, the
labels, ``max_len``, the heads and the decision rule tuned on validation. The 3-class head gives
each sentence its label; a comment's label follows the paper's majority rule (seeking when more
than half of its sentences seek empathy, providing likewise, else none) and it carries the shares
of seeking and providing sentences. Sequences are bounded to ``max_len`` tokens and batched by
length. Inputs never raise: a comment with no usable sentence is ``none``.

CPU fast path (``fast=True``): ``mode="auto"`` measures the candidates once per machine and
bundle (:mod:`models.empathy.fastpath`): bfloat16 where the CPU has native bf16 support
(oneDNN; AVX512-BF16/AMX), int8 on ONNX Runtime (``onnx-int8``, :mod:`models.empathy.onnx`)
when it is installed, dynamic int8 quantisation of the encoder's linear layers (``torch.ao``,
``int8``) and fp32. Both int8 paths re-check near-tie sentences with the fp32 model
(``recheck_margin``).
On iEmpathize test, bf16 keeps 99.9-100% of the fp32 labels; plain int8 only ~92-95%.

Cascade (``fast=True`` and a bundle with a gate, :mod:`models.empathy.gate`): a cheap n-gram
gate settles the sentences it is confident about; only the others reach the encoder (in the
measured mode, with its re-check). A settled sentence reports the gate's calibrated
probabilities and is flagged ``settled``; ``last_settled`` counts them per call. A bundle with
early exits (:mod:`models.empathy.exit`) adds a second stage: the encoder's first layers run on
the gate's leftovers, a probe on their pooled states settles the sentences it is sure of (flagged
``settled`` too, with the probe's probabilities; ``last_exited`` counts them), the rest run on to
the next exit's layer and probe, and only what the last exit leaves runs the remaining layers
(and the re-check). ``fast=False`` (the exact fp32 reference) never uses
the gate nor the exit.
"""

from __future__ import annotations

import itertools
import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.bundle import Bundle, Registry
from models.empathy.exit import EXIT_WEIGHTS, ExitChain
from models.empathy.gate import EmpathyGate
from models.empathy.inference import run_heads, run_heads_with_exits
from models.empathy.onnx import OrtEmpathyNet
from models.empathy.splitter import split_sentences
from models.errors import BundleError

__all__ = [
    "BUNDLE_NAME",
    "NONE_PROBS",
    "CommentEmpathy",
    "EmpathyClassifier",
    "SentencePrediction",
]

logger = logging.getLogger(__name__)

BUNDLE_NAME = "empathy"
_LABELS = ("none", "seeking", "providing")
NONE_PROBS: dict[str, float] = {"none": 1.0, "seeking": 0.0, "providing": 0.0}
_MAX_SENTENCE_CHARS = 2000
_RECHECK_MARGIN = 0.05
_MODES = ("fp32", "bf16", "int8", "onnx-int8")


@dataclass(frozen=True)
class SentencePrediction:
    text: str
    label: str  # "none" | "seeking" | "providing"
    probs: dict[str, float]
    #: decided by the cascade's gate (``probs`` are the gate's), not by the encoder
    settled: bool = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"text": self.text, "label": self.label, "probs": dict(self.probs)}
        if self.settled:
            d["settled"] = True
        return d


@dataclass(frozen=True)
class CommentEmpathy:
    text: str
    label: str
    probs: dict[str, float]
    sentences: list[SentencePrediction] = field(default_factory=list)
    share_seeking: float = 0.0
    share_providing: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "label": self.label,
            "probs": dict(self.probs),
            "sentences": [s.to_dict() for s in self.sentences],
            "share_seeking": self.share_seeking,
            "share_providing": self.share_providing,
        }


def _stages_variant(bundle: Bundle, exit_: bool) -> str:
    """What a cached fast-path choice depends on besides the network: the digest of the early
    exit served inside it (empty without one). The gate is not measured with the candidates
    (:meth:`EmpathyClassifier.from_bundle`), so it is not part of the key."""
    if not exit_:
        return ""
    return "exit:" + str(bundle.config.get("files", {}).get(EXIT_WEIGHTS, ""))[:16]


def _majority(labels: Sequence[str]) -> str:
    n = len(labels)
    if n == 0:
        return "none"
    for lab in ("seeking", "providing"):
        if sum(1 for x in labels if x == lab) * 2 > n:
            return lab
    return "none"


def _split(model: Any, layers: Sequence[int]) -> tuple[Any, ...]:
    """A torch network cut after each encoder layer of ``layers``: (its lower part, the parts
    between two cuts, its upper part)."""
    from models.empathy.network import split_network

    return split_network(model, layers)


def _part_names(layers: Sequence[int]) -> list[str]:
    """Cache names of the ONNX graphs of a network cut after ``layers`` (as :func:`_split`)."""
    ks = list(layers)
    return [
        f"lower{ks[0]}",
        *(f"middle{a}-{b}" for a, b in itertools.pairwise(ks)),
        f"upper{ks[-1]}",
    ]


def _nth_part(load: Any, layers: Sequence[int], i: int) -> Any:
    """Part ``i`` of the network ``load()`` cut after ``layers`` (an ONNX export's source)."""
    return _split(load(), layers)[i]


def _exits_note(chain: ExitChain) -> str:
    return f"exits after layers {','.join(map(str, chain.layers))}"


def _load_network(bundle: Bundle, heads: dict[str, int]) -> Any:
    """The bundle's torch network (``EmpathyNet``, fp32, eval mode)."""
    from safetensors.torch import load_file

    from models.empathy.network import EmpathyNet, build_encoder_config

    try:
        enc_cfg = build_encoder_config(bundle.read_json("encoder/config.json"))
        model = EmpathyNet(enc_cfg, heads, dropout=0.0)
        state = load_file(str(bundle.file("model.safetensors")))
        model.load_state_dict(state, strict=True)
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise BundleError(f"{bundle.path}: cannot load empathy model: {exc}") from exc
    return model.eval()


class EmpathyClassifier:
    """Labels sentences and comments with empathy direction (none / seeking / providing)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        version: str,
        labels: Sequence[str],
        max_len: int = 128,
        bias: Sequence[float] | None = None,
        batch_size: int = 64,
        fast: bool = True,
        fallback: Any = None,
        recheck_margin: float = 0.0,
        gate: EmpathyGate | None = None,
        exit_: ExitChain | None = None,
        lower: Sequence[Any] | None = None,
    ) -> None:
        #: the encoder network, or (with ``exit_``) the part of it after the last exit layer
        self.model = model
        #: first stage of the cascade: settles clear-cut sentences before the encoder
        self.gate = gate
        #: second stage: exits part-way through the encoder; ``lower`` holds the encoder's
        #: parts before each exit (the first layers, then the layers between two exits), each
        #: exit's probe settles the sentences it is sure of and ``model`` runs what the last
        #: one leaves
        self.exit = exit_ if lower is not None else None
        self.lower = list(lower) if exit_ is not None and lower is not None else None
        if self.exit is not None and self.lower is not None and len(self.lower) != len(self.exit):
            raise BundleError(f"{len(self.lower)} encoder parts for {len(self.exit)} exits")
        #: fp32 model that re-scores sentences whose fast-path top-2 margin is below
        #: ``recheck_margin`` (near-ties, where int8 noise could flip the label).
        self.fallback = fallback
        self.recheck_margin = float(recheck_margin) if fallback is not None else 0.0
        self.tokenizer = tokenizer
        self.version = version
        self.labels = list(labels)
        self.max_len = int(max_len)
        self.bias = np.asarray(
            bias if bias is not None else [0.0] * len(self.labels), dtype=np.float64
        )
        self.batch_size = int(batch_size)
        self.fast = fast
        self.mode = "fp32"
        self.last_rechecked = 0
        self.last_settled = 0
        self.last_exited = 0
        #: with ``mode="auto"``: the calibration the mode was chosen by (mode, key, figures)
        self.calibration: dict[str, Any] | None = None

    # ---------------------------------------------------------------- loading
    @classmethod
    def from_registry(
        cls, registry: Registry, *, fast: bool = True, mode: str = "auto", gate: bool = True
    ) -> EmpathyClassifier:
        return cls.from_bundle(registry.current(BUNDLE_NAME), fast=fast, mode=mode, gate=gate)

    @classmethod
    def from_bundle(
        cls,
        bundle: Bundle,
        *,
        fast: bool = True,
        mode: str = "auto",
        recheck_margin: float | None = None,
        gate: bool = True,
        early_exit: bool = True,
    ) -> EmpathyClassifier:
        """Load a bundle; ``fast`` selects the CPU fast path ``mode``: ``"bf16"``,
        ``"onnx-int8"``, ``"int8"``, ``"fp32"`` or ``"auto"`` (the mode measured fastest on
        this machine among those that agree with fp32: :mod:`models.empathy.fastpath`).

        ``recheck_margin`` (both int8 modes; default: the bundle's ``params.recheck_margin``,
        else 0.05) re-scores near-tie sentences with the fp32 model. ``gate`` (with ``fast``)
        puts the bundle's gate, if it has one, in front of the encoder; ``early_exit`` (with
        ``fast``) serves the bundle's early exits, if it has any, in every mode.
        """
        the_gate = EmpathyGate.from_bundle(bundle) if fast and gate else None
        the_exit = ExitChain.from_bundle(bundle) if fast and early_exit else None
        if fast and mode == "auto":
            from models.empathy.fastpath import choose_fast_path

            def build(m: str) -> EmpathyClassifier:
                return cls.from_bundle(
                    bundle,
                    fast=True,
                    mode=m,
                    recheck_margin=recheck_margin,
                    gate=False,
                    early_exit=early_exit,
                )

            # The candidates are measured without the gate: it is the same in every mode, and
            # in front of them it settled all but a handful of the calibration sentences, so
            # one disagreement decided a mode (docs/architecture.md, "Empathy inference").
            variant = _stages_variant(bundle, the_exit is not None)
            chosen: EmpathyClassifier = choose_fast_path(bundle, build, variant=variant)  # type: ignore[assignment]
            chosen.gate = the_gate
            logger.info(
                "serving empathy bundle %s in mode %s%s%s",
                bundle.version,
                chosen.mode,
                " behind its gate (cascade)" if chosen.gate is not None else "",
                f" with {_exits_note(the_exit)}" if the_exit is not None else "",
            )
            return chosen
        import functools

        import torch
        from tokenizers import Tokenizer

        params = bundle.params
        labels = bundle.labels or list(_LABELS)
        if list(labels) != list(_LABELS):
            raise BundleError(f"{bundle.path}: unexpected empathy labels {labels}")
        heads = {str(k): int(v) for k, v in params.get("heads", {"multi": 3}).items()}
        try:
            tokenizer = Tokenizer.from_file(str(bundle.file("tokenizer/tokenizer.json")))
        except (OSError, RuntimeError, ValueError) as exc:
            raise BundleError(f"{bundle.path}: cannot load empathy tokenizer: {exc}") from exc
        max_len = int(params.get("max_len", 128))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_len)
        # built on first use: the onnx-int8 path needs no torch network once its graphs are
        # cached (docs/architecture.md, "Empathy inference")
        load_torch = functools.cache(lambda: _load_network(bundle, heads))
        model: Any = None
        lower: list[Any] | None = None
        fallback = None
        margin = float(
            recheck_margin
            if recheck_margin is not None
            else params.get("recheck_margin", _RECHECK_MARGIN)
        )
        if not fast:
            mode = "fp32"
        if mode not in _MODES:
            raise BundleError(f"unknown empathy fast-path mode {mode!r}")
        if mode == "onnx-int8":
            try:
                if the_exit is not None:  # the network's parts, one graph each
                    cuts = the_exit.layers
                    *lower, model = [
                        OrtEmpathyNet.for_bundle(
                            bundle, functools.partial(_nth_part, load_torch, cuts, i), part=name
                        )
                        for i, name in enumerate(_part_names(cuts))
                    ]
                else:
                    model = OrtEmpathyNet.for_bundle(bundle, load_torch)
                if margin > 0:  # near-ties re-checked by the same network in fp32
                    fallback = OrtEmpathyNet.for_bundle(bundle, load_torch, quantize=False)
            except BundleError:
                raise
            except Exception as exc:  # noqa: BLE001 - any export/runtime failure: torch int8
                logger.warning("onnxruntime empathy path unavailable (%s); using torch int8", exc)
                mode, model, lower, fallback = "int8", None, None, None
        if mode == "bf16":
            model = load_torch().to(torch.bfloat16)
            margin = 0.0
        elif mode == "int8":
            import copy

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from torch.ao.quantization import quantize_dynamic

                fallback = load_torch() if margin > 0 else None
                model = copy.deepcopy(load_torch())
                model.encoder = quantize_dynamic(
                    model.encoder, {torch.nn.Linear}, dtype=torch.qint8
                )
        elif mode == "fp32":
            model = load_torch()
        if the_exit is not None and lower is None:  # a torch mode: cut its network in parts
            *lower, model = _split(model, the_exit.layers)
        bias = params.get("decisions", {}).get("multi", {}).get("bias")
        logger.info(
            "loaded empathy bundle %s (mode=%s, max_len=%d%s%s)",
            bundle.version,
            mode,
            max_len,
            ", with gate" if the_gate is not None else "",
            f", {_exits_note(the_exit)}" if the_exit is not None else "",
        )
        clf = cls(
            model,
            tokenizer,
            version=bundle.version,
            labels=labels,
            max_len=max_len,
            bias=bias,
            batch_size=int(params.get("batch_size", 64)),
            fast=fast,
            fallback=fallback,
            recheck_margin=margin,
            gate=the_gate,
            exit_=the_exit,
            lower=lower,
        )
        clf.mode = mode
        return clf

    # ---------------------------------------------------------------- inference
    def head_probs(self, sentences: Sequence[str]) -> dict[str, np.ndarray]:
        """Softmax probabilities of every head (``multi``, ``seek``, ``provide``); a sentence
        the gate settles gets the gate's (``multi`` before the class bias, so that
        :meth:`predict_sentences` reads the gate's calibrated probabilities back; the binary
        heads its seeking / providing probability)."""
        return self._run(sentences)[0]

    def _run(
        self, sentences: Sequence[str]
    ) -> tuple[dict[str, np.ndarray], np.ndarray | None, np.ndarray | None]:
        """Head probabilities, and the cascade stages' probabilities (in :attr:`labels`
        order) and settled mask (or ``None`` without a stage)."""
        n = len(sentences)
        heads = {k: int(m.out_features) for k, m in self.model.heads.items()}
        out = {k: np.zeros((n, d), dtype=np.float32) for k, d in heads.items()}
        self.last_rechecked = 0
        self.last_settled = 0
        self.last_exited = 0
        if n == 0:
            return out, None, None
        texts = [s[:_MAX_SENTENCE_CHARS] if isinstance(s, str) else "" for s in sentences]
        staged = self.gate is not None or self.exit is not None
        q = np.zeros((n, len(self.labels)), dtype=np.float64) if staged else None
        settled = np.zeros(n, dtype=bool) if staged else None
        rows = np.arange(n)
        if self.gate is not None:
            assert q is not None and settled is not None
            qg, settled = self.gate.split(texts)
            q = qg[:, [self.gate.labels.index(lab) for lab in self.labels]]
            rows = np.flatnonzero(~settled)
            self.last_settled = int(settled.sum())
        if not len(rows):
            self._fill_settled(out, q, settled)
            return out, q, settled
        ids: list[list[int]] = [[] for _ in range(n)]
        for i, e in zip(rows.tolist(), self.tokenizer.encode_batch([texts[i] for i in rows])):
            ids[i] = e.ids
        if self.exit is not None and self.lower is not None:
            assert q is not None and settled is not None
            qe, exited = run_heads_with_exits(
                self.lower,
                self.model,
                list(self.exit),
                ids,
                out,
                rows=rows,
                batch_size=self.batch_size,
            )
            q[rows] = qe[:, [self.exit.labels.index(lab) for lab in self.labels]]
            settled[rows[exited]] = True
            rows = rows[~exited]
            self.last_exited = int(exited.sum())
            self.last_settled += self.last_exited
        else:
            run_heads(self.model, ids, out, rows=rows, batch_size=self.batch_size)
        self._recheck(ids, out, rows)
        self._fill_settled(out, q, settled)
        return out, q, settled

    def _recheck(self, ids: list[list[int]], out: dict[str, np.ndarray], rows: np.ndarray) -> None:
        """Re-score the near-ties among ``rows`` with the fp32 model (int8 modes)."""
        if self.fallback is None or self.recheck_margin <= 0 or not len(rows):
            return
        top = np.sort(self._adjusted(out["multi"][rows]), axis=1)
        near = rows[top[:, -1] - top[:, -2] < self.recheck_margin]
        if len(near):
            run_heads(self.fallback, ids, out, rows=near, batch_size=self.batch_size)
        self.last_rechecked = len(near)

    def _fill_settled(
        self, out: dict[str, np.ndarray], q: np.ndarray | None, settled: np.ndarray | None
    ) -> None:
        """Every head of the settled rows from the stages' probabilities ``q``."""
        if q is None or settled is None or not settled.any():
            return
        rows = np.flatnonzero(settled)
        q = q[rows]
        raw = q * np.exp(-self.bias)  # undo the class bias _adjusted will apply
        out["multi"][rows] = raw / raw.sum(1, keepdims=True)
        for head, lab in (("seek", "seeking"), ("provide", "providing")):
            if head in out:
                p = q[:, self.labels.index(lab)]
                out[head][rows] = np.stack([1.0 - p, p], axis=1)

    def _adjusted(self, p: np.ndarray) -> np.ndarray:
        """3-class probabilities shifted by the validation-tuned class bias (renormalised)."""
        logp = np.log(np.clip(p, 1e-9, 1.0)) + self.bias
        logp -= logp.max(1, keepdims=True)
        unnormalised = np.exp(logp)
        return unnormalised / unnormalised.sum(1, keepdims=True)

    def predict_sentences(self, sentences: Sequence[str]) -> list[SentencePrediction]:
        """One prediction per input sentence; empty or non-text input is ``none``."""
        texts = [s if isinstance(s, str) else "" for s in sentences]
        live = [i for i, t in enumerate(texts) if t.strip()]
        res: list[SentencePrediction | None] = [None] * len(texts)
        if live:
            out, q, settled = self._run([texts[i] for i in live])
            probs = self._adjusted(out["multi"])
            if q is not None and settled is not None:
                probs[settled] = q[settled]  # the stage's own calibrated probabilities
            for row, i in enumerate(live):
                p = {
                    lab: float(round(float(probs[row, j]), 6)) for j, lab in enumerate(self.labels)
                }
                if not all(math.isfinite(v) for v in p.values()):
                    p = dict(NONE_PROBS)
                res[i] = SentencePrediction(
                    texts[i],
                    max(p, key=lambda k: p[k]),
                    p,
                    settled=bool(settled is not None and settled[row]),
                )
        return [
            r if r is not None else SentencePrediction(texts[i], "none", dict(NONE_PROBS))
            for i, r in enumerate(res)
        ]

    def predict_comments(self, texts: Sequence[str]) -> list[CommentEmpathy]:
        """Split every comment into sentences, classify all sentences in one batched pass."""
        bodies = [t if isinstance(t, str) else "" for t in texts]
        split = [split_sentences(b) for b in bodies]
        flat = [s for sents in split for s in sents]
        preds = self.predict_sentences(flat)
        out: list[CommentEmpathy] = []
        k = 0
        for body, sents in zip(bodies, split):
            mine = preds[k : k + len(sents)]
            k += len(sents)
            out.append(self._aggregate(body, mine))
        return out

    def predict_comment(self, text: str) -> CommentEmpathy:
        return self.predict_comments([text])[0]

    def _aggregate(self, text: str, sents: list[SentencePrediction]) -> CommentEmpathy:
        if not sents:
            return CommentEmpathy(text=text, label="none", probs=dict(NONE_PROBS))
        n = len(sents)
        labels = [s.label for s in sents]
        probs = {lab: round(sum(s.probs[lab] for s in sents) / n, 6) for lab in self.labels}
        return CommentEmpathy(
            text=text,
            label=_majority(labels),
            probs=probs,
            sentences=sents,
            share_seeking=round(labels.count("seeking") / n, 6),
            share_providing=round(labels.count("providing") / n, 6),
        )
