"""The empathy cascade's gate: calibrated probabilities and the settling rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.empathy.gate import EmpathyGate
from models.errors import BundleError
from tests.empathy_support import hand_gate
from tests.imports import modules_loaded_by

TEXTS = [
    "Good luck!",
    "Is anyone else worried about finals?",
    "The shuttle was late again.",
    "thanks",
    "",
]


def test_probabilities_are_a_softmax_of_the_logits_over_the_temperature() -> None:
    gate = hand_gate(temperature=2.0)
    z = gate.logits(TEXTS)
    p = gate.probs(TEXTS)
    e = np.exp(z / 2.0 - (z / 2.0).max(1, keepdims=True))
    assert np.allclose(p, e / e.sum(1, keepdims=True))
    assert np.allclose(p.sum(1), 1.0)
    assert p[0].argmax() == 2 and p[1].argmax() == 1 and p[2].argmax() == 0


def test_gate_settles_only_at_or_above_its_labels_threshold() -> None:
    p = hand_gate().probs(TEXTS)
    top = p.max(1)
    # thresholds exactly at the providing and seeking sentences' probabilities: settled
    at = hand_gate({"providing": float(top[0]), "seeking": float(top[1]), "none": 2.0})
    mask = at.settles(p)
    assert mask.tolist() == [True, True, False, p[3, 2] >= top[0], False]
    # a hair above them: not settled; "none" never settles with a threshold above 1
    above = hand_gate(
        {"providing": float(top[0]) + 1e-9, "seeking": float(top[1]) + 1e-9, "none": 2.0}
    )
    assert not above.settles(p)[:3].any()
    # the rule, everywhere: settled <=> top probability >= that label's threshold
    for th in (0.5, 0.7, 0.9, 0.99):
        g = hand_gate({"none": th, "seeking": th, "providing": th})
        probs, settled = g.split(TEXTS)
        assert (settled == (probs.max(1) >= th)).all()


def test_a_label_without_threshold_is_never_settled() -> None:
    g = hand_gate({"providing": 0.5})
    probs, settled = g.split(TEXTS)
    assert settled[0]
    assert not settled[probs.argmax(1) != 2].any()


@dataclass(frozen=True)
class PlainBundle:
    path: Path
    params: dict[str, Any] = field(default_factory=dict)
    labels: list[str] = field(default_factory=lambda: ["none", "seeking", "providing"])

    def read_json(self, rel: str) -> Any:
        raise OSError(f"no {rel}")

    def load_tensors(self, rel: str) -> Any:
        raise OSError(f"no {rel}")


def test_a_bundle_without_gate_params_has_no_gate(tmp_path: Path) -> None:
    assert EmpathyGate.from_bundle(PlainBundle(tmp_path)) is None


def test_gate_params_without_its_files_raise_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="gate"):
        EmpathyGate.from_bundle(PlainBundle(tmp_path, params={"gate": {"temperature": 1.0}}))


def test_weights_that_do_not_fit_the_featuriser_are_refused() -> None:
    g = hand_gate()
    with pytest.raises(BundleError):
        EmpathyGate(g.featurizer, np.zeros((3, 3)), np.zeros(3), labels=g.labels)
    with pytest.raises(BundleError, match="unknown labels"):
        EmpathyGate(
            g.featurizer,
            np.zeros((g.featurizer.n_features, 3)),
            np.zeros(3),
            labels=g.labels,
            thresholds={"sad": 0.5},
        )


def test_serving_never_imports_training() -> None:
    loaded = modules_loaded_by(
        "models.empathy",
        "models.empathy.gate",
        "models.empathy.classifier",
        "models.empathy.fastpath",
        "streaming.pipeline",
        "streaming.modelset",
    )
    assert not [m for m in loaded if m == "training" or m.startswith("training.")]
