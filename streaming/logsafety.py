"""Keeping Reddit users' words out of the logs.

The service's own log calls name ids, counts and reasons, never comment text. Two libraries
would log text at debug level: prawcore / asyncprawcore log every request's form data (a
modmail digest quotes comments) and SQLAlchemy's engine logger logs statement parameters
(stored bodies) once the root level is INFO or lower. :func:`install_log_safety` replaces the
former with their size and keeps the latter at WARNING. It is idempotent and runs
where clients and engines are made and where the command line sets up logging.
"""

from __future__ import annotations

import logging

__all__ = ["install_log_safety"]

_REQUEST_LOGGERS = ("prawcore", "asyncprawcore")
_SQL_LOGGERS = ("sqlalchemy.engine", "sqlalchemy.engine.Engine")


class _RequestBodies(logging.Filter):
    """prawcore's ``Data: …`` / ``Params: …`` debug records keep only their size."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg in ("Data: %s", "Params: %s"):
            size = len(str(record.args[0])) if isinstance(record.args, tuple) else 0
            record.msg = str(record.msg).split(":", 1)[0] + ": (%d characters, not logged)"
            record.args = (size,)
        return True


_FILTER = _RequestBodies()


def install_log_safety() -> None:
    for name in _REQUEST_LOGGERS:
        lg = logging.getLogger(name)
        if _FILTER not in lg.filters:
            lg.addFilter(_FILTER)
    for name in _SQL_LOGGERS:
        lg = logging.getLogger(name)
        if lg.level == logging.NOTSET or lg.level < logging.WARNING:
            lg.setLevel(logging.WARNING)
