"""The cascade in the classifier: a gate in front of a real (tiny) empathy bundle."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.empathy import EmpathyClassifier
from models.empathy.inference import run_heads
from tests.empathy_support import hand_gate, majority_label, tiny_empathy

pytestmark = pytest.mark.slow

COMMENTS = [
    "Good luck! Thanks for posting this. Is anyone else worried about finals?",
    "Is anyone else worried? I am worried too. Good luck!",
    "The shuttle was late again. Parking costs forty dollars. Thanks anyway.",
    "",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Any]:
    return tiny_empathy(tmp_path_factory, data_dir)


@pytest.fixture(scope="module")
def plain(tiny: dict[str, Any]) -> EmpathyClassifier:
    return EmpathyClassifier.from_bundle(tiny["bundle"], fast=True, mode="fp32")


def test_a_bundle_without_gate_scores_exactly_as_the_encoder_alone(
    tiny: dict[str, Any], plain: EmpathyClassifier
) -> None:
    assert plain.gate is None
    texts = tiny["data"].test.texts[:60]
    got = plain.head_probs(texts)
    # the computation before the cascade: every sentence through the encoder
    ids = [e.ids for e in plain.tokenizer.encode_batch(texts)]
    want = {k: np.zeros_like(v) for k, v in got.items()}
    run_heads(plain.model, ids, want, batch_size=plain.batch_size)
    for k, v in want.items():
        assert np.array_equal(got[k], v)
    comments = plain.predict_comments(COMMENTS + texts[:10])
    assert plain.last_settled == 0
    for c in comments:
        for s in c.to_dict()["sentences"]:
            assert "settled" not in s
    # a gate that never settles changes nothing either
    never = EmpathyClassifier.from_bundle(tiny["bundle"], fast=True, mode="fp32")
    never.gate = hand_gate({})
    again = never.predict_comments(COMMENTS + texts[:10])
    assert [c.to_dict() for c in again] == [c.to_dict() for c in comments]
    assert never.last_settled == 0


def test_settled_sentences_report_the_gates_probabilities_and_flow_into_comment_labels(
    tiny: dict[str, Any], plain: EmpathyClassifier
) -> None:
    gate = hand_gate({"providing": 0.95, "seeking": 0.95, "none": 0.7})
    clf = EmpathyClassifier.from_bundle(tiny["bundle"], fast=True, mode="fp32")
    clf.gate = gate
    out = clf.predict_comments(COMMENTS)
    ref = plain.predict_comments(COMMENTS)
    n_settled = 0
    for c, r in zip(out, ref, strict=True):
        assert [s.text for s in c.sentences] == [s.text for s in r.sentences]
        for s, rs in zip(c.sentences, r.sentences, strict=True):
            q, settled = gate.split([s.text])
            assert s.settled == bool(settled[0])
            if s.settled:
                n_settled += 1
                assert s.to_dict()["settled"] is True
                want = dict(zip(gate.labels, q[0].tolist(), strict=True))
                assert s.probs == pytest.approx(want, abs=1e-6)
                assert s.label == max(want, key=lambda k: want[k])
            else:  # the encoder's own prediction, unchanged (up to the last rounded digit:
                # the rows the gate leaves form other batches, and a CPU's kernels may sum a
                # batch's rows in another order)
                got, want_ = s.to_dict(), rs.to_dict()
                assert got.pop("probs") == pytest.approx(want_.pop("probs"), abs=1e-5)
                assert got == want_
        labels = [s.label for s in c.sentences]
        n = len(labels)
        if n == 0:
            assert c.label == "none"
            continue
        assert c.label == majority_label(labels)
        assert c.share_seeking == pytest.approx(labels.count("seeking") / n, abs=1e-6)
        assert c.share_providing == pytest.approx(labels.count("providing") / n, abs=1e-6)
        for lab in c.probs:
            assert c.probs[lab] == pytest.approx(
                sum(s.probs[lab] for s in c.sentences) / n, abs=1e-5
            )
    assert 0 < n_settled < sum(len(c.sentences) for c in out)
    assert clf.last_settled == n_settled
    # the gate decides comment 2 ("anyone ... worried", "worried", "luck"): settled seeking x2
    assert out[1].label == "seeking"


def test_every_head_is_filled_for_settled_sentences(tiny: dict[str, Any]) -> None:
    gate = hand_gate({"providing": 0.95, "seeking": 0.95, "none": 0.7})
    clf = EmpathyClassifier.from_bundle(tiny["bundle"], fast=True, mode="fp32")
    clf.gate = gate
    texts = ["Good luck!", "Is anyone else worried?", "The bus was late.", "I like trains."]
    heads = clf.head_probs(texts)
    q, settled = gate.split(texts)
    assert settled.any() and set(heads) == {"multi", "seek", "provide"}
    for k, v in heads.items():
        assert np.allclose(v.sum(1), 1.0, atol=1e-5), k
    rows = np.flatnonzero(settled)
    assert np.allclose(clf._adjusted(heads["multi"][rows]), q[rows], atol=1e-5)
    assert np.allclose(heads["seek"][rows, 1], q[rows, 1], atol=1e-6)
    assert np.allclose(heads["provide"][rows, 1], q[rows, 2], atol=1e-6)


@pytest.fixture(scope="module")
def gated(tiny: dict[str, Any]) -> Any:
    """The tiny bundle with the hand-set gate, written as a new bundle version."""
    from training.empathy.gate import TrainedGate, write_gate_bundle

    from models.bundle import Registry

    gate = hand_gate({"providing": 0.9, "seeking": 0.9, "none": 0.7})
    w = np.zeros((gate.featurizer.n_features, 3), dtype=np.float32)
    w[0, 2] = w[1, 2] = 6.0
    w[2, 1] = w[3, 1] = 5.0
    trained = TrainedGate(
        gate,
        w,
        np.array([1.5, 0.0, 0.0], dtype=np.float32),
        {"config": {"min_agreement": 0.99}},
        {},
    )
    reg = Registry(tiny["root"] / "gated-registry")
    return write_gate_bundle(reg, tiny["bundle"], trained, metrics={"test": {}}, windows=[])


def test_fp32_reference_never_uses_the_gate(tiny: dict[str, Any], gated: Any) -> None:
    from models.empathy.gate import GATE_PARAM

    gate = hand_gate({"providing": 0.9, "seeking": 0.9, "none": 0.7})
    assert GATE_PARAM in gated.params and gated.version != tiny["bundle"].version
    exact = EmpathyClassifier.from_bundle(gated, fast=False)
    assert exact.gate is None
    cascade = EmpathyClassifier.from_bundle(gated, fast=True, mode="fp32")
    assert cascade.gate is not None
    assert cascade.gate.thresholds == gate.thresholds
    assert np.allclose(cascade.gate.probs(COMMENTS), gate.probs(COMMENTS), atol=1e-6)
    off = EmpathyClassifier.from_bundle(gated, fast=True, mode="fp32", gate=False)
    assert off.gate is None


def test_auto_calibrates_the_encoder_on_every_sentence_then_serves_it_behind_the_gate(
    gated: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind the gate only a handful of calibration sentences reached the encoder, so one
    disagreement refused a mode: the candidates are measured without the gate (the same in
    every mode), and the chosen one is served behind it."""
    import json

    from models.empathy import fastpath

    monkeypatch.setenv("PROSOCIAL_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(fastpath, "candidate_modes", lambda: ["fp32", "int8"])
    seen: list[Any] = []
    real = fastpath.calibrate

    def spy(build: Any, modes: Any, **kw: Any) -> Any:
        def spied(m: str) -> Any:
            clf = build(m)
            seen.append(clf.gate)
            return clf

        return real(spied, modes, **kw)

    monkeypatch.setattr(fastpath, "calibrate", spy)
    clf = EmpathyClassifier.from_bundle(gated, fast=True, mode="auto")
    assert clf.gate is not None and clf.mode in ("fp32", "int8")
    assert len(seen) == 2 and all(g is None for g in seen)  # every candidate, without the gate
    (entry,) = json.loads((tmp_path / fastpath.CACHE_FILE).read_text()).values()
    assert set(entry["figures"]) == {"fp32", "int8"}
    assert all("settled" not in f for f in entry["figures"].values())
    # the same bundle without its gate reuses that calibration
    plain = EmpathyClassifier.from_bundle(gated, fast=True, mode="auto", gate=False)
    assert plain.gate is None and plain.mode == clf.mode
    assert len(json.loads((tmp_path / fastpath.CACHE_FILE).read_text())) == 1
    assert len(seen) == 2  # no second calibration


class _Timed:
    """A real classifier whose passes advance a fake clock by ``seconds`` (no timing decides
    the test); everything else is the classifier's own."""

    def __init__(self, clf: EmpathyClassifier, clock: list[float], seconds: float) -> None:
        self.clf, self.clock, self.seconds = clf, clock, seconds
        self.mode, self.gate = clf.mode, clf.gate

    @property
    def last_settled(self) -> int:
        return self.clf.last_settled

    def predict_sentences(self, sentences: Sequence[str]) -> Any:
        self.clock[0] += self.seconds
        return self.clf.predict_sentences(sentences)


def test_calibration_behind_a_gate_judges_agreement_on_the_encoders_sentences(
    tiny: dict[str, Any],
) -> None:
    """A fast mode that disagrees with fp32 on the encoder's own sentences is refused even
    though the gate's settled sentences (identical in every mode) lift its agreement over
    all calibration sentences above the bar."""
    from models.empathy.fastpath import CALIBRATION_SENTENCES, calibrate

    sentences = list(CALIBRATION_SENTENCES)
    gate = hand_gate({"none": 0.6})  # settles the sentences without its seeking/providing words

    def gated(bias: np.ndarray | None = None) -> EmpathyClassifier:
        clf = EmpathyClassifier.from_bundle(tiny["bundle"], fast=True, mode="fp32", gate=False)
        clf.gate = gate
        if bias is not None:
            clf.bias = bias
        return clf

    ref = gated()
    ref_preds = ref.predict_sentences(sentences)
    enc = [i for i, p in enumerate(ref_preds) if not p.settled]
    assert 0 < len(enc) < len(sentences)
    # The "fast mode": the same real encoder with one class bias moved just past the smallest
    # margin among the encoder's sentences, so that exactly that sentence changes label.
    logp = np.log(
        np.clip(ref._adjusted(ref.head_probs([sentences[i] for i in enc])["multi"]), 1e-9, 1)
    )
    margins = logp.max(1, keepdims=True) - logp
    margins[margins == 0] = np.inf
    row, cls = np.unravel_index(np.argmin(margins), margins.shape)
    bias = ref.bias.copy()
    bias[cls] += margins[row, cls] + 1e-4
    fast_preds = gated(bias).predict_sentences(sentences)
    differ = [i for i, (a, b) in enumerate(zip(ref_preds, fast_preds)) if a.label != b.label]
    assert differ and set(differ) <= set(enc)  # the settled sentences agree trivially
    everywhere = 1 - len(differ) / len(sentences)
    on_encoder = 1 - len(differ) / len(enc)
    min_agreement = 0.97
    # the case the fix is about: over all sentences the mode passes, on the encoder's it fails
    assert everywhere >= min_agreement > on_encoder

    clock = [0.0]
    speed = {"fp32": 1.0, "int8": 0.4}
    built = {"fp32": gated(), "int8": gated(bias)}

    def build(mode: str) -> _Timed:
        built[mode].mode = mode
        return _Timed(built[mode], clock, speed[mode])

    cal, winner = calibrate(
        build, ["fp32", "int8"], timer=lambda: clock[0], min_agreement=min_agreement
    )
    assert cal.figures["int8"]["agreement_fp32"] == pytest.approx(on_encoder, abs=1e-4)
    assert (
        cal.figures["int8"]["settled"]
        == cal.figures["fp32"]["settled"]
        == len(sentences) - len(enc)
    )
    assert cal.figures["int8"]["sentences_per_s"] > cal.figures["fp32"]["sentences_per_s"] * 2
    assert cal.mode == "fp32" and winner.mode == "fp32"  # type: ignore[attr-defined]
