"""The options every service command takes (config file, database, bus, registry) and the
settings they give (arguments > environment > file)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streaming.settings import Settings

__all__ = ["add_common", "service_overrides", "service_settings"]


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config file (settings; args > env > file)")
    p.add_argument("--database-url", dest="database_url", help="SQLAlchemy URL")
    p.add_argument("--bus", choices=["embedded", "kafka"])
    p.add_argument("--kafka-bootstrap", dest="kafka_bootstrap")
    p.add_argument("--registry", dest="registry_dir", help="model registry directory")


def service_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings :func:`add_common`'s options give (None: not given)."""
    return {
        "database_url": args.database_url,
        "bus": args.bus,
        "kafka_bootstrap": args.kafka_bootstrap,
        "registry_dir": args.registry_dir,
    }


def service_settings(args: argparse.Namespace, **more: Any) -> Settings:
    """The settings for a command with :func:`add_common`'s options (and ``more``)."""
    from streaming.settings import load_settings

    return load_settings(args.config, **service_overrides(args), **more)
