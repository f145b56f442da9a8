"""The empathy network on ONNX Runtime with int8 weights: the CPU fast path without native bf16.

:meth:`OrtEmpathyNet.from_torch` exports a loaded :class:`~models.empathy.network.EmpathyNet`
to ONNX (TorchScript exporter, dynamic batch and width), quantises the weights of its matrix
products to int8 (``onnxruntime.quantization.quantize_dynamic``: per-tensor int8 weights,
activations quantised per batch at run time; the heads stay fp32, as in the torch int8 path)
and opens an ``InferenceSession``. The ONNX files live in a temporary directory only while the
session is built: nothing is written next to the bundle, so a read-only registry works.

Measured on an AVX2-only EPYC (2 threads, batch 64, 19 tokens, same run): torch fp32 176
sentences/s, torch dynamic int8 233, ONNX Runtime fp32 259, ONNX Runtime int8 349.
``bench/empathy.py`` measures it on real comments beside the other modes.

Calling the object mirrors ``EmpathyNet.__call__``: ``(input_ids, attention_mask)`` torch
tensors in, ``{head: logits}`` torch tensors out, so :class:`~models.empathy.classifier.
EmpathyClassifier` runs it like any other mode. Idle intra-op threads sleep instead of spinning
(``session.intra_op.allow_spinning = 0``), the ONNX Runtime twin of ``OMP_WAIT_POLICY=PASSIVE``
(:mod:`models.cpu`), because a scorer shares its cores with the broker and the database.
"""

from __future__ import annotations

import logging
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

__all__ = ["OrtEmpathyNet", "onnxruntime_available"]

logger = logging.getLogger(__name__)

_OPSET = 17


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


class OrtEmpathyNet:
    """An int8 ONNX Runtime session standing in for an ``EmpathyNet`` at inference."""

    def __init__(self, session: Any, head_names: list[str], heads: Any) -> None:
        self.session = session
        self.head_names = list(head_names)
        #: The torch heads (``out_features`` per head), as on ``EmpathyNet.heads``.
        self.heads = heads

    @classmethod
    def from_torch(
        cls, model: Any, *, threads: int | None = None, quantize: bool = True
    ) -> OrtEmpathyNet:
        """Export ``model`` (an ``EmpathyNet`` in eval mode), quantise it (``quantize``) and
        open a session with ``threads`` intra-op threads (default: torch's thread count)."""
        import onnxruntime as ort
        import torch

        names = list(model.heads.keys())
        n_threads = max(1, int(threads if threads is not None else torch.get_num_threads()))
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="empathy-onnx-") as tmp:
            fp32 = Path(tmp) / "model.onnx"
            x = torch.ones((2, 8), dtype=torch.long)
            m = torch.ones((2, 8), dtype=torch.long)
            axes = {
                "input_ids": {0: "batch", 1: "width"},
                "attention_mask": {0: "batch", 1: "width"},
            }
            axes |= {k: {0: "batch"} for k in names}
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    _tuple_heads(model, names),
                    (x, m),
                    str(fp32),
                    input_names=["input_ids", "attention_mask"],
                    output_names=names,
                    dynamic_axes=axes,
                    opset_version=_OPSET,
                    dynamo=False,
                )
            path = fp32
            if quantize:
                from onnxruntime.quantization import QuantType, quantize_dynamic

                path = Path(tmp) / "model-int8.onnx"
                quantize_dynamic(
                    str(fp32),
                    str(path),
                    weight_type=QuantType.QInt8,
                    op_types_to_quantize=["MatMul"],
                )
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = n_threads
            opts.inter_op_num_threads = 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        logger.info(
            "empathy network on onnxruntime %s (%s, %d threads) built in %.1f s",
            ort.__version__,
            "int8" if quantize else "fp32",
            n_threads,
            time.perf_counter() - t0,
        )
        return cls(session, names, model.heads)

    def __call__(self, input_ids: Any, attention_mask: Any) -> dict[str, Any]:
        import torch

        outs = self.session.run(
            self.head_names,
            {
                "input_ids": input_ids.numpy().astype("int64", copy=False),
                "attention_mask": attention_mask.numpy().astype("int64", copy=False),
            },
        )
        return {k: torch.from_numpy(v) for k, v in zip(self.head_names, outs)}
