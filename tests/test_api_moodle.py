"""The Moodle-compatible endpoint `/webservice/rest/server.php` (SPEC §4.1, §4.3–4.5) through Falcon's
TestClient, on every backend: the success format (JSON and Moodle's XML), parameters, field and
course settings, every error exactly as Moodle sends it, rate limits, passes and sync modes, the
response cache, the request log, and two properties (tenant isolation; paging while syncs run).

Passes are checked against the reporting table and against what the test itself changed in Moodle.
"""

from __future__ import annotations

import itertools
import json
import re
import xml.etree.ElementTree as ET

import peewee
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alxapi.access import settings as company_settings
from alxapi.access import tokens
from alxapi.api import feed
from alxapi.api.errors import KINDS
from models.plugin import ApiLog, ApiToken, Reporting, Setting, SyncStatus

from .support.api_helpers import FUNCTION, NOW, build_site
from .support.sql_spy import statements

FIELDS = [
    "userid",
    "firstname",
    "lastname",
    "email",
    "username",
    "courseid",
    "coursename",
    "timecompleted",
    "timecompleted_unix",
    "timestarted",
    "timestarted_unix",
    "percentage",
    "status",
]
JSON = "application/json"
XML = "application/xml; charset=utf-8"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8" ?>\n'
SUMMER = 1_688_169_600  # 2023-07-01 00:00:00 UTC: 2023-06-30 20:00:00 in New York (EDT)
HOUR, DAY = 3600, 86_400
ERROR_KEYS = {"exception", "errorcode", "message"}


# --- helpers ---------------------------------------------------------------------------------------


def setv(site, company: int, **values) -> None:
    company_settings.set_values(company, {k: str(v) for k, v in values.items()}, actor="tests", now=site.now)


def keys(rows: list[dict]) -> list[tuple[int, int]]:
    return [(r["userid"], r["courseid"]) for r in rows]


def flat(pages: list[list[dict]]) -> list[dict]:
    return [row for page in pages for row in page]


def body(site, token=None, company: int = 1, fmt: str | None = "json", **params) -> dict:
    """A form body for the endpoint (values of None are left out)."""
    return {
        "wstoken": site.tokens[company] if token is None else token,
        "wsfunction": FUNCTION,
        "moodlewsrestformat": fmt,
        **params,
    }


def live(company: int, courses=None) -> dict[tuple[int, int], tuple]:
    """The company's live reporting rows as (userid, courseid) -> what the API shows of them."""
    query = Reporting.select().where((Reporting.companyid == company) & (Reporting.is_deleted == 0))
    return {
        (int(r.userid), int(r.courseid)): shown(r)
        for r in query
        if courses is None or int(r.courseid) in courses
    }


def shown(r) -> tuple:
    if isinstance(r, dict):
        return (
            r["firstname"],
            r["lastname"],
            r["email"],
            r["coursename"],
            r["timecompleted_unix"],
            r["timestarted_unix"],
            round(float(r["percentage"]), 2),
            r["status"],
        )
    return (
        r.firstname,
        r.lastname,
        r.email,
        r.coursename,
        int(r.timecompleted),
        int(r.timestarted),
        round(float(r.percentage), 2),
        r.status,
    )


def status_row(site, company: int = 1, token: str | None = None):
    token = site.tokens[company] if token is None else token
    return SyncStatus.get_or_none(
        (SyncStatus.companyid == company) & (SyncStatus.token_hash == tokens.hash_token(token))
    )


def writes_snapshot() -> tuple:
    """Everything a refused request must leave alone (the log aside)."""
    return (
        sorted(Reporting.select().tuples()),
        sorted(SyncStatus.select().tuples()),
        sorted(Setting.select().tuples()),
    )


def log_count() -> int:
    return ApiLog.select().count()


def last_log() -> ApiLog:
    return ApiLog.select().order_by(ApiLog.id.desc()).first()


def assert_error(result, code: str, fmt: str = "json", debug: bool = False) -> dict:
    """A Moodle error: HTTP 200, only exception/errorcode/message (+ debuginfo when debugging)."""
    assert result.status_code == 200, result.text
    kind = KINDS[code]
    if fmt == "json":
        assert result.headers["content-type"] == JSON
        data = json.loads(result.text)
        expected = ERROR_KEYS | ({"debuginfo"} if debug else set())
        assert set(data) == expected, data
        assert (data["exception"], data["errorcode"]) == (kind.exception, code), data
        if "{" not in kind.message:
            assert data["message"] == kind.message
        return data
    assert result.headers["content-type"] == XML
    assert result.text.startswith(XML_HEAD), result.text
    root = ET.fromstring(result.text)
    assert root.tag == "EXCEPTION" and root.attrib == {"class": kind.exception}, result.text
    tags = [child.tag for child in root]
    assert tags == ["ERRORCODE", "MESSAGE"] + (["DEBUGINFO"] if debug else []), result.text
    assert root.find("ERRORCODE").text == code
    return {child.tag.lower(): child.text for child in root}


def parse_xml(text: str) -> list[dict]:
    """Moodle's XML envelope back to rows (values as text)."""
    assert text.startswith(XML_HEAD + "<RESPONSE>\n<MULTIPLE>\n"), text[:200]
    root = ET.fromstring(text)
    assert root.tag == "RESPONSE" and [c.tag for c in root] == ["MULTIPLE"]
    rows = []
    for single in root.find("MULTIPLE"):
        assert single.tag == "SINGLE"
        row = {}
        for key in single:
            assert key.tag == "KEY" and [v.tag for v in key] == ["VALUE"]
            row[key.attrib["name"]] = key.find("VALUE").text or ""
        rows.append(row)
    return rows


# --- success format -----------------------------------------------------------------------------


def _progress(b) -> None:
    b.course(12, modules=3)
    b.company_course(1, 12)
    b.enrol(100, 12)
    b.complete_module(100, b.modules_of(12)[0])  # 1 of 3: 33.33
    b.complete_module(100, b.modules_of(10)[0])  # 1 of 2: 50.00
    b.course_completion(101, 11, timecompleted=SUMMER, timestarted=SUMMER - 2 * HOUR)


def test_json_success_fields_types_order_and_timezone(db_url):
    site = build_site(db_url, setup=_progress, timezone="America/New_York")
    result = site.call(body=body(site))
    assert result.status_code == 200
    assert result.headers["content-type"] == JSON
    rows = json.loads(result.text)
    assert isinstance(rows, list)
    assert keys(rows) == sorted([(u, k) for u in range(100, 105) for k in (10, 11)] + [(100, 12)])
    for row in rows:
        assert list(row) == FIELDS
        for name in ("userid", "courseid", "timecompleted_unix", "timestarted_unix"):
            assert type(row[name]) is int
        for name in (
            "firstname",
            "lastname",
            "email",
            "username",
            "coursename",
            "timecompleted",
            "timestarted",
            "status",
        ):
            assert type(row[name]) is str
        assert type(row["percentage"]) in (int, float)
        for name in ("timecompleted", "timestarted"):
            assert (
                row[name] == ""
                if row[f"{name}_unix"] == 0
                else re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[name])
            )
    # percentage: a JSON number with at most 2 decimals, in the raw text too
    for text in re.findall(r'"percentage":([^,}]+)', result.text):
        assert re.fullmatch(r"\d{1,3}(\.\d{1,2})?", text), text
    by_key = {(r["userid"], r["courseid"]): r for r in rows}
    assert by_key[(100, 10)] == {
        "userid": 100,
        "firstname": "First100",
        "lastname": "Last100",
        "email": "user100@example.com",
        "username": "user100",
        "courseid": 10,
        "coursename": "Course 10",
        "timecompleted": "",
        "timecompleted_unix": 0,
        "timestarted": "2023-11-13 17:13:20",  # NOW - 1 day, in EST (UTC-5)
        "timestarted_unix": NOW - DAY,
        "percentage": 50.0,
        "status": "in_progress",
    }
    assert (by_key[(100, 12)]["percentage"], by_key[(100, 12)]["status"]) == (33.33, "in_progress")
    done = by_key[(101, 11)]
    assert (done["timecompleted"], done["timecompleted_unix"]) == ("2023-06-30 20:00:00", SUMMER)  # EDT
    assert (done["timestarted"], done["timestarted_unix"]) == ("2023-06-30 18:00:00", SUMMER - 2 * HOUR)
    assert (done["percentage"], done["status"]) == (100.0, "completed")
    assert by_key[(102, 11)]["status"] == "not_started"


def test_dates_in_utc_and_escaping_like_php(db_url):
    def setup(b):
        b.user(300, first="Zoë", last="O'Brien/Smith", email="zoe@example.com")
        b.member(1, 300)
        b.enrol(300, 10)
        b.course_completion(300, 10, timecompleted=SUMMER)

    site = build_site(db_url, setup=setup)
    result = site.call(body=body(site))
    row = [r for r in json.loads(result.text) if r["userid"] == 300][0]
    assert (row["firstname"], row["lastname"]) == ("Zoë", "O'Brien/Smith")
    assert row["timecompleted"] == "2023-07-01 00:00:00"
    assert '"firstname":"Zo\\u00eb"' in result.text and '"lastname":"O\'Brien\\/Smith"' in result.text


def test_xml_is_the_default_and_the_fallback(db_url):
    site = build_site(db_url, setup=_progress, timezone="America/New_York")
    setv(site, 1, sync_mode=2)  # always full: every call returns every row
    expected = site.page()
    for fmt in (None, "xml", "XML", "JSON", "csv", "", "jsonp"):
        result = site.call(body=body(site, fmt=fmt))
        assert result.status_code == 200
        assert result.headers["content-type"] == XML, fmt
        rows = parse_xml(result.text)
        assert [list(r) for r in rows] == [FIELDS] * len(expected)
        assert rows == [{k: php_string(v) for k, v in r.items()} for r in expected]
    by_key = {(int(r["userid"]), int(r["courseid"])): r for r in rows}
    assert [by_key[k]["percentage"] for k in ((100, 10), (100, 12), (101, 11), (102, 10))] == [
        "50",
        "33.33",
        "100",
        "0",
    ]  # PHP's float to string, as Moodle writes it
    assert by_key[(101, 11)]["timecompleted"] == "2023-06-30 20:00:00"
    # A Moodle error in XML when the format is not json
    assert_error(site.call(body=body(site, token="nope", fmt=None)), "invalidtoken", "xml")
    assert_error(site.call(body=body(site, token="nope", fmt="Json")), "invalidtoken", "xml")


def php_string(value) -> str:
    if isinstance(value, float):
        return str(int(value)) if value == int(value) else str(value)
    return str(value)


def test_xml_escapes_like_htmlspecialchars(db_url):
    def setup(b):
        b.user(300, first='A "quoted" <b>', last="Smith & O'Neil", email="a@example.com")
        b.member(1, 300)
        b.enrol(300, 10)

    site = build_site(db_url, setup=setup)
    text = site.call(body=body(site, fmt="xml")).text
    assert '<KEY name="firstname"><VALUE>A &quot;quoted&quot; &lt;b&gt;</VALUE>\n</KEY>' in text
    assert "<VALUE>Smith &amp; O'Neil</VALUE>" in text
    row = [r for r in parse_xml(text) if r["userid"] == "300"][0]
    assert (row["firstname"], row["lastname"]) == ('A "quoted" <b>', "Smith & O'Neil")


def test_xml_stays_parseable_with_characters_xml_forbids(db_url):
    def setup(b):
        b.user(300, first="Ann\x01\x0b", last="Bell\x1f\x7f", email="a@example.com")
        b.member(1, 300)
        b.enrol(300, 10)

    site = build_site(db_url, setup=setup)
    text = site.call(body=body(site, fmt="xml")).text
    row = [r for r in parse_xml(text) if r["userid"] == "300"][0]  # parses: the page is not lost
    assert (row["firstname"], row["lastname"]) == ("Ann", "Bell\x7f")


def test_empty_result_is_an_empty_array(db_url):
    site = build_site(db_url)
    setv(site, 1, course_10=0)  # the course rule now enables no course at all
    result = site.call(body=body(site))
    assert (result.status_code, result.text) == (200, "[]")
    xml = site.call(body=body(site, fmt="xml"))
    assert xml.text == XML_HEAD + "<RESPONSE>\n<MULTIPLE>\n</MULTIPLE>\n</RESPONSE>\n"


def test_query_string_and_body_are_merged_body_wins(db_url):
    site = build_site(db_url)
    setv(site, 1, sync_mode=2)
    token = site.tokens[1]
    # everything in the query string of a POST without a body
    result = site.call(
        query={"wstoken": token, "wsfunction": FUNCTION, "moodlewsrestformat": "json", "limit": 2}
    )
    assert len(json.loads(result.text)) == 2
    # split between the two, and the body wins every clash
    result = site.call(
        query={"wstoken": "bad", "wsfunction": "nope", "moodlewsrestformat": "xml", "limit": 1},
        body={"wstoken": token, "wsfunction": FUNCTION, "moodlewsrestformat": "json", "limit": 3},
    )
    assert result.headers["content-type"] == JSON and len(json.loads(result.text)) == 3
    result = site.call(
        query={"wstoken": token, "limit": 4}, body={"wsfunction": FUNCTION, "moodlewsrestformat": "json"}
    )
    assert len(json.loads(result.text)) == 4
    assert_error(
        site.call(
            query={"wstoken": token},
            body={"wstoken": "bad", "wsfunction": FUNCTION, "moodlewsrestformat": "json"},
        ),
        "invalidtoken",
    )
    # an empty body with a form content type is fine
    result = site.call(
        query={"wstoken": token, "wsfunction": FUNCTION, "moodlewsrestformat": "json"}, body=""
    )
    assert len(json.loads(result.text)) == 10


# --- field and course settings --------------------------------------------------------------------


def test_field_toggles_remove_fields(db_url):
    site = build_site(db_url)
    setv(site, 1, sync_mode=2, field_email=0, field_timestarted=0, field_userid=0)
    rows = site.page()
    expected = [f for f in FIELDS if f not in ("email", "timestarted", "userid")]
    assert rows and all(list(r) == expected for r in rows)
    assert all(list(r) == expected for r in parse_xml(site.call(body=body(site, fmt="xml")).text))
    assert list(site.page(company=2)[0]) == FIELDS  # company 2 unaffected
    setv(site, 1, field_email="default", field_userid=1)
    assert list(site.page()[0]) == [f for f in FIELDS if f != "timestarted"]


def _course12(b) -> None:
    """Course 12: company 1's users 100-101 and company 2's users 105-106, listed for company 2 only."""
    b.course(12, modules=2)
    b.company_course(2, 12)
    for uid in (100, 101, 105, 106):
        b.enrol(uid, 12)


def test_course_rule_company_course_or_settings(db_url):
    site = build_site(db_url, setup=_course12)
    setv(site, 1, sync_mode=2)
    setv(site, 2, sync_mode=2)
    company1 = {(u, k) for u in range(100, 105) for k in (10, 11)}
    # no course_<id> settings: the company's courses in company_course (course 12 is not one of 1's)
    assert set(keys(site.page())) == company1
    assert set(keys(site.page(company=2))) == {(u, k) for u in range(105, 110) for k in (10, 11)} | {
        (105, 12),
        (106, 12),
    }
    # course settings replace company_course: only the courses set to 1
    setv(site, 1, course_12=1)
    assert set(keys(site.page())) == {(100, 12), (101, 12)}  # never company 2's rows of course 12
    setv(site, 1, course_10=1, course_12=0)
    assert set(keys(site.page())) == {(u, 10) for u in range(100, 105)}
    setv(site, 1, course_10=0)
    assert site.page() == []  # settings exist, none set to 1: no course
    setv(site, 1, course_10="default", course_12="default")
    assert set(keys(site.page())) == company1
    # company 2 enables course 10 only: company 1's rows of course 10 never leak
    setv(site, 2, course_10=1)
    assert set(keys(site.page(company=2))) == {(u, 10) for u in range(105, 110)}


# --- errors -------------------------------------------------------------------------------------


def _bad_token_cases(site) -> list[tuple[str, dict, str]]:
    good = site.tokens[1]
    revoked, row = tokens.create_token(1, name="revoked", actor="tests", now=NOW)
    tokens.revoke_token(row.id, "tests", NOW)
    expired, _ = tokens.create_token(1, name="expired", expires_days=1, actor="tests", now=NOW - 3 * DAY)
    restricted, _ = tokens.create_token(1, name="lan only", ip="10.0.0.0/8", actor="tests", now=NOW)
    return [
        ("missing token", {"wstoken": None}, "invalidtoken"),
        ("empty token", {"wstoken": ""}, "invalidtoken"),
        ("unknown token", {"wstoken": "0" * 32}, "invalidtoken"),
        ("token in upper case", {"wstoken": good.upper()}, "invalidtoken"),
        ("token with SQL", {"wstoken": "' OR '1'='1"}, "invalidtoken"),
        ("token with SQL 2", {"wstoken": f"{good}' OR 1=1 -- "}, "invalidtoken"),
        (
            "token with SQL 3",
            {"wstoken": "x' UNION SELECT token_hash FROM mdl_local_alx_api_tokens --"},
            "invalidtoken",
        ),
        ("very long token", {"wstoken": "a" * 20_000}, "invalidtoken"),
        ("129 characters", {"wstoken": "f" * 129}, "invalidtoken"),
        ("non-ASCII token", {"wstoken": "é" * 32}, "invalidtoken"),
        ("revoked token", {"wstoken": revoked}, "accessexception"),
        ("expired token", {"wstoken": expired}, "accessexception"),
        ("IP-restricted token", {"wstoken": restricted}, "accessexception"),
        (
            "invalid token before unknown function",
            {"wstoken": "0" * 32, "wsfunction": "core_nope"},
            "invalidtoken",
        ),
    ]


def _bad_request_cases() -> list[tuple[str, dict, str]]:
    cases = [
        ("missing function", {"wsfunction": None}, "invalidparameter"),
        ("empty function", {"wsfunction": ""}, "invalidparameter"),
        ("unknown function", {"wsfunction": "core_user_get_users"}, "invalidrecord"),
        ("limit 1001", {"limit": 1001}, "limittoolarge"),
        ("huge limit", {"limit": 10**30}, "invalidparameter"),
        ("offset -1", {"offset": -1}, "invalidparameter"),
        ("offset over 2^63", {"offset": 2**63}, "invalidparameter"),
    ]
    for value in ("-1", "0", "abc", "1e3", "", " 5", "5 ", "5.0", "0x10", "+5", "05", "١٢"):
        cases.append((f"limit {value!r}", {"limit": value}, "invalidparameter"))
    for value in ("abc", "1e3", "", "-0x1", "1.5"):
        cases.append((f"offset {value!r}", {"offset": value}, "invalidparameter"))
    return cases


def test_every_error_is_moodles_and_writes_only_the_log(db_url):
    site = build_site(db_url, failed_auth_limit=100_000)
    cases = [
        (name, {"body": body(site, **params)}, code)
        for name, params, code in _bad_token_cases(site) + _bad_request_cases()
    ]
    good = body(site)
    form = "application/x-www-form-urlencoded"
    cases += [
        (
            "non-UTF-8 body",
            {
                "body": b"wstoken="
                + site.tokens[1].encode()
                + b"&wsfunction="
                + FUNCTION.encode()
                + b"&moodlewsrestformat=json&limit=\xff\xfe"
            },
            "invalidparameter",
        ),
        (
            "non-UTF-8 query",
            {"query": "moodlewsrestformat=json&limit=%FF%FE", "body": good},
            "invalidparameter",
        ),
        (
            "non-UTF-8 query overridden by the body",
            {"query": "wsfunction=%FF%FE", "body": {**good, "limit": 1}},
            None,
        ),
        # the body is not read, so only the query string can ask for JSON
        (
            "oversized body",
            {"body": {**good, "pad": "x" * 70_000}, "query": {"moodlewsrestformat": "json"}},
            "requesttoolarge",
        ),
        (
            "JSON content type",
            {
                "body": json.dumps(good),
                "content_type": "application/json",
                "query": {"moodlewsrestformat": "json"},
            },
            "invalidparameter",
        ),
        (
            "text content type",
            {"body": "wstoken=x", "content_type": "text/plain", "query": {"moodlewsrestformat": "json"}},
            "invalidparameter",
        ),
        ("GET refused", {"method": "GET", "query": good}, "invalidrequestmethod"),
        # like PHP's $_POST, a body is read for POST only: this GET carries no token
        (
            "GET with the form in a body",
            {"method": "GET", "query": {"moodlewsrestformat": "json"}, "body": good, "content_type": form},
            "invalidtoken",
        ),
    ]
    site.page()  # the first pass is complete: nothing the errors do may disturb its state
    for name, request, code in cases:
        for fmt in ("json", "xml"):
            request = dict(request)
            if fmt == "xml":  # the same request asking for XML
                if isinstance(request.get("body"), dict):
                    request["body"] = {**request["body"], "moodlewsrestformat": "xml"}
                if isinstance(request.get("query"), dict):
                    request["query"] = {**request["query"], "moodlewsrestformat": "xml"}
                elif isinstance(request.get("query"), str):
                    request["query"] = request["query"].replace("=json", "=xml")
                elif isinstance(request.get("body"), bytes):
                    request["body"] = request["body"].replace(b"=json", b"=xml")
            before, logs = writes_snapshot(), log_count()
            result = site.call(**request)
            if code is None:  # PHP's array_merge: the body's value replaced the query's
                assert result.status_code == 200 and result.text.startswith("[" if fmt == "json" else "<?xml")
                continue
            try:
                data = assert_error(result, code, fmt)
            except AssertionError as exc:
                raise AssertionError(f"{name} ({fmt}): {result.text[:300]}") from exc
            if code == "limittoolarge":
                assert "is 1000." in data["message"]
            assert writes_snapshot() == before, name
            assert log_count() == logs + 1, name
            assert last_log().error_code == code, name
    assert_error(site.call(body={**good, "pad": "x" * 70_000}), "requesttoolarge", "xml")
    # the server is still up and serving; the first pass's state was never touched
    assert site.page() == []  # an incremental pass: nothing changed
    setv(site, 1, sync_mode=2)
    assert len(site.page()) == 10


def test_debuginfo_only_in_debug_mode(db_url):
    site = build_site(db_url, api_debug=True)
    data = assert_error(site.call(body=body(site, limit="abc")), "invalidparameter", debug=True)
    assert (
        data["debuginfo"]
        == 'Invalid external api parameter: the value is "abc", the server was expecting "int" type'
    )
    xml = assert_error(site.call(body=body(site, fmt="xml", limit=5000)), "limittoolarge", "xml", debug=True)
    assert xml["debuginfo"] == "Requested limit (5000) exceeds maximum allowed (1000) records per request."
    token = site.tokens[1]
    data = assert_error(site.call(body=body(site, token=token + "' OR 1=1")), "invalidtoken", debug=True)
    assert token not in json.dumps(data)


def test_company_max_records_override(db_url):
    site = build_site(db_url, max_records=20)
    data = assert_error(site.call(body=body(site, limit=21)), "limittoolarge")
    assert data["message"] == (
        "Requested limit is too large. Maximum allowed records per request is 20. "
        "Please reduce your limit parameter and try again."
    )
    setv(site, 1, max_records=5, sync_mode=2)
    assert "is 5." in assert_error(site.call(body=body(site, limit=6)), "limittoolarge")["message"]
    assert len(site.page(limit=5)) == 5
    assert len(site.page(company=2, limit=20)) == 10  # company 2 keeps the global maximum
    setv(site, 1, max_records=500)  # a company may also allow more than the global value
    assert len(site.page(limit=500)) == 10


def test_huge_offset_is_an_empty_page(db_url):
    site = build_site(db_url)
    setv(site, 1, sync_mode=2)
    for offset in (10, 10**6, 2**63 - 1):
        assert site.page(offset=offset) == []


SERVICES = {
    1: ("alx_report_api_custom", 1),
    2: ("alx_report_api", 1),
    3: ("moodle_mobile_app", 1),
    4: ("alx_report_api", 0),
}


def test_moodle_issued_tokens(db_url):
    def setup(b):
        b.insert(
            "external_services",
            [
                dict(
                    id=sid,
                    name=f"Service {sid}",
                    shortname=short,
                    enabled=enabled,
                    restrictedusers=0,
                    timecreated=NOW,
                )
                for sid, (short, enabled) in SERVICES.items()
            ],
        )
        b.user(300)  # no company at all
        b.user(301)
        b.member(2, 301)
        b.member(1, 301)  # in two companies: the lowest id wins
        b.user(302)
        b.member(1, 302, suspended=1)  # only a suspended membership
        rows = [
            (1, 100, 1, 0, None, None),
            (2, 100, 2, 0, None, None),
            (3, 100, 3, 0, None, None),
            (4, 100, 4, 0, None, None),
            (5, 100, 1, 1, None, None),
            (6, 100, 1, 0, NOW - 1, None),
            (7, 100, 1, 0, None, "10.0.0.0/8"),
            (8, 300, 1, 0, None, None),
            (9, 301, 1, 0, None, None),
            (10, 302, 1, 0, None, None),
            (11, 105, 2, 0, NOW + DAY, "127.0.0.1"),
        ]
        b.insert(
            "external_tokens",
            [
                dict(
                    id=tid,
                    token=f"{tid:032x}",
                    tokentype=ttype,
                    userid=uid,
                    externalserviceid=sid,
                    contextid=1,
                    creatorid=2,
                    validuntil=until,
                    iprestriction=ip,
                    timecreated=NOW - 1000,
                )
                for tid, uid, sid, ttype, until, ip in rows
            ],
        )

    site = build_site(db_url, setup=setup, failed_auth_limit=1000)
    setv(site, 1, sync_mode=2)
    setv(site, 2, sync_mode=2)
    company1 = {(u, k) for u in range(100, 105) for k in (10, 11)}
    company2 = {(u, k) for u in range(105, 110) for k in (10, 11)}
    for tid in (1, 2, 9):  # both accepted services; the owner's lowest company
        assert set(keys(site.page(f"{tid:032x}"))) == company1
    assert set(keys(site.page(f"{11:032x}"))) == company2  # valid until tomorrow, from its one address
    for tid, code in (
        (3, "invalidtoken"),
        (4, "invalidtoken"),
        (5, "invalidtoken"),
        (6, "accessexception"),
        (7, "accessexception"),
        (8, "nocompanyassociation"),
        (10, "nocompanyassociation"),
    ):
        before, logs = writes_snapshot(), log_count()
        for fmt in ("json", "xml"):
            assert_error(site.call(body=body(site, token=f"{tid:032x}", fmt=fmt)), code, fmt)
        assert (writes_snapshot(), log_count()) == (before, logs + 2), tid
    assert_error(site.call(body=body(site, token=f"{11:032x}"), remote_addr="127.0.0.2"), "accessexception")
    log = last_log()
    assert (log.error_code, log.token_ref, log.ip_address) == ("accessexception", "", "127.0.0.2")
    site.page(f"{1:032x}")
    log = last_log()
    assert (log.token_ref, log.companyid, log.userid, log.error_code) == ("w:1", 1, 100, "")


def test_get_allowed_when_configured(db_url):
    site = build_site(db_url, allow_get_method=True)
    setv(site, 1, sync_mode=2)
    result = site.call(method="GET", query=body(site))
    assert result.status_code == 200 and len(json.loads(result.text)) == 10
    assert json.loads(site.call(method="GET", query=body(site, limit=3)).text) == site.page(limit=3)


def test_refused_get_costs_no_rate_limit_budget(db_url):
    site = build_site(db_url, rate_limit=2)
    setv(site, 1, sync_mode=2)
    for _ in range(5):
        assert_error(site.call(method="GET", query=body(site)), "invalidrequestmethod")
    assert len(site.page()) == 10
    assert len(site.page()) == 10
    assert_error(site.call(body=body(site)), "ratelimitexceeded")
    assert_error(site.call(method="GET", query=body(site)), "invalidrequestmethod")


def test_rate_limit_per_token_per_local_day(db_url):
    # New York: NOW is 17:13:20 local (22:13:20 UTC); UTC midnight comes 6400 s later, local midnight 24400 s
    site = build_site(db_url, rate_limit=3, timezone="America/New_York")
    other, _ = tokens.create_token(1, name="second", actor="tests", now=NOW)
    setv(site, 2, rate_limit=5)
    assert len(site.page()) == 10
    assert_error(site.call(body=body(site, limit="abc")), "invalidparameter")  # errors count too
    site.page()
    before = writes_snapshot()
    for fmt in ("json", "xml"):
        data = assert_error(site.call(body=body(site, fmt=fmt)), "ratelimitexceeded", fmt)
        assert data["message"] == "Daily rate limit exceeded"
    assert writes_snapshot() == before
    assert last_log().error_code == "ratelimitexceeded"
    # per token: the company's second token has its own budget
    for _ in range(3):
        site.page(other)
    assert_error(site.call(body=body(site, token=other)), "ratelimitexceeded")
    # company override
    for _ in range(5):
        site.page(company=2)
    assert_error(site.call(body=body(site, company=2)), "ratelimitexceeded")
    # refused requests did not count: raising the limit by one allows exactly one more
    setv(site, 1, rate_limit=4)
    site.page()
    assert_error(site.call(body=body(site)), "ratelimitexceeded")
    # UTC midnight is not the local day's end
    site.advance(6400 + 60)
    assert_error(site.call(body=body(site)), "ratelimitexceeded")
    # the local day's end resets the count
    site.advance(24400 - 6400)
    for _ in range(4):
        site.page()
    assert_error(site.call(body=body(site)), "ratelimitexceeded")
    # 0 = unlimited (company), and a global 0
    setv(site, 1, rate_limit=0)
    for _ in range(6):
        site.page()


def test_global_rate_limit_zero_is_unlimited(db_url):
    site = build_site(db_url, rate_limit=0)
    for _ in range(8):
        site.page(limit=1)
    setv(site, 1, rate_limit=2)
    assert_error(site.call(body=body(site)), "ratelimitexceeded")


def test_failed_authentications_throttled_per_ip(db_url):
    site = build_site(db_url, failed_auth_limit=3, failed_auth_window_minutes=10)
    setv(site, 1, sync_mode=2)
    bad = "0" * 32
    for _ in range(3):
        assert_error(site.call(body=body(site, token=bad), remote_addr="198.51.100.7"), "invalidtoken")
    before = writes_snapshot()
    for fmt in ("json", "xml"):
        assert_error(
            site.call(body=body(site, token=bad, fmt=fmt), remote_addr="198.51.100.7"), "toomanyfailures", fmt
        )
    assert writes_snapshot() == before
    # The address's failures never lock out a valid token (a NAT or a BI cloud's egress is shared).
    assert len(json.loads(site.call(body=body(site), remote_addr="198.51.100.7").text)) == 10
    assert_error(site.call(body=body(site, token=bad), remote_addr="198.51.100.8"), "invalidtoken")
    site.advance(10 * 60 + 1)
    assert_error(site.call(body=body(site, token=bad), remote_addr="198.51.100.7"), "invalidtoken")


# --- passes and sync modes ------------------------------------------------------------------------

COMPANY1 = {(u, k) for u in range(100, 105) for k in (10, 11)}


def unenrol(site, userid: int, courseid: int) -> None:
    site.b.execute(
        "DELETE FROM {t:user_enrolments} WHERE userid = ? AND enrolid = ?", [userid, courseid * 10]
    )


def complete(site, userid: int, courseid: int, index: int = 0) -> None:
    site.b.complete_module(userid, site.b.modules_of(courseid)[index], when=site.now - 1)


def changed(site, step: int = 60, **sync) -> None:
    """Let time pass, then sync what the test changed in Moodle."""
    site.advance(step)
    result = site.sync(**sync)
    assert result.status == "success", result


def test_auto_first_pass_full_then_exactly_the_changes(db_url):
    site = build_site(db_url)
    unenrol(site, 104, 11)
    changed(site)
    assert status_row(site) is None
    first = flat(site.read_pass(limit=4))
    assert keys(first) == sorted(COMPANY1 - {(104, 11)})
    assert [r for r in first if r["userid"] == 100][0]["percentage"] == 0.0
    state = status_row(site)
    assert (state.pass_mode, state.last_sync_status, state.last_sync_records, state.done_at) == (
        "",
        "success",
        9,
        site.now,
    )
    # nothing changed: an incremental pass with nothing in it
    assert site.page() == []
    # a change, a new row and a revived one, and a change in company 2 only
    site.advance(60)
    complete(site, 100, 10)
    site.b.user(120)
    site.b.member(1, 120)
    site.b.enrol(120, 10)
    site.b.enrol(104, 11)
    complete(site, 105, 10)
    changed(site)
    delta = flat(site.read_pass(limit=2))
    assert keys(delta) == [(100, 10), (104, 11), (120, 10)]
    assert delta[0]["percentage"] == 50.0
    assert site.page() == []


def test_removals_force_a_full_pass_in_auto_mode(db_url):
    site = build_site(db_url)
    site.read_pass()
    unenrol(site, 102, 10)
    complete(site, 100, 11)
    changed(site)
    assert set(keys(flat(site.read_pass(limit=3)))) == COMPANY1 - {(102, 10)}
    assert site.page() == []  # the full pass completed: back to incremental
    # a removal in company 2 does not force company 1 to a full pass
    unenrol(site, 105, 10)
    changed(site)
    assert site.page() == []


def test_always_incremental_never_forces_full(db_url):
    site = build_site(db_url)
    setv(site, 1, sync_mode=1)
    assert set(keys(flat(site.read_pass(limit=3)))) == COMPANY1  # no completed pass yet: everything
    unenrol(site, 102, 10)
    complete(site, 101, 11)
    changed(site)
    assert keys(flat(site.read_pass(limit=3))) == [(101, 11)]  # the removed row is simply absent
    site.advance(400 * DAY)  # nor does the window
    assert site.page() == []


def test_always_full(db_url):
    site = build_site(db_url)
    setv(site, 1, sync_mode=2)
    for _ in range(3):
        assert set(keys(flat(site.read_pass(limit=3)))) == COMPANY1
    assert status_row(site).sync_mode == "full"


def test_disabled_is_full_without_tracking(db_url):
    site = build_site(db_url)
    setv(site, 1, sync_mode=3)
    for _ in range(2):
        assert set(keys(flat(site.read_pass(limit=3)))) == COMPANY1
    assert status_row(site) is None
    assert SyncStatus.select().count() == 0


def test_window_expiry_forces_full(db_url):
    site = build_site(db_url)
    setv(site, 1, sync_window_hours=1)
    site.read_pass()
    site.advance(HOUR - 10)
    assert site.page() == []  # within the window
    site.advance(HOUR + 1)  # an hour after the last completed pass
    assert set(keys(site.page())) == COMPANY1
    assert site.page() == []


def test_a_failed_pass_forces_full(db_url, monkeypatch):
    site = build_site(db_url)
    site.read_pass()
    complete(site, 100, 10)
    changed(site)
    real = feed.read_page

    def broken(*args, **kwargs):
        raise peewee.ProgrammingError("the reporting table is being rebuilt")

    assert keys(site.page(limit=1)) == [(100, 10)]  # an incremental pass begins...
    monkeypatch.setattr(feed, "read_page", broken)
    assert_error(site.call(body=body(site, limit=1, offset=1)), "servicetemporarilyunavailable")
    assert last_log().error_code == "servicetemporarilyunavailable"
    assert status_row(site).last_sync_status == "failed"
    monkeypatch.setattr(feed, "read_page", real)
    assert set(keys(site.page())) == COMPANY1  # ...and after its failure the next pass is full
    assert status_row(site).last_sync_status == "success"
    assert site.page() == []


def test_database_unreachable_mid_request(db_url, monkeypatch):
    site = build_site(db_url)
    real = feed.read_page

    def unreachable(*args, **kwargs):  # after the token was read
        raise peewee.OperationalError("server has gone away")

    monkeypatch.setattr(feed, "read_page", unreachable)
    logs = log_count()
    for fmt in ("json", "xml"):
        data = assert_error(site.call(body=body(site, fmt=fmt)), "servicetemporarilyunavailable", fmt)
        assert "gone away" not in json.dumps(data)
    assert log_count() == logs  # the database is down: the log rows wait, and no error either
    monkeypatch.setattr(feed, "read_page", real)
    assert set(keys(site.page())) == COMPANY1
    assert log_count() == logs + 3  # written with the next request's


def test_mode_and_window_pinned_for_the_whole_pass(db_url):
    site = build_site(db_url)
    site.read_pass()
    for uid in (100, 102, 104):
        complete(site, uid, 11)
    changed(site)
    pages = []

    def meanwhile(i):
        if i == 0:  # settings that would make a new pass full, and a removal that would too
            setv(site, 1, sync_mode=2, sync_window_hours=1)
            unenrol(site, 101, 10)
            complete(site, 103, 10)  # a change after the pass began, ahead of the position
            changed(site, step=2 * HOUR)

    pages = site.read_pass(limit=1, between=meanwhile)
    assert keys(flat(pages)) == [(100, 11), (102, 11), (103, 10), (104, 11)]  # still the incremental window
    assert set(keys(site.page())) == COMPANY1 - {(101, 10)}  # the next pass follows the new settings


def test_a_full_pass_keeps_its_place_while_rows_come_and_go(db_url):
    site = build_site(db_url)

    def meanwhile(i):
        if i == 0:
            unenrol(site, 100, 10)  # already served
            unenrol(site, 100, 11)
            site.b.user(99)  # a new user before the position: not in this pass
            site.b.member(1, 99)
            site.b.enrol(99, 10)
            changed(site)

    rows = flat(site.read_pass(limit=3, between=meanwhile))
    assert keys(rows) == sorted(COMPANY1)  # nothing skipped although the rows before the position changed
    assert len(set(keys(rows))) == len(rows)
    # the next pass is full (removals) and has the newcomer
    assert set(keys(flat(site.read_pass(limit=3)))) == (COMPANY1 - {(100, 10), (100, 11)}) | {(99, 10)}


def test_two_tokens_of_a_company_have_independent_passes(db_url):
    site = build_site(db_url)
    other, _ = tokens.create_token(1, name="second", actor="tests", now=NOW)
    site.read_pass()
    assert site.page() == []
    assert set(keys(site.page(other))) == COMPANY1  # its own first pass
    complete(site, 103, 10)
    changed(site)
    assert keys(site.page()) == [(103, 10)]
    assert keys(site.page(other)) == [(103, 10)]
    assert SyncStatus.select().where(SyncStatus.companyid == 1).count() == 2


def test_pass_state_lives_in_the_database(db_url):
    site = build_site(db_url)
    second = site.second_app()
    clients = itertools.cycle([None, second])

    def meanwhile(i):
        if i == 0:
            unenrol(site, 100, 10)  # served on page 1: an OFFSET continuation would skip a row
            changed(site)

    pages, offset = [], 0
    while True:
        rows = site.page(limit=3, offset=offset, client=next(clients))
        pages.append(rows)
        if len(rows) < 3:
            break
        meanwhile(len(pages) - 1)
        offset += len(rows)
    assert keys(flat(pages)) == sorted(COMPANY1)
    # the pass completed in whichever process served its last page: both now serve the next one
    complete(site, 101, 11)
    changed(site)
    assert set(keys(site.page(client=second))) == COMPANY1 - {(100, 10)}  # full: a row was removed
    assert site.page() == []


def test_a_page_outside_any_pass_completes_nothing(db_url):
    """A pass starts at offset 0: a retried last page, or a jump with no pass under way, is served
    but must not complete a pass, or the changes it never showed would be taken as delivered."""
    site = build_site(db_url)
    assert [len(p) for p in site.read_pass(limit=4)] == [4, 4, 2]
    complete(site, 100, 10)
    changed(site)
    state = writes_snapshot()
    assert site.page(limit=4, offset=8) == []  # the client retries the last page of the finished pass
    assert site.page(limit=4, offset=4) == []
    assert writes_snapshot() == state
    assert keys(site.page(limit=4)) == [(100, 10)]  # the change still comes with the next pass
    assert site.page() == []
    # a client whose very first call is not at offset 0 gets no pass either
    other, _ = tokens.create_token(1, name="late", actor="tests", now=site.now)
    assert len(site.page(other, limit=4, offset=4)) == 4
    assert status_row(site, token=other) is None
    assert set(keys(site.page(other))) == COMPANY1


# --- cache ----------------------------------------------------------------------------------------


def test_cache_hits_and_never_stale(db_url):
    site = build_site(db_url, setup=_course12)
    setv(site, 1, sync_mode=2)

    def read(fmt="json", **params):
        result = site.call(body=body(site, fmt=fmt, **params))
        assert result.status_code == 200
        return result.text, last_log().cache_hit

    text, hit = read()
    assert hit == 0
    assert read() == (text, 1)
    assert read(limit=3)[1] == 0 and read(limit=3)[1] == 1
    assert read("xml")[1] == 0 and read("xml")[1] == 1
    # a sync that changes only company 2 leaves company 1's entries valid
    complete(site, 105, 10)
    changed(site)
    assert read() == (text, 1)
    # a sync that changes company 1's rows: fresh at once
    complete(site, 100, 10)
    changed(site)
    text2, hit = read()
    assert hit == 0 and text2 != text
    assert json.loads(text2)[0]["percentage"] == 50.0
    assert read() == (text2, 1)
    # settings and IOMAD course lists are never served stale
    setv(site, 1, field_email=0)
    text3, hit = read()
    assert hit == 0 and all("email" not in r for r in json.loads(text3))
    site.b.company_course(1, 12)
    text4, hit = read()
    assert hit == 0 and {(100, 12), (101, 12)} <= set(keys(json.loads(text4)))
    setv(site, 1, course_12=1)
    text5, hit = read()
    assert hit == 0 and set(keys(json.loads(text5))) == {(100, 12), (101, 12)}


def test_cache_across_processes_and_passes(db_url):
    site = build_site(db_url)
    second = site.second_app()
    # auto mode: page 1 of a pass that is not finished, asked twice, is the same page
    site.page(limit=4)
    site.page(limit=4)
    assert last_log().cache_hit == 1
    site.page(limit=4, client=second)
    assert last_log().cache_hit == 0  # its own cache
    site.page(limit=4, client=second)
    assert last_log().cache_hit == 1
    complete(site, 100, 10)
    changed(site)
    rows = site.page(limit=4, client=second)
    assert last_log().cache_hit == 0 and rows[0]["percentage"] == 50.0
    # no cache for a company with cache_ttl_minutes 0
    setv(site, 1, cache_ttl_minutes=0)
    site.page(limit=4)
    site.page(limit=4)
    assert last_log().cache_hit == 0


# --- request log ----------------------------------------------------------------------------------


def test_request_log_and_no_plain_token_in_the_database(db_url):
    site = build_site(db_url, allow_get_method=True)
    token = site.tokens[1]
    row = ApiToken.get(ApiToken.token_hash == tokens.hash_token(token))
    agent = "Microsoft.Data.Mashup (https://go.microsoft.com/fwlink/?LinkID=304225) " + "x" * 300
    logs = log_count()
    site.call(body=body(site, limit=4), remote_addr="203.0.113.9", user_agent=agent)
    log = last_log()
    assert (
        log.endpoint,
        log.companyid,
        log.token_ref,
        log.record_count,
        log.error_code,
        log.error_message,
        log.ip_address,
        log.user_agent,
        log.cache_hit,
        log.timecreated,
        log.http_status,
    ) == ("get_course_progress", 1, f"m:{row.id}", 4, "", None, "203.0.113.9", agent[:255], 0, NOW, 200)
    assert float(log.response_time_ms) > 0
    assert json.loads(log.additional_data) == {"request_method": "POST", "limit": 4, "offset": 0}
    # the token in the query string of a GET, an error with a token, errors without one
    site.call(method="GET", query=body(site, limit=2), remote_addr="2001:db8::1")
    assert (last_log().record_count, last_log().ip_address) == (2, "2001:db8::1")
    assert json.loads(last_log().additional_data)["request_method"] == "GET"
    site.call(body=body(site, limit=5000))
    assert (last_log().error_code, last_log().token_ref, last_log().companyid) == (
        "limittoolarge",
        f"m:{row.id}",
        1,
    )
    site.call(body=body(site, token=token + "0"))
    assert (last_log().error_code, last_log().token_ref, last_log().companyid) == ("invalidtoken", "", 0)
    site.call(body=body(site, token=token[:-1]))
    site.call(body=body(site, token=f"{token}' OR 1=1 --"))
    assert log_count() == logs + 6
    # the plain token (or a piece of it) is nowhere in the database
    secrets = [token, token.upper(), token[:16], token[16:]]
    for table in site.db.get_tables():
        text = repr(site.db.execute_sql(f"SELECT * FROM {_quote(site, table)}").fetchall())
        for secret in secrets:
            assert secret not in text, table


def _quote(site, table: str) -> str:
    from models.db import quote

    return quote(table, site.db)


# --- properties -----------------------------------------------------------------------------------

POOL = 8  # users per example
COURSES = (10, 11, 12, 13)
COMPANY = st.fixed_dictionaries(
    {
        "members": st.sets(st.integers(0, POOL - 1), max_size=5),
        "suspended": st.sets(st.integers(0, POOL - 1), max_size=2),  # suspended membership rows
        "courses": st.sets(st.sampled_from(COURSES)),  # company_course
        "switches": st.none() | st.dictionaries(st.sampled_from(COURSES), st.integers(0, 1), min_size=1),
    }
)


def _more_courses(b) -> None:
    b.course(12, modules=1)
    b.course(13, modules=0)


@pytest.fixture
def iso_site(db_url):
    site = build_site(db_url, setup=_more_courses, rate_limit=0)
    site.examples = itertools.count(1)
    return site


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    companies=st.lists(COMPANY, min_size=2, max_size=3),
    enrolments=st.lists(st.sets(st.sampled_from(COURSES), max_size=3), min_size=POOL, max_size=POOL),
    limits=st.lists(st.integers(1, 6), min_size=3, max_size=3),
    tokens_per_company=st.integers(1, 2),
)
def test_property_tenant_isolation(iso_site, companies, enrolments, limits, tokens_per_company):
    site, n = iso_site, next(iso_site.examples)
    b = site.b
    site.advance(60)
    users = [10_000 + n * 100 + i for i in range(POOL)]
    for uid, courses in zip(users, enrolments, strict=True):
        b.user(uid)
        for course in sorted(courses):
            b.enrol(uid, course, timecreated=site.now - 10)
    expected = {}
    for i, spec in enumerate(companies):
        cid = 100 + n * 10 + i
        b.company(cid)
        for course in sorted(spec["courses"]):
            b.company_course(cid, course)
        for index in sorted(spec["suspended"]):
            b.member(cid, users[index], suspended=1, departmentid=cid * 100 + 1)  # another department
        for index in sorted(spec["members"]):
            b.member(cid, users[index])
        if spec["switches"]:
            setv(site, cid, **{f"course_{c}": v for c, v in spec["switches"].items()})
        enabled = {c for c, v in spec["switches"].items() if v == 1} if spec["switches"] else spec["courses"]
        expected[cid] = {(users[i], c) for i in spec["members"] for c in enrolments[i] if c in enabled}
    site.advance(60)
    assert site.sync().status == "success"
    for cid, want in expected.items():
        for t in range(tokens_per_company):
            token, _ = tokens.create_token(cid, name=f"t{t}", actor="tests", now=site.now)
            got = flat(site.read_pass(token, limit=limits[t % len(limits)]))
            assert len(got) == len(set(keys(got)))
            assert set(keys(got)) == want, (cid, spec)
            assert all(r["email"] == f"user{r['userid']}@example.com" for r in got)
    # and the sites' own companies still see only theirs
    for cid in (1, 2):
        assert set(keys(site.page(company=cid, limit=1000))) <= {
            (u, k) for u in range(95 + cid * 5, 100 + cid * 5) for k in COURSES
        }


OPS = st.lists(
    st.tuples(
        st.sampled_from(["complete", "rename", "unenrol", "enrol", "join"]),
        st.integers(0, 99),
        st.sampled_from((10, 11)),
    ),
    min_size=1,
    max_size=3,
)


class Paging:
    """One company whose Moodle data the property test changes between a client's pages."""

    def __init__(self, site, n: int, users: int, mode: int):
        self.site, self.b = site, site.b
        self.cid = 200 + n
        self.next_uid = 20_000 + n * 100
        self.users: list[int] = []
        self.enrolled: set[tuple[int, int]] = set()
        self.done: dict[tuple[int, int], int] = {}
        self.b.company(self.cid)
        for course in (10, 11):
            self.b.company_course(self.cid, course)
        for _ in range(users):
            self.join(courses=(10, 11))
        setv(site, self.cid, sync_mode=mode)
        self.sync()
        self.token, _ = tokens.create_token(self.cid, name="pager", actor="tests", now=site.now)

    def join(self, courses=(10,)) -> None:
        uid = self.next_uid
        self.next_uid += 1
        self.b.user(uid, timemodified=self.site.now)
        self.b.member(self.cid, uid)
        for course in courses:
            self.b.enrol(uid, course, timecreated=self.site.now - 5)
            self.enrolled.add((uid, course))
        self.users.append(uid)

    def apply(self, ops) -> None:
        b, now = self.b, self.site.now
        for kind, pick, course in ops:
            uid = self.users[pick % len(self.users)]
            if kind == "complete" and (uid, course) in self.enrolled and self.done.get((uid, course), 0) < 2:
                index = self.done.get((uid, course), 0)
                b.complete_module(uid, b.modules_of(course)[index], when=now - 1)
                self.done[(uid, course)] = index + 1
            elif kind == "rename":
                b.execute(
                    "UPDATE {t:user} SET firstname = ?, timemodified = ? WHERE id = ?",
                    [f"F{uid}-{now}", now, uid],
                )
            elif kind == "unenrol" and (uid, course) in self.enrolled:
                b.execute(
                    "DELETE FROM {t:user_enrolments} WHERE userid = ? AND enrolid = ?", [uid, course * 10]
                )
                self.enrolled.discard((uid, course))
            elif kind == "enrol" and (uid, course) not in self.enrolled:
                b.enrol(uid, course, timecreated=now - 5, role=None)  # the role assignment stayed
                self.enrolled.add((uid, course))
            elif kind == "join":
                self.join()
        self.sync()

    def sync(self) -> None:
        self.site.advance(30)
        assert self.site.sync().status == "success"


@pytest.fixture
def paging_site(db_url):
    site = build_site(db_url, companies=(1,), users_per_company=1, rate_limit=0)
    site.examples = itertools.count(1)
    return site


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mode=st.sampled_from([0, 1, 2]),
    limit=st.integers(1, 4),
    users=st.integers(2, 5),
    schedule=st.lists(OPS, min_size=1, max_size=7),
)
def test_property_paging_under_concurrent_sync(paging_site, mode, limit, users, schedule):
    """SPEC §4.1: while syncs run between pages, (a) every row live for a whole full pass is in it;
    (b) every change committed before a pass starts is delivered by that pass or an earlier one;
    and every row served is the row as it is when its page is read."""
    site = paging_site
    world = Paging(site, next(site.examples), users, mode)
    batches = iter(schedule)
    seen: dict[tuple[int, int], tuple] = {}  # what the client last received, over all passes
    clock = itertools.count(1)  # ticks: one per batch of changes
    removals: list[tuple[int, tuple[int, int]]] = []  # (tick, key) of every row that vanished
    completed_start: int | None = None  # tick at which the last completed pass started

    def change() -> set[tuple[int, int]]:
        """Apply the next batch of changes, if any; return the keys live afterwards."""
        before = live(world.cid)
        batch = next(batches, None)
        if batch is None:
            return set(before)
        world.apply(batch)
        after = live(world.cid)
        tick = next(clock)
        removals.extend((tick, k) for k in set(before) - set(after))
        return set(after)

    for number in range(4):
        start_tick = next(clock)
        start = live(world.cid)
        throughout = set(start)  # live at every moment the test looked during the pass
        delivered: dict[tuple[int, int], tuple] = {}
        offset = 0
        while True:
            rows = site.page(world.token, limit=limit, offset=offset)
            now_live = live(world.cid)
            for row in rows:
                k = (row["userid"], row["courseid"])
                assert now_live.get(k) == shown(row), ("stale or foreign row", k)
                delivered[k] = shown(row)
            if len(rows) < limit:
                break
            offset += len(rows)
            throughout &= change()
        state = status_row(site, world.cid, world.token)
        full_like = state.sync_mode == "full" or state.pass_since_seq == 0
        if mode == 0:  # auto: full when no pass completed yet, or rows vanished since its start (and stay so)
            gone = {k for tick, k in removals if completed_start is not None and tick > completed_start}
            assert full_like == (completed_start is None or bool(gone - set(start))), number
        elif mode == 2:
            assert full_like
        if full_like:  # (a)
            assert throughout <= set(delivered), ("missed by a full pass", throughout - set(delivered))
        for k in throughout:  # (b): the row as it was when the pass started, now or before
            assert k in delivered or seen.get(k) == start[k], (
                "change never delivered",
                k,
                start[k],
                seen.get(k),
            )
        seen.update(delivered)
        completed_start = start_tick
        change()  # between passes


def test_managed_token_of_a_vanished_company(db_url):
    site = build_site(db_url)
    site.b.execute("DELETE FROM {t:company} WHERE id = 2")
    before = writes_snapshot()
    for fmt in ("json", "xml"):
        assert_error(site.call(body=body(site, company=2, fmt=fmt)), "nocompanyassociation", fmt)
    assert writes_snapshot() == before
    assert len(site.page()) == 10


def test_enabling_a_course_after_a_completed_pass_makes_the_next_pass_full(db_url):
    """A newly enabled course's rows carry no new change sequence: an incremental pass would miss them."""
    site = build_site(db_url)
    setv(site, 1, course_10=1)  # only course 10 enabled
    assert {k for k in keys(flat(site.read_pass(limit=3)))} == {k for k in COMPANY1 if k[1] == 10}
    assert site.page() == []  # nothing changed: the next pass is empty
    setv(site, 1, course_11=1)
    assert set(keys(flat(site.read_pass(limit=3)))) == COMPANY1
    setv(site, 1, field_email=0)
    rows = flat(site.read_pass(limit=3))
    assert set(keys(rows)) == COMPANY1 and all("email" not in r for r in rows)


def test_an_unexpected_error_is_answered_in_moodles_format_without_details(db_url, monkeypatch):
    site = build_site(db_url)

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(site.app.context.pipeline, "moodle_page", broken)
    result = site.call(body=body(site, limit=5))
    assert result.status_code == 200
    assert result.json == {
        "exception": "moodle_exception",
        "errorcode": "unexpectederror",
        "message": "Unexpected error",
    }
    assert "secret" not in result.text


def test_only_parameter_parsing_answers_invalidparameter(db_url, monkeypatch):
    site = build_site(db_url)
    assert_error(site.call(body=body(site, limit="9" * 5000)), "invalidparameter")  # too many digits

    def broken(*args, **kwargs):
        raise ValueError("a bug deep in the page code")

    monkeypatch.setattr(site.app.context.pipeline, "moodle_page", broken)
    assert_error(site.call(body=body(site)), "unexpectederror")  # a bug, not the client's mistake


def test_a_cached_page_costs_one_read_of_the_token_and_no_write(db_url):
    """Item 3 of the speed issue: the token, the company's settings, its data version and the cache
    epoch come in one SELECT; the request-log row and the rate-limit count wait for the writer."""
    site = build_site(db_url, setup=_course12)
    setv(site, 1, sync_mode=3, rate_limit=1000)
    writer = site.app.context.writer
    writer.interval = 3600  # running, so the request path only notes its log row and its count
    writer.start()
    try:
        first = site.call(body=body(site))
        with statements(site.db) as seen:
            again = site.call(body=body(site))
        assert again.text == first.text and last_log_pending(site) == 2
        assert len(seen) == 1 and seen[0].lstrip("( ").upper().startswith("SELECT"), seen
        # a change of settings is seen by the very next request (nothing cached but pages)
        setv(site, 1, field_email=0)
        assert all("email" not in row for row in json.loads(site.call(body=body(site)).text))
    finally:
        writer.close()
    assert last_log().cache_hit == 0  # the rows were written at close, the last one a miss


def last_log_pending(site) -> int:
    return site.app.context.requests.pending()
