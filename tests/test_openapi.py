"""`/api/v1/openapi.json` (SPEC §4.2): a valid OpenAPI 3 document that matches the app — its routes,
the parameters the resources read, and (by a bounded schemathesis run) its responses."""

from __future__ import annotations

import falcon
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .support.api_helpers import build_site

SPEC = "/api/v1/openapi.json"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def site(tmp_path):
    return build_site(f"sqlite:///{tmp_path / 'moodle.sqlite3'}", rate_limit=0)


def routes(app: falcon.App) -> dict[str, set[str]]:
    """Every URI template of the app's router with the methods its resource implements."""
    found: dict[str, set[str]] = {}

    def walk(nodes):
        for node in nodes:
            if node.resource is not None:
                found[node.uri_template] = {m for m in HTTP_METHODS if hasattr(node.resource, f"on_{m}")}
            walk(node.children)

    walk(app._router._roots)
    return found


def test_document_is_valid_openapi_3(site):
    r = site.client.simulate_get(SPEC)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json
    assert doc["openapi"].startswith("3.")
    validate(doc)  # raises on any violation of the OpenAPI 3.0 schema
    assert doc["info"]["version"]
    ids = [op["operationId"] for path in doc["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))


def test_documented_routes_exist_and_api_routes_are_documented(site):
    doc = site.client.simulate_get(SPEC).json
    app_routes = routes(site.app)
    documented = {path: {m for m in ops if m in HTTP_METHODS} for path, ops in doc["paths"].items()}
    for path, methods in documented.items():
        assert path in app_routes, f"{path} is documented but not routed"
        assert methods == app_routes[path], f"{path}: documented {methods}, implemented {app_routes[path]}"
    for path in app_routes:
        if path.startswith("/api/"):
            assert path in documented, f"{path} is routed but not documented"
    # The Moodle endpoint is described in the README, not here; everything else is documented.
    assert set(app_routes) - set(documented) == {"/webservice/rest/server.php"}
    # And each documented path answers (no 404) through the real app.
    for path in documented:
        assert site.client.simulate_get(path).status_code != 404, path


def test_documented_parameters_are_what_the_resource_reads(site, monkeypatch):
    doc = site.client.simulate_get(SPEC).json
    op = doc["paths"]["/api/v1/course-progress"]["get"]
    documented = {p["name"] for p in op["parameters"] if p["in"] == "query"}
    schemes = doc["components"]["securitySchemes"]
    auth_query = {s["name"] for s in schemes.values() if s["type"] == "apiKey" and s["in"] == "query"}
    auth_headers = {
        s["name"].lower() for s in schemes.values() if s["type"] == "apiKey" and s["in"] == "header"
    }
    auth_headers |= {"authorization"} if any(s["type"] == "http" for s in schemes.values()) else set()

    read_params: set[str] = set()
    read_headers: set[str] = set()
    real_get_param, real_get_header = falcon.Request.get_param, falcon.Request.get_header

    def get_param(self, name, *args, **kwargs):
        read_params.add(name)
        return real_get_param(self, name, *args, **kwargs)

    def get_header(self, name, *args, **kwargs):
        read_headers.add(name.lower())
        return real_get_header(self, name, *args, **kwargs)

    monkeypatch.setattr(falcon.Request, "get_param", get_param)
    monkeypatch.setattr(falcon.Request, "get_header", get_header)
    token = site.tokens[1]
    client = site.client
    first = client.simulate_get("/api/v1/course-progress", params={"api_key": token, "limit": 3}).json["meta"]
    client.simulate_get(
        "/api/v1/course-progress",
        params={"limit": 3, "cursor": first["next"], "format": "csv"},
        headers={"X-API-Key": token},
    )
    client.simulate_get(
        "/api/v1/course-progress",
        params={"since": first["next_since"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    for name in read_params:
        assert name in documented | auth_query, f"the resource reads the undocumented parameter {name}"
    assert read_params >= documented, f"documented but never read: {documented - read_params}"
    assert read_headers & (auth_headers | {"authorization"}) == auth_headers
    # Every documented parameter's schema says what the resource accepts.
    schemas = {p["name"]: p["schema"] for p in op["parameters"]}
    assert schemas["limit"]["default"] == 100 and schemas["limit"]["minimum"] == 1
    assert set(schemas["format"]["enum"]) == {"json", "csv"}


def test_documented_statuses_cover_what_the_endpoint_answers(site):
    doc = site.client.simulate_get(SPEC).json
    documented = set(doc["paths"]["/api/v1/course-progress"]["get"]["responses"])
    assert {"200", "400", "401", "403", "429", "503"} <= documented


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.mark.slow
def test_schemathesis_fuzz(site):
    """A bounded property-based run: no 5xx, and every response matches the document."""
    schema = schemathesis.openapi.from_wsgi(SPEC, site.app)
    auth = {"Authorization": f"Bearer {site.tokens[1]}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/v1/course-progress", "/api/v1/health", "/metrics"}
    calls = {"n": 0}
    for operation in operations:
        modes = [GenerationMode.POSITIVE]
        if operation.path == "/api/v1/course-progress":
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            examples = 50 if operation.path == "/api/v1/course-progress" else 5
            checks = CHECKS + ([negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])
            fuzz(operation.as_strategy(generation_mode=mode), examples, checks, auth, calls)
    assert calls["n"] >= 60
    assert {200, 400} <= calls["/api/v1/course-progress"], calls  # valid pages and refused input both seen


def fuzz(strategy, examples: int, checks: list, headers: dict, calls: dict) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        calls["n"] += 1
        response = case.call_and_validate(headers=headers, checks=checks)
        calls.setdefault(case.operation.path, set()).add(response.status_code)

    run()
