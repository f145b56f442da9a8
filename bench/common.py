"""What every bench shares: the options naming its inputs and its result file, the machine it
ran on, and how the result is written (``bench/results/<name>.json``, and on stdout)."""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any

__all__ = ["ROOT", "bench_parser", "machine", "write_result"]

ROOT = Path(__file__).resolve().parent.parent


def bench_parser(
    doc: str | None, result: str, *, registry: bool = True, **kwargs: Any
) -> argparse.ArgumentParser:
    """The parser of the bench that writes ``bench/results/<result>.json``: ``--data``, ``--out``
    and (with ``registry``) ``--registry``, the directories defaulting as in
    :mod:`models.paths`. ``kwargs`` go to :class:`argparse.ArgumentParser`."""
    ap = argparse.ArgumentParser(description=doc, **kwargs)
    ap.add_argument("--data", default=None, help="data directory (default: PROSOCIAL_DATA_DIR)")
    if registry:
        ap.add_argument(
            "--registry",
            default=None,
            help="model registry (default: PROSOCIAL_REGISTRY_DIR or var/registry)",
        )
    ap.add_argument(
        "--out",
        default=str(ROOT / "bench" / "results" / f"{result}.json"),
        help=f"where the result is written (default bench/results/{result}.json)",
    )
    return ap


def machine() -> dict[str, Any]:
    """The cores, the Python and the platform a bench ran on."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_result(result: dict[str, Any], out: str | Path, *, echo: bool = True) -> Path:
    """Write ``result`` as indented JSON to ``out`` (its folder made) and, with ``echo``, print
    it on stdout."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2)
    path.write_text(text + "\n", encoding="utf-8")
    if echo:
        print(text)
    return path
