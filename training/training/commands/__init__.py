"""Subcommands of ``prosocial-train``; each module defines ``register(subparsers)``."""
