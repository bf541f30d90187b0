"""REST v1 (SPEC §4.2): `/api/v1/course-progress` with cursors and a change feed, plus health."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import falcon
import peewee

from models.db import DB_ERRORS
from models.plugin import Heartbeat, SyncRun

from ..api.errors import URL_TOKEN_REFUSED, ApiError
from ..api.pipeline import CSV_GUARDED
from ..api.requestlog import LogEntry
from .context import AppContext

ENDPOINT = "v1_course_progress"
_FLAGS = {"1": True, "true": True, "0": False, "false": False}
_LIMIT = re.compile(r"-?[0-9]{1,12}")


def token_from(req, url_tokens: bool) -> str | None:
    """The token of a v1 request: a header, or ``api_key`` in the query string unless ``url_tokens`` is
    off (then such a request is refused without looking the token up: it has already been written to
    every proxy log on its way, and the client needs to be told to move it)."""
    auth = req.get_header("Authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    header = req.get_header("X-API-Key")
    if header:
        return header
    key = req.get_param("api_key")
    if key is not None and not url_tokens:
        raise ApiError(
            "accessexception", URL_TOKEN_REFUSED.format(where="the Authorization or X-API-Key header")
        )
    return key


def parse_limit(text: str | None) -> int:
    """``limit``: a whole number (its range is checked against max_records by the service)."""
    if text is None:
        return 100
    if not _LIMIT.fullmatch(text):
        raise ApiError("invalidparameter", "limit must be a whole number")
    return int(text)


def problem(err: ApiError) -> falcon.HTTPError:
    headers = {"Retry-After": str(err.retry_after)} if err.retry_after else None
    # What the client did wrong is safe to say; authentication details stay in the log.
    detail = (
        err.debuginfo
        if err.code in ("invalidparameter", "ratelimitexceeded", "unknownreport") and err.debuginfo
        else err.message
    )
    return falcon.HTTPError(
        getattr(falcon, f"HTTP_{err.kind.status}"),
        title=err.kind.title,
        description=detail,
        code=err.code,
        headers=headers,
    )


def parse_flag(value: str | None, name: str) -> bool:
    """An optional boolean query parameter: 1/true/0/false (absent is false)."""
    if value is None:
        return False
    try:
        return _FLAGS[value.lower()]
    except KeyError:
        raise ApiError("invalidparameter", f"{name} must be 1, true, 0 or false") from None


def serve_token_request(ctx: AppContext, req, resp, endpoint: str, handler) -> None:
    """The v1 request pipeline around ``handler(principal, settings, entry, now)``: database state,
    authentication, the daily rate limit, errors as problem+json, the request log and the server
    time header. ``handler`` writes the response body and ``entry.record_count``."""
    now = ctx.clock()
    entry = LogEntry(
        endpoint=endpoint, timecreated=now, ip_address=ctx.client_ip(req), user_agent=req.user_agent or ""
    )
    try:
        if getattr(req.context, "db_down", False):
            raise ApiError("servicetemporarilyunavailable", "the database is unreachable", retry_after=30)
        principal, settings = ctx.pipeline.identify(
            token_from(req, ctx.config.url_tokens), entry.ip_address, now
        )
        entry.identify(principal)
        ctx.pipeline.check_rate_limit(principal, settings, now)
        handler(principal, settings, entry, now)
        resp.set_header("Cache-Control", "no-store")
    except ApiError as err:
        entry.fail(err)
        raise problem(err) from None
    except falcon.HTTPError as err:
        entry.error_code, entry.http_status = "invalidparameter", err.status_code
        raise
    except DB_ERRORS:
        req.context.db_down = True
        entry.error_code, entry.http_status = "servicetemporarilyunavailable", 503
        raise problem(ApiError("servicetemporarilyunavailable", "database error", retry_after=30)) from None
    finally:
        ctx.finish(req, endpoint, entry)
        # Server time including the request-log write (benchmarks and BI clients can read it).
        resp.set_header("X-Response-Time", f"{(time.perf_counter() - req.context.started) * 1000:.3f}ms")


def parse_format(req) -> str:
    fmt = req.get_param("format", default="json")  # "format=" is not a format
    if fmt not in ("json", "csv"):
        raise ApiError("invalidparameter", "format must be json or csv")
    return fmt


def generated_at(now: int) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def send_page(resp, page, fmt: str, filename: str) -> None:
    resp.data, resp.content_type = page.body, page.content_type
    for name, value in (page.headers or {}).items():
        resp.set_header(name, value)
    if fmt != "json":
        resp.downloadable_as = filename


class CourseProgressResource:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    def on_get(self, req, resp):
        def handle(principal, settings, entry, now):
            limit = parse_limit(req.get_param("limit"))
            fmt = parse_format(req)
            if parse_flag(req.get_param("csv_guard"), "csv_guard") and fmt == "csv":
                fmt = CSV_GUARDED
            page = self.ctx.pipeline.v1_page(
                principal,
                settings,
                limit,
                req.get_param("cursor"),
                req.get_param("since"),
                fmt,
                now,
                generated_at(now),
            )
            entry.record_count, entry.cache_hit = page.records, page.cache_hit
            send_page(resp, page, fmt, "course-progress.csv")

        serve_token_request(self.ctx, req, resp, ENDPOINT, handle)


class HealthResource:
    """Status for anyone (load balancers); details for a valid token; internals (the worker's host name,
    the last sync's error text) only from this host, where an operator is."""

    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    def _audience(self, req, now: int, can_authenticate: bool) -> str:
        peer = self.ctx.known_peer(req)
        if peer is not None and peer.is_loopback:
            return "operator"
        try:
            token = token_from(req, self.ctx.config.url_tokens)
            if token and can_authenticate:
                self.ctx.pipeline.authenticate(token, self.ctx.client_ip(req), now)
                return "client"
        except ApiError:
            pass
        return "public"

    def on_get(self, req, resp):
        now = self.ctx.clock()
        resp.set_header("Cache-Control", "no-store")
        body = self._report(now, reachable=not getattr(req.context, "db_down", False))
        if body["status"] != "ok":
            resp.status = falcon.HTTP_503
        audience = self._audience(req, now, can_authenticate=body["status"] == "ok")
        if audience == "public":
            body = {"status": body["status"]}
        elif audience == "client":
            if body["worker"]:
                body["worker"].pop("host")
            if body["last_sync"]:
                body["last_sync"].pop("error")
        resp.media = body

    def _report(self, now: int, reachable: bool) -> dict:
        body: dict = {"status": "ok", "database": {"reachable": False}, "worker": None, "last_sync": None}
        try:
            if not reachable:
                raise peewee.OperationalError("unreachable")
            started = time.perf_counter()
            self.ctx.db.execute_sql("SELECT 1").fetchone()
            body["database"] = {
                "reachable": True,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            beat = (
                Heartbeat.select()
                .where(Heartbeat.component == "worker")
                .order_by(Heartbeat.timebeat.desc())
                .first()
            )
            if beat:
                age = max(now - beat.timebeat, 0)
                # Alive: beating within three heartbeats at the default 30 s cadence.
                body["worker"] = {"host": beat.hostname, "heartbeat_age_seconds": age, "alive": age <= 90}
            run = SyncRun.select().order_by(SyncRun.id.desc()).first()
            if run:
                body["last_sync"] = {
                    "status": run.status,
                    "mode": run.mode,
                    "started": run.timestarted,
                    "finished": run.timefinished,
                    "error": run.error,
                }
        except DB_ERRORS:
            body["status"] = "unavailable"
        return body


class MetricsResource:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    def on_get(self, req, resp):
        peer = self.ctx.known_peer(req)
        if peer is None or not any(peer in net for net in self.ctx.config.metrics_networks):
            raise falcon.HTTPForbidden(
                title="metrics are not served to this address", description="see the metrics_allow setting"
            )
        runs: dict[str, int] = {}
        try:
            if not getattr(req.context, "db_down", False):
                q = (
                    SyncRun.select(SyncRun.status, peewee.fn.COUNT(SyncRun.id))
                    .group_by(SyncRun.status)
                    .tuples()
                )
                runs = dict(q)
        except DB_ERRORS:
            runs = {}
        resp.text = self.ctx.metrics.render(self.ctx.pipeline.cache.stats, runs)
        resp.content_type = "text/plain; version=0.0.4; charset=utf-8"
