"""The on-disk cache of the empathy network's ONNX graph: written once, verified, rebuilt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("onnxruntime")

import torch

from models.empathy import onnx as ox
from models.empathy.network import EmpathyNet, build_encoder_config


@pytest.fixture(scope="module")
def net() -> Any:
    """A small BERT-shaped EmpathyNet (2 layers): the cache does not depend on training."""
    torch.manual_seed(0)
    cfg = build_encoder_config(
        {
            "vocab_size": 300,
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "max_position_embeddings": 64,
        }
    )
    return EmpathyNet(cfg, dropout=0.0).eval()


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randint(5, 300, (3, 11))
    m = torch.ones_like(x)
    m[1, 7:] = 0
    return x, m


def _entry(cache: Path) -> Path:
    (entry,) = [p for p in (cache / "empathy-onnx").iterdir() if not p.name.startswith(".")]
    return entry


def test_graph_is_exported_once_then_loaded_from_cache(
    net: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = ox.graph_cache_key("20260101T000000-abc", "0" * 64)
    first = ox.OrtEmpathyNet.cached(net, key=key, cache_dir=tmp_path, threads=1)
    entry = _entry(tmp_path)
    assert entry.name.startswith("20260101T000000-abc-") and entry.name.endswith("-int8")
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["sha256"] == ox._sha256(entry / "model.onnx")

    def no_export(*_a: Any, **_k: Any) -> Path:
        raise AssertionError("a verified cache entry must not be exported again")

    monkeypatch.setattr(ox, "export_graph", no_export)
    second = ox.OrtEmpathyNet.cached(net, key=key, cache_dir=tmp_path, threads=1)
    x, m = _inputs()
    a, b = first(x, m), second(x, m)
    assert set(a) == {"multi", "seek", "provide"}
    for k in a:
        assert torch.equal(a[k], b[k])
    # no temporary directories are left beside the entry
    assert [p.name for p in (tmp_path / "empathy-onnx").iterdir()] == [entry.name]


def test_corrupt_entry_is_rebuilt(net: Any, tmp_path: Path) -> None:
    key = ox.graph_cache_key("v1", "1" * 64)
    good = ox.OrtEmpathyNet.cached(net, key=key, cache_dir=tmp_path, threads=1)
    entry = _entry(tmp_path)
    graph = entry / "model.onnx"
    raw = bytearray(graph.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte: the sha256 check catches it
    graph.write_bytes(bytes(raw))
    rebuilt = ox.OrtEmpathyNet.cached(net, key=key, cache_dir=tmp_path, threads=1)
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["sha256"] == ox._sha256(graph)
    x, m = _inputs()
    assert torch.allclose(good(x, m)["multi"], rebuilt(x, m)["multi"], atol=1e-5)
    # a truncated graph whose meta was rewritten to match still fails to open: rebuilt too
    graph.write_bytes(b"not an onnx graph")
    (entry / "meta.json").write_text(json.dumps({"sha256": ox._sha256(graph)}))
    again = ox.OrtEmpathyNet.cached(net, key=key, cache_dir=tmp_path, threads=1)
    assert torch.allclose(good(x, m)["multi"], again(x, m)["multi"], atol=1e-5)
    assert (entry / "model.onnx").stat().st_size > 1000


def test_key_follows_version_weights_and_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    k = ox.graph_cache_key("v1", "a" * 64)
    assert k == ox.graph_cache_key("v1", "a" * 64)
    assert k != ox.graph_cache_key("v2", "a" * 64)
    assert k != ox.graph_cache_key("v1", "b" * 64)
    monkeypatch.setattr(onnxruntime, "__version__", "0.0.0-other")
    assert k != ox.graph_cache_key("v1", "a" * 64)
    assert "/" not in ox.graph_cache_key("../evil/v", "a" * 64)


def test_unwritable_cache_still_gives_a_session(net: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    got = ox.OrtEmpathyNet.cached(net, key="k", cache_dir=blocker, threads=1)
    x, m = _inputs()
    assert got(x, m)["multi"].shape == (3, 3)
