"""Which data trains and evaluates each auxiliary head (one place, documented).

- ``toxicity``: ToxiChat (Reddit, Offensive = 1), Ruddit (offensiveness > 0.3 = 1), Davidson
  tweets (hate/offensive = 1; re-weighted to a balanced, small share because its 83% offensive
  tweets otherwise teach "short and informal = toxic"), Wikipedia talk comments with crowd
  toxic labels, and benign GoEmotions Reddit comments (only non-hostile emotion labels, no
  profanity-looking token) as negatives; then calibrated on half of ``perspective_2k``.
- ``politeness``: Stanford Politeness Corpus (Wikipedia + Stack Exchange), rescaled to [-1, 1].
- ``supportiveness`` (substitute for the unavailable Wang & Jurgens ratings): GoEmotions, target
  (#supportive − #unsupportive emotion labels) / #either (supportive = admiration, approval,
  caring, gratitude, love, optimism; unsupportive = anger, annoyance, disapproval, disgust;
  0 for neutral/other), plus Ruddit with target = −offensiveness (Ruddit's −1 is "maximally
  supportive").
- ``advice``: Advice-EMNLP2020 replies (r/AskParents, r/needadvice) rebuilt from gold sentence
  labels, advice = any advice sentence; plus GoEmotions comments as "other subreddit" negatives
  for training only (the paper's negatives are replies from non-advice subreddits).
- ``info``: the paper's A.1 recipe with the data at hand: positives are answers with score > 2
  to question posts in question-focused subreddits (r/explainlikeimfive; r/AskAcademia and
  r/CollegeAdvice top-level replies in reddit-college); negatives are other Reddit replies:
  GoEmotions, ToxiChat, Ruddit, and reddit-college replies under posts with no question mark.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from training.aux.data import (
    SPLITS,
    Labelled,
    load_advice,
    load_college_answers,
    load_college_replies,
    load_davidson,
    load_eli5,
    load_goemotions,
    load_goemotions_benign,
    load_perspective,
    load_politeness,
    load_ruddit,
    load_toxichat,
    load_wiki_toxic,
)

__all__ = ["RUDDIT_TOXIC_ABOVE", "AuxData", "HeadData", "load_aux_data"]

logger = logging.getLogger(__name__)

RUDDIT_TOXIC_ABOVE = 0.3
DAVIDSON_POS_WEIGHT = 0.06
DAVIDSON_NEG_WEIGHT = 0.3
#: benign GoEmotions comments added as toxicity negatives, per split
BENIGN_CAP = {"train": 8000, "val": 1000}


@dataclass
class HeadData:
    """One head's training/validation parts: per split, a list of (Labelled, sample weight)."""

    parts: dict[str, list[tuple[Labelled, float]]] = field(default_factory=dict)

    def add(self, split: str, lab: Labelled, weight: float = 1.0) -> None:
        if len(lab):
            self.parts.setdefault(split, []).append((lab, weight))

    def sources(self, split: str) -> np.ndarray:
        return np.asarray(
            [lab.source for lab, _ in self.parts.get(split, []) for _ in range(len(lab))],
            dtype=object,
        )

    def arrays(self, split: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        texts: list[str] = []
        ys: list[np.ndarray] = []
        ws: list[np.ndarray] = []
        for lab, w in self.parts.get(split, []):
            texts.extend(lab.texts)
            ys.append(lab.y)
            ws.append(np.full(len(lab), w))
        if not ys:
            return [], np.zeros(0), np.zeros(0)
        return texts, np.concatenate(ys), np.concatenate(ws)


@dataclass
class AuxData:
    heads: dict[str, HeadData]
    #: held-out evaluation sets per head: name -> Labelled (targets as the metric needs them)
    evals: dict[str, dict[str, Labelled]]
    perspective: dict[str, Labelled]

    def all_train_texts(self) -> list[str]:
        out: list[str] = []
        for hd in self.heads.values():
            out.extend(hd.arrays("train")[0])
        return out


def _binary(lab: Labelled, above: float) -> Labelled:
    return Labelled(lab.texts, (lab.y > above).astype(float), lab.source)


def _neg(lab: Labelled, n: int | None = None) -> Labelled:
    lab = lab.head(n)
    return Labelled(lab.texts, np.zeros(len(lab)), lab.source)


Splits = dict[str, Labelled]


@dataclass
class _Sources:
    """Every labelled source the heads train and are evaluated on, by split."""

    toxichat: Splits
    ruddit: Splits
    davidson: Splits
    wiki_toxic: Splits
    perspective: Splits
    politeness: Splits
    goemotions: Splits
    goemotions_benign: Splits
    advice: Splits
    eli5: Splits
    college_replies: Splits
    college_answers: Splits


def load_aux_data(data: Path, limit: int | None = None, college_negatives: int = 6000) -> AuxData:
    """Load every dataset and assemble the per-head splits (``limit`` caps each split)."""
    src = _load_sources(data, limit, college_negatives)
    heads = _training_heads(src)
    for h, hd in heads.items():
        logger.info("%s: %s", h, {s: len(hd.arrays(s)[0]) for s in SPLITS})
    return AuxData(heads=heads, evals=_evaluation_sets(src), perspective=src.perspective)


def _load_sources(data: Path, limit: int | None, college_negatives: int) -> _Sources:
    aux = data / "aux"
    perspective = load_perspective(aux, limit)
    # Wikipedia comments that Perspective scored are held out for calibration: not trained on
    in_perspective = set(perspective["train"].texts) | set(perspective["test"].texts)
    wiki_toxic = {
        s: Labelled(
            [t for t in lab.texts if t not in in_perspective],
            lab.y[[t not in in_perspective for t in lab.texts]],
            lab.source,
        )
        for s, lab in load_wiki_toxic(aux, limit).items()
    }
    return _Sources(
        toxichat=load_toxichat(aux, limit),
        ruddit=load_ruddit(aux, limit),
        davidson=load_davidson(aux, limit),
        wiki_toxic=wiki_toxic,
        perspective=perspective,
        politeness=load_politeness(aux, limit),
        goemotions=load_goemotions(aux, limit),
        goemotions_benign=load_goemotions_benign(aux, limit),
        advice=load_advice(aux, limit),
        eli5=load_eli5(aux, limit=limit),
        college_replies=load_college_replies(data, n=college_negatives, limit=limit),
        college_answers=load_college_answers(data, n=college_negatives, limit=limit),
    )


def _training_heads(src: _Sources) -> dict[str, HeadData]:
    """The train and validation data of each head, with the sources' weights."""
    heads = {h: HeadData() for h in ("toxicity", "politeness", "supportiveness", "advice", "info")}
    for s in ("train", "val"):
        toxicity = heads["toxicity"]
        toxicity.add(s, src.toxichat[s])
        toxicity.add(s, _binary(src.ruddit[s], RUDDIT_TOXIC_ABOVE))
        # Davidson is 83% offensive tweets: re-weight to a balanced, small share
        davidson = src.davidson[s]
        for cls, w in ((1.0, DAVIDSON_POS_WEIGHT), (0.0, DAVIDSON_NEG_WEIGHT)):
            m = davidson.y == cls
            texts = [t for t, k in zip(davidson.texts, m, strict=True) if k]
            toxicity.add(s, Labelled(texts, davidson.y[m], "davidson"), w)
        toxicity.add(s, src.goemotions_benign[s].head(BENIGN_CAP[s]), 0.5)
        toxicity.add(s, src.wiki_toxic[s])
        heads["politeness"].add(s, src.politeness[s])
        heads["supportiveness"].add(s, src.goemotions[s])
        heads["supportiveness"].add(s, _negated(src.ruddit[s]))
        heads["advice"].add(s, src.advice[s])
        heads["info"].add(s, src.eli5[s])
        heads["info"].add(s, src.college_answers[s])
        for neg in (src.goemotions, src.toxichat, src.ruddit, src.college_replies):
            heads["info"].add(s, _neg(neg[s]))
    heads["advice"].add("train", _neg(src.goemotions["train"], len(src.advice["train"]) // 2))
    return heads


def _evaluation_sets(src: _Sources) -> dict[str, dict[str, Labelled]]:
    """The held-out test sets of each head, by name."""
    advice_test = src.advice["test"]
    return {
        "toxicity": {
            "toxichat_test": src.toxichat["test"],
            "davidson_test": src.davidson["test"],
            "goemotions_benign_test": src.goemotions_benign["test"],
            "wiki_toxic_test": src.wiki_toxic["test"],
            "ruddit_test": src.ruddit["test"],
        },
        "politeness": {"test": src.politeness["test"]},
        "supportiveness": {
            "goemotions_test": src.goemotions["test"],
            "ruddit_test": _negated(src.ruddit["test"]),
        },
        "advice": {
            "test": advice_test,
            # the paper's heuristic framing: every advice-subreddit reply is positive,
            # replies from other subreddits negative, at the paper's 21% positive rate
            "paper_like_test": _concat(
                [
                    Labelled(advice_test.texts, np.ones(len(advice_test)), "advice"),
                    _neg(src.goemotions["test"], round(len(advice_test) * 299_006 / 79_430)),
                ],
                "advice",
            ),
        },
        "info": {
            "test": _concat(
                [
                    src.eli5["test"],
                    src.college_answers["test"],
                    *(
                        _neg(neg["test"])
                        for neg in (
                            src.goemotions,
                            src.toxichat,
                            src.ruddit,
                            src.college_replies,
                        )
                    ),
                ],
                "info",
            ),
            "college_test": _concat(
                [src.college_answers["test"], _neg(src.college_replies["test"])], "info"
            ),
        },
    }


def _negated(lab: Labelled) -> Labelled:
    """Ruddit's offensiveness as a supportiveness target (its negation)."""
    return Labelled(lab.texts, -lab.y, "ruddit")


def _concat(labs: list[Labelled], source: str) -> Labelled:
    texts = [t for lab in labs for t in lab.texts]
    return Labelled(texts, np.concatenate([lab.y for lab in labs]), source)
