"""Loaders for the auxiliary-model training data in ``<data>/aux`` (see its MANIFEST.tsv).

Every loader returns a :class:`Labelled` (texts + float targets + a source tag) per split
``train`` / ``val`` / ``test``. Splits are the datasets' own where they have them, otherwise a
seeded split by a grouping key (post or question id) so near-duplicate replies of one thread
never straddle train and test. ``limit`` caps each split (tests train on small real slices).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from training.errors import TrainingError

__all__ = [
    "QUESTION_SUBREDDITS",
    "SPLITS",
    "SUPPORTIVE_EMOTIONS",
    "UNSUPPORTIVE_EMOTIONS",
    "DataMissingError",
    "Labelled",
    "aux_data_files",
    "group_split",
    "load_advice",
    "load_college_answers",
    "load_college_replies",
    "load_davidson",
    "load_eli5",
    "load_goemotions",
    "load_perspective",
    "load_politeness",
    "load_ruddit",
    "load_toxichat",
    "load_wiki_toxic",
]

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
#: GoEmotions labels read as supportive / unsupportive for the supportiveness substitute.
SUPPORTIVE_EMOTIONS = ("admiration", "approval", "caring", "gratitude", "love", "optimism")
UNSUPPORTIVE_EMOTIONS = ("anger", "annoyance", "disapproval", "disgust")

_DROP = {"", "[deleted]", "[removed]"}


class DataMissingError(TrainingError):
    """An expected data file is missing under the data directory."""


@dataclass
class Labelled:
    texts: list[str]
    y: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.texts)

    def head(self, n: int | None) -> Labelled:
        if n is None or n >= len(self.texts):
            return self
        return Labelled(self.texts[:n], self.y[:n], self.source)


def _need(path: Path) -> Path:
    if not path.exists():
        raise DataMissingError(f"missing {path} (see the data README: aux/MANIFEST.tsv)")
    return path


def _bucket(key: str, seed: str = "aux") -> float:
    return int(hashlib.sha1(f"{seed}:{key}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def group_split(keys: Sequence[str], val: float = 0.1, test: float = 0.1) -> np.ndarray:
    """Deterministic split label (0 train, 1 val, 2 test) per item from a hash of its group key."""
    u = np.fromiter((_bucket(k) for k in keys), dtype=np.float64, count=len(keys))
    return np.where(u < test, 2, np.where(u < test + val, 1, 0))


def _by_split(
    texts: Sequence[str], y: np.ndarray, split: np.ndarray, source: str, limit: int | None
) -> dict[str, Labelled]:
    out = {}
    for i, name in enumerate(SPLITS):
        idx = [int(j) for j in np.flatnonzero(split == i)]
        # shuffle deterministically so a `limit` keeps both classes
        idx = [idx[k] for k in np.argsort([_bucket(texts[j], "order") for j in idx], kind="stable")]
        lab = Labelled([texts[j] for j in idx], np.asarray(y, dtype=np.float64)[idx], source)
        out[name] = lab.head(limit)
    return out


def _clean(texts: Iterable[object]) -> list[str]:
    return ["" if not isinstance(t, str) else t.strip() for t in texts]


# -- toxicity -----------------------------------------------------------------------------
def load_toxichat(aux: Path, limit: int | None = None) -> dict[str, Labelled]:
    """ToxiChat Reddit turns (the human thread only), 1 = Offensive."""
    files = {"train": "train.jsonl", "val": "dev.jsonl", "test": "test.jsonl"}
    out: dict[str, Labelled] = {}
    seen: set[str] = set()
    for split, name in files.items():
        texts: list[str] = []
        ys: list[float] = []
        with open(_need(aux / "toxicity" / "toxichat" / name), encoding="utf-8") as fh:
            for line in fh:
                for turn in json.loads(line).get("reddit_thread", []):
                    t = str(turn.get("text", "")).strip()
                    if t.startswith("Title:"):
                        t = t[len("Title:") :].strip()
                    if t in _DROP or t in seen:
                        continue
                    seen.add(t)
                    texts.append(t)
                    ys.append(1.0 if turn.get("offense_label") == "Offensive" else 0.0)
        out[split] = Labelled(texts, np.asarray(ys), "toxichat").head(limit)
    return out


def load_ruddit(aux: Path, limit: int | None = None) -> dict[str, Labelled]:
    """Ruddit comments; ``y`` = offensiveness in [-1, 1] (-1 = maximally supportive)."""
    df = pd.read_csv(_need(aux / "toxicity" / "ruddit" / "ruddit_with_text.csv"))
    df["txt"] = _clean(df["txt"])
    df = df[~df["txt"].isin(_DROP)].drop_duplicates("txt")
    split = group_split(df["post_id"].astype(str).tolist())
    return _by_split(
        df["txt"].tolist(), df["offensiveness_score"].to_numpy(), split, "ruddit", limit
    )


_MENTION = re.compile(r"(^|\s)(RT\s+)?@\w+:?")


def load_davidson(aux: Path, limit: int | None = None) -> dict[str, Labelled]:
    """Davidson et al. tweets, 1 = hate or offensive (mentions/RT markers stripped)."""
    df = pd.read_csv(_need(aux / "toxicity" / "davidson" / "labeled_data.csv"))
    texts = [_MENTION.sub(" ", t).replace("&amp;", "&").strip() for t in _clean(df["tweet"])]
    y = (df["class"].to_numpy() != 2).astype(float)
    split = group_split([str(i) for i in df.index])
    return _by_split(texts, y, split, "davidson", limit)


def load_wiki_toxic(aux: Path, limit: int | None = None) -> dict[str, Labelled]:
    """Wikipedia talk comments with crowd toxic labels (the bias test set's real comments)."""
    df = pd.read_csv(
        _need(aux / "toxicity" / "wiki_bias_testset" / "toxicity_nonfuzzed_testset.csv")
    )
    texts = [t.replace("NEWLINE_TOKEN", "\n").strip() for t in _clean(df["comment"])]
    split = group_split([str(r) for r in df["rev_id"]])
    return _by_split(
        texts, df["toxic"].astype(bool).to_numpy().astype(float), split, "wiki_toxic", limit
    )


def load_perspective(aux: Path, limit: int | None = None) -> dict[str, Labelled]:
    """Wikipedia comments with real Perspective TOXICITY@6 scores.

    ``train`` (50%) fits the calibrator, ``val`` is empty, ``test`` (50%) is held out; duplicate
    comments (the sample repeats some under different ids) are merged first.
    """
    df = pd.read_csv(
        _need(
            aux
            / "toxicity"
            / "perspective_2k"
            / "perspective_wikipedia_2k_score_sample_20180829.csv"
        )
    )
    df["text"] = [t.replace("NEWLINE_TOKEN", "\n").strip() for t in _clean(df["comment_text"])]
    # the sample repeats some comments under different ids: one row per text (mean score)
    df = df.groupby("text", sort=True, as_index=False)["TOXICITY@6"].mean()
    split = group_split(df["text"].tolist(), val=0.0, test=0.5)
    return _by_split(df["text"].tolist(), df["TOXICITY@6"].to_numpy(), split, "perspective", limit)


# -- politeness / supportiveness -----------------------------------------------------------
def load_politeness(aux: Path, limit: int | None = None) -> dict[str, Labelled]:
    """Stanford Politeness Corpus requests; ``y`` = the normalized (z-scored) rating divided by
    its largest magnitude over the corpus, so 0 stays the average request and ``y`` ∈ [-1, 1]."""
    frames = [
        pd.read_csv(_need(aux / "politeness" / f))
        for f in ("wikipedia.annotated.csv", "stack-exchange.annotated.csv")
    ]
    df = pd.concat(frames, ignore_index=True)
    s = df["Normalized Score"].to_numpy(dtype=float)
    y = s / np.abs(s).max()
    split = group_split([f"{c}:{i}" for c, i in zip(df["Community"], df["Id"], strict=True)])
    return _by_split(_clean(df["Request"]), y, split, "politeness", limit)


def _goemotions(aux: Path) -> tuple[list[str], dict[str, pd.DataFrame]]:
    """GoEmotions' label names and its ``text`` / ``labels`` table per split."""
    root = aux / "support" / "goemotions"
    names = Path(_need(root / "labels.txt")).read_text().split()
    tables = {
        split: pd.read_csv(
            _need(root / f), sep="\t", header=None, names=["text", "labels", "id"], quoting=3
        )
        for split, f in zip(SPLITS, ("train.tsv", "dev.tsv", "test.tsv"), strict=True)
    }
    return names, tables


def _emotion_ids(labels: object) -> set[int]:
    """A GoEmotions ``labels`` cell (``"3,17"``) as label indices."""
    return {int(x) for x in str(labels).split(",") if x.strip().isdigit()}


def load_goemotions(aux: Path, limit: int | None = None) -> dict[str, Labelled]:
    """GoEmotions comments; ``y`` = (#supportive − #unsupportive labels) / #either, 0 if none."""
    names, tables = _goemotions(aux)
    pos = {names.index(e) for e in SUPPORTIVE_EMOTIONS}
    neg = {names.index(e) for e in UNSUPPORTIVE_EMOTIONS}
    out = {}
    for split, df in tables.items():
        ys = []
        for lab in df["labels"]:
            ids = _emotion_ids(lab)
            p, n = len(ids & pos), len(ids & neg)
            ys.append((p - n) / (p + n) if p + n else 0.0)
        out[split] = Labelled(_clean(df["text"]), np.asarray(ys), "goemotions").head(limit)
    return out


#: GoEmotions labels with no hostile reading; comments carrying only these are benign.
BENIGN_EMOTIONS = (
    "admiration",
    "amusement",
    "approval",
    "caring",
    "curiosity",
    "excitement",
    "gratitude",
    "joy",
    "love",
    "optimism",
    "relief",
    "realization",
    "surprise",
    "neutral",
)


def load_goemotions_benign(aux: Path, limit: int | None = None) -> dict[str, Labelled]:
    """GoEmotions comments whose every label is in :data:`BENIGN_EMOTIONS` and that contain no
    profanity-looking token; ``y`` = 0 (non-toxic short Reddit comments for the toxicity head)."""
    names, tables = _goemotions(aux)
    benign = {names.index(e) for e in BENIGN_EMOTIONS}
    out = {}
    for split, df in tables.items():
        keep = [
            _emotion_ids(lab) <= benign and not _PROFANE.search(str(t))
            for lab, t in zip(df["labels"], df["text"], strict=True)
        ]
        texts = [t for t, k in zip(_clean(df["text"]), keep, strict=True) if k]
        out[split] = Labelled(texts, np.zeros(len(texts)), "goemotions_benign").head(limit)
    return out


_PROFANE = re.compile(
    r"fuck|shit|bitch|cunt|dick|puss|fag|nigg|retard|whore|slut|ass\b|"
    r"idiot|stupid|moron|dumb",
    re.IGNORECASE,
)


# -- advice / information sharing ---------------------------------------------------------
def load_advice(aux: Path, limit: int | None = None) -> dict[str, Labelled]:
    """Advice-EMNLP2020 replies rebuilt from their gold-labelled sentences (ID
    ``post-comment-sentence``); a reply is advice (1) when any sentence is."""
    out = {}
    for split, suffix in zip(SPLITS, ("train", "dev", "test"), strict=True):
        texts: list[str] = []
        ys: list[float] = []
        for sub in ("askparents", "needadvice"):
            df = pd.read_csv(
                _need(aux / "advice" / "advice_emnlp2020" / f"{sub}_{suffix}.tsv"),
                sep="\t",
                quoting=3,
            )
            parts = df["ID"].astype(str).str.rsplit("-", n=1)
            df["cid"] = parts.str[0]
            df["sent"] = pd.to_numeric(parts.str[1], errors="coerce").fillna(0)
            for _, g in df.sort_values(["cid", "sent"]).groupby("cid", sort=True):
                text = " ".join(_clean(g["Sentence"]))
                text = re.sub(r" ([.,!?;:')])", r"\1", text).replace(" n't", "n't")
                texts.append(text)
                ys.append(float(g["Majority_label"].max() > 0))
        order = np.argsort([_bucket(t, "order") for t in texts], kind="stable")
        out[split] = Labelled([texts[i] for i in order], np.asarray(ys)[order], "advice").head(
            limit
        )
    return out


def load_eli5(aux: Path, min_score: int = 3, limit: int | None = None) -> dict[str, Labelled]:
    """Answers on r/explainlikeimfive with score > 2 (the paper's rule); all ``y`` = 1.
    Split by question id."""
    texts: list[str] = []
    keys: list[str] = []
    for f in ("eli5-category-test.json.gz", "eli5-category-validation-2.json.gz"):
        with gzip.open(_need(aux / "info" / "eli5_category" / f), "rt", encoding="utf-8") as fh:
            for q in json.load(fh):
                a = q.get("answers", {})
                for text, score in zip(a.get("text", []), a.get("score", []), strict=False):
                    t = str(text).strip()
                    if score is not None and int(score) >= min_score and t not in _DROP:
                        texts.append(t)
                        keys.append(str(q.get("q_id")))
    return _by_split(texts, np.ones(len(texts)), group_split(keys), "eli5", limit)


def load_college_replies(
    data: Path, n: int = 6000, limit: int | None = None
) -> dict[str, Labelled]:
    """Replies (depth ≥ 1) under reddit-college posts with no ``?`` in title or text, read from
    the start of the dump: a noisy "other Reddit replies" negative set for information sharing."""
    subs = _need(data / "reddit-college" / "submissions.jsonl.gz")
    comments = _need(data / "reddit-college" / "comments.jsonl.gz")
    question: set[str] = set()
    with gzip.open(subs, "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if "?" in f"{r.get('title', '')} {r.get('selftext', '')}":
                question.add(str(r.get("name")))
    texts: list[str] = []
    keys: list[str] = []
    with gzip.open(comments, "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            body = str(r.get("body", "")).strip()
            if (
                r.get("depth", 0) >= 1
                and r.get("link_id") not in question
                and body not in _DROP
                and r.get("author") != "AutoModerator"
            ):
                texts.append(body)
                keys.append(str(r.get("link_id")))
                if len(texts) >= n:
                    break
    return _by_split(texts, np.zeros(len(texts)), group_split(keys), "college", limit)


#: Question-focused reddit-college subreddits (the paper's A.1 recipe, within our data).
QUESTION_SUBREDDITS = ("AskAcademia", "CollegeAdvice")


def load_college_answers(
    data: Path,
    n: int = 6000,
    limit: int | None = None,
    subreddits: Sequence[str] = QUESTION_SUBREDDITS,
) -> dict[str, Labelled]:
    """The paper's information-sharing positives (A.1) within reddit-college: top-level replies
    with score > 2 to posts that contain a question, in question-focused subreddits; ``y`` = 1."""
    subs = _need(data / "reddit-college" / "submissions.jsonl.gz")
    comments = _need(data / "reddit-college" / "comments.jsonl.gz")
    wanted = set(subreddits)
    question: set[str] = set()
    with gzip.open(subs, "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if (
                r.get("subreddit") in wanted
                and "?" in f"{r.get('title', '')} {r.get('selftext', '')}"
            ):
                question.add(str(r.get("name")))
    texts: list[str] = []
    keys: list[str] = []
    marks = tuple(f'"subreddit": "{x}"' for x in wanted)
    with gzip.open(comments, "rt", encoding="utf-8") as fh:
        for line in fh:
            if not any(m in line for m in marks):
                continue
            r = json.loads(line)
            body = str(r.get("body", "")).strip()
            if (
                r.get("depth", 0) == 0
                and r.get("link_id") in question
                and int(r.get("score") or 0) > 2
                and body not in _DROP
                and r.get("author") != "AutoModerator"
            ):
                texts.append(body)
                keys.append(str(r.get("link_id")))
                if len(texts) >= n:
                    break
    return _by_split(texts, np.ones(len(texts)), group_split(keys), "college_answers", limit)


def aux_data_files(data: Path) -> list[Path]:
    """Every file the aux training reads (for the bundle's training-data hash)."""
    aux = data / "aux"
    files = [
        p
        for p in sorted(aux.rglob("*"))
        if p.is_file()
        and p.suffix in (".csv", ".tsv", ".jsonl", ".gz", ".txt")
        and "lexicons" not in p.parts
    ]
    return files
