"""Saved SQL reports (SPEC §8.5): the validator's refusals and its fuzzing, bound parameters, read-only
runs stopped by each server's time limit, the CLI (refusals: exit 2, one line, nothing stored,
audited) and the API (`--api` reports bind :companyid to the token's company)."""

from __future__ import annotations

import re

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from alxapi.config import load_config
from alxapi.savedsql import runner
from alxapi.savedsql.validator import DEFAULT_ALLOWED_TABLES, DIALECTS, Refused, check, compile_query
from models.analytics import SavedReport
from models.db import dialect, quote
from models.plugin import Audit, Reporting

from .support.api_helpers import build_site
from .support.cli_helpers import Alx

BACKENDS = ("sqlite", "mysql", "postgresql")
ALLOWED = DEFAULT_ALLOWED_TABLES

REFUSED = [
    ("DELETE FROM {user}", "not DELETE"),
    ("UPDATE {user} SET firstname = 'x'", "not UPDATE"),
    ("INSERT INTO {user} (id) VALUES (1)", "not INSERT"),
    ("DROP TABLE {user}", "not DROP"),
    ("CREATE TABLE x (a INT)", "not CREATE"),
    ("SELECT 1 FROM {user}; DROP TABLE {user}", "exactly one statement"),
    ("SELECT 1 FROM {user} -- hidden\n; DELETE FROM {user}", "exactly one statement"),
    ("SELECT 'a'; DELETE FROM {user} -- '", "exactly one statement"),
    ("SELECT 1 FROM {user} /* ; */ ; SELECT 2", "exactly one statement"),
    ("SELECT * INTO {course} FROM {user}", "INTO"),
    ("SELECT * FROM {user} FOR UPDATE", "locking clauses"),
    ("PRAGMA writable_schema = 1", "PRAGMA"),
    ("SET @a = 1", "SET"),
    ("CALL p()", "COMMAND"),
    ("ATTACH DATABASE '/tmp/x' AS x", ""),
    ("WITH d AS (DELETE FROM {user} RETURNING id) SELECT * FROM d", "DELETE"),
    ("SELECT * FROM {config}", "{config} is not in report_allowed_tables"),
    ("SELECT * FROM {external_tokens}", "{external_tokens} is not in report_allowed_tables"),
    ("SELECT * FROM {sessions}", "{sessions} is not in report_allowed_tables"),
    ("SELECT * FROM mdl_user", "in braces"),
    ("SELECT * FROM information_schema.tables", "outside the allowed tables"),
    ("SELECT sleep(5)", "SLEEP"),
    ("SELECT benchmark(1000000, md5('a'))", "BENCHMARK"),
    ("SELECT pg_sleep(5)", "PG_SLEEP"),
    ("SELECT load_file('/etc/passwd')", "LOAD_FILE"),
    ("SELECT pg_read_file('/etc/passwd')", "PG_READ_FILE"),
    ("SELECT lo_import('/etc/passwd')", "LO_IMPORT"),
    ("SELECT readfile('/etc/passwd')", "READFILE"),
    ("SELECT load_extension('x')", "LOAD_EXTENSION"),
    ("SELECT nextval('s')", "NEXTVAL"),
    ("SELECT setval('s', 1)", "SETVAL"),
    ("SELECT get_lock('a', 10)", "GET_LOCK"),
    ("SELECT pg_advisory_lock(1)", "PG_ADVISORY_LOCK"),
    ("SELECT id FROM {user} WHERE id = ?", "named"),
    ("SELECT @@version", ""),
    ("", "empty"),
    ("SELEC id FROM {user}", ""),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("sql", "reason"), REFUSED)
def test_the_validator_refuses_and_says_why(sql, reason, backend):
    with pytest.raises(Refused) as err:
        check(sql, backend, ALLOWED)
    message = str(err.value)
    assert "\n" not in message and message
    assert reason in message, message


@pytest.mark.parametrize("backend", BACKENDS)
def test_ordinary_queries_are_accepted_with_their_tables_and_parameters(backend):
    sql = (
        "WITH done AS (SELECT userid, COUNT(*) AS n FROM {course_completions} WHERE timecompleted > 0 GROUP BY userid) "
        "SELECT r.userid, MAX(r.lastname) AS lastname, COALESCE(MAX(d.n), 0) AS completed, ROUND(AVG(r.percentage), 2) AS pct "
        "FROM {local_alx_api_reporting} r LEFT JOIN done d ON d.userid = r.userid "
        "WHERE r.companyid = :companyid AND r.lastname LIKE :name AND r.is_deleted = 0 "
        "GROUP BY r.userid UNION SELECT id, lastname, 0, 0 FROM {user} WHERE id = :companyid"
    )
    checked = check(sql, backend, ALLOWED)
    assert set(checked.tables) == {"course_completions", "local_alx_api_reporting", "user"}
    assert checked.parameters == ("companyid", "name")
    text, order = compile_query(checked, backend, "mdl_", "?" if backend == "sqlite" else "%s")
    assert order == ["companyid", "name", "companyid"]
    assert ":companyid" not in text and "{user}" not in text and "mdl_user" in text
    with pytest.raises(Refused, match="not in report_allowed_tables"):
        check(sql, backend, ["user", "course_completions"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_statement_inside_a_string_is_only_a_string(backend):
    checked = check("SELECT CONCAT('x', '; DELETE FROM {user}') AS s FROM {course}", backend, ALLOWED)
    assert checked.tables == ("course",)


# --- fuzz: nothing outside the rules is ever accepted ---------------------------------------------

FRAGMENTS = [
    "SELECT", "id", "*", "FROM", "{user}", "{config}", "{course}", "mdl_user", "WHERE", "id = 1", ";", "DELETE",
    "DROP TABLE", "INSERT INTO", "UPDATE", "SET", "x = 1", "--", "/*", "*/", "'", "';", "UNION", "SELECT 1",
    "sleep(1)", "pg_sleep(1)", "COUNT(*)", "FOR UPDATE", "INTO", "WITH a AS (SELECT 1)", "(", ")", ",", ":p", "?",
    "PRAGMA", "ATTACH", "CALL", "nextval('s')", "load_file('x')", "benchmark(1, 1)", "RETURNING id", "JOIN",
    "ON", "AND", "OR", "@@version", "information_schema.tables", "{sessions}", "LIMIT 5",
]  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    words=st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=14),
    backend=st.sampled_from(BACKENDS),
)
def test_fuzz_accepted_sql_stays_inside_the_rules(words, backend):
    sql = " ".join(words)
    try:
        checked = check(sql, backend, ALLOWED)
    except Refused:
        return
    text, _order = compile_query(checked, backend, "mdl_", "?" if backend == "sqlite" else "%s")
    # What will run, read back independently: one query over allowed tables, nothing that writes.
    # The driver's %s markers become NULL (sqlglot's MySQL dialect reads a bare % as modulo).
    plain = re.sub(r"%([%s])", lambda m: "%" if m.group(1) == "%" else "NULL", text)
    tree = sqlglot.parse(plain, read=DIALECTS[backend])
    assert len(tree) == 1 and isinstance(tree[0], exp.Select | exp.Union | exp.Intersect | exp.Except), (
        sql,
        text,
    )
    writes = (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Command, exp.Set, exp.Pragma)
    assert not any(isinstance(node, writes) for node in tree[0].walk()), (sql, text)
    ctes = {c.alias_or_name for c in tree[0].find_all(exp.CTE)}
    for table in tree[0].find_all(exp.Table):
        assert table.name in ctes or table.name.removeprefix("mdl_") in ALLOWED, (sql, text)
    assert not tree[0].args.get("locks") and not tree[0].args.get("into")


# --- running --------------------------------------------------------------------------------------


def config(**flags):
    return load_config(flags={"timezone": "UTC", **flags}, env={}, search_paths=[])


def rows_for(moodle):
    moodle.company(1)
    for uid in (100, 101):
        moodle.user(uid, first=f"Name{uid}")
    Reporting.create(
        companyid=1,
        userid=100,
        courseid=10,
        firstname="Ann",
        lastname="O'Neil",
        status="completed",
        percentage=100,
    )
    Reporting.create(
        companyid=2,
        userid=101,
        courseid=10,
        firstname="Bob",
        lastname="Bell",
        status="not_started",
        percentage=0,
    )


def test_parameters_are_bound_not_pasted(moodle):
    rows_for(moodle)
    sql = "SELECT :v AS v, COUNT(*) AS n FROM {local_alx_api_reporting} WHERE lastname = :v OR companyid = :companyid"
    hostile = "' OR 1=1 --"
    result = runner.run_sql(sql, {"v": hostile}, 1, config())
    assert result.columns == ["v", "n"]
    assert result.rows == [(hostile, 1)]  # the value came back as a value; only company 1's row matched
    quoted = runner.run_sql(sql, {"v": "O'Neil"}, 99, config())
    assert quoted.rows[0][1] == 1
    with pytest.raises(Refused, match="give --company"):
        runner.run_sql(sql, {"v": "x"}, None, config())
    with pytest.raises(Refused, match="needs a value for :v"):
        runner.run_sql(sql, {}, 1, config())
    with pytest.raises(Refused, match="no parameter :w"):
        runner.run_sql(sql, {"v": "x", "w": "y"}, 1, config())


def test_the_row_cap_is_reported(moodle):
    rows_for(moodle)
    result = runner.run_sql(
        "SELECT userid FROM {local_alx_api_reporting} ORDER BY userid", {}, None, config(report_max_rows=1)
    )
    assert (result.rows, result.cut) == ([(100,)], True)


def test_a_report_past_the_time_limit_is_stopped_by_the_server(moodle):
    moodle.company(1)
    moodle.insert(
        "department",
        [dict(id=500 + i, name=f"d{i}", shortname=f"d{i}", company=1, parent=0) for i in range(200)],
    )
    slow = (
        "SELECT COUNT(*) FROM {department} a, {department} b, {department} c, {department} d, {department} e"
    )
    with pytest.raises(runner.Stopped, match="report_max_seconds"):
        runner.run_sql(slow, {}, None, config(report_max_seconds=1))
    # The connection is usable and writable afterwards (read-only was for the run only).
    Reporting.create(companyid=1, userid=1, courseid=1)
    assert Reporting.select().count() == 1


def test_the_read_only_run_refuses_a_write_even_past_the_validator(moodle):
    rows_for(moodle)
    db = moodle.db
    kind = dialect(db)
    write = f"UPDATE {quote('mdl_local_alx_api_reporting', db)} SET firstname = 'pwned'"
    with pytest.raises(Exception) as err:
        if kind == "sqlite":
            runner._sqlite(db, write, [], 10, 5)
        else:
            runner._server(db, write, [], 10, kind, 5)
    assert "read" in str(err.value).lower()
    assert {r.firstname for r in Reporting.select()} == {"Ann", "Bob"}


# --- CLI ------------------------------------------------------------------------------------------


def test_cli_add_run_show_remove_and_refusals(moodle, db_url, tmp_path):
    rows_for(moodle)
    alx = Alx(tmp_path, db_url)
    (tmp_path / "ok.sql").write_text(
        "SELECT lastname, status FROM {local_alx_api_reporting} WHERE companyid = :companyid ORDER BY lastname"
    )
    (tmp_path / "bad.sql").write_text("SELECT * FROM {config}")
    refused = alx("report", "add", "cfg", "--sql-file", "bad.sql")
    assert refused.code == 2 and refused.stderr.count("\n") == 1
    assert "report refused: table {config} is not in report_allowed_tables" in refused.stderr
    assert SavedReport.select().count() == 0
    assert Audit.select().where(Audit.action == "report.refused").count() == 1

    alx.ok("report", "add", "names", "--sql-file", "ok.sql", "--title", "Names", "--api")
    assert [r["name"] for r in alx.json("report", "list", "--json")][-1] == "names"
    assert "ORDER BY lastname" in alx.ok("report", "show", "names").stdout
    rows = alx.json("report", "run", "names", "--company", "1", "--format", "json")
    assert rows == [{"lastname": "O'Neil", "status": "completed"}]
    missing = alx("report", "run", "names")
    assert missing.code == 2 and "give --company" in missing.stderr
    again = alx("report", "add", "names", "--sql-file", "ok.sql")
    assert again.code == 2 and "exists" in again.stderr
    builtin = alx("report", "add", "trends", "--sql-file", "ok.sql")
    assert builtin.code == 2 and "built-in" in builtin.stderr
    (tmp_path / "noco.sql").write_text("SELECT lastname FROM {local_alx_api_reporting}")
    shared = alx("report", "add", "noco", "--sql-file", "noco.sql", "--api")
    assert shared.code == 2 and "must use :companyid" in shared.stderr
    alx.ok("report", "remove", "names")
    assert alx("report", "remove", "names").code == 2
    actions = [a.action for a in Audit.select().order_by(Audit.id)]
    assert actions.count("report.add") == 1 and "report.run" in actions and actions[-1] == "report.remove"


# --- API ------------------------------------------------------------------------------------------


def test_api_runs_shared_reports_for_the_tokens_company_only(db_url):
    from models.analytics import SavedReport as Saved

    site = build_site(db_url, rate_limit=0)
    Saved.create(
        name="mine",
        title="Mine",
        sql="SELECT userid, courseid FROM {local_alx_api_reporting} WHERE companyid = :companyid ORDER BY userid, courseid",
        api=1,
    )
    Saved.create(name="private", title="Private", sql="SELECT 1 AS one FROM {course}", api=0)
    headers = {"Authorization": f"Bearer {site.tokens[2]}"}
    listed = site.client.simulate_get("/api/v1/reports", headers=headers).json["data"]
    assert "mine" in [r["name"] for r in listed] and "private" not in [r["name"] for r in listed]
    got, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = site.client.simulate_get("/api/v1/reports/mine", params=params, headers=headers)
        assert r.status_code == 200, r.text
        got += r.json["data"]
        cursor = r.json["meta"]["next"]
        if not cursor:
            break
    expected = [
        {"userid": r.userid, "courseid": r.courseid}
        for r in Reporting.select()
        .where(Reporting.companyid == 2, Reporting.is_deleted == 0)
        .order_by(Reporting.userid, Reporting.courseid)
    ]
    assert got == expected and len(got) == 10
    # :companyid is the token's company; it cannot be given in the query string.
    forced = site.client.simulate_get("/api/v1/reports/mine", params={"companyid": "1"}, headers=headers)
    assert forced.status_code == 400 and "--company" in forced.json["detail"]
    assert site.client.simulate_get("/api/v1/reports/private", headers=headers).status_code == 404
