"""Resumable outcome files (JSONL or Parquet) for ``prosocial outcomes``.

* JSONL: one :meth:`models.outcomes.Outcome.to_dict` object per line, appended and flushed
  per batch, so a crash loses at most the batch being written. A torn last line (killed
  mid-write) is cut off when the file is reopened.
* Parquet: a flat table (:meth:`Outcome.to_row`: metric names as columns). Parquet files cannot
  be appended to, so the sink writes ``FILE.partial`` — first the rows already in ``FILE``,
  then new row groups per batch — and replaces ``FILE`` with it on close (also on an exception
  or Ctrl-C). Only a hard kill loses that run's new rows; the previous file stays intact.

:func:`existing_tlcs` reads which TLCs a file already holds, to skip them on resume.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Literal, Protocol

from models.metrics.names import METRIC_NAMES
from models.outcomes import Outcome
from streaming.errors import StreamingError

__all__ = [
    "VERSION_KEYS",
    "Format",
    "JsonlSink",
    "OutcomeFileError",
    "OutcomeSink",
    "ParquetSink",
    "existing_tlcs",
    "infer_format",
    "open_sink",
]

logger = logging.getLogger(__name__)

Format = Literal["jsonl", "parquet"]
VERSION_KEYS = ("aux", "trajectory", "markers")


class OutcomeFileError(StreamingError):
    """An existing outcome file cannot be read or resumed."""


class OutcomeSink(Protocol):
    def write(self, outcomes: list[Outcome]) -> None: ...

    def close(self) -> None: ...


def infer_format(path: str | os.PathLike[str], fmt: str | None) -> Format:
    if fmt in ("jsonl", "parquet"):
        return fmt  # type: ignore[return-value]
    return "parquet" if str(path).endswith(".parquet") else "jsonl"


def _repair_jsonl(path: Path) -> None:
    """Cut a torn (unterminated) last line left by a killed run."""
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        back = min(size, 1 << 20)
        fh.seek(size - back)
        tail = fh.read(back)
        cut = tail.rfind(b"\n")
        new_size = size - back + cut + 1 if cut >= 0 else 0
        fh.truncate(new_size)
        logger.warning("%s: dropped a torn last line (%d bytes)", path, size - new_size)


def existing_tlcs(path: str | os.PathLike[str], fmt: Format) -> set[str]:
    """TLC fullnames already in an outcome file (empty if it does not exist)."""
    p = Path(path)
    if not p.exists():
        return set()
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            return set(pq.read_table(p, columns=["tlc"]).column("tlc").to_pylist())
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise OutcomeFileError(f"cannot resume from {p}: {exc}") from exc
    _repair_jsonl(p)
    done: set[str] = set()
    with open(p, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                done.add(json.loads(line)["tlc"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise OutcomeFileError(f"{p}:{i}: not an outcome record ({exc})") from exc
    return done


class JsonlSink:
    """Appends outcome objects, one per line."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            _repair_jsonl(self.path)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())

    def write(self, outcomes: list[Outcome]) -> None:
        self._fh.write("".join(json.dumps(o.to_dict()) + "\n" for o in outcomes))
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def parquet_schema() -> Any:
    import pyarrow as pa

    fields = [
        pa.field("tlc", pa.string()),
        pa.field("post", pa.string()),
        pa.field("n_replies", pa.int64()),
        pa.field("trajectory", pa.float64()),
    ]
    fields += [pa.field(m, pa.float64()) for m in METRIC_NAMES]
    fields += [pa.field(f"version_{k}", pa.string()) for k in VERSION_KEYS]
    return pa.schema(fields)


class ParquetSink:
    """Writes ``FILE.partial`` (old rows + new row groups) and swaps it in on close."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        import pyarrow.parquet as pq

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(self.path.name + ".partial")
        self.schema = parquet_schema()
        self._writer = pq.ParquetWriter(str(self.tmp), self.schema)
        self._closed = False
        if self.path.exists():
            try:
                old = pq.read_table(self.path)
                self._writer.write_table(old.select(self.schema.names).cast(self.schema))
            except Exception as exc:
                self._writer.close()
                self.tmp.unlink(missing_ok=True)
                raise OutcomeFileError(f"cannot resume from {self.path}: {exc}") from exc

    def write(self, outcomes: list[Outcome]) -> None:
        import pyarrow as pa

        if not outcomes:
            return
        rows = []
        for o in outcomes:
            row = o.to_row()
            for k in VERSION_KEYS:
                row.setdefault(f"version_{k}", None)
            rows.append(row)
        self._writer.write_table(pa.Table.from_pylist(rows, schema=self.schema))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        os.replace(self.tmp, self.path)


def read_outcomes(path: str | os.PathLike[str], fmt: str | None = None) -> list[Outcome]:
    """Every outcome in a JSONL or Parquet outcome file, in file order."""
    p = Path(path)
    f = infer_format(p, fmt)
    if f == "jsonl":
        with open(p, encoding="utf-8") as fh:
            return [Outcome.from_dict(json.loads(x)) for x in fh if x.strip()]
    import pyarrow.parquet as pq

    out = []
    for row in pq.read_table(p).to_pylist():
        out.append(
            Outcome(
                tlc=row["tlc"],
                post=row["post"],
                n_replies=int(row["n_replies"]),
                metrics={
                    m: float(row[m]) if row[m] is not None else float("nan") for m in METRIC_NAMES
                },
                trajectory=row["trajectory"],
                versions={
                    k: row[f"version_{k}"]
                    for k in VERSION_KEYS
                    if row.get(f"version_{k}") is not None
                },
            )
        )
    return out


def open_sink(path: str | os.PathLike[str], fmt: Format) -> OutcomeSink:
    return ParquetSink(path) if fmt == "parquet" else JsonlSink(path)
