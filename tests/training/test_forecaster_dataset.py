"""The forecaster dataset: one row per TLC of matured threads, splits by post and by time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from training.forecaster.dataset import (
    build_examples,
    split_by_post,
    split_by_time,
    structural_target,
)


@pytest.fixture(scope="module")
def slice_examples(data_dir: Path):
    return build_examples(data_dir / "reddit-college", structural_target, max_threads=30)


def test_min_age_keeps_only_matured_threads(data_dir: Path):
    ex = build_examples(
        data_dir / "reddit-college", structural_target, max_threads=20, min_age_s=10 * 86400
    )
    for p in ex.posts.values():
        assert p.retrieved_on is not None and p.retrieved_on - p.created_utc >= 10 * 86400


def test_examples_are_one_row_per_tlc_with_targets(slice_examples):
    ex = slice_examples
    assert len(ex) > 200 and len(ex.posts) >= 10
    assert all(t.depth == 0 and t.parent == ex.post_of[i] for i, t in enumerate(ex.tlcs))
    assert all(not t.children for t in ex.tlcs)  # light copies, no reply trees
    y, size, _, _, _ = ex.arrays()
    assert np.all(y[size == 0] == 0.0) and np.all(y[size > 0] > 0)


def test_split_by_post_keeps_each_post_on_one_side(slice_examples):
    s = split_by_post(slice_examples)
    sides = [{slice_examples.post_of[i] for i in part} for part in (s.train, s.val, s.test)]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert len(s.train) + len(s.val) + len(s.test) == len(slice_examples)


def test_time_split_trains_on_older_posts(slice_examples):
    s = split_by_time(slice_examples)
    t = {p: slice_examples.posts[p].created_utc for p in slice_examples.posts}
    newest_train = max(t[slice_examples.post_of[i]] for i in s.train)
    oldest_test = min(t[slice_examples.post_of[i]] for i in s.test)
    assert newest_train <= oldest_test
