"""``prosocial run``: the live service — all stages in one process, or one stage."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from streaming.clikit import print_json
from streaming.commands.options import add_common, service_settings

__all__ = ["register", "run"]

logger = logging.getLogger(__name__)


def register(sub: Any) -> None:
    from streaming.settings import STAGES

    p = sub.add_parser("run", help="run the service (all stages, or --stage NAME)")
    p.add_argument("--stage", choices=STAGES, help="run only this stage in this process")
    p.add_argument(
        "--metrics-port",
        dest="metrics_port",
        type=int,
        help="serve /healthz and /metrics on this port",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="load settings, open bus/database/models, print health, exit",
    )
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    from streaming.heap import freeze_long_lived
    from streaming.ops import JsonLogFormatter, OpsServer
    from streaming.runtime import (
        StageThreads,
        StopFlag,
        assemble,
        run_stage,
        serve_embedded,
        start_ops,
    )

    settings = service_settings(
        args, metrics_port=args.metrics_port, stages=(args.stage,) if args.stage else None
    )
    if settings.log_json:
        for h in logging.getLogger().handlers:
            h.setFormatter(JsonLogFormatter())
    from models.cpu import configure_torch_threads

    configure_torch_threads(settings.torch_threads)
    stop = StopFlag()
    if not args.check and not args.stage and settings.bus == "kafka":
        # all stages in one process: each stage thread owns its pipeline and bus clients
        threads = StageThreads(settings, stop)
        freeze_long_lived()  # the models are loaded: keep them out of the GC's passes
        for k, v in threads.skipped.items():
            logger.warning("not running %s: %s", k, v)
        ops = None
        if settings.metrics_port is not None:
            ops = OpsServer(
                threads.metrics,
                threads.health,
                host=settings.metrics_host,
                port=settings.metrics_port,
            ).start()
        stop.install()
        try:
            rc = threads.run()
        finally:
            if ops is not None:
                ops.stop()
        if rc:
            logger.critical("a stage thread died: exiting %d for the supervisor to restart", rc)
        else:
            logger.info("stopped cleanly")
        return rc
    p = assemble(settings)
    freeze_long_lived()  # the models are loaded: keep them out of the GC's passes
    for k, v in p.skipped.items():
        logger.warning("not running %s: %s", k, v)
    if args.check:
        print_json(p.health(), default=str)
        p.bus.close()
        return 0
    ops = start_ops(p)
    stop.install()
    try:
        if args.stage:
            run_stage(p, args.stage, stop)
        else:
            serve_embedded(p, stop)
    finally:
        p.bus.close()
        if ops is not None:
            ops.stop()
    logger.info("stopped cleanly")
    return 0
