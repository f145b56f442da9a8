"""The MiniLM forecaster in the spirit of the paper's Figure 3, trained on CPU.

Post and TLC are encoded by (frozen, int8) all-MiniLM-L6-v2 — encodings computed once, the
affordable stand-in for the paper's fine-tuned ALBERT towers on a 2-core CPU — and concatenated
with the standardised non-text features and a learned 16-d subreddit embedding; a small MLP
(dropout 0.5, AdamW, MSE weighted like the main model's) regresses the trajectory,
early-stopped on the same balanced validation objective.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from models.forecaster.encoder import MiniLMEncoder
from models.forecaster.evaluation import evaluate
from training.forecaster.dataset import Examples, Split
from training.forecaster.trainer import Trained
from training.forecaster.weights import VAL_SCHEME, post_weights, train_threads

__all__ = ["train_minilm"]

logger = logging.getLogger(__name__)


def train_minilm(
    ex: Examples,
    split: Split,
    tr: Trained,
    max_train: int = 30_000,
    max_val: int = 8_000,
    n_boot: int = 200,
    epochs: int = 30,
    seed: int = 42,
) -> tuple[dict[str, Any], np.ndarray, dict[str, Any]]:
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    y, _, _, created, groups = ex.arrays()
    assert tr.x is not None
    tri = (
        split.train
        if len(split.train) <= max_train
        else np.sort(rng.choice(split.train, max_train, replace=False))
    )
    vai = (
        split.val
        if len(split.val) <= max_val
        else np.sort(rng.choice(split.val, max_val, replace=False))
    )
    te = split.test
    # the main model's training weighting and the balanced validation objective (per-TLC
    # weights from the post's TLC count in the whole train / validation side)
    scheme = str(tr.info.get("main_weights", "none"))
    w_all = np.ones(len(ex))
    w_all[split.train] = post_weights(groups[split.train], scheme)
    w_val = np.ones(len(ex))
    w_val[split.val] = post_weights(groups[split.val], VAL_SCHEME)
    need = np.concatenate([tri, vai, te])
    t0 = time.time()
    enc = MiniLMEncoder(fast=True, threads=train_threads())
    tlc_emb = np.zeros((len(ex), enc.dim), dtype=np.float32)
    tlc_emb[need] = enc.encode([ex.tlcs[i].body for i in need])
    posts = sorted({ex.post_of[i] for i in need})
    pe = enc.encode([f"{ex.posts[p].title}\n{ex.posts[p].selftext}" for p in posts])
    pidx = {p: i for i, p in enumerate(posts)}
    enc_s = time.time() - t0
    subs = sorted({ex.posts[ex.post_of[i]].subreddit.lower() for i in tri})
    sidx = {s: i + 1 for i, s in enumerate(subs)}  # 0 = unknown
    x = tr.x[:, : len(tr.extractor.names)].astype(np.float64)  # non-text features (no n-grams)
    mu, sd = x[tri].mean(0), x[tri].std(0) + 1e-6
    ymu, ysd = float(y[tri].mean()), float(y[tri].std() + 1e-9)

    def tensors(idx: np.ndarray, w: np.ndarray) -> tuple[Any, ...]:
        p = np.asarray([pidx[ex.post_of[i]] for i in idx])
        s = np.asarray([sidx.get(ex.posts[ex.post_of[i]].subreddit.lower(), 0) for i in idx])
        f = np.clip((x[idx] - mu) / sd, -5, 5)
        return (
            torch.from_numpy(pe[p]),
            torch.from_numpy(tlc_emb[idx]),
            torch.from_numpy(f.astype(np.float32)),
            torch.from_numpy(s),
            torch.from_numpy(((y[idx] - ymu) / ysd).astype(np.float32)),
            torch.from_numpy(w[idx].astype(np.float32)),
        )

    class Net(torch.nn.Module):
        def __init__(self, d_feat: int, n_sub: int) -> None:
            super().__init__()
            self.sub = torch.nn.Embedding(n_sub, 16)
            self.drop = torch.nn.Dropout(0.5)
            self.hidden = torch.nn.Linear(2 * enc.dim + d_feat + 16, 256)
            self.out = torch.nn.Linear(256, 1)

        def forward(self, p: Any, t: Any, f: Any, s: Any) -> Any:
            h = torch.cat([p, t, f, self.sub(s)], dim=1)
            return self.out(torch.nn.functional.gelu(self.hidden(self.drop(h)))).squeeze(-1)

    net = Net(x.shape[1], len(subs) + 1)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    trt, vat, tet = tensors(tri, w_all), tensors(vai, w_val), tensors(te, np.ones(len(ex)))

    def wmse(pred: Any, target: Any, w: Any) -> Any:
        return (w * (pred - target) ** 2).sum() / w.sum()

    best = (np.inf, None, 0)
    bs = 256
    for ep in range(epochs):
        net.train()
        perm = torch.randperm(len(tri))
        for s in range(0, len(tri), bs):
            b = perm[s : s + bs]
            loss = wmse(net(*(t[b] for t in trt[:4])), trt[4][b], trt[5][b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            v = float(wmse(net(*vat[:4]), vat[4], vat[5]))
        if v < best[0]:
            best = (v, {k: t.clone() for k, t in net.state_dict().items()}, ep)
        elif ep - best[2] >= 4:
            break
    assert best[1] is not None
    net.load_state_dict(best[1])
    net.eval()
    with torch.no_grad():
        pred = net(*tet[:4]).numpy() * ysd + ymu
    res = evaluate(y[te], pred, groups[te], created[te], n_boot=n_boot, seed=1)
    info = {
        "n_train": len(tri),
        "n_val": len(vai),
        "best_epoch": best[2],
        "encode_seconds": round(enc_s, 1),
        "total_seconds": round(time.time() - t0, 1),
        "encoder": "all-MiniLM-L6-v2 int8 (frozen), max_length 128",
        "training_weights": scheme,
        "val_objective": f"{VAL_SCHEME}-weighted MSE",
        "threads": train_threads(),
    }
    return res, pred.astype(np.float64), info
