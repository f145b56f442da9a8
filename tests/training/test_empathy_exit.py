"""Fitting the cascade's early exits: thresholds behind a gate, the cheapest chain on validation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from training.empathy.exit import ExitConfig, evaluate_exit, train_exit
from training.empathy.gate import Window, choose_thresholds

HIDDEN = 16


def _window(name: str, labels: np.ndarray, per_tlc: int = 2) -> Window:
    n = len(labels)
    tlc = np.arange(n) // per_tlc
    return Window(name, [f"{name} {i}" for i in range(n)], tlc, [0] * int(tlc[-1] + 1), labels)


def _states(labels: np.ndarray, rng: np.random.Generator) -> dict[int, np.ndarray]:
    """Layer 1: noise; layer 2: the label, well separated; layer 3: the same, a bit noisier."""
    centres = rng.normal(0, 1, (3, HIDDEN)) * 4
    return {
        1: rng.normal(0, 1, (len(labels), HIDDEN)),
        2: centres[labels] + rng.normal(0, 0.5, (len(labels), HIDDEN)),
        3: centres[labels] + rng.normal(0, 0.7, (len(labels), HIDDEN)),
    }


def test_thresholds_of_a_later_stage_judge_only_the_sentences_it_sees() -> None:
    y = np.array([0] * 60 + [1] * 40)
    w = _window("valid", y)
    q = np.zeros((100, 3))
    q[np.arange(100), y] = 0.99  # confident and right everywhere
    q[:, 2] = 0.005
    eligible = np.zeros(100, dtype=bool)
    eligible[::2] = True
    base = y.copy()
    th, info = choose_thresholds(
        q, w, min_agreement=0.9, min_tlc_agreement=0.9, min_support=5, eligible=eligible, base=base
    )
    assert info["settled_share"] == 1.0  # of the eligible half
    assert th["none"] <= 0.99 and th["seeking"] <= 0.99
    assert th["providing"] == 2.0  # never predicted: never settled
    # without the eligibility mask the same figures count every sentence
    _, info_all = choose_thresholds(q, w, min_agreement=0.9, min_tlc_agreement=0.9, min_support=5)
    assert info_all["settled_share"] == 1.0
    # an ineligible sentence the earlier stage got wrong counts against the TLC agreement
    wrong = base.copy()
    wrong[1::2] = 2
    _, info_wrong = choose_thresholds(
        q, w, min_agreement=0.9, min_tlc_agreement=0.0, min_support=5, eligible=eligible, base=wrong
    )
    assert info_wrong["tlc_agreement"] < 1.0
    assert info["tlc_agreement"] == 1.0


def test_the_exit_keeps_the_cheapest_layer_that_settles_and_agrees() -> None:
    rng = np.random.default_rng(0)
    ys = {
        n: rng.integers(0, 3, size) for n, size in (("train", 600), ("valid", 400), ("test", 400))
    }
    windows = {n: _window(n, y) for n, y in ys.items()}
    states = {n: _states(y, np.random.default_rng(i)) for i, (n, y) in enumerate(ys.items())}
    # the same centres for every window: the probes must transfer
    rng_c = np.random.default_rng(42)
    centres = rng_c.normal(0, 1, (3, HIDDEN)) * 4
    for n, y in ys.items():
        states[n][2] = centres[y] + rng.normal(0, 0.5, (len(y), HIDDEN))
        states[n][3] = centres[y] + rng.normal(0, 0.7, (len(y), HIDDEN))
    cfg = ExitConfig(layers=(1, 2, 3), min_agreement=0.95, min_tlc_agreement=0.95, min_support=10)
    trained = train_exit(windows["train"], windows["valid"], states, 4, cfg=cfg)
    by = trained.validation["chains"]
    assert set(by) == {"1", "2", "3", "1,2", "1,3", "2,3", "1,2,3"}
    assert trained.exit.layers == [2]
    assert by["1"]["settled_share"] < 0.2 < by["2"]["settled_share"]
    assert by["2"]["encoder_cost"] == min(v["encoder_cost"] for v in by.values())
    # a later exit judged on what layer 2 left: it settles little and costs its overhead
    assert by["2,3"]["encoder_cost"] > by["2"]["encoder_cost"]
    test = evaluate_exit(trained.exit, windows["test"], states["test"])
    assert test["settled_share"] > 0.8
    assert test["settled_agreement"] >= 0.95
    assert test["tlc_agreement"] >= 0.95
    with pytest.raises(Exception, match="layer 4"):
        train_exit(windows["train"], windows["valid"], states, 4, cfg=ExitConfig(layers=(4,)))


def test_a_second_exit_is_kept_when_it_settles_what_the_first_cannot() -> None:
    """Layer 1 separates label 0 from the rest, layer 3 every label: the chain 1,3 settles
    the easy sentences early and the others two layers later, cheaper than either alone."""
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 1, (3, HIDDEN)) * 4
    ys = {
        n: rng.integers(0, 3, size) for n, size in (("train", 900), ("valid", 600), ("test", 600))
    }
    windows = {n: _window(n, y) for n, y in ys.items()}
    states: dict[str, dict[int, np.ndarray]] = {}
    for n, y in ys.items():
        one = np.where(y[:, None] == 0, centres[0], 0.0)  # labels 1 and 2 look alike here
        states[n] = {
            1: one + rng.normal(0, 0.5, (len(y), HIDDEN)),
            3: centres[y] + rng.normal(0, 0.5, (len(y), HIDDEN)),
        }
    cfg = ExitConfig(layers=(1, 3), min_agreement=0.95, min_tlc_agreement=0.9, min_support=10)
    trained = train_exit(windows["train"], windows["valid"], states, 6, cfg=cfg)
    by = trained.validation["chains"]
    assert trained.exit.layers == [1, 3]
    assert by["1,3"]["encoder_cost"] < min(by["1"]["encoder_cost"], by["3"]["encoder_cost"])
    shares = by["1,3"]["settled_share_by_exit"]
    assert shares["1"] > 0.2 and shares["3"] > 0.4
    test = evaluate_exit(trained.exit, windows["test"], states["test"])
    assert set(test["settled_share_by_exit"]) == {"1", "3"}
    assert test["settled_agreement"] >= 0.95
    one_only = train_exit(
        windows["train"], windows["valid"], states, 6, cfg=dataclasses.replace(cfg, max_exits=1)
    )
    assert len(one_only.exit) == 1
