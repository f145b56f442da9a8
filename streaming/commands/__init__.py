"""Subcommands of the ``prosocial`` CLI.

Each module here defines ``register(subparsers) -> None`` which adds one (or more) parsers
and sets ``func=callable(args) -> int`` as their default. Modules are discovered, so adding a
command is adding a module.
"""
