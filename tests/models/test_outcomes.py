from __future__ import annotations

import math

import numpy as np
import pytest

from models.metrics.accommodation import Markers
from models.metrics.conversation import conversation_metrics
from models.metrics.names import METRIC_NAMES
from models.outcomes import CLASSIFIER_METRICS, Outcome, OutcomeComputer
from models.trajectory import Trajectory
from redditdata.tree import Node
from tests.models.fakes import FakeAux, tree


def _convos() -> list[Node]:
    return [
        tree(
            (
                "op",
                "the tlc",
                [
                    (
                        "a",
                        "Thanks! you should read https://en.wikipedia.org/wiki/X because",
                        [
                            (
                                "op",
                                "I will, haha. You are so awesome and amazing",
                                [("a", "lol you idiot idiot")],
                            )
                        ],
                    ),
                    ("b", "[removed]"),
                    ("[deleted]", "please donate https://gofundme.com/f/x"),
                ],
            )
        ),
        tree(("x", "nobody answered")),
        tree(("y", "a", [("z", "shut up", 4)])),
    ]


def _flat_trajectory() -> Trajectory:
    k = len(METRIC_NAMES)
    return Trajectory(
        version="t-1",
        features=METRIC_NAMES,
        transforms=("identity",) * k,
        mean=np.zeros(k),
        std=np.ones(k),
        loadings=np.ones(k) / k,
    )


def test_batched_equals_reference_definitions(fake_aux: FakeAux, builtin_markers: Markers) -> None:
    tlcs = _convos()
    outs = OutcomeComputer(fake_aux, None, builtin_markers).compute(tlcs)
    for tlc, o in zip(tlcs, outs):
        ref = conversation_metrics(tlc, FakeAux(), builtin_markers)
        assert o.metrics == pytest.approx(ref)
    assert [o.n_replies for o in outs] == [5, 0, 1]


def test_one_aux_call_for_all_reply_texts(fake_aux: FakeAux, builtin_markers: Markers) -> None:
    OutcomeComputer(fake_aux, None, builtin_markers).compute(_convos())
    assert fake_aux.calls == 1
    assert fake_aux.texts == 4 + 1  # [removed] is not scored, TLCs are not scored


def test_trajectory_is_attached_with_versions(fake_aux: FakeAux, builtin_markers: Markers) -> None:
    traj = _flat_trajectory()
    outs = OutcomeComputer(fake_aux, traj, builtin_markers).compute(_convos())
    for o in outs:
        assert o.trajectory == pytest.approx(sum(o.metrics.values()) / len(METRIC_NAMES))
        assert o.versions == {"aux": "fake-1", "trajectory": "t-1", "markers": "builtin"}
    assert outs[0].tlc.startswith("t1_") and outs[0].post == "t3_post"


def test_without_aux_classifier_metrics_are_nan_and_no_trajectory(builtin_markers: Markers) -> None:
    outs = OutcomeComputer(None, _flat_trajectory(), builtin_markers).compute(_convos())
    o = outs[0]
    assert all(math.isnan(o.metrics[m]) for m in CLASSIFIER_METRICS)
    assert o.metrics["gratitude"] == 1 and o.metrics["subsequent_comments"] == 5
    assert o.trajectory is None


def test_outcome_dict_round_trip(fake_aux: FakeAux, builtin_markers: Markers) -> None:
    o = OutcomeComputer(fake_aux, _flat_trajectory(), builtin_markers).compute(_convos())[0]
    assert Outcome.from_dict(o.to_dict()) == o
    row = o.to_row()
    assert set(METRIC_NAMES) <= set(row) and row["version_aux"] == "fake-1"


def test_empty_batch(fake_aux: FakeAux, builtin_markers: Markers) -> None:
    assert OutcomeComputer(fake_aux, None, builtin_markers).compute([]) == []


def test_warns_when_trajectory_was_fitted_on_another_aux(
    fake_aux: FakeAux, builtin_markers: Markers, caplog: pytest.LogCaptureFixture
) -> None:
    import dataclasses

    traj = dataclasses.replace(_flat_trajectory(), aux_version="older-aux")
    with caplog.at_level("WARNING", logger="models.outcomes"):
        OutcomeComputer(fake_aux, traj, builtin_markers)
    assert "retrain" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="models.outcomes"):
        OutcomeComputer(fake_aux, dataclasses.replace(traj, aux_version="fake-1"), builtin_markers)
    assert caplog.text == ""
