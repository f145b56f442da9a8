from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.metrics.names import METRIC_NAMES
from models.outcomes import Outcome
from streaming.outcome_files import (
    JsonlSink,
    OutcomeFileError,
    ParquetSink,
    existing_tlcs,
    infer_format,
    read_outcomes,
)


def _o(i: int) -> Outcome:
    return Outcome(
        tlc=f"t1_{i}",
        post="t3_p",
        n_replies=i,
        metrics={m: float(i) for m in METRIC_NAMES},
        trajectory=i / 2,
        versions={"aux": "a", "trajectory": "t", "markers": "builtin"},
    )


def test_format_from_suffix() -> None:
    assert infer_format("x.parquet", None) == "parquet"
    assert infer_format("x.jsonl", None) == "jsonl"
    assert infer_format("x.parquet", "jsonl") == "jsonl"


def test_jsonl_append_and_resume(tmp_path: Path) -> None:
    p = tmp_path / "o.jsonl"
    s = JsonlSink(p)
    s.write([_o(1), _o(2)])
    s.close()
    s = JsonlSink(p)
    s.write([_o(3)])
    s.close()
    assert existing_tlcs(p, "jsonl") == {"t1_1", "t1_2", "t1_3"}
    assert Outcome.from_dict(json.loads(p.read_text().splitlines()[2])) == _o(3)


def test_torn_last_line_is_cut_on_resume(tmp_path: Path) -> None:
    p = tmp_path / "o.jsonl"
    p.write_text(json.dumps(_o(1).to_dict()) + "\n" + '{"tlc": "t1_2", "metr')
    assert existing_tlcs(p, "jsonl") == {"t1_1"}
    assert p.read_text().endswith("\n")


def test_foreign_jsonl_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "o.jsonl"
    p.write_text('{"something": "else"}\n')
    with pytest.raises(OutcomeFileError):
        existing_tlcs(p, "jsonl")


def test_parquet_keeps_old_rows_and_swaps_atomically(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    p = tmp_path / "o.parquet"
    s = ParquetSink(p)
    s.write([_o(1)])
    s.close()
    s = ParquetSink(p)
    s.write([_o(2), _o(3)])
    assert pq.read_table(p).num_rows == 1  # old file intact until close
    s.close()
    t = pq.read_table(p)
    assert t.column("tlc").to_pylist() == ["t1_1", "t1_2", "t1_3"]
    assert t.column("gratitude").to_pylist() == [1.0, 2.0, 3.0]
    assert existing_tlcs(p, "parquet") == {"t1_1", "t1_2", "t1_3"}


def test_damaged_parquet_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "o.parquet"
    p.write_bytes(b"not parquet")
    with pytest.raises(OutcomeFileError):
        existing_tlcs(p, "parquet")
    with pytest.raises(OutcomeFileError):
        ParquetSink(p)
    assert not (tmp_path / "o.parquet.partial").exists()


@pytest.mark.parametrize("name", ["o.jsonl", "o.parquet"])
def test_read_outcomes_round_trips_both_formats(tmp_path: Path, name: str) -> None:
    p = tmp_path / name
    s = ParquetSink(p) if name.endswith(".parquet") else JsonlSink(p)
    s.write([_o(1), _o(2)])
    s.close()
    assert read_outcomes(p) == [_o(1), _o(2)]
