"""``prosocial empathy``: empathy direction of a text, or of every line of a file.

``prosocial empathy "text…"`` prints a short table; ``--json`` prints one JSON object per input
(``{"text", "label", "probs", "sentences": [{"text", "label", "probs"}], "share_seeking",
"share_providing"}``). ``--file F`` reads one comment per line (``-`` = stdin; literal ``\\n``
in a line is read as a newline). Uses the registry's current ``empathy`` bundle unless
``--model PATH`` names a bundle directory.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from streaming.clikit import fail, print_json

if TYPE_CHECKING:
    from models.empathy import EmpathyClassifier

__all__ = ["register", "run"]

_CHUNK = 256


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("empathy", help="empathy direction of a comment", description=__doc__)
    p.add_argument("text", nargs="*", help="comment text (joined with spaces)")
    p.add_argument("--file", default=None, help="one comment per line ('-' for stdin)")
    p.add_argument("--model", default=None, help="bundle directory (default: registry current)")
    p.add_argument("--registry", default=None, help="model registry directory")
    p.add_argument("--fp32", action="store_true", help="disable the int8 fast path")
    p.add_argument("--json", action="store_true", help="JSON output, one object per input")
    p.set_defaults(func=run)


def _lines(path: str) -> Iterator[str]:
    if path == "-":
        yield from (line.rstrip("\r\n").replace("\\n", "\n") for line in sys.stdin)
        return
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            yield line.rstrip("\r\n").replace("\\n", "\n")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from models.bundle import Bundle, Registry
    from models.empathy import EmpathyClassifier
    from models.errors import BundleMissingError, ModelsError
    from models.paths import resolve_registry_dir

    err = Console(stderr=True)
    if not args.file and not args.text:
        return fail(err, "give a text or --file F")
    try:
        if args.model:
            clf = EmpathyClassifier.from_bundle(Bundle.open(args.model), fast=not args.fp32)
        else:
            reg = Registry(resolve_registry_dir(args.registry))
            clf = EmpathyClassifier.from_registry(reg, fast=not args.fp32)
    except BundleMissingError as exc:
        err.print(
            f"[red]error:[/red] no empathy model in {exc.registry}; "
            "train one with: prosocial-train empathy"
        )
        return 2
    except (ModelsError, OSError) as exc:
        return fail(err, f"cannot load the empathy model: {exc}")

    if args.file:
        try:
            source: Iterator[str] = _lines(args.file)
            batch: list[str] = []
            for line in source:
                batch.append(line)
                if len(batch) >= _CHUNK:
                    _emit(clf, batch, args.json)
                    batch = []
            if batch:
                _emit(clf, batch, args.json)
        except OSError as exc:
            return fail(err, exc)
        return 0
    _emit(clf, [" ".join(args.text)], args.json)
    return 0


def _emit(clf: EmpathyClassifier, texts: list[str], as_json: bool) -> None:
    results = clf.predict_comments(texts)
    if as_json:
        for r in results:
            print_json(r.to_dict(), ensure_ascii=False)
        sys.stdout.flush()
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    out = Console()
    for r in results:
        t = Table(
            title=f"{r.label}  (seeking {r.share_seeking:.0%}, providing "
            f"{r.share_providing:.0%}; model {clf.version})"
        )
        for col in ("sentence", "label", "none", "seeking", "providing"):
            t.add_column(col)
        for s in r.sentences:
            t.add_row(
                Text(s.text),
                s.label,
                *(f"{s.probs[k]:.2f}" for k in ("none", "seeking", "providing")),
            )
        out.print(t)
