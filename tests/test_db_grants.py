"""The least-privilege grants of the README, run as written on MariaDB and PostgreSQL.

The SQL recipes are read from README.md (section LEAST-PRIVILEGE GRANTS) and executed by the
server's superuser, with only the database, account and password replaced. Moodle's tables belong to
another account (the test's ``alx`` user, standing in for Moodle's own). Then, as the restricted
account: `alx install`, `alx check` and `alx check --repair`, full, incremental and one-company
syncs, `alx runs`, a token, and the API served by `alx serve` (Moodle endpoint, REST v1, health);
and every kind of write to a Moodle table is refused by the server itself.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
from pathlib import Path

import peewee
import pytest

from alxapi.demo.generator import generate
from models.db import open_database

from .support.api_server import Server
from .support.cli_helpers import NOW, PREFIX, REPORTING, Alx, Peek, table

README = Path(__file__).resolve().parent.parent / "README.md"
FUNCTION = "local_alx_report_api_get_course_progress"
_accounts = itertools.count(1)


def readme_recipe(backend: str) -> str:
    """The ```sql block of the backend's subsection of LEAST-PRIVILEGE GRANTS."""
    text = README.read_text()
    section = text.split("\n## LEAST-PRIVILEGE GRANTS\n", 1)[1].split("\n## ", 1)[0]
    heading = "\n### MariaDB / MySQL\n" if backend == "mariadb" else "\n### PostgreSQL\n"
    part = section.split(heading, 1)[1].split("\n### ", 1)[0]
    return re.search(r"```sql\n(.*?)```", part, re.S).group(1)


def statements(sql: str) -> list[str]:
    without_comments = re.sub(r"--[^\n]*", "", sql)
    return [s.strip() for s in without_comments.split(";") if s.strip()]


def adapt(sql: str, backend: str, database: str, account: str, password: str) -> str:
    """The README's names replaced by this test's: database moodle, account alx, password change-me."""
    sql = sql.replace("'change-me'", f"'{password}'")
    if backend == "mariadb":
        sql = sql.replace("'alx'@'localhost'", f"'{account}'@'127.0.0.1'")  # the tests connect over TCP
        return re.sub(r"\bmoodle\.", f"`{database}`.", sql)
    sql = re.sub(r"\bON DATABASE moodle\b", f'ON DATABASE "{database}"', sql)
    return re.sub(r"\balx\b", account, sql)


@pytest.fixture
def restricted(db_server, db_backend, db_url, tmp_path):
    """A Moodle site owned by another account, and the README's restricted account: its URL."""
    db = open_database(db_url, PREFIX)
    with db.connection_context():
        generate(db, PREFIX, size="tiny", seed=11, now=NOW)
    db.close()
    database = db_url.rsplit("/", 1)[1]
    account, password = f"alx_least_{next(_accounts)}", secrets.token_hex(8)
    recipe = statements(adapt(readme_recipe(db_backend), db_backend, database, account, password))
    assert len(recipe) >= 4, recipe
    db_server.execute_as_admin(recipe, database=database)
    yield f"{db_server.scheme}://{account}:{password}@127.0.0.1:{db_server.port}/{database}"
    if db_backend == "mariadb":
        db_server.execute_as_admin([f"DROP USER '{account}'@'127.0.0.1'"])
    else:  # its tables and grants go with the database; the role must go first
        db_server.execute_as_admin([f"DROP OWNED BY {account} CASCADE"], database=database)
        db_server.execute_as_admin([f"DROP ROLE {account}"])


def test_the_readme_grants_are_enough_to_install_sync_and_serve(restricted, tmp_path):
    alx = Alx(tmp_path / "work", restricted)
    alx.ok("install")
    assert "up to date" in alx.ok("install").stderr
    alx.ok("check")
    alx.ok("check", "--repair")
    full = alx.json("sync", "--full", "--json")
    assert full["status"] == "success" and full["created"] > 0, full
    with Peek(restricted) as peek:
        assert peek.count(REPORTING) == full["created"]
        company = int(peek.scalar(f"SELECT MIN(companyid) FROM {REPORTING} WHERE is_deleted = 0"))
    incremental = alx.json("sync", "--json")
    assert (incremental["status"], incremental["detection"]) == ("success", "log"), incremental
    assert alx.json("check", "--json")["change_feed"]["log"] is True
    assert alx.json("sync", "--company", str(company), "--json")["status"] == "success"
    assert [r["status"] for r in alx.json("runs", "--json")] == ["success"] * 3
    token = alx.ok("token", "create", "--company", str(company)).stdout.strip()
    alx.ok("company", "set", str(company), "sync_mode=2")

    server = Server(restricted, tmp_path / "serve", threads=2)
    try:
        conn = server.connection()
        conn.request(
            "POST",
            "/webservice/rest/server.php",
            body=f"wstoken={token}&wsfunction={FUNCTION}&moodlewsrestformat=json",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        resp = conn.getresponse()
        rows = json.loads(resp.read())
        assert resp.status == 200 and isinstance(rows, list) and rows, rows
        conn.request("GET", "/api/v1/course-progress", headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 200 and body["data"], body
        conn.request("GET", "/api/v1/health")
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 200 and body["database"]["reachable"] is True, body
        conn.close()
    finally:
        assert server.stop() == 0, server.stderr
    assert server.warnings() == [], server.stderr  # e.g. "request log not written"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {user} SET lastname = 'x'",
        "INSERT INTO {course_completions} (userid, course, timecompleted) VALUES (1, 1, 1)",
        "DELETE FROM {role_assignments}",
        "ALTER TABLE {user} ADD COLUMN alx_probe INT",
        "DROP TABLE {company_users}",
        "CREATE INDEX alx_probe ON {enrol} (courseid)",
    ],
)
def test_the_readme_grants_refuse_every_write_to_moodle_tables(restricted, statement, db_backend):
    sql = statement.format(
        **{
            name: table(name)
            for name in ("user", "course_completions", "role_assignments", "company_users", "enrol")
        }
    )
    with Peek(restricted) as peek:
        before = peek.count(table("user"))
        with pytest.raises(peewee.DatabaseError) as refused:
            peek.execute(sql)
        message = str(refused.value).lower()
        assert "denied" in message or "must be owner" in message, message
        assert peek.count(table("user")) == before


def test_a_revoked_grant_on_one_table_fails_the_sync_not_the_product(
    restricted, db_server, db_backend, tmp_path
):
    alx = Alx(tmp_path / "work", restricted)
    alx.ok("install")
    alx.ok("sync")
    account = restricted.split("://", 1)[1].split(":", 1)[0]
    database = restricted.rsplit("/", 1)[1]
    completions = table("course_completions")
    grantee = f"'{account}'@'127.0.0.1'" if db_backend == "mariadb" else account
    on = f"`{database}`.{completions}" if db_backend == "mariadb" else completions

    db_server.execute_as_admin([f"REVOKE SELECT ON {on} FROM {grantee}"], database=database)
    alx.json("runs", "--json")
    alx.json("token", "list", "--json")
    failed = alx("sync")
    assert failed.code == 1 and completions in failed.stderr, failed
    assert alx.json("runs", "--json")[0]["status"] == "failed"
    worker = alx("worker", "--once")
    assert worker.code == 1 and "sync     failed" in worker.stderr, worker  # not 78: systemd restarts it
    assert "sync_failed" in {a["alert_type"] for a in alx.json("alerts", "list", "--json")}

    db_server.execute_as_admin([f"GRANT SELECT ON {on} TO {grantee}"], database=database)
    assert alx.json("sync", "--json")["status"] == "success"

    # Without the grant on config_plugins the log feed cannot be vouched for: the full detection
    # runs, and the sync succeeds (on PostgreSQL the refused read must not abort its transaction).
    plugins = table("config_plugins")
    on = f"`{database}`.{plugins}" if db_backend == "mariadb" else plugins
    db_server.execute_as_admin([f"REVOKE SELECT ON {on} FROM {grantee}"], database=database)
    blind = alx.json("sync", "--json")
    assert blind["status"] == "success", blind
    assert blind["detection"].startswith("full detection: Moodle's config_plugins cannot be read ("), blind
