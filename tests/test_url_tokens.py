"""Tokens in the URL (setting ``url_tokens``): accepted by default, as SPEC §4.1/§4.2 promise existing
clients (Power BI's Web API credential sends ``api_key`` in the query string; the original plugin's
Postman collection put ``wstoken`` in the URL of its POSTs); refused on both APIs, without looking the
token up, once the operator turns them off."""

from __future__ import annotations

import json

from models.plugin import ApiLog, RequestCounter

from .support.api_helpers import FUNCTION, build_site

V1 = "/api/v1/course-progress"


def moodle_body(**extra) -> dict:
    return {"wsfunction": FUNCTION, "moodlewsrestformat": "json", "limit": 3, **extra}


def last_log() -> ApiLog:
    return ApiLog.select().order_by(ApiLog.id.desc()).first()


def test_tokens_in_the_url_are_accepted_by_default(db_url):
    site = build_site(db_url)
    assert site.config.url_tokens is True
    r = site.call(query={"wstoken": site.tokens[1]}, body=moodle_body())
    assert r.status_code == 200 and len(json.loads(r.text)) == 3
    r = site.client.simulate_get(V1, params={"api_key": site.tokens[1], "limit": 2})
    assert r.status_code == 200 and len(r.json["data"]) == 2


def test_moodle_endpoint_refuses_a_token_in_the_url_when_url_tokens_is_off(db_url):
    site = build_site(db_url, url_tokens=False, api_debug=True, allow_get_method=True)
    token = site.tokens[1]
    before = ApiLog.select().count()
    for method, query, body in (
        ("POST", {"wstoken": token}, moodle_body()),
        ("POST", {"wstoken": token}, moodle_body(wstoken=token)),  # also in the body: the URL leaked it
        ("GET", moodle_body(wstoken=token), None),
    ):
        r = site.call(method=method, query=query, body=body, remote_addr="203.0.113.9")
        assert r.status_code == 200, r.text  # Moodle's errors are HTTP 200
        answer = json.loads(r.text)
        assert answer["errorcode"] == "accessexception", (method, answer)
        assert "url_tokens is off" in answer["debuginfo"] and "POST body" in answer["debuginfo"]
        log = last_log()
        assert (log.error_code, log.token_ref) == ("accessexception", "")  # refused before any lookup
        assert "url_tokens" in log.error_message and token not in log.error_message
    assert ApiLog.select().count() == before + 3
    # Refusals are not failed authentications (no throttle count) and spend no rate-limit budget.
    assert RequestCounter.select().count() == 0
    assert len(site.page(limit=3)) == 3  # the token in the body is served


def test_rest_v1_refuses_api_key_in_the_url_when_url_tokens_is_off(db_url):
    site = build_site(db_url, url_tokens=False)
    token = site.tokens[1]
    for path in (V1, "/api/v1/reports/engagement"):
        r = site.client.simulate_get(path, params={"api_key": token})
        assert r.status_code == 403, (path, r.text)
        assert r.json["code"] == "accessexception"
        assert (last_log().error_code, last_log().token_ref) == ("accessexception", "")
        for headers in ({"Authorization": f"Bearer {token}"}, {"X-API-Key": token}):
            assert site.client.simulate_get(path, headers=headers).status_code == 200, (path, headers)
    # The health endpoint only answers less to such a request: status for strangers, no error.
    r = site.client.simulate_get("/healthz", params={"api_key": token}, remote_addr="203.0.113.9")
    assert (r.status_code, r.json) == (200, {"status": "ok"})
    r = site.client.simulate_get("/healthz", headers={"X-API-Key": token}, remote_addr="203.0.113.9")
    assert "database" in r.json
