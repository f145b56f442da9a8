"""Model bundles and the model registry (docs/architecture.md, "Model bundles and the registry").

A *bundle* is a directory holding ``config.json`` (name, version, labels, feature list,
training-data hash, metrics, free-form ``params``) and weight files in safetensors or JSON —
never pickle. ``config.json`` carries a ``files`` manifest (sha256 per file) that
:meth:`Bundle.verify` checks before anything is loaded.

A *registry* is a directory ``<root>/<name>/<version>/`` with a ``<root>/<name>/CURRENT``
pointer file naming the version that serving loads.

Writing goes through :class:`BundleWriter` (used by ``training``)::

    with BundleWriter(registry, "empathy", labels=[...]) as w:
        w.save_tensors("model.safetensors", tensors)
        w.save_json("vocab.json", vocab)
        w.metrics["f1"] = 0.8
    bundle = registry.current("empathy")
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from models.errors import BundleError, BundleMissingError

__all__ = ["TRAIN_HINTS", "Bundle", "BundleWriter", "Registry", "hash_files", "sha256_file"]

logger = logging.getLogger(__name__)

#: The command that produces each bundle name, used in "missing bundle" messages.
TRAIN_HINTS: dict[str, str] = {
    "aux": "prosocial-train aux",
    "trajectory": "prosocial-train trajectory --data DIR",
    "empathy": "prosocial-train empathy",
    "forecaster": "prosocial-train forecaster --data DIR",
}

_FORBIDDEN_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".bin")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def hash_files(paths: Sequence[Path]) -> str:
    """A short content hash over files (e.g. the training data), order-independent."""
    h = hashlib.sha256()
    for p in sorted(Path(x) for x in paths):
        h.update(p.name.encode())
        h.update(sha256_file(p).encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle directory (lazy: files are read by the model that owns the bundle)."""

    path: Path
    config: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.config["name"])

    @property
    def version(self) -> str:
        return str(self.config["version"])

    @property
    def labels(self) -> list[str]:
        return list(self.config.get("labels", []))

    @property
    def features(self) -> list[str]:
        return list(self.config.get("features", []))

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.config.get("params", {}))

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.config.get("metrics", {}))

    def file(self, rel: str) -> Path:
        p = self.path / rel
        if not p.exists():
            raise BundleError(f"bundle {self.name}@{self.version} has no file {rel}")
        return p

    def read_json(self, rel: str) -> Any:
        with open(self.file(rel), encoding="utf-8") as fh:
            return json.load(fh)

    def load_tensors(self, rel: str) -> dict[str, Any]:
        """Tensors of a safetensors file as numpy arrays."""
        from safetensors.numpy import load_file

        return load_file(str(self.file(rel)))

    def verify(self) -> None:
        """Check every manifest file's sha256; raise :class:`BundleError` on mismatch."""
        files = self.config.get("files")
        if not isinstance(files, dict):
            raise BundleError(f"{self.path}: config.json has no files manifest")
        for rel, digest in files.items():
            p = self.path / rel
            if not p.exists():
                raise BundleError(f"{self.path}: missing {rel}")
            if sha256_file(p) != digest:
                raise BundleError(f"{self.path}: {rel} does not match its sha256")

    @classmethod
    def open(cls, path: str | os.PathLike[str], verify: bool = True) -> Bundle:
        path = Path(path)
        cfg_path = path / "config.json"
        if not cfg_path.exists():
            raise BundleError(f"{path} is not a bundle (no config.json)")
        try:
            config = json.loads(cfg_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise BundleError(f"{cfg_path}: invalid JSON: {exc}") from exc
        for key in ("name", "version"):
            if key not in config:
                raise BundleError(f"{cfg_path}: missing {key!r}")
        bundle = cls(path=path, config=config)
        if verify:
            bundle.verify()
        return bundle


class Registry:
    """Versioned bundles with a ``CURRENT`` pointer per model name."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Registry({str(self.root)!r})"

    def versions(self, name: str) -> list[str]:
        d = self.root / name
        if not d.is_dir():
            return []
        return sorted(p.name for p in d.iterdir() if (p / "config.json").exists())

    def current_version(self, name: str) -> str | None:
        ptr = self.root / name / "CURRENT"
        if not ptr.exists():
            return None
        return ptr.read_text(encoding="utf-8").strip() or None

    def has_current(self, name: str) -> bool:
        v = self.current_version(name)
        return v is not None and (self.root / name / v / "config.json").exists()

    def current(self, name: str, verify: bool = True) -> Bundle:
        v = self.current_version(name)
        if v is None or not (self.root / name / v).is_dir():
            raise BundleMissingError(name, str(self.root), TRAIN_HINTS.get(name, ""))
        return Bundle.open(self.root / name / v, verify=verify)

    def get(self, name: str, version: str | None = None, verify: bool = True) -> Bundle:
        if version is None:
            return self.current(name, verify=verify)
        p = self.root / name / version
        if not p.is_dir():
            raise BundleError(f"no bundle {name}@{version} in {self.root}")
        return Bundle.open(p, verify=verify)

    def set_current(self, name: str, version: str) -> None:
        if not (self.root / name / version / "config.json").exists():
            raise BundleError(f"no bundle {name}@{version} in {self.root}")
        ptr = self.root / name / "CURRENT"
        tmp = ptr.with_suffix(".tmp")
        tmp.write_text(version + "\n", encoding="utf-8")
        os.replace(tmp, ptr)
        logger.info("registry %s: %s CURRENT -> %s", self.root, name, version)


def _new_version() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + os.urandom(3).hex()


@dataclass
class BundleWriter:
    """Writes a bundle atomically into a registry and (by default) makes it current."""

    registry: Registry
    name: str
    labels: Sequence[str] = ()
    features: Sequence[str] = ()
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    training_data_hash: str = ""
    make_current: bool = True
    version: str = field(default_factory=_new_version)
    _tmp: Path | None = field(default=None, init=False, repr=False)

    @property
    def dir(self) -> Path:
        if self._tmp is None:
            raise BundleError("BundleWriter used outside its context")
        return self._tmp

    def __enter__(self) -> Self:
        (self.registry.root / self.name).mkdir(parents=True, exist_ok=True)
        self._tmp = Path(
            tempfile.mkdtemp(prefix=f".{self.version}-", dir=self.registry.root / self.name)
        )
        return self

    def save_json(self, rel: str, obj: Any) -> Path:
        p = self.dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "w", encoding="utf-8") as fh:
            json.dump(obj, fh)
        return p

    def save_tensors(self, rel: str, tensors: Mapping[str, Any]) -> Path:
        """Save numpy arrays (or torch tensors) as safetensors."""
        import numpy as np
        from safetensors.numpy import save_file

        arrays = {}
        for k, v in tensors.items():
            if hasattr(v, "detach"):
                v = v.detach().cpu().contiguous().numpy()
            arrays[k] = np.ascontiguousarray(v)
        p = self.dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        save_file(arrays, str(p))
        return p

    def add_file(self, src: str | os.PathLike[str], rel: str | None = None) -> Path:
        src = Path(src)
        dst = self.dir / (rel or src.name)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
        return dst

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tmp = self.dir
        if exc_type is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            return
        files: dict[str, str] = {}
        for p in sorted(tmp.rglob("*")):
            if p.is_file():
                rel = p.relative_to(tmp).as_posix()
                if rel.endswith(_FORBIDDEN_SUFFIXES):
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise BundleError(f"refusing to write pickle-like file {rel} into a bundle")
                files[rel] = sha256_file(p)
        config = {
            "name": self.name,
            "version": self.version,
            "created_utc": int(time.time()),
            "labels": list(self.labels),
            "features": list(self.features),
            "training_data_hash": self.training_data_hash,
            "metrics": self.metrics,
            "params": self.params,
            "files": files,
        }
        with open(tmp / "config.json", "w", encoding="utf-8") as fh:
            json.dump(config, fh, indent=2, sort_keys=True, default=str)
        final = self.registry.root / self.name / self.version
        os.replace(tmp, final)
        self._tmp = final
        logger.info("wrote bundle %s@%s to %s", self.name, self.version, final)
        if self.make_current:
            self.registry.set_current(self.name, self.version)
