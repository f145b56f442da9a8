"""The end-to-end ``prosocial-train forecaster`` job (called by the command module)."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from models.bundle import Registry, data_window, hash_files
from models.forecaster.checkpoint import CheckpointFeaturizer
from models.forecaster.evaluation import METRIC_KEYS
from models.forecaster.model import make_metric_fn
from models.forecaster.text import TextFeaturizer, load_mpqa
from models.trajectory import Trajectory
from redditdata.dumps import find_dump_files
from training.errors import TrainingError
from training.forecaster.bundle import write_bundle
from training.forecaster.dataset import (
    DEFAULT_MIN_AGE_S,
    Examples,
    Split,
    TargetFn,
    build_examples,
    split_by_post,
    split_by_time,
)
from training.forecaster.memo import MemoRows, MemoText
from training.forecaster.report import by_subreddit, subreddit_table, write_report
from training.forecaster.trainer import ForecasterArgs, ForecasterTrainer, TextInputs, Trained
from training.forecaster.weights import train_threads

__all__ = ["EXAMPLES_LAYOUT", "MPQA_REL", "ForecasterJob"]

logger = logging.getLogger(__name__)

MPQA_REL = "aux/lexicons/subjclueslen1-HLTEMNLP05.tff"
#: bump when what a cached examples file holds changes
EXAMPLES_LAYOUT = 2


@dataclass
class ForecasterJob:
    """The end-to-end ``prosocial-train forecaster`` run, one named step at a time
    (:meth:`run`): read the dump into examples (cached on disk when ``cache_dir`` is set),
    train on held-out posts, write the bundle, train forward in time, write the report.

    ``target_fn`` measures each thread's outcome; ``featurizer`` (optional) measures each
    TLC's conversation at ``args.checkpoints`` (share its outcome computer with
    ``target_fn`` so each reply is scored once)."""

    args: ForecasterArgs
    dump_dir: Path
    data_root: Path  # holds aux/lexicons (MPQA)
    registry: Registry
    target_fn: TargetFn
    target_name: str
    report_dir: Path
    aux: Any = None
    empathy_model: Any = None
    featurizer: CheckpointFeaturizer | None = None
    trajectory: Trajectory | None = None
    cache_dir: Path | None = None
    say: Callable[[str], None] = field(default=lambda s: logger.info("%s", s))

    # -- steps -------------------------------------------------------------------------------
    def load_examples(self) -> Examples:
        """Matured threads -> examples (targets, author history, checkpoint rows)."""
        a = self.args
        checkpoints = a.checkpoints if self.featurizer is not None else ()
        key = None
        if self.cache_dir is not None:
            files = find_dump_files(self.dump_dir)
            stamp = [
                (str(f), f.stat().st_size, f.stat().st_mtime_ns)
                for f in (files.submissions, files.comments)
                if f is not None
            ]
            key = hashlib.sha1(
                json.dumps(
                    [
                        stamp,
                        a.max_threads,
                        a.min_age_s,
                        list(checkpoints),
                        self.target_name,
                        EXAMPLES_LAYOUT,
                    ]
                    + ([a.max_tlcs] if a.max_tlcs is not None else [])
                ).encode()
            ).hexdigest()[:16]
            path = self.cache_dir / f"examples-{key}.pkl"
            if path.exists():
                self.say(f"reading cached examples {path.name}")
                with open(path, "rb") as fh:
                    self.ex: Examples = pickle.load(fh)
                if self.ex.history_scope != a.history_scope:
                    if not self.ex.horizon:
                        raise TrainingError(f"{path.name} predates stored horizon outcomes")
                    self.say(f"recounting author history ({a.history_scope})")
                    self.ex.recount_history(self.dump_dir, DEFAULT_MIN_AGE_S, a.history_scope)
                return self.ex
        self.say("reading matured threads and computing targets")
        self.ex = build_examples(
            self.dump_dir,
            self.target_fn,
            min_age_s=a.min_age_s,
            max_threads=a.max_threads,
            max_tlcs=a.max_tlcs,
            history_scope=a.history_scope,
            checkpoints=checkpoints,
            featurizer=self.featurizer,
        )
        if len(self.ex.posts) < 20:
            raise TrainingError(
                f"only {len(self.ex.posts)} matured posts with TLCs in {self.dump_dir}"
            )
        if key is not None:
            assert self.cache_dir is not None
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_dir / f"examples-{key}.pkl.tmp"
            with open(tmp, "wb") as fh:
                pickle.dump(self.ex, fh, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(self.cache_dir / f"examples-{key}.pkl")
        return self.ex

    def prepare_text(self) -> None:
        """Split-independent text inputs (MPQA clues, TLC metrics, empathy), computed once
        for the by-post and the time-ordered runs."""
        from models.metrics import TEXT_METRIC_NAMES

        subj = load_mpqa(str(self.data_root / MPQA_REL))
        names = list(TEXT_METRIC_NAMES)
        metric_fn = make_metric_fn(names, self.aux)
        empathy = None
        if self.empathy_model is not None:
            self.say(f"empathy direction of {len(self.ex)} TLCs")
            empathy = list(self.empathy_model.predict_comments([t.body for t in self.ex.tlcs]))
        self.text = TextInputs(
            subj=subj,
            metric_names=names,
            metric_fn=MemoRows(metric_fn) if metric_fn is not None else None,
            empathy=empathy,
            text_featurizer=MemoText(TextFeaturizer(*subj)),
        )

    def _trainer(self, split: Split, args: ForecasterArgs) -> ForecasterTrainer:
        return ForecasterTrainer(args, self.ex, split, self.text, progress=self.say)

    def train_by_post(self) -> Trained:
        self.split = split_by_post(self.ex)
        self.tr = self._trainer(self.split, self.args).train()
        return self.tr

    def write_bundle(self, train_s: float) -> str:
        tr, a = self.tr, self.args
        files = find_dump_files(self.dump_dir)
        data_hash = hash_files([p for p in (files.submissions, files.comments) if p is not None])
        metrics = {
            k: {m: tr.results[k][m] for m in METRIC_KEYS} for k in ("main", "mean", "ridge", "gbm")
        }
        metrics["by_checkpoint"] = {
            c: {m: row["main"][m] for m in METRIC_KEYS} for c, row in tr.by_checkpoint.items()
        }
        params = {
            "target": a.target,
            "target_name": self.target_name,
            "min_age_s": a.min_age_s,
            "max_threads": a.max_threads,
            "max_tlcs": a.max_tlcs,
            "main_eta": a.eta,
            "ridge_alpha_fixed": a.ridge_alpha,
            "history_scope": a.history_scope,
            "metrics_need_aux": self.aux is not None,
            "aux_version": getattr(self.aux, "version", None),
            "trajectory_version": getattr(self.trajectory, "version", None),
            "empathy_version": getattr(self.empathy_model, "version", None),
            "split": "by_post 70/15/15 seed 13",
            "conformal_coverage": a.coverage,
            "main_weights": tr.info["main_weights"],
            "train_threads": train_threads(),
            "train_seconds": round(train_s, 1),
        }
        self.version = write_bundle(
            tr,
            self.registry,
            subj=self.text.subj,
            metrics=metrics,
            params=params,
            data_hash=data_hash,
            make_current=a.make_current,
            data_window=data_window(self.ex.arrays()[3], source=str(self.dump_dir)),
            trajectory=self.trajectory,
        )
        return self.version

    def train_by_time(self) -> dict[str, Any]:
        """The same recipe forward in time (oldest 70% train, newest 15% test), with the
        weighting / relative text score chosen by post."""
        self.say("time-ordered split (oldest 70% train, newest 15% test)")
        args = replace(
            self.args,
            ablations=False,
            checkpoints=(),
            weight_schemes=(self.tr.info["main_weights"],),
            text_relative=bool(self.tr.info["text_relative"]),
        )
        return self._trainer(split_by_time(self.ex), args).train().results

    def train_minilm(self) -> None:
        from training.forecaster.neural import train_minilm

        self.say("MiniLM model (frozen encodings + features + subreddit embedding)")
        tr = self.tr
        try:
            mres, mpred, minfo = train_minilm(
                self.ex,
                self.split,
                tr,
                max_train=self.args.minilm,
                max_val=max(1000, self.args.minilm // 3),
                n_boot=self.args.n_boot,
            )
            tr.results["minilm"] = mres
            tr.preds["minilm"] = mpred
            tr.info["minilm"] = minfo
        except Exception as exc:  # a comparison model must not lose the trained bundle
            logger.exception("MiniLM comparison model failed")
            tr.info["minilm"] = {"error": repr(exc)}

    def notes(self) -> list[str]:
        tr, a = self.tr, self.args
        return [
            "Targets: " + self.target_name + ".",
            (
                "chronological / reddit_order are orders, not forecasts: no MSE/R². "
                "reddit_order is the TLC score at scrape time — it leaks future votes, a "
                "reference, not a baseline."
            ),
            (
                "Pairs: TLCs of one post with different outcomes; time-matched = posted ≤10 min "
                "apart; post-macro = the mean over posts of each post's own pairwise accuracy "
                "(every post counts once)."
            ),
            (
                f"Main model training weights: {tr.info['main_weights']} (per-TLC weight from "
                "its post's TLC count; candidates "
                + ", ".join(
                    f"{k}: balanced val MSE {v['mse_balanced']:.4f}, val post-macro pairwise "
                    f"{100 * v['pairwise_acc_post_macro']:.1f}%"
                    for k, v in tr.info["main_weight_candidates_val"].items()
                )
                + f"); early stopping and the choice use the {tr.info['val_objective']} on "
                "validation posts, so no single huge post decides them. The baselines keep "
                "the paper's unweighted recipe."
            ),
            _relative_note(tr.info.get("text_relative_val")),
            f"CIs: 95% percentile bootstrap over test posts ({a.n_boot} resamples).",
            (
                "Re-forecasts: one model per checkpoint ("
                + ", ".join(f"+{d} s" for d in sorted(tr.checkpoints))
                + ") reading the main model's inputs plus the conversation as visible then "
                "(replies' metrics without vote scores, partial outcomes, authors, timing, "
                "toxicity, the post's TLCs so far); per-subreddit offsets measured on "
                "validation: "
                + ", ".join(
                    f"{k}: {'kept' if v['kept'] else 'dropped'} ({v['val_mse']:.4f} → "
                    f"{v['val_mse_with_offsets']:.4f})"
                    for k, v in tr.info.get("calibration", {}).items()
                )
                + "."
            ),
            (
                "Context columns (main only; the baselines keep the paper's §5.2 features): "
                "OP answering, earlier TLCs per hour, and the author's history strictly before "
                f"the TLC counted {'in the same subreddit only' if a.history_scope == 'subreddit' else 'across every subreddit (opt-in)'} "
                "(earlier TLCs / on the post; mean outcome of earlier TLCs matured ≥48 h "
                "before, measured on their first 48 h of replies). Ablations: main_no_time "
                "drops minutes since post, earlier-TLC count and rate (what the model knows "
                "beyond time); main_no_author the author history; main_no_context all context "
                "columns."
            ),
            (
                "All-pairs accuracy weighs a post by its number of pairs (∝ TLCs²): a few big "
                "posts weigh heavily; the per-subreddit table shows where the model beats "
                "chronological order."
            ),
            (
                "Author gender (paper §5.2) is left out: Reddit has no gender field, inferring "
                "it from names/text is unreliable and would bake a protected attribute into "
                "moderation."
            ),
            (
                f"Conformal {a.coverage:.0%} interval half-width {tr.conformal_q:.3f}; test "
                f"coverage {tr.info['coverage_test']:.3f}."
            ),
        ]

    def write_report(self, train_s: float, time_res: dict[str, Any] | None) -> Path:
        ex, tr, te = self.ex, self.tr, self.split.test
        y, size, _, created, groups = ex.arrays()
        subs = np.asarray([ex.posts[ex.post_of[i]].subreddit for i in te])
        sections: dict[str, dict[str, Any]] = {"Held-out posts (split by post)": tr.results}
        for c, row in tr.by_checkpoint.items():
            if c != "0":
                sections[f"Held-out posts, re-forecast at +{int(c) // 60} min"] = row
        if time_res:
            sections["Forward in time (split by post creation time)"] = time_res
        header = {
            "bundle": f"forecaster@{self.version}",
            "TLCs": len(ex),
            "posts": len(ex.posts),
            "train/val/test TLCs": f"{len(self.split.train)}/{len(self.split.val)}/{len(te)}",
            "training time (s)": round(train_s, 1),
            "fit details": tr.info,
        }
        self.per_sub = by_subreddit(y[te], tr.preds, groups[te], created[te], subs)
        return write_report(
            self.report_dir,
            header=header,
            sections=sections,
            y=y[te],
            preds=dict(tr.preds),
            subs=subs,
            size=size[te],
            notes=self.notes(),
            extra={"By subreddit (held-out posts, no bootstrap)": subreddit_table(self.per_sub)},
        )

    def run(self) -> dict[str, Any]:
        t0 = time.time()
        self.load_examples()
        self.prepare_text()
        self.train_by_post()
        train_s = time.time() - t0
        self.write_bundle(train_s)
        time_res = self.train_by_time() if self.args.time_split else None
        if self.args.minilm:
            self.train_minilm()
        path = self.write_report(train_s, time_res)
        return {
            "version": self.version,
            "registry": str(self.registry.root),
            "report": str(path),
            "target": self.args.target,
            "n_tlc": len(self.ex),
            "n_posts": len(self.ex.posts),
            "train_seconds": round(train_s, 1),
            "by_post": dict(self.tr.results),
            "by_checkpoint": self.tr.by_checkpoint,
            "by_time": time_res,
            "by_subreddit": self.per_sub,
            "info": self.tr.info,
        }


def _relative_note(rel: dict[str, Any] | None) -> str:
    if not rel:
        return "Relative text score (n-gram ridge on outcome − post mean): fixed by the caller."
    w, wo = rel["with"], rel["without"]
    return (
        "Relative text score (out-of-fold n-gram ridge on the outcome minus the post's mean "
        f"outcome, α {rel['alpha']:g}): {'kept' if rel['kept'] else 'dropped'} on validation "
        f"(balanced MSE {w['mse_balanced']:.4f} with vs {wo['mse_balanced']:.4f} without; "
        f"post-macro pairwise {100 * w['pairwise_acc_post_macro']:.1f}% vs "
        f"{100 * wo['pairwise_acc_post_macro']:.1f}%)."
    )
