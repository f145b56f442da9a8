"""Where data and trained models live.

Precedence: explicit argument > environment (``PROSOCIAL_DATA_DIR``, ``PROSOCIAL_REGISTRY_DIR``,
``PROSOCIAL_CACHE_DIR``) > defaults (``../shared/data`` beside the checkout when it exists;
``var/registry`` in the checkout, which is git-ignored; ``var/cache`` beside it for
machine-local caches).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "default_cache_dir",
    "default_data_dir",
    "default_registry_dir",
    "project_root",
    "resolve_data_dir",
    "resolve_registry_dir",
    "var_dir",
]


def project_root() -> Path:
    """The checkout holding ``pyproject.toml`` (the parent of the ``models`` package)."""
    return Path(__file__).resolve().parent.parent


def var_dir() -> Path:
    """Git-ignored directory for generated state (registry, caches, reports)."""
    return Path(os.environ.get("PROSOCIAL_VAR_DIR", project_root() / "var"))


def default_cache_dir() -> Path:
    """Machine-local caches derived from bundles (exported graphs, fast-path choices):
    ``PROSOCIAL_CACHE_DIR``, else ``var/cache`` beside the default registry."""
    env = os.environ.get("PROSOCIAL_CACHE_DIR")
    if env:
        return Path(env)
    return var_dir() / "cache"


def default_data_dir() -> Path:
    env = os.environ.get("PROSOCIAL_DATA_DIR")
    if env:
        return Path(env)
    return project_root().parent / "shared" / "data"


def default_registry_dir() -> Path:
    env = os.environ.get("PROSOCIAL_REGISTRY_DIR")
    if env:
        return Path(env)
    return var_dir() / "registry"


def resolve_data_dir(arg: str | os.PathLike[str] | None = None) -> Path:
    return Path(arg) if arg else default_data_dir()


def resolve_registry_dir(arg: str | os.PathLike[str] | None = None) -> Path:
    return Path(arg) if arg else default_registry_dir()
