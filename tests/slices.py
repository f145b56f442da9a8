"""Small real slices of reddit-college written as a dump directory for tests."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

__all__ = ["write_slice"]


def write_slice(data_dir: Path, out: Path, n_threads: int, skip_threads: int = 0) -> Path:
    """Copy the comments of threads ``skip..skip+n`` (file order) and their posts to ``out``
    as ``comments.jsonl.gz`` / ``submissions.jsonl.gz``."""
    src = data_dir / "reddit-college"
    out.mkdir(parents=True, exist_ok=True)
    order: list[str] = []
    keep: set[str] = set()
    with (
        gzip.open(src / "comments.jsonl.gz", "rt", encoding="utf-8") as fh,
        gzip.open(out / "comments.jsonl.gz", "wt", encoding="utf-8") as dst,
    ):
        for line in fh:
            link = json.loads(line)["link_id"]
            if not order or order[-1] != link:
                order.append(link)
                if len(order) > skip_threads + n_threads:
                    break
                if len(order) > skip_threads:
                    keep.add(link)
            if link in keep:
                dst.write(line)
    with (
        gzip.open(src / "submissions.jsonl.gz", "rt", encoding="utf-8") as fh,
        gzip.open(out / "submissions.jsonl.gz", "wt", encoding="utf-8") as dst,
    ):
        for line in fh:
            if json.loads(line)["name"] in keep:
                dst.write(line)
    return out
