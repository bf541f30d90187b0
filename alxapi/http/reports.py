"""REST v1's reports (SPEC §8.8): ``GET /api/v1/reports`` and ``GET /api/v1/reports/{name}``, for the
token's company only, through the same pipeline as the course-progress endpoint."""

from __future__ import annotations

from ..api import reports
from .context import AppContext
from .v1 import generated_at, parse_flag, parse_format, parse_limit, send_page, serve_token_request

LIST_ENDPOINT = "v1_reports"
RUN_ENDPOINT = "v1_report"


class ReportListResource:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    def on_get(self, req, resp):
        def handle(principal, settings, entry, now):
            resp.data, resp.content_type = (
                reports.catalogue(generated_at(now), self.ctx.config),
                "application/json",
            )

        serve_token_request(self.ctx, req, resp, LIST_ENDPOINT, handle)


class ReportResource:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    def on_get(self, req, resp, name: str):
        def handle(principal, settings, entry, now):
            limit = parse_limit(req.get_param("limit"))
            self.ctx.pipeline.check_limit(limit, settings)
            fmt = parse_format(req)
            page = reports.report_page(
                name,
                principal.companyid,
                {k: v for k, v in req.params.items() if isinstance(v, str)},
                limit=limit,
                cursor=req.get_param("cursor"),
                fmt=fmt,
                guard=parse_flag(req.get_param("csv_guard"), "csv_guard"),
                now=now,
                config=self.ctx.config,
                generated_at=generated_at(now),
                actor=f"token {principal.token_ref}",
            )
            entry.record_count = page.records
            send_page(resp, page, fmt, f"{name}.csv")

        serve_token_request(self.ctx, req, resp, RUN_ENDPOINT, handle)
