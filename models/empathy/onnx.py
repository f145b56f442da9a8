"""The empathy network on ONNX Runtime with int8 weights: a CPU fast path.

:meth:`OrtEmpathyNet.from_torch` exports a loaded :class:`~models.empathy.network.EmpathyNet`
to ONNX (TorchScript exporter, dynamic batch and width), quantises the weights of its matrix
products to int8 (``onnxruntime.quantization.quantize_dynamic``: per-tensor int8 weights,
activations quantised per batch at run time; the heads stay fp32, as in the torch int8 path)
and opens an ``InferenceSession``.

Exporting and quantising take seconds (8-10 s per scorer start on a 2-core EPYC), so
:meth:`OrtEmpathyNet.cached` keeps the graph on disk in a cache directory
(:func:`models.paths.default_cache_dir`, never inside the bundle, so a read-only registry
works), keyed by the bundle version, the sha256 of its weights and the torch / onnx /
onnxruntime versions. An entry is written to a temporary directory and renamed into place (a
reader never sees half an entry; of two racing writers one wins), carries the sha256 of its
graph in ``meta.json``, and is verified on load: a corrupt or unreadable entry is rebuilt.

Measured on an AVX2-only EPYC (2 threads, batch 64, 19 tokens, same run): torch fp32 176
sentences/s, torch dynamic int8 233, ONNX Runtime fp32 259, ONNX Runtime int8 349.
``bench/empathy.py`` measures it on real comments beside the other modes.

Calling the object mirrors ``EmpathyNet.__call__``: ``(input_ids, attention_mask)`` torch
tensors in, ``{head: logits}`` torch tensors out, and its ``heads`` give each head's
``out_features`` (read from the graph), so :class:`~models.empathy.classifier.
EmpathyClassifier` runs it like any other mode. A cached graph opens without the torch
network: :meth:`OrtEmpathyNet.cached` and :meth:`OrtEmpathyNet.for_bundle` take a function
that builds it, called only when the graph must be exported, so a scorer whose graphs are
cached (the int8 fast path and the fp32 one that re-checks its near-ties) never builds the
torch model nor imports ``transformers``. Idle intra-op threads sleep instead of spinning
(``session.intra_op.allow_spinning = 0``), the ONNX Runtime twin of ``OMP_WAIT_POLICY=PASSIVE``
(:mod:`models.cpu`), because a scorer shares its cores with the broker and the database.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["HeadShape", "OrtEmpathyNet", "graph_cache_key", "onnxruntime_available"]

logger = logging.getLogger(__name__)

_OPSET = 17
_CACHE_SUBDIR = "empathy-onnx"
_GRAPH = "model.onnx"
_META = "meta.json"
#: Outputs of a lower or middle part's graph (:class:`models.empathy.network.LowerNet`,
#: :class:`models.empathy.network.MiddleNet`).
_LOWER_OUTPUTS = ("hidden", "pooled")


def onnxruntime_available() -> bool:
    """True when ``onnxruntime`` (and ``onnx``, which quantisation needs) can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _tuple_heads(model: Any, names: list[str]) -> Any:
    """``model`` with ``forward`` returning a tuple in a fixed head order (the ONNX outputs)."""
    import torch

    class _Heads(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor
        ) -> tuple[torch.Tensor, ...]:
            out = self.net(input_ids, attention_mask)
            return tuple(out[k] for k in names)

    return _Heads().eval()


@dataclass(frozen=True)
class HeadShape:
    """What inference reads of a head (as of ``EmpathyNet.heads[name]``): its logit count."""

    out_features: int


def _torch_model(model: Any) -> Any:
    """``model`` if it is a torch module, else what the function ``model`` builds."""
    import torch

    return model if isinstance(model, torch.nn.Module) else model()


class OrtEmpathyNet:
    """An ONNX Runtime session (int8 or fp32) standing in for an ``EmpathyNet`` at inference."""

    def __init__(self, session: Any) -> None:
        self.session = session
        outputs = session.get_outputs()
        #: The graph's outputs: one per head in the exported order (a lower part: hidden
        #: states and their pooled mean).
        self.head_names = [o.name for o in outputs]
        #: ``out_features`` per head, as on ``EmpathyNet.heads`` (none for a lower part).
        self.heads = (
            {}
            if self.head_names == list(_LOWER_OUTPUTS)
            else {o.name: HeadShape(int(o.shape[-1])) for o in outputs}
        )

    @classmethod
    def from_torch(
        cls, model: Any, *, threads: int | None = None, quantize: bool = True
    ) -> OrtEmpathyNet:
        """Export ``model`` (an ``EmpathyNet`` in eval mode), quantise it (``quantize``) and
        open a session with ``threads`` intra-op threads (default: torch's thread count).
        Nothing is written outside a temporary directory; see :meth:`cached`."""
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="empathy-onnx-") as tmp:
            path = export_graph(model, Path(tmp), quantize=quantize)
            net = cls(open_session(path, threads))
        _log_built(net, quantize, time.perf_counter() - t0, "exported")
        return net

    @classmethod
    def for_bundle(
        cls,
        bundle: Any,
        model: Any | Callable[[], Any],
        *,
        threads: int | None = None,
        quantize: bool = True,
        part: str = "",
    ) -> OrtEmpathyNet:
        """The graph (int8 with ``quantize``, else fp32) of ``bundle``'s network (a
        :class:`models.bundle.Bundle`), cached under :func:`models.paths.default_cache_dir`;
        ``model`` is the loaded torch network or a function that loads it (see :meth:`cached`).
        ``part`` names a part of the network (``"lower3"``: ``model`` is then that part,
        e.g. :class:`models.empathy.network.LowerNet`), cached under its own entry."""
        from models.paths import default_cache_dir

        sha = str(bundle.config.get("files", {}).get("model.safetensors", ""))
        if not sha:  # an unmanifested bundle cannot be keyed safely: export every time
            return cls.from_torch(_torch_model(model), threads=threads, quantize=quantize)
        key = graph_cache_key(bundle.version, sha) + (f"-{part}" if part else "")
        return cls.cached(
            model, key=key, cache_dir=default_cache_dir(), threads=threads, quantize=quantize
        )

    @classmethod
    def cached(
        cls,
        model: Any | Callable[[], Any],
        *,
        key: str,
        cache_dir: str | os.PathLike[str],
        threads: int | None = None,
        quantize: bool = True,
    ) -> OrtEmpathyNet:
        """Like :meth:`from_torch`, but the graph is read from ``cache_dir`` when an entry
        for ``key`` (:func:`graph_cache_key`) exists and verifies, and written there
        otherwise. ``model`` is the torch network, or a function building it: called only
        when the graph must be exported. An unwritable cache directory only costs the export."""
        t0 = time.perf_counter()
        entry = Path(cache_dir) / _CACHE_SUBDIR / f"{key}-{'int8' if quantize else 'fp32'}"
        session = _open_entry(entry, threads)
        how = "loaded from cache"
        if session is None:
            how = "exported"
            model = _torch_model(model)
            try:
                _write_entry(model, entry, quantize=quantize)
            except OSError as exc:
                logger.warning("onnx graph cache %s not writable (%s); not cached", entry, exc)
                return cls.from_torch(model, threads=threads, quantize=quantize)
            session = _open_entry(entry, threads)
            if session is None:  # pragma: no cover - a fresh entry that does not verify
                return cls.from_torch(model, threads=threads, quantize=quantize)
        net = cls(session)
        _log_built(net, quantize, time.perf_counter() - t0, f"{how} {entry}")
        return net

    def run(self, *inputs: Any) -> list[Any]:
        """The graph's outputs (numpy arrays) for torch tensors fed to its inputs in order
        (token ids and masks as int64, hidden states as float32)."""
        feed = {
            spec.name: x.detach().float().numpy()
            if "float" in spec.type
            else x.numpy().astype("int64", copy=False)
            for spec, x in zip(self.session.get_inputs(), inputs, strict=True)
        }
        return list(self.session.run(self.head_names, feed))

    def __call__(self, *inputs: Any) -> Any:
        """As the torch part it stands in for: ``{head: logits}`` for a heads graph (the
        network, or its upper part), ``(hidden, pooled)`` for a lower or middle part."""
        import torch

        outs = [torch.from_numpy(v) for v in self.run(*inputs)]
        if self.head_names == list(_LOWER_OUTPUTS):
            return tuple(outs)
        return dict(zip(self.head_names, outs))


def graph_cache_key(version: str, weights_sha256: str) -> str:
    """Cache key of a bundle's graph: its version, its weights' sha256 and the versions of
    the libraries that export, quantise and run it (a new one invalidates the entry)."""
    import onnx
    import onnxruntime
    import torch

    libs = f"torch={torch.__version__};onnx={onnx.__version__};ort={onnxruntime.__version__}"
    h = hashlib.sha256(f"{weights_sha256}|{libs}|opset={_OPSET}".encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in version)
    return f"{safe}-{h}"


def export_graph(model: Any, out_dir: Path, *, quantize: bool = True) -> Path:
    """Export ``model`` (an ``EmpathyNet``, or its ``LowerNet`` / ``MiddleNet`` / ``UpperNet``
    part) to ``out_dir/model.onnx`` (int8 MatMul weights when ``quantize``)."""
    import torch

    from models.empathy.network import LowerNet, MiddleNet, UpperNet

    fp32 = out_dir / ("model-fp32.onnx" if quantize else _GRAPH)
    x = torch.ones((2, 8), dtype=torch.long)
    m = torch.ones((2, 8), dtype=torch.long)
    seq = {0: "batch", 1: "width"}
    axes: dict[str, dict[int, str]] = {"attention_mask": seq}
    module: Any
    if isinstance(model, LowerNet):
        module, args, inputs = model.eval(), (x, m), ["input_ids", "attention_mask"]
        names = list(_LOWER_OUTPUTS)
        axes |= {"input_ids": seq, "hidden": seq, "pooled": {0: "batch"}}
    elif isinstance(model, MiddleNet):
        hidden = torch.ones((2, 8, int(model.config.hidden_size)))
        module, args, inputs = model.eval(), (hidden, m), ["hidden_in", "attention_mask"]
        names = list(_LOWER_OUTPUTS)
        axes |= {"hidden_in": seq, "hidden": seq, "pooled": {0: "batch"}}
    else:
        names = list(model.heads.keys())
        module = _tuple_heads(model, names)
        axes |= {k: {0: "batch"} for k in names}
        if isinstance(model, UpperNet):
            hidden = torch.ones((2, 8, int(model.config.hidden_size)))
            args, inputs = (hidden, m), ["hidden", "attention_mask"]
            axes["hidden"] = seq
        else:
            args, inputs = (x, m), ["input_ids", "attention_mask"]
            axes["input_ids"] = seq
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(fp32),
            input_names=inputs,
            output_names=names,
            dynamic_axes=axes,
            opset_version=_OPSET,
            dynamo=False,
        )
    if not quantize:
        return fp32
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = out_dir / _GRAPH
    quantize_dynamic(
        str(fp32), str(path), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"]
    )
    fp32.unlink()
    return path


def open_session(path: Path, threads: int | None = None) -> Any:
    """An ``InferenceSession`` on ``path`` with ``threads`` intra-op threads, idle ones asleep."""
    import onnxruntime as ort
    import torch

    n_threads = max(1, int(threads if threads is not None else torch.get_num_threads()))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = n_threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _open_entry(entry: Path, threads: int | None) -> Any:
    """The session of a verified cache entry, or None (missing; corrupt ones are removed)."""
    graph, meta = entry / _GRAPH, entry / _META
    if not meta.exists():
        return None
    try:
        want = json.loads(meta.read_text(encoding="utf-8"))["sha256"]
        if _sha256(graph) != want:
            raise ValueError("graph does not match its sha256")
        return open_session(graph, threads)
    except Exception as exc:  # noqa: BLE001 - any unreadable entry is rebuilt
        logger.warning("onnx graph cache entry %s is unusable (%s); rebuilding it", entry, exc)
        shutil.rmtree(entry, ignore_errors=True)
        return None


def _write_entry(model: Any, entry: Path, *, quantize: bool) -> None:
    """Export into a temporary sibling directory, then rename it to ``entry`` atomically."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
        graph = export_graph(model, tmp, quantize=quantize)
        meta = {"sha256": _sha256(graph), "quantize": quantize, "created_utc": int(time.time())}
        (tmp / _META).write_text(json.dumps(meta), encoding="utf-8")
        try:
            os.rename(tmp, entry)
        except OSError:
            if not (entry / _META).exists():  # not a lost race: a stale entry without meta
                shutil.rmtree(entry, ignore_errors=True)
                os.rename(tmp, entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _log_built(net: OrtEmpathyNet, quantize: bool, seconds: float, how: str) -> None:
    import onnxruntime as ort

    logger.info(
        "empathy network on onnxruntime %s (%s, %d threads) %s in %.1f s",
        ort.__version__,
        "int8" if quantize else "fp32",
        net.session.get_session_options().intra_op_num_threads,
        how,
        seconds,
    )
