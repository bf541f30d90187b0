"""Middleware: a database connection per request, security headers, request size limit."""

from __future__ import annotations

import logging
import time

import falcon
import peewee

from models.db import DB_ERRORS

log = logging.getLogger("alx.api")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class DatabaseSession:
    """Take a pooled connection for the request and give it back afterwards (peewee is per thread)."""

    def __init__(self, db: peewee.Database):
        self.db = db

    def process_request(self, req, resp):
        req.context.started = time.perf_counter()
        try:
            self.db.connect(reuse_if_open=True)
        except DB_ERRORS:
            req.context.db_down = True  # resources answer "service unavailable"

    def process_response(self, req, resp, resource, req_succeeded):
        # Back to the pool; the pool drops a connection the server closed instead of keeping it.
        if not self.db.is_closed():
            try:
                self.db.close()
            except DB_ERRORS:
                log.warning("could not return the database connection to the pool", exc_info=True)


class SecurityHeaders:
    _HEADERS = (*SECURITY_HEADERS.items(), ("Server", "alx"))  # pairs: Falcon's quickest set_headers

    def process_response(self, req, resp, resource, req_succeeded):
        resp.set_headers(self._HEADERS)


class BodyLimit:
    """Refuse bodies larger than ``max_bytes`` before anything reads them."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes

    def process_request(self, req, resp):
        length = req.content_length
        req.context.max_body = self.max_bytes  # a chunked body has no length: readers stop at this
        req.context.body_too_large = length is not None and length > self.max_bytes
        if req.context.body_too_large and not req.path.startswith("/webservice/"):
            raise falcon.HTTPContentTooLarge(
                title="Request too large", description=f"bodies are limited to {self.max_bytes} bytes"
            )
