"""Distilling the empathy cascade's gate onto a served empathy bundle (training only).

Docs: docs/architecture.md, "Empathy inference". The gate (:mod:`models.empathy.gate`) is a
multinomial logistic regression over the aux featurisation (:mod:`models.aux.features`; the
vocabulary and idf are fitted with :func:`training.aux.fit.build_vocab` /
:func:`training.aux.fit.fit_idf`), trained on real Reddit sentences labelled by the bundle's
own fp32 model. The data is split by time: top-level comments created before
``train_until`` train it, those in ``[train_until, valid_until)`` choose the regularisation,
the temperature and the per-label thresholds, and those from ``valid_until`` on are the test
window, reported once. Whole TLCs are sampled, so TLC labels (the paper's majority rule) can be
compared too.

A sentence is settled when the gate's calibrated probability of its top label reaches that
label's threshold. Thresholds are the lowest at which the settled validation sentences of the
label still agree with the fp32 labels at ``min_agreement`` (judged by the Wilson lower bound
of their agreement, with at least ``min_support`` of them); while the validation TLC labels of
the cascade (gate where settled, fp32 elsewhere) agree with fp32 below ``min_tlc_agreement``,
the target is tightened.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from scipy.optimize import minimize_scalar

from models.aux.features import DENSE_FEATURES, Featurizer, FeaturizerSpec
from models.bundle import Bundle, BundleWriter, Registry, data_window
from models.empathy.classifier import BUNDLE_NAME, EmpathyClassifier
from models.empathy.gate import GATE_FEATURIZER, GATE_PARAM, GATE_WEIGHTS, EmpathyGate, softmax
from models.empathy.network import LABELS
from models.empathy.splitter import split_sentences
from training.aux.fit import FeatureCache, build_vocab, fit_idf
from training.errors import TrainingError
from training.progress import Progress

__all__ = [
    "GateConfig",
    "LabelCache",
    "StageTargets",
    "TrainedGate",
    "Window",
    "choose_thresholds",
    "evaluate_gate",
    "fit_multinomial",
    "label_windows",
    "read_windows",
    "stage_thresholds",
    "train_gate",
    "write_gate_bundle",
    "write_stage_bundle",
]

logger = logging.getLogger(__name__)


def _utc(day: str) -> int:
    return calendar.timegm(time.strptime(day, "%Y-%m-%d"))


@dataclass(frozen=True)
class GateConfig:
    """Windows, sample sizes, featurisation and the decision targets of a gate."""

    train_until: str = "2021-11-01"
    valid_until: str = "2021-11-21"
    #: sentences sampled (as whole TLCs) per window
    train_sentences: int = 48_000
    valid_sentences: int = 12_000
    test_sentences: int = 12_000
    seed: int = 0
    vocab_min_df: int = 2
    vocab_max: int = 200_000
    char_bits: int = 18
    char_ngrams: tuple[int, int] = (3, 5)
    max_chars: int = 2000
    repeat_window: tuple[int, int] = (8, 2)
    c_grid: tuple[float, ...] = (2.0, 8.0, 32.0)
    min_agreement: float = 0.99
    min_tlc_agreement: float = 0.99
    min_support: int = 30
    #: z of the Wilson lower bound the settled agreement is judged by (one-sided 90 %)
    confidence_z: float = 1.28
    chunk: int = 4096


@dataclass
class Window:
    """The sentences of the TLCs sampled from one time window, with their fp32 labels."""

    name: str
    texts: list[str]
    #: index of each sentence's TLC within the window
    tlc: np.ndarray
    created_utc: list[int] = field(default_factory=list)  # per TLC
    labels: np.ndarray | None = None  # fp32 label index per sentence
    probs: np.ndarray | None = None  # fp32 probabilities per sentence

    @property
    def n_tlcs(self) -> int:
        return len(self.created_utc)

    def y(self) -> np.ndarray:
        if self.labels is None:
            raise TrainingError(f"window {self.name} is not labelled")
        return self.labels


@dataclass
class TrainedGate:
    gate: EmpathyGate
    weights: np.ndarray
    bias: np.ndarray
    params: dict[str, Any]
    validation: dict[str, Any]


# -- data ---------------------------------------------------------------------------------
def read_windows(
    comments: Path,
    cfg: GateConfig,
    *,
    max_comments: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Window]:
    """Sample whole TLCs of each time window of a dump's ``comments`` file until the window's
    sentence budget is reached (random order, ``cfg.seed``)."""
    from redditdata.dumps import iter_events
    from redditdata.events import Comment

    say = progress or (lambda _m: None)
    t_train, t_valid = _utc(cfg.train_until), _utc(cfg.valid_until)
    budgets = {
        "train": cfg.train_sentences,
        "valid": cfg.valid_sentences,
        "test": cfg.test_sentences,
    }
    pools: dict[str, list[tuple[int, str]]] = {s: [] for s in budgets}
    for k, c in enumerate(iter_events(comments, "comment")):
        if max_comments is not None and k >= max_comments:
            break
        if not isinstance(c, Comment) or c.parent_id != c.link_id:
            continue
        if c.body in ("[deleted]", "[removed]") or not c.body.strip():
            continue
        t = int(c.created_utc)
        split = "train" if t < t_train else "valid" if t < t_valid else "test"
        pools[split].append((t, c.body))
    out: dict[str, Window] = {}
    for split, budget in budgets.items():
        pool = pools[split]
        random.Random(f"{cfg.seed}-{split}").shuffle(pool)
        texts: list[str] = []
        tlc: list[int] = []
        created: list[int] = []
        for t, body in pool:
            if len(texts) >= budget:
                break
            sents = split_sentences(body)
            if not sents:
                continue
            tlc.extend([len(created)] * len(sents))
            created.append(t)
            texts.extend(sents)
        out[split] = Window(split, texts, np.asarray(tlc, dtype=np.int64), created)
        say(f"{split}: {len(texts)} sentences of {len(created)} TLCs (of {len(pool)} in window)")
    return out


class LabelCache:
    """fp32 labels of sentences, by a digest of the sentence and the bundle version, appended
    to a JSON-lines file (no text is stored), so an interrupted labelling resumes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.rows: dict[str, list[float]] = {}
        if path is not None and path.exists():
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        k, v = json.loads(line)
                    except (ValueError, TypeError):
                        continue  # a torn last line
                    self.rows[str(k)] = [float(x) for x in v]

    @staticmethod
    def key(version: str, text: str) -> str:
        return hashlib.sha256(f"{version}\0{text}".encode()).hexdigest()[:24]

    def add(self, items: Sequence[tuple[str, list[float]]]) -> None:
        for k, v in items:
            self.rows[k] = v
        if self.path is not None and items:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write("".join(json.dumps([k, v]) + "\n" for k, v in items))


def label_windows(
    windows: dict[str, Window],
    clf: EmpathyClassifier,
    *,
    cache: LabelCache | None = None,
    chunk: int = 512,
    progress: Progress | None = None,
    version: str | None = None,
) -> None:
    """Label every window's sentences with ``clf`` (the bundle's fp32 model, as served with
    ``fast=False``): the label index and probabilities of :meth:`predict_sentences`. The
    cache is keyed by ``version`` (default ``clf``'s): a bundle derived from another with
    the same network (a gate or an exit added) passes its source's, whose labels it shares."""
    say = progress or (lambda _m: None)
    cache = cache or LabelCache(None)
    version = version or clf.version
    todo = list(
        dict.fromkeys(
            t
            for w in windows.values()
            for t in w.texts
            if LabelCache.key(version, t) not in cache.rows
        )
    )
    total = len(todo)
    t0 = time.perf_counter()
    for s in range(0, total, chunk):
        part = todo[s : s + chunk]
        preds = clf.predict_sentences(part)
        cache.add(
            [
                (
                    LabelCache.key(version, t),
                    [float(LABELS.index(p.label))] + [p.probs[lab] for lab in LABELS],
                )
                for t, p in zip(part, preds, strict=True)
            ]
        )
        done = min(s + chunk, total)
        rate = done / max(time.perf_counter() - t0, 1e-9)
        say(f"labelled {done}/{total} sentences ({rate:.0f}/s)")
    for w in windows.values():
        rows = np.array(
            [cache.rows[LabelCache.key(version, t)] for t in w.texts], dtype=np.float64
        ).reshape(-1, 1 + len(LABELS))
        w.labels = rows[:, 0].astype(np.int64)
        w.probs = rows[:, 1:]


# -- fitting ------------------------------------------------------------------------------
def _fit_temperature(z: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of ``y`` under softmax(z / T)."""

    def nll(log_t: float) -> float:
        p = softmax(z / np.exp(log_t))
        return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))))

    r = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
    return float(np.exp(r.x))


def _tlc_labels(labels: np.ndarray, tlc: np.ndarray, n_tlcs: int) -> np.ndarray:
    """The paper's majority rule per TLC (0 none, 1 seeking, 2 providing)."""
    n = np.bincount(tlc, minlength=n_tlcs)
    out = np.zeros(n_tlcs, dtype=np.int64)
    for lab in (1, 2):
        k = np.bincount(tlc, weights=labels == lab, minlength=n_tlcs)
        out[(out == 0) & (k * 2 > n)] = lab
    return out


def _wilson_low(good: np.ndarray, n: np.ndarray, z: float) -> np.ndarray:
    """Wilson score lower bound of the proportions ``good / n``."""
    p = good / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return np.asarray((centre - spread) / (1 + z2 / n))


def cascade_labels(q: np.ndarray, settled: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sentence labels of the cascade: the gate's where settled, the reference's elsewhere."""
    return np.where(settled, q.argmax(1), y)


class StageTargets(Protocol):
    """A cascade stage's decision targets (:class:`GateConfig`, the exits' config)."""

    @property
    def min_agreement(self) -> float: ...
    @property
    def min_tlc_agreement(self) -> float: ...
    @property
    def min_support(self) -> int: ...
    @property
    def confidence_z(self) -> float: ...


def stage_thresholds(
    q: np.ndarray,
    window: Window,
    targets: StageTargets,
    *,
    eligible: np.ndarray | None = None,
    base: np.ndarray | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """:func:`choose_thresholds` with a stage's ``targets``."""
    return choose_thresholds(
        q,
        window,
        min_agreement=targets.min_agreement,
        min_tlc_agreement=targets.min_tlc_agreement,
        min_support=targets.min_support,
        z=targets.confidence_z,
        eligible=eligible,
        base=base,
    )


def choose_thresholds(
    q: np.ndarray,
    window: Window,
    *,
    min_agreement: float,
    min_tlc_agreement: float,
    min_support: int,
    z: float = 1.28,
    eligible: np.ndarray | None = None,
    base: np.ndarray | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Per-label thresholds on calibrated probabilities ``q`` of ``window``'s sentences against
    its reference (fp32) labels (see the module docstring) and the validation figures they give. The agreement of a
    label's settled sentences is judged by its Wilson lower bound (``z``: 1.28 = one-sided
    90 %), so a small lucky validation set does not lower a threshold.

    A later stage of the cascade sees only the ``eligible`` sentences (the others were settled
    before it, with the labels ``base``; default: every sentence, the fp32 labels): only those
    set its thresholds and count in its settled share, and the TLC labels it is judged by
    take ``base`` where it was not eligible."""
    y, tlc, n_tlcs = window.y(), window.tlc, window.n_tlcs
    elig = np.ones(len(q), dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    before = y if base is None else np.asarray(base)
    top = q.argmax(1)
    conf = q[np.arange(len(q)), top]
    target = min_agreement
    ref_tlc = _tlc_labels(y, tlc, n_tlcs)
    for _ in range(8):
        th: dict[str, float] = {}
        for j, lab in enumerate(LABELS):
            idx = np.flatnonzero((top == j) & elig)
            order = idx[np.argsort(-conf[idx], kind="stable")]
            good = np.cumsum(y[order] == j)
            k = np.arange(1, len(order) + 1)
            ok = np.flatnonzero((_wilson_low(good, k, z) >= target) & (k >= min_support))
            th[lab] = float(conf[order[ok[-1]]]) if len(ok) else 2.0
        settled = elig & (conf >= np.array([th[lab] for lab in LABELS])[top])
        got = _tlc_labels(cascade_labels(q, settled, np.where(elig, y, before)), tlc, n_tlcs)
        tlc_agree = float(np.mean(got == ref_tlc)) if n_tlcs else 1.0
        if tlc_agree >= min_tlc_agreement:
            break
        target = 1.0 - (1.0 - target) / 2
    info = {
        "target_agreement": round(target, 5),
        "settled_share": round(float(settled.sum() / max(1, elig.sum())), 4) if len(q) else 0.0,
        "settled_agreement": round(float(np.mean(top[settled] == y[settled])), 4)
        if settled.any()
        else None,
        "tlc_agreement": round(tlc_agree, 4),
    }
    return th, info


def fit_multinomial(
    x: Any, y: np.ndarray, *, c: float, max_iter: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression of ``y`` (label indices) on ``x`` (dense or sparse rows):
    weights ``(n_features, 3)`` and bias ``(3,)`` over every label, a label never seen in
    training getting a bias that never predicts it."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=c, max_iter=max_iter, tol=1e-4)
    lr.fit(x, y)
    w = np.zeros((x.shape[1], len(LABELS)), dtype=np.float64)
    b = np.full(len(LABELS), -30.0)
    cols = [int(k) for k in lr.classes_]
    if len(cols) == 2:  # binary sklearn model: one logit for the second class
        w[:, cols[1]], b[cols[1]] = lr.coef_[0], lr.intercept_[0]
        b[cols[0]] = 0.0
    else:
        w[:, cols], b[cols] = lr.coef_.T, lr.intercept_
    return w, b


def train_gate(
    train: Window,
    valid: Window,
    cfg: GateConfig = GateConfig(),
    progress: Progress | None = None,
) -> TrainedGate:
    """Featuriser, logistic regression (C chosen on validation for the largest settled share),
    temperature and thresholds (on validation)."""

    say = progress or (lambda _m: None)
    y_train, y_valid = train.y(), valid.y()
    if len(set(y_train.tolist())) < 2:
        raise TrainingError("the gate needs at least two labels among its training sentences")
    distinct = list(dict.fromkeys(train.texts))
    say(f"vocabulary over {len(distinct)} training sentences")
    spec = FeaturizerSpec(
        vocab=build_vocab(distinct, cfg.vocab_min_df, cfg.vocab_max, cfg.max_chars),
        char_bits=cfg.char_bits,
        char_ngrams=cfg.char_ngrams,
        max_chars=cfg.max_chars,
        repeat_window=cfg.repeat_window,
    )
    featurizer = Featurizer(spec, idf=fit_idf(Featurizer(spec), distinct, cfg.chunk))
    cache = FeatureCache(featurizer, train.texts + valid.texts, cfg.chunk, say)
    x_train, x_valid = cache.rows(train.texts), cache.rows(valid.texts)
    best: tuple[float, float, np.ndarray, np.ndarray] | None = None
    by_c: dict[str, Any] = {}
    for c in cfg.c_grid:
        say(f"fitting the gate (C={c})")
        w, b = fit_multinomial(x_train, y_train, c=c)
        z = np.asarray(x_valid @ w) + b
        temp = _fit_temperature(z, y_valid) if len(valid.texts) else 1.0
        q = softmax(z / temp)
        th, info = stage_thresholds(q, valid, cfg)
        info.update(
            temperature=temp,
            thresholds=th,
            gate_only_agreement=round(float(np.mean(q.argmax(1) == y_valid)), 4),
        )
        by_c[str(c)] = info
        logger.info("gate C=%s: %s", c, info)
        if best is None or info["settled_share"] > best[0]:
            best = (info["settled_share"], c, w, b)
    assert best is not None
    _, c, w, b = best
    chosen = by_c[str(c)]
    gate = EmpathyGate(
        featurizer,
        w.astype(np.float32),
        b,
        labels=list(LABELS),
        temperature=chosen["temperature"],
        thresholds=chosen["thresholds"],
    )
    params = {
        "C": c,
        "temperature": chosen["temperature"],
        "thresholds": chosen["thresholds"],
        "config": {k: v for k, v in asdict(cfg).items()},
    }
    validation = {"by_C": by_c, "chosen_C": c, "n_sentences": len(valid.texts)}
    return TrainedGate(gate, w.astype(np.float32), b.astype(np.float32), params, validation)


def evaluate_gate(gate: EmpathyGate, window: Window) -> dict[str, Any]:
    """Settled share and agreement with the fp32 labels (sentences and TLCs) on ``window``;
    the sentences the gate does not settle keep their fp32 label (the encoder's, in fp32)."""
    y = window.y()
    q, settled = gate.split(window.texts)
    top = q.argmax(1)
    mine = cascade_labels(q, settled, y)
    tlc_ref = _tlc_labels(y, window.tlc, window.n_tlcs)
    tlc_got = _tlc_labels(mine, window.tlc, window.n_tlcs)
    n = max(1, len(y))
    return {
        "n_sentences": len(y),
        "n_tlcs": window.n_tlcs,
        "settled_share": round(float(settled.mean()), 4) if len(y) else 0.0,
        "settled_by_label": {
            lab: int(np.sum(settled & (top == j))) for j, lab in enumerate(LABELS)
        },
        "settled_agreement": round(float(np.mean(top[settled] == y[settled])), 4)
        if settled.any()
        else None,
        "sentence_agreement": round(float(np.sum(mine == y)) / n, 4),
        "tlc_agreement": round(float(np.mean(tlc_got == tlc_ref)), 4) if window.n_tlcs else None,
        "gate_only_agreement": round(float(np.sum(top == y)) / n, 4),
        "label_share_fp32": {lab: round(float(np.mean(y == j)), 4) for j, lab in enumerate(LABELS)},
        "window_utc": [min(window.created_utc), max(window.created_utc)]
        if window.created_utc
        else None,
    }


# -- the bundle ---------------------------------------------------------------------------
def write_gate_bundle(
    registry: Registry,
    source: Bundle,
    trained: TrainedGate,
    *,
    metrics: dict[str, Any],
    windows: Sequence[Window],
    make_current: bool = False,
) -> Bundle:
    """A new ``empathy`` bundle: ``source``'s files (the same encoder) + the gate's files, the
    gate in ``params.gate`` and its figures in ``metrics.gate``."""
    source.verify()
    g = trained.gate
    params = dict(source.params)
    params.pop("exit", None)  # an early exit's thresholds were set behind the old gate
    params[GATE_PARAM] = {
        "labels": list(g.labels),
        "temperature": g.temperature,
        "thresholds": dict(g.thresholds),
        "dense_features": list(DENSE_FEATURES),
        "distilled_from": source.version,
        "min_agreement": trained.params["config"]["min_agreement"],
        "fit": trained.params,
    }
    idf = g.featurizer.idf

    def save(w: BundleWriter) -> None:
        w.save_json(GATE_FEATURIZER, g.featurizer.spec.to_json())
        w.save_tensors(
            GATE_WEIGHTS,
            {
                "idf": np.asarray(idf if idf is not None else np.ones(g.featurizer.n_sparse)),
                "weights": trained.weights,
                "bias": trained.bias,
            },
        )

    # a gated source: its gate is replaced (and its exit dropped)
    return write_stage_bundle(
        registry,
        source,
        stage=GATE_PARAM,
        params=params,
        metrics=metrics,
        windows=windows,
        replaced=("gate/", "exit/"),
        save=save,
        make_current=make_current,
    )


def write_stage_bundle(
    registry: Registry,
    source: Bundle,
    *,
    stage: str,
    params: dict[str, Any],
    metrics: dict[str, Any],
    windows: Sequence[Window],
    replaced: tuple[str, ...],
    save: Callable[[BundleWriter], None],
    make_current: bool = False,
) -> Bundle:
    """A new ``empathy`` bundle of a cascade ``stage`` (``gate``, ``exit``) fitted onto
    ``source``: ``source``'s files but those under ``replaced``, what ``save`` writes,
    ``params`` and ``source``'s metrics with the stage's under ``metrics[stage]``."""
    all_metrics = dict(source.metrics)
    all_metrics[stage] = metrics
    times = [t for w in windows for t in w.created_utc]
    with BundleWriter(
        registry,
        BUNDLE_NAME,
        labels=source.labels,
        features=source.features,
        params=params,
        metrics=all_metrics,
        training_data_hash=str(source.config.get("training_data_hash", "")),
        data_window=data_window(times, source=f"reddit-college ({stage})"),
        make_current=make_current,
    ) as w:
        for rel in sorted(source.config.get("files", {})):
            if not rel.startswith(replaced):
                w.add_file(source.path / rel, rel)
        save(w)
        version = w.version
    return registry.get(BUNDLE_NAME, version)
