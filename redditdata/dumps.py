"""Reading Pushshift-style dumps without loading whole files.

Handles ``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst`` (Pushshift / Arctic Shift use a long zstd
window) and ``.jsonl.bz2``/``.xz``. Every line becomes either a validated event or a
:class:`BadRecord` with its reason; bad records are counted in a :class:`DumpReport`, never
raised and never dropped silently.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import logging
import lzma
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from redditdata.errors import DumpError
from redditdata.events import Comment, EventKind, Submission, parse_event

__all__ = [
    "BadRecord",
    "DumpFiles",
    "DumpReport",
    "find_dump_files",
    "iter_events",
    "iter_json_lines",
    "open_text",
    "rejection_reason",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record that could not be used, with where it came from and why."""

    source: str
    line: int
    reason: str
    raw: str  # the original text (truncated to 2,000 chars)


@dataclass
class DumpReport:
    """Counts of what a read accepted and rejected, by reason."""

    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    samples: list[BadRecord] = field(default_factory=list)
    max_samples: int = 50

    def reject(self, bad: BadRecord) -> None:
        self.rejected[bad.reason.split(":", 1)[0]] += 1
        if len(self.samples) < self.max_samples:
            self.samples.append(bad)
        logger.debug("rejected %s:%d: %s", bad.source, bad.line, bad.reason)

    @property
    def n_rejected(self) -> int:
        return sum(self.rejected.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": dict(self.accepted),
            "rejected": dict(self.rejected),
            "samples": [
                b.__dict__
                if hasattr(b, "__dict__")
                else {"source": b.source, "line": b.line, "reason": b.reason}
                for b in self.samples[:10]
            ],
        }


class _ZstdRaw(io.RawIOBase):
    """Streaming zstd decompression (multi-frame, Pushshift's 2 GiB window) that raises
    ``EOFError`` when the input ends inside a frame — ``zstandard``'s own stream reader
    silently returns a short read for a truncated download."""

    def __init__(self, fh: IO[bytes], max_window_size: int = 2**31) -> None:
        import zstandard

        self._fh = fh
        self._error = zstandard.ZstdError
        self._dctx = zstandard.ZstdDecompressor(max_window_size=max_window_size)
        self._obj = self._dctx.decompressobj()
        self._buf = b""
        self._in_frame = False
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf and not self._done:
            data = self._fh.read(1 << 20)
            if not data:
                self._done = True
                if self._in_frame:
                    raise EOFError("zstd stream ended inside a frame (truncated file)")
                break
            out = []
            while data:
                self._in_frame = True
                try:
                    out.append(self._obj.decompress(data))
                except self._error as exc:
                    raise OSError(f"corrupt zstd data: {exc}") from exc
                if self._obj.eof:
                    data = self._obj.unused_data
                    self._obj = self._dctx.decompressobj()
                    self._in_frame = False
                else:
                    data = b""
            self._buf = b"".join(out)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def open_text(path: str | os.PathLike[str]) -> IO[str]:
    """Open a (possibly compressed) text file for streaming reads."""
    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if suffix == ".gz":
            return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8", errors="replace")
        if suffix == ".bz2":
            return io.TextIOWrapper(bz2.open(p, "rb"), encoding="utf-8", errors="replace")
        if suffix == ".xz":
            return io.TextIOWrapper(lzma.open(p, "rb"), encoding="utf-8", errors="replace")
        if suffix == ".zst":
            return io.TextIOWrapper(
                io.BufferedReader(_ZstdRaw(open(p, "rb"))), encoding="utf-8", errors="replace"
            )
        return open(p, encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DumpError(f"cannot open dump {p}: {exc}") from exc


def iter_json_lines(
    path: str | os.PathLike[str], report: DumpReport | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each JSON-object line; bad lines go to ``report``."""
    source = str(path)
    with open_text(path) as fh:
        for lineno, line in _lines_until_damage(fh, source, report):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as exc:
                if report is not None:
                    report.reject(BadRecord(source, lineno, f"bad_json: {exc}", line[:2000]))
                continue
            if not isinstance(obj, dict):
                if report is not None:
                    report.reject(
                        BadRecord(source, lineno, f"not_object: {type(obj).__name__}", line[:2000])
                    )
                continue
            yield lineno, obj


def _lines_until_damage(
    fh: IO[str], source: str, report: DumpReport | None
) -> Iterator[tuple[int, str]]:
    """Numbered lines; a truncated or corrupt compressed stream ends the file with one
    ``damaged_stream`` rejection instead of an exception (what was readable is kept)."""
    lineno = 0
    try:
        for lineno, line in enumerate(fh, 1):
            yield lineno, line
    except (EOFError, OSError, lzma.LZMAError, ValueError) as exc:
        if isinstance(exc, UnicodeError):
            raise
        if report is not None:
            report.reject(
                BadRecord(source, lineno + 1, f"damaged_stream: {type(exc).__name__}: {exc}", "")
            )
        logger.warning("%s: stream ends after line %d: %s", source, lineno, exc)


def rejection_reason(exc: Exception) -> str:
    """``"<reason>: <field>: <message>"`` for a validation error (shared with the decoder)."""
    if isinstance(exc, ValidationError):
        errs = exc.errors()
        first: dict[str, Any] = dict(errs[0]) if errs else {}
        loc = ".".join(str(x) for x in first.get("loc", ())) or "record"
        kind = "missing_field" if first.get("type") == "missing" else "invalid_field"
        return f"{kind}: {loc}: {first.get('msg', str(exc))}"
    return f"invalid_record: {exc}"


def iter_events(
    path: str | os.PathLike[str],
    kind: EventKind,
    report: DumpReport | None = None,
    *,
    keep: Callable[[dict[str, Any]], bool] | None = None,
) -> Iterator[Submission | Comment]:
    """Validated events of one dump file; invalid records are reported with their reason.

    ``keep`` sees each record as parsed JSON, before validation: a record it refuses is
    skipped unvalidated (neither accepted nor rejected), so a reader that wants a small part
    of a large dump (a replay window) does not pay validation for the rest."""
    report = report if report is not None else DumpReport()
    source = str(path)
    for lineno, obj in iter_json_lines(path, report):
        if keep is not None and not keep(obj):
            continue
        try:
            ev = parse_event(obj, kind)
        except (ValidationError, ValueError) as exc:
            report.reject(BadRecord(source, lineno, rejection_reason(exc), json.dumps(obj)[:2000]))
            continue
        report.accepted[kind] += 1
        yield ev


@dataclass(frozen=True)
class DumpFiles:
    submissions: Path | None
    comments: Path | None


def find_dump_files(directory: str | os.PathLike[str]) -> DumpFiles:
    """Locate ``submissions.jsonl[.gz|.zst|…]`` and ``comments.jsonl[…]`` in a directory.

    Also accepts Pushshift names (``RS_*``/``RC_*``) and Arctic Shift names
    (``*_submissions*``/``*_comments*``).
    """
    d = Path(directory)
    if d.is_dir() and (d / "reddit-college").is_dir() and not any(d.glob("*.jsonl*")):
        d = d / "reddit-college"
    if not d.is_dir():
        raise DumpError(f"dump directory not found: {d}")

    def pick(patterns: list[str]) -> Path | None:
        for pat in patterns:
            found = sorted(p for p in d.glob(pat) if p.is_file())
            if found:
                return found[0]
        return None

    subs = pick(["submissions.jsonl*", "RS_*", "*_submissions*"])
    coms = pick(["comments.jsonl*", "RC_*", "*_comments*"])
    if subs is None and coms is None:
        raise DumpError(f"no submissions/comments dump files in {d}")
    return DumpFiles(subs, coms)
