from __future__ import annotations

import numpy as np
import pytest

from models.metrics.conversation import (
    extremely_toxic_count,
    information_sharing,
    mentorship,
    pct_non_extremely_toxic,
    pct_non_toxic,
    politeness,
    supportiveness,
    toxic_count,
)
from models.metrics.features import text_metrics
from models.metrics.names import TEXT_METRIC_NAMES
from tests.models.fakes import FakeAux, tree


@pytest.fixture()
def convo():  # type: ignore[no-untyped-def]
    return tree(
        (
            "op",
            "you should please because idiot idiot",
            [
                (
                    "a",
                    "You should apply early, because deadlines",
                    [("b", "please read https://en.wikipedia.org/wiki/Early_decision")],
                ),
                ("c", "shut up idiot"),  # toxicity 0.9
                ("d", "you stupid idiot"),  # 0.9
                ("e", "you can do it, idiot"),  # 0.45
                ("f", "[deleted]"),
            ],
        )
    )


def test_information_sharing_by_classifier_or_reference_link(convo, fake_aux: FakeAux) -> None:
    # "because" → info 0.75 ≥ 0.7; wikipedia link → info by A.1 list
    assert information_sharing(convo, fake_aux) == 2


def test_mentorship_counts_advice_above_threshold(convo, fake_aux: FakeAux) -> None:
    assert mentorship(convo, fake_aux) == 1


def test_means_over_text_replies(convo, fake_aux: FakeAux) -> None:
    # politeness: 0, +0.5, -0.5, 0, 0 over 5 text replies
    assert politeness(convo, fake_aux) == pytest.approx(0.0)
    assert supportiveness(convo, fake_aux) == pytest.approx((0.1 * 4 + 0.8) / 5)


def test_toxicity_thresholds(convo, fake_aux: FakeAux) -> None:
    assert toxic_count(convo, fake_aux) == 2
    assert extremely_toxic_count(convo, fake_aux) == 2
    assert pct_non_toxic(convo, fake_aux) == pytest.approx(3 / 5)
    assert pct_non_extremely_toxic(convo, fake_aux) == pytest.approx(3 / 5)


def test_model_thresholds_override_the_paper_defaults(convo, fake_aux: FakeAux) -> None:
    fake_aux.thresholds["toxic"] = 0.4
    assert toxic_count(convo, fake_aux) == 3


def test_no_replies_gives_neutral_values(fake_aux: FakeAux) -> None:
    t = tree(("op", "idiot", []))
    assert politeness(t, fake_aux) == 0.0
    assert pct_non_toxic(t, fake_aux) == 1.0
    assert toxic_count(t, fake_aux) == 0
    assert fake_aux.calls == 0


def test_text_metrics_per_text_with_one_aux_call(fake_aux: FakeAux) -> None:
    texts = ["Thanks, you should apply https://www.khanacademy.org haha", "shut up idiot idiot"]
    m = text_metrics(texts, fake_aux)
    assert fake_aux.calls == 1
    assert set(m) == set(TEXT_METRIC_NAMES)
    assert m["gratitude"].tolist() == [1, 0]
    assert m["mentorship"].tolist() == [1, 0]
    assert m["educational_links"].tolist() == [1, 0]
    assert m["toxic_count"].tolist() == [0, 1]
    assert m["pct_non_toxic"].tolist() == [1, 0]
    assert m["toxicity"][1] == pytest.approx(1.0)


def test_text_metrics_without_aux_leave_classifier_values_nan() -> None:
    m = text_metrics(["thanks lol"], None)
    assert m["gratitude"][0] == 1 and m["laughter"][0] == 1
    assert np.isnan(m["mentorship"][0]) and np.isnan(m["toxicity"][0])
