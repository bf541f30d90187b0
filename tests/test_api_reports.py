"""REST v1 reports (SPEC §8.8): `GET /api/v1/reports` and `/api/v1/reports/{name}`, token-scoped to the
token's company, in the §4.2 envelope with cursor paging, CSV; a property test of tenant isolation;
once through a real Waitress server."""

from __future__ import annotations

import csv
import io
import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alxapi.access import tokens
from alxapi.analytics.reports import REPORTS, RunContext, get_report
from alxapi.api.cursors import encode_cursor
from models.analytics import UserTimeDaily

from .support.api_helpers import build_site
from .support.api_server import Server

DAY = 86_400


def get(site, path, token=None, company=1, **params):
    headers = {"Authorization": f"Bearer {token or site.tokens[company]}"} if token is not False else {}
    return site.client.simulate_get(path, params=params or None, headers=headers)


def all_pages(site, name, company, limit, **params) -> list[dict]:
    rows, cursor, seen = [], None, 0
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        r = get(site, f"/api/v1/reports/{name}", company=company, **query)
        assert r.status_code == 200, r.text
        body = r.json
        rows += body["data"]
        seen += 1
        cursor = body["meta"]["next"]
        assert r.headers.get("X-Next-Cursor") == cursor
        if cursor is None:
            return rows
        assert seen < 1000


def expected(site, name, company, **params) -> list[dict]:
    report = get_report(name)
    return [
        dict(zip(report.column_names, r, strict=True))
        for r in report.run(RunContext(company, site.now, site.config), params)
    ]


@pytest.fixture
def site(db_url):
    def extra(b):
        # User 100 of company 1 is also a member of company 2 (with no enrolment there).
        b.member(2, 100)

    site = build_site(db_url, setup=extra, rate_limit=0)
    site.advance(30 * DAY)  # past the grace period
    return site


def test_the_list(site):
    r = get(site, "/api/v1/reports")
    assert r.status_code == 200
    assert [d["name"] for d in r.json["data"]] == [rep.name for rep in REPORTS]
    assert r.json["data"][-1]["parameters"][0]["name"] == "days"
    assert get(site, "/api/v1/reports", token=False).status_code == 401


def test_every_report_pages_to_what_the_report_holds_for_the_company(site):
    UserTimeDaily.create(
        userid=100,
        courseid=10,
        date="2023-12-10",
        duration=60,
        sessions=1,
        events=2,
        interactions=1,
        lastupdated=1,
    )
    UserTimeDaily.create(
        userid=105,
        courseid=10,
        date="2023-12-10",
        duration=90,
        sessions=1,
        events=2,
        interactions=1,
        lastupdated=1,
    )
    for report in REPORTS:
        params = {"from": "2023-12-01", "to": "2023-12-31"} if report.name == "time-spent" else {}
        want = expected(site, report.name, 1, **params)
        for limit in (1, 3, 1000):
            assert all_pages(site, report.name, 1, limit, **params) == json.loads(json.dumps(want)), (
                report.name,
                limit,
            )
    spent = all_pages(site, "time-spent", 1, 10, **{"from": "2023-12-01", "to": "2023-12-31"})
    assert [(r["userid"], r["duration"]) for r in spent] == [(100, 60)]
    assert [
        (r["userid"], r["duration"])
        for r in all_pages(site, "time-spent", 2, 10, **{"from": "2023-12-01", "to": "2023-12-31"})
    ] == [(100, 60), (105, 90)]


def test_envelope_csv_and_errors(site):
    r = get(site, "/api/v1/reports/engagement", limit=2)
    meta = r.json["meta"]
    assert (meta["report"], meta["companyid"], meta["total"], meta["limit"]) == ("engagement", 1, 10, 2)
    assert meta["generated_at"].endswith("Z") and meta["next"]
    first = r.json["data"][0]
    assert first["at_risk"] is True and first["risk_reasons"] == [
        "low_time",
        "inactive",
        "low_completion",
        "low_engagement",
    ]
    assert first["days_since_access"] is None

    text = get(site, "/api/v1/reports/engagement", format="csv", limit=3)
    assert text.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text.text)))
    assert len(rows) == 3 and rows[0]["risk_reasons"] == "low_time,inactive,low_completion,low_engagement"
    assert rows[0]["at_risk"] == "true" and rows[0]["days_since_access"] == ""

    for path, params, status, detail in (
        ("/api/v1/reports/nope", {}, 404, "no report named 'nope'"),
        ("/api/v1/reports/inactive-learners", {"days": "0"}, 400, "between 1 and 3650"),
        ("/api/v1/reports/engagement", {"since": "x"}, 400, "no parameter 'since'"),
        ("/api/v1/reports/engagement", {"limit": "0"}, 400, None),
        ("/api/v1/reports/engagement", {"format": "xml"}, 400, None),
        ("/api/v1/reports/engagement", {"cursor": "nonsense"}, 400, "malformed cursor"),
        (
            "/api/v1/reports/engagement",
            {"cursor": encode_cursor({"r": "engagement", "k": ["a", 1, 2]})},
            400,
            "malformed cursor",
        ),
        (
            "/api/v1/reports/trends",
            {"cursor": encode_cursor({"r": "engagement", "k": [1, 1, 1]})},
            400,
            "malformed cursor",
        ),
    ):
        r = get(site, path, **params)
        assert r.status_code == status, (path, params, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        if detail:
            assert detail in r.json["detail"]
    assert get(site, "/api/v1/reports/engagement", token="0" * 32).status_code == 401


def test_a_forged_cursor_stays_in_the_company(site):
    # The smallest key of company 2 as a cursor for company 1: company 1's rows after it, nothing else.
    cursor = encode_cursor({"r": "engagement", "k": [0, 0, 0]})
    rows = get(site, "/api/v1/reports/engagement", cursor=cursor, limit=1000).json["data"]
    assert {r["companyid"] for r in rows} == {1}


def test_through_a_real_waitress_server(site, db_url, tmp_path):
    server = Server(db_url, tmp_path / "home")
    try:
        conn = server.connection()
        conn.request(
            "GET",
            "/api/v1/reports/course-summary?limit=5",
            headers={"Authorization": f"Bearer {site.tokens[2]}"},
        )
        response = conn.getresponse()
        assert response.status == 200
        body = json.loads(response.read())
    finally:
        assert server.stop() == 0
    assert [r["courseid"] for r in body["data"]] == [10, 11]
    assert [r["learners"] for r in body["data"]] == [6, 6]  # five members and user 100 of company 1


POOL = 6
_examples = itertools.count(1)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    memberships=st.lists(st.sets(st.integers(0, 2), max_size=3), min_size=POOL, max_size=POOL),
    enrolments=st.lists(st.sets(st.sampled_from((10, 11)), max_size=2), min_size=POOL, max_size=POOL),
    days=st.lists(
        st.tuples(st.integers(0, POOL - 1), st.sampled_from((10, 11)), st.integers(1, 5000)), max_size=8
    ),
    limit=st.integers(1, 7),
)
def test_property_a_token_only_sees_its_companys_report_rows(site, memberships, enrolments, days, limit):
    n = next(_examples)
    b = site.b
    companies = [1000 + n * 10 + i for i in range(3)]
    users = [50_000 + n * 100 + i for i in range(POOL)]
    for cid in companies:
        b.company(cid)
    for uid, member_of, courses in zip(users, memberships, enrolments, strict=True):
        b.user(uid)
        for index in sorted(member_of):
            b.member(companies[index], uid)
        for course in sorted(courses):
            b.enrol(uid, course, timecreated=site.now - 40 * DAY)
    for index, course, seconds in days:
        UserTimeDaily.insert(
            userid=users[index],
            courseid=course,
            date="2023-12-20",
            duration=seconds,
            sessions=1,
            events=1,
            interactions=0,
            lastupdated=1,
        ).on_conflict_ignore().execute()
    assert site.sync().status == "success"
    for i, cid in enumerate(companies):
        members = {users[k] for k, m in enumerate(memberships) if i in m}
        token, _ = tokens.create_token(cid, name="t", actor="tests", now=site.now)
        for name in ("engagement", "at-risk", "inactive-learners", "time-spent"):
            params = {"from": "2023-12-01", "to": "2023-12-31"} if name == "time-spent" else {}
            got = all_pages_token(site, token, name, limit, params)
            assert {r["userid"] for r in got} <= members, (name, cid)
            assert got == json.loads(json.dumps(expected(site, name, cid, **params)))
            if name in ("engagement", "at-risk"):
                assert {r["companyid"] for r in got} <= {cid}
        summary = all_pages_token(site, token, "course-summary", limit, {})
        assert sum(r["learners"] for r in summary) == sum(
            len(enrolments[k]) for k, m in enumerate(memberships) if i in m
        )


def all_pages_token(site, token, name, limit, params) -> list[dict]:
    rows, cursor = [], None
    for _ in range(1000):
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        r = get(site, f"/api/v1/reports/{name}", token=token, **query)
        assert r.status_code == 200, r.text
        rows += r.json["data"]
        cursor = r.json["meta"]["next"]
        if cursor is None:
            return rows
    raise AssertionError("paging did not end")
