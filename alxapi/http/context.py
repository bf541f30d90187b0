"""What every resource shares: configuration, database, the service, metrics, clock, request log."""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import peewee

from models.db import DB_ERRORS

from ..api import requestlog
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
        """Record the request: metrics always, the log row when the database is reachable."""
        seconds = time.perf_counter() - req.context.started
        entry.response_time_ms = seconds * 1000
        self.metrics.observe(endpoint, entry.http_status, seconds)
        if getattr(req.context, "db_down", False):
            return
        try:
            requestlog.write(entry)
        except DB_ERRORS as exc:
            log.warning(
                "request log not written: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            )
        # One plain line per request for the journal: never the query string, never a token.
        log.info(
            "%s %s %s %.1fms %s",
            req.method,
            req.path,
            entry.http_status,
            entry.response_time_ms,
            entry.error_code or "ok",
        )
