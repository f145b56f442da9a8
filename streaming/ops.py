"""Operations: Prometheus metrics, ``/healthz`` and structured logs (``deploy/README.md``).

:class:`StageMetrics` holds one process's counters (a private ``CollectorRegistry``, so tests
and several pipelines in one process do not collide). :class:`OpsServer` serves
``/metrics`` (Prometheus text) and ``/healthz`` (JSON: ok, stages, lag, model versions).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["JsonLogFormatter", "OpsServer", "StageMetrics"]

logger = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class StageMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events_in = Counter("prosocial_events_in", "records consumed", ["stage"], registry=r)
        self.events_out = Counter(
            "prosocial_events_out", "records produced/stored", ["stage"], registry=r
        )
        self.dead_letters = Counter(
            "prosocial_dead_letters", "records dead-lettered", ["stage", "reason"], registry=r
        )
        self.lag = Gauge("prosocial_consumer_lag", "uncommitted records", ["stage"], registry=r)
        self.latency = Histogram(
            "prosocial_latency_seconds",
            "ingest → stored suggestion latency",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "prosocial_batch_seconds",
            "time to handle one batch",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.model_info = Gauge(
            "prosocial_model_info",
            "loaded model bundle versions (1)",
            ["model", "version"],
            registry=r,
        )
        self.last_batch = Gauge(
            "prosocial_last_batch_timestamp", "wall time of last batch", ["stage"], registry=r
        )

    def set_model(self, model: str, version: str | None) -> None:
        self.model_info.labels(model=model, version=version or "missing").set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class OpsServer:
    """``/healthz`` and ``/metrics`` on a port (0 = any free port; see :attr:`port`)."""

    def __init__(
        self,
        metrics: StageMetrics,
        health: Callable[[], dict[str, Any]],
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.metrics = metrics
        self.health = health
        ops = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/metrics"):
                    body, ctype, code = ops.metrics.render(), "text/plain; version=0.0.4", 200
                elif self.path.startswith("/healthz"):
                    h = ops.health()
                    body = json.dumps(h).encode()
                    ctype, code = "application/json", 200 if h.get("ok") else 503
                else:
                    body, ctype, code = b"not found", "text/plain", 404
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt: str, *args: Any) -> None:
                logger.debug("ops http: " + fmt, *args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="ops-http"
        )

    def start(self) -> OpsServer:
        self._thread.start()
        logger.info("ops server on port %d (/healthz, /metrics)", self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line; ``extra={"topic":…, "partition":…, "offset":…}`` kept."""

    _EXTRA = ("stage", "topic", "partition", "offset", "key", "reason")

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(time.time(), 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k in self._EXTRA:
            if hasattr(record, k):
                out[k] = getattr(record, k)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)
