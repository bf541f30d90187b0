"""The OpenAPI 3 document of REST v1 (tests keep it true to the routes, parameters and responses)."""

from __future__ import annotations

from ..access.settings import SCALARS
from ..analytics.reports import REPORTS

PROBLEM = {"$ref": "#/components/schemas/Problem"}
HEALTH = {"$ref": "#/components/schemas/Health"}
MAX_LIMIT = SCALARS["max_records"][2]  # no company can allow more rows per page than this


PAGE_PARAMETERS = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100},
        "description": "rows per page, at most the company's max_records (default 1000)",
    },
    {
        "name": "cursor",
        "in": "query",
        "schema": {"type": "string", "maxLength": 512},
        "description": "meta.next of the previous page",
    },
    {
        "name": "format",
        "in": "query",
        "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"},
    },
    {
        "name": "csv_guard",
        "in": "query",
        "schema": {"type": "boolean", "default": False},
        "description": "CSV only: prefix values beginning with = + - @ tab or CR with ' "
        "(for CSV opened in a spreadsheet; BI tools want the values as stored)",
    },
]
REPORT_NAMES = tuple(r.name for r in REPORTS)
REPORT_DEFINITION = {
    "type": "object",
    "required": ["name", "title", "columns", "parameters"],
    "properties": {
        "name": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "columns": {"type": "array", "items": {"type": "object"}},
        "parameters": {"type": "array", "items": {"type": "object"}},
    },
}


def _envelope(items: dict, meta: dict) -> dict:
    """The §4.2 body: ``{"data": [items…], "meta": {…}}``."""
    return {
        "type": "object",
        "required": ["data", "meta"],
        "properties": {"data": {"type": "array", "items": items}, "meta": meta},
    }


def _token_errors() -> dict:
    """The answers every token-authenticated operation may give besides its own."""
    return {
        "401": _error("missing or invalid token"),
        "403": _error("token expired, revoked, not allowed from this address, or without company"),
        "429": _error("daily rate limit exceeded or too many failed authentications", retry_after=True),
        "503": _error("database unavailable", retry_after=True),
    }


def _error(description: str, retry_after: bool = False) -> dict:
    response = {"description": description, "content": {"application/problem+json": {"schema": PROBLEM}}}
    if retry_after:
        response["headers"] = {
            "Retry-After": {
                "description": "seconds to wait before trying again",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return response


def _health(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": HEALTH}}}


def document(version: str) -> dict:
    row = {
        "type": "object",
        "required": ["userid", "courseid"],
        "description": "Fields switched off for the company are absent; a removal in a change feed has only "
        "userid, courseid and deleted.",
        "properties": {
            "userid": {"type": "integer"},
            "courseid": {"type": "integer"},
            "firstname": {"type": "string"},
            "lastname": {"type": "string"},
            "email": {"type": "string"},
            "username": {"type": "string"},
            "coursename": {"type": "string"},
            "timecompleted": {
                "type": "string",
                "description": "YYYY-MM-DD HH:MM:SS in the configured zone, or ''",
            },
            "timecompleted_unix": {"type": "integer"},
            "timestarted": {"type": "string"},
            "timestarted_unix": {"type": "integer"},
            "percentage": {"type": "number", "minimum": 0, "maximum": 100},
            "status": {"type": "string", "enum": ["completed", "in_progress", "not_started"]},
            "deleted": {
                "type": "boolean",
                "enum": [True],
                "description": "present (true) only for removals in a change feed",
            },
        },
    }
    health = {
        "type": "object",
        "description": "status for anyone; database, worker and last_sync for a valid token; the worker's "
        "host and the last sync's error only to a request made on the API's own host (loopback, not proxied)",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "database": {
                "type": "object",
                "required": ["reachable"],
                "properties": {"reachable": {"type": "boolean"}, "latency_ms": {"type": "number"}},
            },
            "worker": {
                "type": "object",
                "nullable": True,
                "description": "the latest worker heartbeat",
                "properties": {
                    "host": {"type": "string"},
                    "heartbeat_age_seconds": {"type": "integer"},
                    "alive": {"type": "boolean"},
                },
            },
            "last_sync": {
                "type": "object",
                "nullable": True,
                "properties": {
                    "status": {"type": "string"},
                    "mode": {"type": "string"},
                    "started": {"type": "integer"},
                    "finished": {"type": "integer"},
                    "error": {"type": "string", "nullable": True},
                },
            },
        },
    }
    cursor_headers = {
        "X-Next-Cursor": {"description": "meta.next (absent on the last page)", "schema": {"type": "string"}},
        "X-Next-Since": {"description": "meta.next_since", "schema": {"type": "string"}},
        "X-Response-Time": {
            "description": "time the server spent on the request, e.g. 0.812ms",
            "schema": {"type": "string", "pattern": "^[0-9]+\\.[0-9]{3}ms$"},
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "ALX Report API",
            "version": version,
            "description": "Course progress of IOMAD companies for BI tools. The Moodle-compatible "
            "endpoint /webservice/rest/server.php is documented in the README.",
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "apiKeyQuery": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "api_key",
                    "description": "for clients that cannot send a header (Power BI's Web API credential); "
                    "refused with 403 when the server's url_tokens setting is off",
                },
            },
            "schemas": {
                "Row": row,
                "Health": health,
                "Problem": {
                    "type": "object",
                    "required": ["title", "status"],
                    "properties": {
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "code": {
                            "type": "string",
                            "description": "the error code shared with the Moodle endpoint",
                        },
                    },
                },
            },
        },
        "security": [{"bearer": []}, {"apiKeyHeader": []}, {"apiKeyQuery": []}],
        "paths": {
            "/api/v1/course-progress": {
                "get": {
                    "summary": "Course progress rows of the token's company",
                    "operationId": "getCourseProgress",
                    "parameters": [
                        *PAGE_PARAMETERS[:2],
                        {
                            "name": "since",
                            "in": "query",
                            "schema": {"type": "string", "maxLength": 512},
                            "description": "meta.next_since of an earlier read: only rows changed since, removals included",
                        },
                        *PAGE_PARAMETERS[2:],
                    ],
                    "responses": {
                        "200": {
                            "description": "a page of rows",
                            "headers": cursor_headers,
                            "content": {
                                "application/json": {
                                    "schema": _envelope(
                                        {"$ref": "#/components/schemas/Row"},
                                        {
                                            "type": "object",
                                            "required": [
                                                "total",
                                                "limit",
                                                "next",
                                                "next_since",
                                                "generated_at",
                                            ],
                                            "properties": {
                                                "total": {
                                                    "type": "integer",
                                                    "minimum": 0,
                                                    "description": "rows in the whole read, counted on its first page",
                                                },
                                                "limit": {"type": "integer"},
                                                "next": {"type": "string", "nullable": True},
                                                "next_since": {"type": "string"},
                                                "generated_at": {"type": "string", "format": "date-time"},
                                            },
                                        },
                                    )
                                },
                                "text/csv": {"schema": {"type": "string"}},
                            },
                        },
                        "400": _error("invalid parameter (limit, cursor, since or format)"),
                        **_token_errors(),
                    },
                }
            },
            "/api/v1/reports": {
                "get": {
                    "summary": "The reports a token may run (SPEC §8.4)",
                    "operationId": "listReports",
                    "responses": {
                        "200": {
                            "description": "the reports with their columns and parameters",
                            "content": {
                                "application/json": {
                                    "schema": _envelope(REPORT_DEFINITION, {"type": "object"})
                                }
                            },
                        },
                        **_token_errors(),
                    },
                }
            },
            "/api/v1/reports/{name}": {
                "get": {
                    "summary": "One report's rows for the token's company, keyset-paged",
                    "operationId": "runReport",
                    "parameters": [
                        {
                            "name": "name",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": list(REPORT_NAMES)},
                        },
                        *PAGE_PARAMETERS,
                        {
                            "name": "from",
                            "in": "query",
                            "schema": {"type": "string", "format": "date"},
                            "description": "time-spent: first local date (default: the analytics window's first)",
                        },
                        {
                            "name": "to",
                            "in": "query",
                            "schema": {"type": "string", "format": "date"},
                            "description": "time-spent: last local date (default: today)",
                        },
                        {
                            "name": "days",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 3650, "default": 30},
                            "description": "inactive-learners: days without access",
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "a page of the report's rows (columns: GET /api/v1/reports)",
                            "headers": {"X-Next-Cursor": cursor_headers["X-Next-Cursor"]},
                            "content": {
                                "application/json": {
                                    "schema": _envelope(
                                        {"type": "object"},
                                        {
                                            "type": "object",
                                            "required": [
                                                "report",
                                                "companyid",
                                                "total",
                                                "limit",
                                                "next",
                                                "generated_at",
                                            ],
                                            "properties": {
                                                "report": {"type": "string"},
                                                "companyid": {"type": "integer"},
                                                "total": {"type": "integer", "minimum": 0},
                                                "limit": {"type": "integer"},
                                                "next": {"type": "string", "nullable": True},
                                                "generated_at": {"type": "string", "format": "date-time"},
                                            },
                                        },
                                    )
                                },
                                "text/csv": {"schema": {"type": "string"}},
                            },
                        },
                        "400": _error("invalid parameter (a report parameter, limit, cursor or format)"),
                        **_token_errors(),
                        "404": _error("no report of that name"),
                    },
                }
            },
            "/api/v1/health": {
                "get": {
                    "summary": "database, worker and last sync status",
                    "security": [{}, {"bearer": []}, {"apiKeyHeader": []}],
                    "operationId": "getHealth",
                    "responses": {"200": _health("healthy"), "503": _health("database unreachable")},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "same as /api/v1/health",
                    "security": [{}, {"bearer": []}, {"apiKeyHeader": []}],
                    "operationId": "getHealthz",
                    "responses": {"200": _health("healthy"), "503": _health("database unreachable")},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "security": [],
                    "operationId": "getMetrics",
                    "responses": {
                        "200": {
                            "description": "text exposition format 0.0.4",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "this document",
                    "security": [],
                    "operationId": "getOpenApi",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3 document",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
    }


class OpenApiResource:
    def __init__(self, version: str):
        self.doc = document(version)

    def on_get(self, req, resp):
        resp.media = self.doc
