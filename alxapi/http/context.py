"""What every resource shares: configuration, database, the service, metrics, clock, request log
and the background writer that writes it."""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import peewee

from ..api import requestlog
from ..api.background import BackgroundWriter
from ..api.pipeline import Pipeline
from ..config import Config
from .metrics import Metrics

log = logging.getLogger("alx.api")


@dataclass
class AppContext:
    config: Config
    db: peewee.Database
    pipeline: Pipeline
    metrics: Metrics
    clock: Callable[[], int]
    requests: requestlog.RequestLog  # the request log's rows until the writer writes them
    writer: BackgroundWriter

    def client_ip(self, req) -> str:
        # Waitress rewrites REMOTE_ADDR from X-Forwarded-For only for a configured trusted proxy.
        return (req.remote_addr or "")[:45]

    def known_peer(self, req) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The client's address when it can be known: None when a proxy other than ``trusted_proxy``
        forwarded the request (the address is then the proxy's, e.g. loopback for a local nginx)."""
        forwarded = req.get_header("X-Forwarded-For") or req.get_header("Forwarded")
        if forwarded and not self.config.trusted_proxy:
            return None
        try:
            return ipaddress.ip_address(self.client_ip(req).split("%")[0])
        except ValueError:
            return None

    def finish(self, req, endpoint: str, entry: requestlog.LogEntry) -> None:
        """Record the request: its metrics, and its log row for the background writer."""
        seconds = time.perf_counter() - req.context.started
        entry.response_time_ms = seconds * 1000
        self.metrics.observe(endpoint, entry.http_status, seconds)
        self.requests.add(entry)
        self.writer.after_request(db_reachable=not getattr(req.context, "db_down", False))
        # One plain line per request for the journal: never the query string, never a token.
        log.info(
            "%s %s %s %.1fms %s",
            req.method,
            req.path,
            entry.http_status,
            entry.response_time_ms,
            entry.error_code or "ok",
        )
