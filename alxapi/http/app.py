"""The app factory: ``create_app(config)`` builds the Falcon WSGI app that `alx serve` runs."""

from __future__ import annotations

import json
import logging
from importlib.metadata import PackageNotFoundError, version

import falcon
import peewee

from models.db import bind, make_database

from .. import clock
from ..api import requestlog
from ..api.background import BackgroundWriter
from ..api.pipeline import Pipeline
from ..config import Config
from .context import AppContext
from .metrics import Metrics
from .middleware import BodyLimit, DatabaseSession, SecurityHeaders
from .moodle_rest import MoodleRestResource
from .openapi import OpenApiResource
from .reports import ReportListResource, ReportResource
from .v1 import CourseProgressResource, HealthResource, MetricsResource

log = logging.getLogger("alx.api")
MAX_BODY_BYTES = 64 * 1024  # the endpoint takes a handful of short parameters


def _problem_serializer(req, resp, exception: falcon.HTTPError) -> None:
    # RFC 9457 (problem details) members, plus ``code``: the error code shared with the Moodle endpoint.
    body = {"title": exception.title or "Error", "status": exception.status_code}
    if exception.description:
        body["detail"] = exception.description
    if exception.code:
        body["code"] = exception.code
    resp.data = json.dumps(body).encode()
    resp.content_type = "application/problem+json"


def _catch_all(req, resp, ex, params):
    """Anything unexpected: logged with its traceback here, never sent to the client."""
    if isinstance(ex, falcon.HTTPError):
        raise ex
    log.exception("unhandled error on %s %s", req.method, req.path)
    raise falcon.HTTPInternalServerError(title="Internal error", description="the error was logged")


def product_version() -> str:
    try:
        return version("alx-report")
    except PackageNotFoundError:
        return "0"


class AlxApp(falcon.App):
    """falcon.App that keeps the shared state (``context``) reachable for `alx serve` and tests."""

    context: AppContext


def create_app(
    config: Config, *, db: peewee.Database | None = None, clock_fn=clock.now, pool_size: int | None = None
) -> AlxApp:
    """Build the API. ``db`` defaults to a pool sized for the server's threads."""
    if db is None:
        db = bind(
            make_database(
                config.database_url,
                pooled=True,
                # One connection per server thread, and one for the background writer.
                max_connections=(pool_size or config.api_threads) + 1,
                lock_timeout=config.db_lock_timeout_seconds,
            ),
            config.table_prefix,
        )
    pipeline = Pipeline(config, db)
    requests = requestlog.RequestLog()
    writer = BackgroundWriter(db, [requests.flush, pipeline.budgets.flush])
    ctx = AppContext(config, db, pipeline, Metrics(), clock_fn, requests, writer)
    app = AlxApp(
        middleware=[DatabaseSession(db), SecurityHeaders(), BodyLimit(MAX_BODY_BYTES)], cors_enable=False
    )
    app.req_options.auto_parse_form_urlencoded = False
    app.req_options.strip_url_path_trailing_slash = True
    app.add_route("/webservice/rest/server.php", MoodleRestResource(ctx))
    app.add_route("/api/v1/course-progress", CourseProgressResource(ctx))
    app.add_route("/api/v1/reports", ReportListResource(ctx))
    app.add_route("/api/v1/reports/{name}", ReportResource(ctx))
    health = HealthResource(ctx)
    app.add_route("/api/v1/health", health)
    app.add_route("/healthz", health)
    app.add_route("/metrics", MetricsResource(ctx))
    app.add_route("/api/v1/openapi.json", OpenApiResource(product_version()))
    app.add_error_handler(Exception, _catch_all)
    app.set_error_serializer(_problem_serializer)
    app.context = ctx
    return app
