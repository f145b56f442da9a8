"""The dump reader and forest builder on bad input: every bad record is counted with its
reason, the run never crashes, and good records around bad ones still come through."""

from __future__ import annotations

import bz2
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import zstandard

from redditdata.dumps import DumpReport, find_dump_files, iter_events, iter_json_lines
from redditdata.errors import DumpError
from redditdata.events import Comment, Submission
from redditdata.forest import build_thread, iter_threads, post_from_event
from redditdata.tree import walk

T0 = 1_600_000_000


def sub(pid: str = "p1", **kw: Any) -> dict[str, Any]:
    d = {
        "id": pid,
        "subreddit": "College",
        "title": f"post {pid}",
        "selftext": "",
        "author": "op",
        "score": 3,
        "created_utc": T0,
        "retrieved_on": T0 + 5 * 86400,
    }
    d.update(kw)
    return d


def com(cid: str, parent: str, post: str = "p1", **kw: Any) -> dict[str, Any]:
    d = {
        "id": cid,
        "parent_id": parent,
        "link_id": f"t3_{post}",
        "subreddit": "College",
        "author": f"u_{cid}",
        "body": f"body {cid}",
        "score": 1,
        "created_utc": T0 + 60,
    }
    d.update(kw)
    return d


def write(path: Path, lines: list[Any]) -> Path:
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    data = text.encode()
    name = path.name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(data))
    elif name.endswith(".zst"):
        path.write_bytes(zstandard.ZstdCompressor().compress(data))
    elif name.endswith(".bz2"):
        path.write_bytes(bz2.compress(data))
    else:
        path.write_bytes(data)
    return path


def comments_of(path: Path, report: DumpReport) -> list[Comment]:
    return [c for c in iter_events(path, "comment", report) if isinstance(c, Comment)]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst", ".jsonl.bz2"])
def test_reads_plain_gzip_zstd_and_bz2(tmp_path: Path, suffix: str) -> None:
    write(tmp_path / f"submissions{suffix}", [sub()])
    write(tmp_path / f"comments{suffix}", [com("c1", "t3_p1"), com("c2", "t1_c1")])
    files = find_dump_files(tmp_path)
    assert files.comments is not None and files.comments.name.endswith(suffix)
    report = DumpReport()
    threads = list(iter_threads(tmp_path, report))
    assert len(threads) == 1 and threads[0].n_comments == 2
    assert [n.name for n in walk(threads[0].tlcs[0])] == ["t1_c1", "t1_c2"]
    assert report.n_rejected == 0


def test_bad_json_and_non_objects_are_reported_not_raised(tmp_path: Path) -> None:
    p = write(
        tmp_path / "comments.jsonl",
        [com("c1", "t3_p1"), "{not json", "[1, 2]", "", com("c2", "t3_p1")],
    )
    report = DumpReport()
    got = [obj["id"] for _, obj in iter_json_lines(p, report)]
    assert got == ["c1", "c2"]
    assert report.rejected == {"bad_json": 1, "not_object": 1}
    assert {s.line for s in report.samples} == {2, 3}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"id": None}, "invalid_field"),
        ({"id": "NOT-AN-ID"}, "invalid_field"),
        ({"parent_id": 12345}, "invalid_field"),
        ({"body": 42}, "invalid_field"),
        ({"score": "many"}, "invalid_field"),
        ({"score": 1e400}, "invalid_field"),  # JSON overflow → inf
        ({"created_utc": "yesterday"}, "invalid_field"),
        ({"created_utc": 12}, "invalid_field"),  # before Reddit existed
        ({"subreddit": ["College"]}, "invalid_field"),
        ({"link_id": "t1_abc"}, "invalid_field"),
        ({"name": "t1_other"}, "invalid_field"),
        ({"parent_id": "t1_c1"}, "invalid_field"),  # its own parent
    ],
)
def test_wrong_types_and_inconsistent_ids_are_rejected_with_reason(
    tmp_path: Path, bad: dict[str, Any], reason: str
) -> None:
    p = write(tmp_path / "comments.jsonl", [com("c1", "t3_p1", **bad), com("c2", "t3_p1")])
    report = DumpReport()
    assert [c.id for c in comments_of(p, report)] == ["c2"]
    assert report.rejected == {reason: 1}
    assert report.samples[0].line == 1


@pytest.mark.parametrize(
    "field", ["id", "parent_id", "link_id", "body", "created_utc", "subreddit"]
)
def test_missing_fields_are_rejected(tmp_path: Path, field: str) -> None:
    rec = com("c1", "t3_p1")
    del rec[field]
    p = write(tmp_path / "comments.jsonl", [rec])
    report = DumpReport()
    assert comments_of(p, report) == []
    assert report.rejected == {"missing_field": 1}
    assert field in report.samples[0].reason


def _thread(tmp_path: Path, comments: list[dict[str, Any]]) -> tuple[Any, DumpReport]:
    report = DumpReport()
    post = post_from_event(Submission.model_validate(sub()))
    p = write(tmp_path / "comments.jsonl", comments)
    return build_thread(post, comments_of(p, report), report), report


def test_orphans_are_reported_and_siblings_kept(tmp_path: Path) -> None:
    thread, report = _thread(
        tmp_path, [com("c1", "t3_p1"), com("c2", "t1_gone"), com("c3", "t1_c2"), com("c4", "t1_c1")]
    )
    assert thread.n_comments == 2
    assert report.rejected == {"orphan": 2}  # c2 and its child c3


def test_cycles_are_reported(tmp_path: Path) -> None:
    thread, report = _thread(tmp_path, [com("c1", "t3_p1"), com("a", "t1_b"), com("b", "t1_a")])
    assert thread.n_comments == 1
    assert report.rejected == {"cycle": 2}


def test_duplicates_keep_the_first_copy(tmp_path: Path) -> None:
    thread, report = _thread(
        tmp_path, [com("c1", "t3_p1", body="first"), com("c1", "t3_p1", body="second")]
    )
    assert [t.body for t in thread.tlcs] == ["first"]
    assert report.rejected == {"duplicate": 1}


def test_comments_of_another_post_are_reported(tmp_path: Path) -> None:
    thread, report = _thread(tmp_path, [com("c1", "t3_p1"), com("c2", "t3_p2", post="p2")])
    assert thread.n_comments == 1
    assert report.rejected == {"wrong_post": 1}


def test_comments_without_post_and_duplicate_posts(tmp_path: Path) -> None:
    write(tmp_path / "submissions.jsonl", [sub("p1"), sub("p1"), sub("p2", title=None)])
    write(tmp_path / "comments.jsonl", [com("c1", "t3_p1"), com("c9", "t3_p9", post="p9")])
    report = DumpReport()
    threads = list(iter_threads(tmp_path, report))
    assert [t.post.name for t in threads] == ["t3_p1"]
    assert report.rejected == {"duplicate": 1, "invalid_field": 1, "missing_post": 1}
    assert report.accepted["threads"] == 1


def test_split_threads_in_grouped_files_are_reported(tmp_path: Path) -> None:
    write(tmp_path / "submissions.jsonl", [sub("p1"), sub("p2")])
    write(
        tmp_path / "comments.jsonl",
        [com("a", "t3_p1"), com("b", "t3_p2", post="p2"), com("c", "t3_p1")],
    )
    report = DumpReport()
    threads = list(iter_threads(tmp_path, report, grouped=True))
    assert sorted(t.post.name for t in threads) == ["t3_p1", "t3_p2"]
    assert report.rejected == {"split_thread": 1}
    # the in-memory path puts the interleaved comment where it belongs
    report2 = DumpReport()
    threads2 = {t.post.name: t for t in iter_threads(tmp_path, report2)}
    assert threads2["t3_p1"].n_comments == 2 and report2.n_rejected == 0


def test_min_age_keeps_only_matured_threads(tmp_path: Path) -> None:
    write(
        tmp_path / "submissions.jsonl",
        [sub("p1"), sub("p2", retrieved_on=T0 + 3600), sub("p3", retrieved_on=None)],
    )
    write(
        tmp_path / "comments.jsonl",
        [com("a", "t3_p1"), com("b", "t3_p2", post="p2"), com("c", "t3_p3", post="p3")],
    )
    report = DumpReport()
    threads = list(iter_threads(tmp_path, report, min_age_s=48 * 3600))
    assert [t.post.name for t in threads] == ["t3_p1"]
    assert report.n_rejected == 0  # filtered, not bad


@pytest.mark.parametrize("suffix", [".gz", ".zst", ".bz2"])
def test_truncated_compressed_file_yields_what_it_can_and_reports(
    tmp_path: Path, suffix: str
) -> None:
    p = write(
        tmp_path / f"comments.jsonl{suffix}",
        [com(f"c{i}", "t3_p1", body="x" * (i % 50)) for i in range(3000)],
    )
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    report = DumpReport()
    got = comments_of(p, report)
    assert len(got) < 3000
    if suffix != ".bz2":  # bz2 decodes 900 kB blocks: nothing of this half block is readable
        assert len(got) > 0
    assert report.rejected["damaged_stream"] == 1
    assert report.n_rejected <= 2  # plus at most the torn last line


@pytest.mark.parametrize("suffix", [".gz", ".zst", ".bz2"])
def test_corrupt_compressed_bytes_are_reported_not_raised(tmp_path: Path, suffix: str) -> None:
    p = write(
        tmp_path / f"comments.jsonl{suffix}",
        [com(f"c{i}", "t3_p1", body=f"text {i * 7919 % 1000}") for i in range(3000)],
    )
    data = bytearray(p.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(64)
    p.write_bytes(bytes(data))
    report = DumpReport()
    got = comments_of(p, report)
    assert len(got) < 3000
    assert report.rejected["damaged_stream"] == 1


def test_multi_frame_zstd_reads_every_frame(tmp_path: Path) -> None:
    c = zstandard.ZstdCompressor()
    frames = [c.compress((json.dumps(com(f"c{i}", "t3_p1")) + "\n").encode()) for i in range(5)]
    p = tmp_path / "comments.jsonl.zst"
    p.write_bytes(b"".join(frames))
    report = DumpReport()
    assert len(comments_of(p, report)) == 5 and report.n_rejected == 0


def test_missing_directory_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(DumpError):
        find_dump_files(tmp_path / "nope")
    with pytest.raises(DumpError):
        find_dump_files(tmp_path)


def test_report_as_dict_is_json_serialisable(tmp_path: Path) -> None:
    p = write(tmp_path / "comments.jsonl", ["{bad", com("c1", "t3_p1", score="x")])
    report = DumpReport()
    comments_of(p, report)
    d = json.loads(json.dumps(report.as_dict()))
    assert d["rejected"] == {"bad_json": 1, "invalid_field": 1}
    assert {s["line"] for s in d["samples"]} == {1, 2}


def test_records_refused_by_keep_are_skipped_before_validation(tmp_path: Path) -> None:
    path = write(
        tmp_path / "comments.jsonl",
        [
            com("c1", "t3_p1"),
            com("c2", "t3_p2", post="p2", created_utc="not a time"),  # malformed, unwanted
            com("c3", "t1_c1", score="many"),  # malformed, wanted
        ],
    )
    report = DumpReport()
    seen: list[str] = []

    def keep(obj: dict[str, Any]) -> bool:
        seen.append(obj["id"])
        return bool(obj["link_id"] == "t3_p1")

    got = list(iter_events(path, "comment", report, keep=keep))
    assert [c.name for c in got] == ["t1_c1"]
    assert seen == ["c1", "c2", "c3"]
    assert report.accepted == {"comment": 1}
    assert sum(report.rejected.values()) == 1  # c3 only: c2 was never validated


def test_a_replay_window_reads_only_its_posts_comments(tmp_path: Path) -> None:
    from streaming.replay import ReplayIndex

    write(
        tmp_path / "submissions.jsonl",
        [sub("p1"), sub("p2", created_utc=T0 + 10 * 86400)],
    )
    write(
        tmp_path / "comments.jsonl",
        [
            com("c1", "t3_p1"),
            com("c2", "t3_p2", post="p2", created_utc=T0 + 10 * 86400 + 60),
            com("c3", "t3_p2", post="p2", score="many"),  # malformed, outside the window
            com("c4", "t1_c1", score="many"),  # malformed, inside it
            com("c5", "t3_p1", link_id=["t3_p1"]),  # an unhashable link_id: skipped, no crash
        ],
    )
    idx = ReplayIndex(tmp_path, since=T0, until=T0 + 86400)
    assert list(idx.submissions) == ["t3_p1"]
    assert [c.name for c in idx.comments["t3_p1"]] == ["t1_c1"]
    assert idx.report.accepted == {"submission": 2, "comment": 1}
    assert sum(idx.report.rejected.values()) == 1
