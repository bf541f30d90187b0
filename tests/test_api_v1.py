"""REST v1 (SPEC §4.2): `/api/v1/course-progress`, health and metrics, through Falcon's TestClient on
every backend. Paging and the change feed are checked against the reporting table itself, also while
syncs change the data between pages."""

from __future__ import annotations

import base64
import csv
import io
import json
import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from alxapi.access import settings as company_settings
from alxapi.access import tokens
from alxapi.api import render
from alxapi.api.cursors import decode_cursor, encode_cursor
from alxapi.api.feed import FIELDS
from alxapi.http.app import create_app
from alxapi.http.middleware import SECURITY_HEADERS
from alxapi.timefmt import DateFormatter
from models.db import make_database
from models.iomad import Company
from models.plugin import ApiLog, Heartbeat, Reporting, SyncRun

from .support.api_helpers import NOW, build_site

URL = "/api/v1/course-progress"
PROBLEM = "application/problem+json"


def get(site, token=None, company: int = 1, path: str = URL, how: str = "bearer", remote_addr=None, **params):
    token = site.tokens[company] if token is None else token
    headers = {}
    if token is not False:
        if how == "bearer":
            headers["Authorization"] = f"Bearer {token}"
        elif how == "header":
            headers["X-API-Key"] = token
        else:
            params["api_key"] = token
    extra = {"remote_addr": remote_addr} if remote_addr else {}
    return site.client.simulate_get(path, params=params or None, headers=headers, **extra)


def keys(data: list[dict]) -> list[tuple[int, int]]:
    return [(d["userid"], d["courseid"]) for d in data]


def live_keys(company: int) -> set[tuple[int, int]]:
    q = (
        Reporting.select(Reporting.userid, Reporting.courseid)
        .where((Reporting.companyid == company) & (Reporting.is_deleted == 0))
        .tuples()
    )
    return {(int(u), int(c)) for u, c in q}


def read_all(site, company: int = 1, limit: int = 3, between=None, max_pages: int = 200, **params):
    """Follow meta.next until null; ``between(i)`` runs after page i. Returns (rows, first page's meta)."""
    rows, first, cursor = [], None, None
    for i in range(max_pages):
        extra = dict(params, limit=limit)
        if cursor:
            extra["cursor"] = cursor
        r = get(site, company=company, **extra)
        assert r.status_code == 200, r.text
        body = r.json
        first = first or body["meta"]
        assert body["meta"]["total"] == first["total"]  # a read's total is counted once, at its start
        rows += body["data"]
        cursor = body["meta"]["next"]
        if cursor is None:
            return rows, first
        assert len(body["data"]) == limit
        if between:
            between(i)
    raise AssertionError("paging did not end")


def assert_problem(r, status: int, code: str | None = None):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = json.loads(r.text)
    assert body["title"] and body["status"] == status
    if code:
        assert body["code"] == code
    assert "Traceback" not in r.text
    return body


def cursor_of(state) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


# -- authentication and the envelope ---------------------------------------------------------------
def test_auth_bearer_header_and_query_and_tenant_isolation(db_url):
    site = build_site(db_url)
    expected = sorted(live_keys(1))
    for how in ("bearer", "header", "query"):
        r = get(site, how=how, limit=100)
        assert r.status_code == 200, (how, r.text)
        assert keys(r.json["data"]) == expected
    other = get(site, company=2, limit=100).json["data"]
    assert sorted(keys(other)) == sorted(live_keys(2)) and not set(keys(other)) & set(expected)
    # "bearer" is case-insensitive; a token with surrounding spaces still works.
    r = site.client.simulate_get(URL, headers={"Authorization": f"bearer  {site.tokens[1]} "})
    assert r.status_code == 200


def test_envelope(db_url):
    site = build_site(db_url)
    site.clock["now"] = NOW + 3661
    r = get(site, limit=4)
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"
    body = r.json
    assert set(body) == {"data", "meta"}
    meta = body["meta"]
    assert set(meta) == {"total", "limit", "next", "next_since", "generated_at"}
    assert meta["total"] == len(live_keys(1)) == 10
    assert meta["limit"] == 4 and len(body["data"]) == 4
    assert isinstance(meta["next"], str) and isinstance(meta["next_since"], str)
    assert r.headers["x-next-cursor"] == meta["next"] and r.headers["x-next-since"] == meta["next_since"]
    generated = datetime.fromisoformat(meta["generated_at"])
    assert generated.utcoffset().total_seconds() == 0 and meta["generated_at"].endswith("Z")
    assert generated == datetime.fromtimestamp(NOW + 3661, UTC)
    row = body["data"][0]
    assert list(row) == [
        "userid",
        "courseid",
        "firstname",
        "lastname",
        "email",
        "username",
        "coursename",
        "timecompleted",
        "timecompleted_unix",
        "timestarted",
        "timestarted_unix",
        "percentage",
        "status",
    ]
    assert row["userid"] == 100 and row["courseid"] == 10 and row["status"] == "not_started"
    # The default limit is 100; a page shorter than the limit has no next.
    meta = get(site).json["meta"]
    assert meta["limit"] == 100 and meta["next"] is None


# -- paging ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [1, 3, 5, 10, 11])
def test_following_next_yields_every_row_once(db_url, limit):
    site = build_site(db_url, rate_limit=0)
    rows, meta = read_all(site, limit=limit)
    assert keys(rows) == sorted(live_keys(1))  # in key order, no duplicates, nothing missing
    assert meta["total"] == 10


def test_paging_while_syncs_change_data(db_url):
    """Rows that exist for the whole read come exactly once; nothing comes twice."""
    site = build_site(db_url, rate_limit=0, users_per_company=8)
    b = site.b
    before = live_keys(1)
    rnd = random.Random(7)
    new_uid = iter(range(500, 600))
    module = b.modules_of(10)[0]
    completed: set[tuple[int, int]] = set()

    def mutate(i):
        site.clock["now"] += 120
        b.now = site.clock["now"]
        live = sorted(live_keys(1))
        for _ in range(2):
            uid, cid = rnd.choice(live)
            action = rnd.choice(["unenrol", "complete", "rename"])
            if action == "unenrol":
                b.execute("DELETE FROM {t:user_enrolments} WHERE userid = ? AND enrolid = ?", [uid, cid * 10])
            elif action == "complete":
                todo = [m for m in b.modules_of(cid) if (uid, m) not in completed]
                if todo:
                    completed.add((uid, todo[0]))
                    b.complete_module(uid, todo[0], when=b.now - 10)
            else:
                b.execute(
                    "UPDATE {t:user} SET firstname = ?, timemodified = ? WHERE id = ?",
                    [f"Renamed{i}", b.now - 10, uid],
                )
        uid = next(new_uid)  # a learner appears (its key sorts after every existing one)
        b.user(uid)
        b.member(1, uid)
        b.enrol(uid, 10)
        b.complete_module(uid, module, when=b.now - 5)
        site.sync()

    rows, first = read_all(site, limit=3, between=mutate)
    after = live_keys(1)
    got = keys(rows)
    assert len(got) == len(set(got)), "a row was served twice"
    assert got == sorted(got)
    missing = (before & after) - set(got)
    assert not missing, f"rows live for the whole read were not served: {sorted(missing)}"
    assert set(got) <= before | after
    assert after != before  # the syncs did change something
    # Nothing changed during the read is lost: the feed from the first page's next_since has every
    # row written since then (removals included), each once.
    feed, _ = read_all(site, limit=4, since=first["next_since"])
    high = decode_cursor(first["next_since"])["s"]
    changed = {
        (int(u), int(c))
        for u, c in Reporting.select(Reporting.userid, Reporting.courseid)
        .where((Reporting.companyid == 1) & (Reporting.change_seq > high))
        .tuples()
    }
    assert keys(feed) == sorted(changed) and changed
    assert {k for k, d in zip(keys(feed), feed, strict=True) if d.get("deleted")} == changed - after


# -- the change feed ---------------------------------------------------------------------------------
def test_since_returns_exactly_the_changes_including_removals(db_url):
    site = build_site(db_url, rate_limit=0)
    b = site.b
    rows, meta = read_all(site, limit=4)
    since = meta["next_since"]
    # Nothing changed yet: an empty feed whose next_since can be used again.
    r = get(site, since=since)
    assert r.status_code == 200 and r.json["data"] == [] and r.json["meta"]["total"] == 0
    assert r.json["meta"]["next"] is None

    site.clock["now"] += 600
    b.now = site.clock["now"]
    b.complete_module(100, b.modules_of(10)[0], when=b.now - 60)  # changed
    b.execute("DELETE FROM {t:user_enrolments} WHERE userid = ? AND enrolid = ?", [101, 110])  # removed
    b.user(150)
    b.member(1, 150)
    b.enrol(150, 11)  # new
    b.user(250)
    b.member(2, 250)
    b.enrol(250, 10)  # another company's change
    site.sync()

    feed = get(site, since=since, limit=100).json
    data = {(d["userid"], d["courseid"]): d for d in feed["data"]}
    assert sorted(data) == [(100, 10), (101, 11), (150, 11)]
    assert feed["meta"]["total"] == 3
    assert data[(100, 10)]["percentage"] == 50.0 and data[(100, 10)]["status"] == "in_progress"
    assert data[(101, 11)] == {"userid": 101, "courseid": 11, "deleted": True}
    assert data[(150, 11)]["firstname"] == "First150" and "deleted" not in data[(150, 11)]
    # The same feed a row at a time, following next.
    paged, cursor = [], None
    for _ in range(10):
        body = get(site, since=since, limit=1, **({"cursor": cursor} if cursor else {})).json
        paged += body["data"]
        cursor = body["meta"]["next"]
        if cursor is None:
            break
    assert paged == feed["data"]
    # Company 2 sees its own change only.
    theirs = get(site, company=2, since=get(site, company=2).json["meta"]["next_since"]).json["data"]
    assert theirs == []
    # After reading the feed, its next_since shows nothing new until the next change.
    again = get(site, since=feed["meta"]["next_since"]).json
    assert again["data"] == [] and again["meta"]["next_since"] == feed["meta"]["next_since"]
    # A row that comes back is served live again.
    site.clock["now"] += 600
    b.now = site.clock["now"]
    b.enrol(101, 11, role=None)
    site.sync()
    revived = get(site, since=feed["meta"]["next_since"]).json["data"]
    assert (
        keys(revived) == [(101, 11)] and "deleted" not in revived[0] and revived[0]["username"] == "user101"
    )


def test_a_forged_total_in_a_cursor_reaches_no_other_client(db_url):
    site = build_site(db_url, rate_limit=0)
    first = get(site, limit=3).json
    true_total = first["meta"]["total"]
    forged = encode_cursor({**decode_cursor(first["meta"]["next"]), "t": 999_999})
    assert get(site, limit=3, cursor=forged).json["meta"]["total"] == 999_999  # the sender's own word
    # Another client of the same company asks for the same page with the genuine cursor: the cached
    # page does not carry the forged total.
    genuine = get(site, limit=3, cursor=first["meta"]["next"]).json
    assert genuine["meta"]["total"] == true_total
    without_total = {k: v for k, v in decode_cursor(first["meta"]["next"]).items() if k != "t"}
    assert get(site, limit=3, cursor=encode_cursor(without_total)).json["meta"]["total"] == true_total


def test_cursor_and_since_must_belong_together(db_url):
    site = build_site(db_url, rate_limit=0)
    first = get(site, limit=2).json["meta"]
    feed_since = first["next_since"]
    # A full read's cursor given with a since value (or a feed cursor without it) is refused.
    assert_problem(get(site, limit=2, cursor=first["next"], since=feed_since), 400, "invalidparameter")


# -- filters and CSV -----------------------------------------------------------------------------------
def test_field_and_course_filters(db_url):
    site = build_site(db_url, rate_limit=0)
    full = get(site, limit=100).json["data"]
    company_settings.set_values(
        1,
        {"field_email": "0", "field_userid": "0", "field_courseid": "0", "field_percentage": "0"},
        actor="tests",
        now=NOW,
    )
    data = get(site, limit=100).json["data"]
    assert keys(data) == keys(full)
    assert list(data[0]) == [
        "userid",
        "courseid",
        "firstname",
        "lastname",
        "username",
        "coursename",
        "timecompleted",
        "timecompleted_unix",
        "timestarted",
        "timestarted_unix",
        "status",
    ]
    company_settings.set_values(1, {"course_11": "1"}, actor="tests", now=NOW)
    data = get(site, limit=100).json
    assert {c for _, c in keys(data["data"])} == {11} and data["meta"]["total"] == 5
    # Company 2 keeps every field and course.
    assert "email" in get(site, company=2).json["data"][0]


def test_csv_has_a_header_and_the_same_rows(db_url):
    site = build_site(db_url, rate_limit=0)
    page = get(site, limit=100).json["data"]
    r = get(site, limit=100, format="csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers.get("content-disposition", "")
    table = list(csv.reader(io.StringIO(r.text)))
    header, body = table[0], table[1:]
    assert header[:2] == ["userid", "courseid"] and "email" in header and header[-1] == "deleted"
    assert [(int(row[0]), int(row[1])) for row in body] == keys(page)
    first = dict(zip(header, body[0], strict=True))
    assert first["email"] == page[0]["email"] and first["deleted"] == "0"
    assert first["timestarted_unix"] == str(page[0]["timestarted_unix"])
    # Paging a CSV read follows the X-Next-Cursor header.
    r1 = get(site, limit=6, format="csv")
    r2 = get(site, limit=6, format="csv", cursor=r1.headers["x-next-cursor"])
    assert "x-next-cursor" not in r2.headers
    got = [
        tuple(map(int, row[:2]))
        for row in list(csv.reader(io.StringIO(r1.text)))[1:] + list(csv.reader(io.StringIO(r2.text)))[1:]
    ]
    assert got == keys(page)


def test_csv_sends_values_as_stored_unless_the_formula_guard_is_asked_for(db_url):
    site = build_site(db_url, rate_limit=0)
    with site.db.connection_context():
        first = (
            Reporting.select()
            .where(Reporting.companyid == 1)
            .order_by(Reporting.userid, Reporting.courseid)
            .get()
        )
        Reporting.update(firstname="=HYPERLINK(1)", lastname="-5").where(Reporting.id == first.id).execute()

    def first_row(**params) -> dict:
        table = list(csv.reader(io.StringIO(get(site, limit=100, format="csv", **params).text)))
        return dict(zip(table[0], table[1], strict=True))

    raw = first_row()
    assert (raw["firstname"], raw["lastname"]) == ("=HYPERLINK(1)", "-5")  # machines read data as it is
    guarded = first_row(csv_guard="1")
    assert (guarded["firstname"], guarded["lastname"]) == ("'=HYPERLINK(1)", "'-5")
    assert guarded["userid"] == raw["userid"] and guarded["email"] == raw["email"]


# -- errors --------------------------------------------------------------------------------------------
def test_an_empty_or_unknown_format_is_400(db_url):
    site = build_site(db_url, rate_limit=0)
    for fmt in ("", "xml", "JSON "):
        assert_problem(get(site, format=fmt), 400)


def test_bad_limit_is_400(db_url):
    site = build_site(db_url, rate_limit=0)
    for limit in ("-1", "0", "abc", "1.5", "", "1001", "99999999999999999999999", "0x10"):
        body = assert_problem(get(site, limit=limit), 400)
        assert body["code"] in ("invalidparameter", "limittoolarge"), limit


def test_limit_over_company_max_records(db_url):
    site = build_site(db_url, max_records=50)
    assert get(site, limit=50).status_code == 200
    assert_problem(get(site, limit=51), 400, "limittoolarge")
    company_settings.set_values(1, {"max_records": "5"}, actor="tests", now=NOW)
    assert_problem(get(site, limit=6), 400, "limittoolarge")
    assert get(site, company=2, limit=6).status_code == 200


MALFORMED = [
    "garbage!",
    "x",
    "%%%",
    "é",
    "a" * 600,
    cursor_of([1, 2]),
    cursor_of({"u": 1}),
    cursor_of({"u": -1, "c": 1}),
    cursor_of({"u": 2**70, "c": 1, "s": None, "h": 1}),
    cursor_of({"u": True, "c": 1}),
    cursor_of({"s": "1"}),
    cursor_of({"s": 2**64}),
    cursor_of({"u": 1.5, "c": 2}),
    cursor_of({"s": None}),
    cursor_of({"h": -5}),
]


def test_malformed_cursor_or_since_is_400(db_url):
    site = build_site(db_url, rate_limit=0)
    for param in ("cursor", "since"):
        for value in MALFORMED:
            assert_problem(get(site, **{param: value}), 400, "invalidparameter")


def test_bad_format_is_400(db_url):
    site = build_site(db_url)
    assert_problem(get(site, format="xml"), 400)


def test_auth_errors_401_403(db_url):
    site = build_site(db_url)
    for r in (
        get(site, token=False),
        get(site, token="0" * 32),
        get(site, token="x" * 200),
        get(site, token="not a token"),
        site.client.simulate_get(URL, headers={"Authorization": "Basic abc"}),
    ):
        assert_problem(r, 401, "invalidtoken")
    revoked, row = tokens.create_token(1, name="revoked", actor="tests", now=NOW)
    tokens.revoke_token(row.id, "tests", NOW)
    assert_problem(get(site, token=revoked), 403, "accessexception")
    expired, _ = tokens.create_token(1, name="old", expires_days=1, actor="tests", now=NOW - 10 * 86_400)
    assert_problem(get(site, token=expired, how="header"), 403, "accessexception")
    fenced, _ = tokens.create_token(1, name="fenced", ip="10.9.9.0/24", actor="tests", now=NOW)
    body = assert_problem(get(site, token=fenced, how="query"), 403, "accessexception")
    assert fenced not in json.dumps(body)


def test_rate_limit_429_with_retry_after(db_url):
    site = build_site(db_url, rate_limit=3)
    for _ in range(3):
        assert get(site).status_code == 200
    r = get(site)
    assert_problem(r, 429, "ratelimitexceeded")
    retry = int(r.headers["retry-after"])
    assert 0 < retry <= 86_400
    # Refused requests do not count: the next day the token works again; other tokens are unaffected.
    assert get(site, company=2).status_code == 200
    site.clock["now"] += retry
    assert get(site).status_code == 200


def test_failed_authentications_are_throttled(db_url):
    site = build_site(db_url, failed_auth_limit=3)
    for _ in range(3):
        assert get(site, token="f" * 32).status_code == 401
    r = get(site, token="f" * 32)
    assert_problem(r, 429, "toomanyfailures")
    assert int(r.headers["retry-after"]) > 0
    assert get(site).status_code == 200  # a valid token from the same address is served


def test_ipv6_failures_are_counted_per_64(db_url):
    site = build_site(db_url, failed_auth_limit=3)
    for host in ("2001:db8:1:2::1", "2001:db8:1:2:0:0:0:2", "2001:db8:1:2:ffff::3"):
        assert get(site, token="f" * 32, remote_addr=host).status_code == 401
    assert_problem(get(site, token="f" * 32, remote_addr="2001:db8:1:2:abcd::9"), 429, "toomanyfailures")
    assert get(site, token="f" * 32, remote_addr="2001:db8:1:3::1").status_code == 401  # another /64
    assert get(site, remote_addr="2001:db8:1:2::1").status_code == 200


def test_database_down_is_503(db_url, tmp_path):
    site = build_site(db_url)
    dead = {
        "sqlite": f"sqlite:///{tmp_path}/missing/dir/x.sqlite3",
        "mysql": "mysql://u:p@127.0.0.1:9/x",
        "postgresql": "postgresql://u:p@127.0.0.1:9/x",
    }[db_url.split(":")[0]]
    cfg = site.app.context.config
    app = create_app(cfg, db=make_database(dead, pooled=True, max_connections=2), clock_fn=lambda: NOW)
    import falcon.testing

    client = falcon.testing.TestClient(app)
    r = client.simulate_get(URL, headers={"Authorization": f"Bearer {site.tokens[1]}"})
    assert_problem(r, 503, "servicetemporarilyunavailable")
    assert int(r.headers["retry-after"]) > 0
    for path in ("/api/v1/health", "/healthz"):
        h = client.simulate_get(path)
        assert h.status_code == 503 and h.json["status"] == "unavailable"
        assert h.json["database"]["reachable"] is False
    m = client.simulate_get("/metrics")
    assert m.status_code == 200 and 'status="503"' in m.text


def test_database_error_during_a_request_is_503(db_url):
    """The connection works but the query fails (e.g. the server went away mid-request)."""
    site = build_site(db_url)
    token = site.tokens[1]
    get(site)  # authenticate once, so the failure is in the page read
    site.db.execute_sql(f"ALTER TABLE {Reporting._meta.table_name} RENAME TO gone_reporting")
    try:
        r = get(site, token=token)
        assert_problem(r, 503, "servicetemporarilyunavailable")
    finally:
        site.db.execute_sql(f"ALTER TABLE gone_reporting RENAME TO {Reporting._meta.table_name}")
    assert get(site).status_code == 200


def test_security_headers_on_every_response(db_url):
    site = build_site(db_url, rate_limit=1)
    responses = [
        get(site),
        get(site),  # 200, then 429
        get(site, company=2, limit="x"),
        get(site, token=False),
        site.client.simulate_get("/api/v1/health"),
        site.client.simulate_get("/healthz"),
        site.client.simulate_get("/metrics"),
        site.client.simulate_get("/api/v1/openapi.json"),
        site.client.simulate_get("/api/v1/nothing-here"),
        site.client.simulate_post(URL),
        site.post(),
        site.post(token="bad"),
    ]
    statuses = {r.status_code for r in responses}
    assert {200, 400, 401, 404, 405, 429} <= statuses
    for r in responses:
        for name, value in SECURITY_HEADERS.items():
            assert r.headers.get(name) == value, (r.status, name)
        assert (
            "access-control-allow-origin" not in r.headers or r.headers["access-control-allow-origin"] == "*"
        )
        assert "traceback" not in r.text.lower()


# -- health and metrics ----------------------------------------------------------------------------------
def test_health(db_url):
    site = build_site(db_url)
    for path in ("/api/v1/health", "/healthz"):
        r = site.client.simulate_get(path)
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        body = r.json
        assert body["status"] == "ok" and body["database"]["reachable"] is True
        assert body["worker"] is None  # no worker heartbeat yet
        assert body["last_sync"]["status"] == "success" and body["last_sync"]["mode"] == "full"
    Heartbeat.insert(component="worker", hostname="w1", pid=42, timebeat=NOW - 30).execute()
    Heartbeat.insert(component="api", hostname="w1", pid=43, timebeat=NOW).execute()
    site.clock["now"] = NOW + 60
    body = site.client.simulate_get("/healthz").json
    assert body["worker"] == {"host": "w1", "heartbeat_age_seconds": 90, "alive": True}
    site.clock["now"] = NOW + 61  # three missed 30 s beats: the worker is presumed dead
    assert site.client.simulate_get("/healthz").json["worker"]["alive"] is False


def test_health_tells_strangers_only_the_status(db_url):
    site = build_site(db_url)
    with site.db.connection_context():
        SyncRun.update(error="(1142) SELECT denied on table 'mdl_user' for 'alx'@'db7.internal'").execute()
    Heartbeat.insert(component="worker", hostname="worker7.internal", pid=42, timebeat=NOW).execute()
    remote = "203.0.113.9"

    def health(**kwargs) -> dict:
        r = site.client.simulate_get("/healthz", **kwargs)
        assert r.status_code == 200
        return r.json

    assert health(remote_addr=remote) == {"status": "ok"}
    # A proxy on the API's host forwards the world: loopback behind X-Forwarded-For is a stranger.
    assert health(remote_addr="127.0.0.1", headers={"X-Forwarded-For": remote}) == {"status": "ok"}
    assert health(remote_addr=remote, headers={"Authorization": "Bearer not-a-token"}) == {"status": "ok"}

    client = health(remote_addr=remote, headers={"Authorization": f"Bearer {site.tokens[1]}"})
    assert client["database"]["reachable"] is True and client["worker"]["alive"] is True
    assert "host" not in client["worker"] and "error" not in client["last_sync"]
    assert "internal" not in json.dumps(client)

    operator = health(remote_addr="127.0.0.1")
    assert operator["worker"]["host"] == "worker7.internal" and "denied" in operator["last_sync"]["error"]
    operator6 = health(remote_addr="::1")
    assert operator6["worker"]["host"] == "worker7.internal"


def test_metrics_parse(db_url):
    site = build_site(db_url)
    get(site, limit=2)
    get(site, limit=2)  # served from the cache
    get(site, limit="x")
    get(site, token=False)
    site.post()
    r = site.client.simulate_get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    requests = {
        (s.labels["endpoint"], s.labels["status"]): s.value
        for s in families["alx_http_requests"].samples
        if s.name == "alx_http_requests_total"
    }
    assert requests[("v1_course_progress", "200")] == 2
    assert requests[("v1_course_progress", "400")] == 1
    assert requests[("v1_course_progress", "401")] == 1
    assert requests[("get_course_progress", "200")] == 1
    hist = families["alx_http_request_duration_seconds"]
    assert hist.type == "histogram"
    buckets = [
        s for s in hist.samples if s.name.endswith("_bucket") and s.labels["endpoint"] == "v1_course_progress"
    ]
    values = [s.value for s in buckets]
    assert values == sorted(values) and buckets[-1].labels["le"] == "+Inf" and values[-1] == 4
    count = [
        s for s in hist.samples if s.name.endswith("_count") and s.labels["endpoint"] == "v1_course_progress"
    ]
    assert count[0].value == 4
    hits = families["alx_cache_hits"].samples[0].value
    misses = families["alx_cache_misses"].samples[0].value
    assert hits >= 1 and misses >= 1
    runs = {s.labels["status"]: s.value for s in families["alx_sync_runs"].samples}
    assert runs.get("success", 0) >= 1
    assert families["alx_cache_entries"].type == "gauge"


def test_cache_serves_a_repeat_and_a_sync_invalidates_it(db_url):
    site = build_site(db_url, rate_limit=0)
    stats = site.app.context.pipeline.cache.stats
    first = get(site, limit=100).json
    hits = stats.hits
    assert get(site, limit=100).json["data"] == first["data"] and stats.hits == hits + 1
    site.clock["now"] += 600
    site.b.now = site.clock["now"]
    site.b.execute(
        "UPDATE {t:user} SET firstname = ?, timemodified = ? WHERE id = ?", ["Zed", site.b.now - 5, 100]
    )
    site.sync()
    fresh = get(site, limit=100).json["data"]
    assert [d["firstname"] for d in fresh if d["userid"] == 100] == ["Zed", "Zed"]


# -- the direct JSON writer ------------------------------------------------------------------------------
_text = st.text(st.characters(codec="utf-8"), max_size=30)
_row = st.tuples(
    st.integers(1, 2**62),
    st.integers(1, 2**62),
    _text,
    _text,
    _text,
    _text,
    _text,
    st.one_of(st.just(0), st.integers(1, 4_102_444_800)),
    st.one_of(st.just(0), st.integers(1, 4_102_444_800)),
    st.one_of(st.decimals(0, 100, places=2), st.floats(0, 100), st.integers(0, 100)),
    st.sampled_from(["completed", "in_progress", "not_started"]),
    st.integers(0, 10**9),
    st.integers(0, 1),
)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(_row, max_size=8))
def test_direct_json_writer_equals_json_dumps(rows):
    dates = DateFormatter("Europe/Paris")
    fields = tuple(f for f in FIELDS if f not in ("userid", "courseid"))
    expected = json.dumps(
        render.v1_rows(dates, rows, fields), ensure_ascii=False, separators=(",", ":")
    ).encode()
    assert render.v1_json(dates, rows, fields) == expected
    json.loads(expected)


def test_metrics_only_for_allowed_addresses_with_or_without_a_trailing_slash(db_url):
    site = build_site(db_url)
    for path in ("/metrics", "/metrics/"):
        assert site.client.simulate_get(path, remote_addr="127.0.0.1").status_code == 200
        assert site.client.simulate_get(path, remote_addr="::1").status_code == 200
        refused = site.client.simulate_get(path, remote_addr="203.0.113.9")
        assert refused.status_code == 403 and "alx_http" not in refused.text
        # nginx on the same host without trusted_proxy: the address is the proxy's, not the client's
        forwarded = site.client.simulate_get(
            path, remote_addr="127.0.0.1", headers={"X-Forwarded-For": "203.0.113.9"}
        )
        assert forwarded.status_code == 403
    monitoring = create_app(
        site.app.context.config.replace(metrics_allow=("10.1.0.0/16",)), db=site.db, clock_fn=lambda: NOW
    )
    import falcon.testing

    client = falcon.testing.TestClient(monitoring)
    assert client.simulate_get("/metrics", remote_addr="10.1.2.3").status_code == 200
    assert client.simulate_get("/metrics", remote_addr="127.0.0.1").status_code == 403


def test_the_request_log_names_the_company_by_its_shortname(db_url):
    site = build_site(db_url, rate_limit=0)
    assert get(site, company=2).status_code == 200
    assert site.post().status_code == 200  # the Moodle endpoint, company 1
    with site.db.connection_context():
        logged = {(r.companyid, r.company_shortname) for r in ApiLog.select() if r.companyid}
        expected = {(c.id, c.shortname) for c in Company.select().where(Company.id.in_([1, 2]))}
    assert logged == expected and all(name for _, name in logged)


def test_field_userid_and_courseid_hide_those_fields_in_the_moodle_endpoint_only(db_url):
    site = build_site(db_url, rate_limit=0)
    with site.db.connection_context():
        company_settings.set_values(1, {"field_userid": "0", "field_courseid": "0"}, actor="tests", now=NOW)
    moodle_rows = json.loads(site.post().text)
    assert moodle_rows and all("userid" not in r and "courseid" not in r for r in moodle_rows)
    v1_rows = get(site, limit=100).json["data"]
    assert v1_rows and all({"userid", "courseid"} <= set(r) for r in v1_rows)  # the key is always sent
