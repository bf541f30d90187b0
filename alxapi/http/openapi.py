"""The OpenAPI 3 document of REST v1 (a test keeps it true to the routes and parameters)."""

from __future__ import annotations

PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/problem+json": {"schema": PROBLEM}}}


def document(version: str) -> dict:
    row = {
        "type": "object",
        "required": ["userid", "courseid"],
        "properties": {
            "userid": {"type": "integer"}, "courseid": {"type": "integer"},
            "firstname": {"type": "string"}, "lastname": {"type": "string"}, "email": {"type": "string"},
            "username": {"type": "string"}, "coursename": {"type": "string"},
            "timecompleted": {"type": "string", "description": "YYYY-MM-DD HH:MM:SS in the configured zone, or ''"},
            "timecompleted_unix": {"type": "integer"},
            "timestarted": {"type": "string"}, "timestarted_unix": {"type": "integer"},
            "percentage": {"type": "number"},
            "status": {"type": "string", "enum": ["completed", "in_progress", "not_started"]},
            "deleted": {"type": "boolean", "description": "present (true) only for removals in a change feed"},
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "ALX Report API", "version": version,
                 "description": "Course progress of IOMAD companies for BI tools. The Moodle-compatible "
                                "endpoint /webservice/rest/server.php is documented in the README."},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key"},
            },
            "schemas": {
                "Row": row,
                "Problem": {"type": "object", "properties": {
                    "title": {"type": "string"}, "description": {"type": "string"}, "code": {"type": "string"}}},
            },
        },
        "security": [{"bearer": []}, {"apiKeyHeader": []}, {"apiKeyQuery": []}],
        "paths": {
            "/api/v1/course-progress": {"get": {
                "summary": "Course progress rows of the token's company",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 100},
                     "description": "rows per page, at most the company's max_records"},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"},
                     "description": "meta.next of the previous page"},
                    {"name": "since", "in": "query", "schema": {"type": "string"},
                     "description": "meta.next_since of an earlier read: only rows changed since, removals included"},
                    {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv"],
                                                                 "default": "json"}},
                ],
                "responses": {
                    "200": {"description": "a page of rows", "content": {
                        "application/json": {"schema": {"type": "object", "required": ["data", "meta"], "properties": {
                            "data": {"type": "array", "items": {"$ref": "#/components/schemas/Row"}},
                            "meta": {"type": "object", "required": ["total", "limit", "next", "next_since",
                                                                    "generated_at"], "properties": {
                                "total": {"type": "integer"}, "limit": {"type": "integer"},
                                "next": {"type": "string", "nullable": True}, "next_since": {"type": "string"},
                                "generated_at": {"type": "string", "format": "date-time"}}}}}},
                        "text/csv": {"schema": {"type": "string"}}}},
                    "400": _error("invalid parameter"), "401": _error("missing or invalid token"),
                    "403": _error("token expired, revoked or not allowed from this address"),
                    "429": _error("daily rate limit exceeded or too many failed authentications"),
                    "503": _error("database unavailable"),
                },
            }},
            "/api/v1/health": {"get": {"summary": "database, worker and last sync status", "security": [],
                                       "responses": {"200": {"description": "healthy", "content": {
                                           "application/json": {"schema": {"type": "object"}}}},
                                           "503": {"description": "database unreachable", "content": {
                                               "application/json": {"schema": {"type": "object"}}}}}}},
            "/healthz": {"get": {"summary": "same as /api/v1/health", "security": [],
                                 "responses": {"200": {"description": "healthy", "content": {
                                     "application/json": {"schema": {"type": "object"}}}},
                                     "503": {"description": "database unreachable", "content": {
                                         "application/json": {"schema": {"type": "object"}}}}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "security": [],
                                 "responses": {"200": {"description": "text exposition format", "content": {
                                     "text/plain": {"schema": {"type": "string"}}}}}}},
        },
    }


class OpenApiResource:
    def __init__(self, version: str):
        self.doc = document(version)

    def on_get(self, req, resp):
        resp.media = self.doc
