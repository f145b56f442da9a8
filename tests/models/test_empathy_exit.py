"""The cascade's early exits: probes part-way through the encoder of a real (tiny) bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.empathy import EmpathyClassifier
from models.empathy.exit import EXIT_PARAM, EXIT_WEIGHTS, EarlyExit, ExitChain
from models.empathy.network import split_network
from tests.empathy_support import hand_gate, tiny_empathy

pytestmark = pytest.mark.slow

LAYER = 3
TEXTS = [
    "Good luck! Thanks for posting this.",
    "Is anyone else worried about finals?",
    "The shuttle was late again and parking costs forty dollars.",
    "I failed my first midterm and I don't know how to tell my parents.",
    "You're not alone, a lot of us bombed that exam.",
    "Email your advisor today.",
    "lol same",
    "Does the rec center have a pool or just the gym?",
    "Sending you a hug, rejection is brutal.",
    "My roommate keeps bringing people over at 3am and I have an 8am lab tomorrow morning.",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Any]:
    return tiny_empathy(tmp_path_factory, data_dir)


def _pooled(clf: EmpathyClassifier, texts: list[str], layer: int) -> np.ndarray:
    """Pooled states after ``layer`` of ``clf``'s fp32 network, one sentence at a time."""
    import torch

    lower, _ = split_network(clf.model, layer)
    out = []
    with torch.inference_mode():
        for e in clf.tokenizer.encode_batch(texts):
            x = torch.tensor([e.ids])
            out.append(lower(x, torch.ones_like(x))[1][0].numpy())
    return np.stack(out)


@pytest.fixture(scope="module")
def probe(tiny: dict[str, Any]) -> EarlyExit:
    """A probe with seeded random weights whose thresholds settle about half of ``TEXTS``."""
    fp32 = EmpathyClassifier.from_bundle(tiny["bundle"], fast=False)
    rng = np.random.default_rng(0)
    hidden = int(fp32.model.encoder.config.hidden_size)
    raw = EarlyExit(LAYER, rng.normal(0, 0.3, (hidden, 3)), np.zeros(3), labels=fp32.labels)
    top = raw.probs(_pooled(fp32, TEXTS, LAYER)).max(1)
    th = float(np.median(top))
    return EarlyExit(
        LAYER,
        raw.weights,
        raw.bias,
        labels=fp32.labels,
        thresholds={lab: th for lab in fp32.labels},
    )


@pytest.fixture(scope="module")
def exited(tiny: dict[str, Any], probe: EarlyExit) -> Any:
    """The tiny bundle with the probe, written as a new bundle version."""
    from training.empathy.exit import TrainedExit, write_exit_bundle

    from models.bundle import Registry

    trained = TrainedExit(
        ExitChain([probe]), {"layers": [LAYER], "config": {"min_agreement": 0.99}}, {}
    )
    reg = Registry(tiny["root"] / "exit-registry")
    return write_exit_bundle(reg, tiny["bundle"], trained, metrics={"test": {}}, windows=[])


def test_the_two_parts_of_a_split_network_compute_the_whole(tiny: dict[str, Any]) -> None:
    import torch

    net = EmpathyClassifier.from_bundle(tiny["bundle"], fast=False).model
    x = torch.randint(1000, 5000, (4, 12))
    m = torch.ones_like(x)
    m[1, 7:] = 0
    m[3, 3:] = 0
    for layer in (1, LAYER, 5):
        lower, upper = split_network(net, layer)
        with torch.inference_mode():
            whole = net(x, m)
            hidden, pooled = lower(x, m)
            parts = upper(hidden, m)
        assert hidden.shape == (4, 12, net.encoder.config.hidden_size)
        assert pooled.shape == (4, net.encoder.config.hidden_size)
        for k in whole:
            assert torch.allclose(whole[k], parts[k], atol=1e-5), (layer, k)
    # several cuts: lower, the parts between two cuts, upper
    lower, first, second, upper = split_network(net, [1, 3, 4])
    with torch.inference_mode():
        hidden, _ = lower(x, m)
        hidden, _ = first(hidden, m)
        hidden, pooled = second(hidden, m)
        parts = upper(hidden, m)
    assert torch.allclose(pooled, split_network(net, 4)[0](x, m)[1], atol=1e-5)
    for k in whole:
        assert torch.allclose(whole[k], parts[k], atol=1e-5), k
    for bad in (0, 6, [3, 2], [2, 2], []):
        with pytest.raises(ValueError):
            split_network(net, bad)


def test_settled_sentences_carry_the_probe_and_the_others_the_whole_network(
    tiny: dict[str, Any], exited: Any, probe: EarlyExit
) -> None:
    assert exited.params[EXIT_PARAM]["layers"] == [LAYER]
    clf = EmpathyClassifier.from_bundle(exited, fast=True, mode="fp32")
    plain = EmpathyClassifier.from_bundle(exited, fast=True, mode="fp32", early_exit=False)
    assert clf.exit is not None and clf.lower is not None and plain.exit is None
    got = clf.predict_sentences(TEXTS)
    ref = plain.predict_sentences(TEXTS)
    q = probe.probs(_pooled(plain, TEXTS, LAYER))
    settled = probe.settles(q)
    assert 0 < settled.sum() < len(TEXTS)
    assert clf.last_exited == clf.last_settled == int(settled.sum())
    for i, (g, r) in enumerate(zip(got, ref, strict=True)):
        assert g.settled == bool(settled[i])
        if g.settled:
            want = dict(zip(probe.labels, q[i].tolist(), strict=True))
            assert g.probs == pytest.approx(want, abs=1e-5)
            assert g.label == max(want, key=lambda k: want[k])
        else:
            assert g.probs == pytest.approx(r.probs, abs=1e-5)
            assert g.label == r.label
    heads = clf.head_probs(TEXTS)
    for k, v in heads.items():  # every head filled, exited sentences too
        assert np.allclose(v.sum(1), 1.0, atol=1e-5), k
    rows = np.flatnonzero(settled)
    assert np.allclose(heads["seek"][rows, 1], q[rows, 1], atol=1e-5)
    assert np.allclose(heads["provide"][rows, 1], q[rows, 2], atol=1e-5)
    # comments aggregate the exited sentences like any other
    comment = clf.predict_comment(" ".join(TEXTS[:4]))
    sents = [s.text for s in comment.sentences]
    alone = probe.settles(probe.probs(_pooled(plain, sents, LAYER)))
    assert [s.settled for s in comment.sentences] == alone.tolist()


def test_the_gate_settles_first_and_the_exit_sees_only_the_rest(
    exited: Any, probe: EarlyExit
) -> None:
    gate = hand_gate({"providing": 0.9, "seeking": 0.9, "none": 0.7})
    clf = EmpathyClassifier.from_bundle(exited, fast=True, mode="fp32")
    clf.gate = gate
    got = clf.predict_sentences(TEXTS)
    qg, by_gate = gate.split(TEXTS)
    assert by_gate.any()
    rest = [t for t, s in zip(TEXTS, by_gate, strict=True) if not s]
    plain = EmpathyClassifier.from_bundle(exited, fast=False)
    by_exit = probe.settles(probe.probs(_pooled(plain, rest, LAYER)))
    assert clf.last_exited == int(by_exit.sum())
    assert clf.last_settled == int(by_gate.sum() + by_exit.sum())
    for g, q, s in zip(got, qg, by_gate, strict=True):
        if s:  # the gate's own probabilities
            assert g.settled and g.probs == pytest.approx(
                dict(zip(gate.labels, q.tolist(), strict=True)), abs=1e-6
            )


def test_the_fp32_reference_never_uses_the_exit(exited: Any) -> None:
    ref = EmpathyClassifier.from_bundle(exited, fast=False)
    assert ref.exit is None and ref.lower is None
    assert not any(p.settled for p in ref.predict_sentences(TEXTS))


def test_onnx_parts_are_cached_and_serve_without_the_torch_network(
    exited: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("onnxruntime")
    from models.empathy import classifier as classifier_mod
    from models.empathy.onnx import OrtEmpathyNet

    monkeypatch.setenv("PROSOCIAL_CACHE_DIR", str(tmp_path))
    fp32 = EmpathyClassifier.from_bundle(exited, fast=True, mode="fp32")
    lower, upper = split_network(EmpathyClassifier.from_bundle(exited, fast=False).model, LAYER)
    # the fp32 graphs of the two parts compute what the torch parts do
    ort_lower = OrtEmpathyNet.cached(lower, key="t-lower", cache_dir=tmp_path, quantize=False)
    ort_upper = OrtEmpathyNet.cached(upper, key="t-upper", cache_dir=tmp_path, quantize=False)
    import torch

    x = torch.randint(1000, 5000, (3, 9))
    m = torch.ones_like(x)
    m[2, 4:] = 0
    with torch.inference_mode():
        want = upper(*lower(x, m)[:1], m)
    hidden, _ = ort_lower(x, m)
    got = ort_upper(hidden, m)
    for k in want:
        assert np.allclose(want[k].numpy(), got[k].numpy(), atol=1e-4), k
    # served: int8 parts (and the fp32 re-check graph) exported once, then loaded
    first = EmpathyClassifier.from_bundle(exited, fast=True, mode="onnx-int8")
    assert first.mode == "onnx-int8" and first.exit is not None
    labels = [p.label for p in first.predict_sentences(TEXTS)]
    entries = sorted(p.name for p in (tmp_path / "empathy-onnx").iterdir())
    assert any(f"-lower{LAYER}-int8" in e for e in entries)
    assert any(f"-upper{LAYER}-int8" in e for e in entries)

    def no_network(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the torch network was built although the graphs are cached")

    monkeypatch.setattr(classifier_mod, "_load_network", no_network)
    again = EmpathyClassifier.from_bundle(exited, fast=True, mode="onnx-int8")
    assert [p.label for p in again.predict_sentences(TEXTS)] == labels
    # int8 agrees with fp32 where both took the same path. The probe's thresholds sit at the
    # median of its random probabilities, so int8's shifted lower states (their dynamic
    # activation scales depend on the batch's rows) flip some of its knife-edge decisions.
    pairs = list(zip(again.predict_sentences(TEXTS), fp32.predict_sentences(TEXTS)))
    same_path = [(a, b) for a, b in pairs if a.settled == b.settled]
    assert len(same_path) >= len(TEXTS) // 2
    assert np.mean([a.label == b.label for a, b in same_path]) >= 0.8


def test_a_new_gate_drops_the_exit_fitted_behind_the_old_one(
    tiny: dict[str, Any], exited: Any
) -> None:
    from training.empathy.gate import TrainedGate, write_gate_bundle

    from models.bundle import Registry

    gate = hand_gate({"providing": 0.9, "seeking": 0.9, "none": 0.7})
    w = np.zeros((gate.featurizer.n_features, 3), dtype=np.float32)
    trained = TrainedGate(gate, w, np.zeros(3, np.float32), {"config": {"min_agreement": 0.99}}, {})
    reg = Registry(tiny["root"] / "regated-registry")
    b = write_gate_bundle(reg, exited, trained, metrics={"test": {}}, windows=[])
    assert EXIT_PARAM not in b.params
    assert not any(rel.startswith("exit/") for rel in b.config["files"])
    assert EmpathyClassifier.from_bundle(b, fast=True, mode="fp32").exit is None


def _random_probe(fp32: EmpathyClassifier, layer: int, seed: int) -> EarlyExit:
    """A seeded random probe after ``layer`` whose thresholds settle a third of ``TEXTS``."""
    rng = np.random.default_rng(seed)
    hidden = int(fp32.model.encoder.config.hidden_size)
    raw = EarlyExit(layer, rng.normal(0, 0.3, (hidden, 3)), np.zeros(3), labels=fp32.labels)
    th = float(np.quantile(raw.probs(_pooled(fp32, TEXTS, layer)).max(1), 2 / 3))
    return EarlyExit(
        layer, raw.weights, raw.bias, labels=fp32.labels, thresholds=dict.fromkeys(fp32.labels, th)
    )


@pytest.fixture(scope="module")
def chained(tiny: dict[str, Any]) -> tuple[Any, ExitChain]:
    """The tiny bundle with exits after layers 2 and 4."""
    from training.empathy.exit import TrainedExit, write_exit_bundle

    from models.bundle import Registry

    fp32 = EmpathyClassifier.from_bundle(tiny["bundle"], fast=False)
    chain = ExitChain([_random_probe(fp32, 4, 2), _random_probe(fp32, 2, 1)])
    trained = TrainedExit(chain, {"layers": chain.layers, "config": {"min_agreement": 0.99}}, {})
    reg = Registry(tiny["root"] / "chain-registry")
    bundle = write_exit_bundle(reg, tiny["bundle"], trained, metrics={"test": {}}, windows=[])
    return bundle, chain


def test_a_sentence_stops_at_the_first_exit_that_settles_it(chained: Any) -> None:
    bundle, chain = chained
    assert chain.layers == [2, 4]
    assert bundle.params[EXIT_PARAM]["layers"] == [2, 4]
    clf = EmpathyClassifier.from_bundle(bundle, fast=True, mode="fp32")
    plain = EmpathyClassifier.from_bundle(bundle, fast=True, mode="fp32", early_exit=False)
    assert clf.exit is not None and clf.exit.layers == [2, 4]
    assert clf.lower is not None and len(clf.lower) == 2
    first, second = chain
    q1 = first.probs(_pooled(plain, TEXTS, 2))
    q2 = second.probs(_pooled(plain, TEXTS, 4))
    at_first = first.settles(q1)
    at_second = ~at_first & second.settles(q2)
    assert at_first.any() and at_second.any() and not (at_first | at_second).all()
    got = clf.predict_sentences(TEXTS)
    ref = plain.predict_sentences(TEXTS)
    assert clf.last_exited == int(at_first.sum() + at_second.sum())
    for i, (g, r) in enumerate(zip(got, ref, strict=True)):
        q = q1[i] if at_first[i] else q2[i] if at_second[i] else None
        assert g.settled == (q is not None)
        if q is not None:
            assert g.probs == pytest.approx(dict(zip(chain.labels, q.tolist())), abs=1e-5)
        else:
            assert g.probs == pytest.approx(r.probs, abs=1e-5)


def test_onnx_serves_a_chain_from_one_cached_graph_per_part(
    chained: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("onnxruntime")
    bundle, _ = chained
    monkeypatch.setenv("PROSOCIAL_CACHE_DIR", str(tmp_path))
    clf = EmpathyClassifier.from_bundle(bundle, fast=True, mode="onnx-int8")
    assert clf.mode == "onnx-int8" and clf.lower is not None and len(clf.lower) == 2
    fp32 = EmpathyClassifier.from_bundle(bundle, fast=True, mode="fp32")
    got, ref = clf.predict_sentences(TEXTS), fp32.predict_sentences(TEXTS)
    entries = sorted(p.name for p in (tmp_path / "empathy-onnx").iterdir())
    for part in ("lower2", "middle2-4", "upper4"):
        assert any(f"-{part}-int8" in e for e in entries), (part, entries)
    same_path = [(a, b) for a, b in zip(got, ref, strict=True) if a.settled == b.settled]
    assert len(same_path) >= len(TEXTS) // 2
    assert np.mean([a.label == b.label for a, b in same_path]) >= 0.8


_LABELS = ("none", "seeking", "providing")


class _OldBundle:
    """What :meth:`ExitChain.from_bundle` reads of a bundle, in the one-exit format."""

    def __init__(self, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
        self.path, self.labels = Path("old"), list(_LABELS)
        self.params, self._tensors = params, tensors

    def load_tensors(self, rel: str) -> dict[str, np.ndarray]:
        assert rel == EXIT_WEIGHTS
        return self._tensors


def test_a_bundle_of_one_exit_written_before_chains_reads_as_a_chain_of_one() -> None:
    from models.errors import BundleError

    w, b = np.ones((8, 3), np.float32), np.zeros(3, np.float32)
    old = {"layer": 3, "labels": list(_LABELS), "temperature": 2.0, "thresholds": {"none": 0.9}}
    chain = ExitChain.from_bundle(_OldBundle({EXIT_PARAM: old}, {"weights": w, "bias": b}))
    assert chain is not None and chain.layers == [3]
    assert chain[0].temperature == 2.0 and chain[0].thresholds["none"] == 0.9
    assert ExitChain.from_bundle(_OldBundle({}, {})) is None
    # a new-format bundle missing a probe's tensors is a clear bundle error
    new = {**ExitChain([chain[0]]).params(), "labels": list(_LABELS)}
    with pytest.raises(BundleError, match="malformed empathy exit"):
        ExitChain.from_bundle(_OldBundle({EXIT_PARAM: new}, {"weights.2": w}))
    with pytest.raises(BundleError, match="repeated layers"):
        ExitChain([chain[0], chain[0]])
