"""The `alx` command as a sysadmin uses it: a real subprocess per call, exit codes, stdout/stderr, JSON.

SPEC §7 and the foundation issue: install/check/repair, sync and its JSON summary, runs, the sync
lock (exit 75), configuration precedence and errors (exit 78), bad input (one clear message, no
traceback, nothing written), the demo, and --help everywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from alxapi.cli import build_parser
from alxapi.reporting.lock import LOCK_NAME, SyncLock
from models.db import open_database
from models.plugin import State

from .support import site_cache
from .support.cli_helpers import NOW, PREFIX, REPORTING, SYNC_RUNS, Alx, Peek, assert_user_error, table
from .support.moodle_builder import MoodleBuilder
from .support.sync_helpers import three_learners_in_two_courses

PLUGIN_TABLES = {
    table(n)
    for n in (
        "local_alx_api_reporting",
        "local_alx_api_state",
        "local_alx_api_sync_runs",
        "local_alx_api_settings",
        "local_alx_api_logs",
        "local_alx_api_alerts",
        "local_alx_api_cache",
        "local_alx_api_sync_status",
    )
}
SUMMARY_KEYS = {"created", "updated", "deleted", "unchanged", "seconds", "status", "mode"}
# (company, user, course) keys of the `site` fixture: company 1 users in both courses, company 2 in one.
SITE_KEYS = {(1, u, c) for u in (100, 101, 102) for c in (10, 11)} | {(2, u, 10) for u in (200, 201)}


def build_site(db_url: str) -> None:
    """A small IOMAD site: two companies, two courses with two activities, eight reportable rows.
    Built once per test process and backend, then copied (site_cache)."""

    def build(url: str) -> None:
        db = open_database(url, PREFIX)
        with db.connection_context():
            b = MoodleBuilder(db, now=NOW)
            three_learners_in_two_courses(b, companies=(1, 2))
            for uid in (200, 201):
                b.user(uid)
                b.member(2, uid)
                b.enrol(uid, 10)
            b.complete_module(100, b.modules_of(10)[0], when=NOW - 100)
        db.close()

    site_cache.fill(db_url, ("cli-small",), build)


@pytest.fixture
def alx(tmp_path, db_url):
    """`alx` bound to the test's database (``--db``); the database starts empty."""
    return Alx(tmp_path / "work", db_url)


@pytest.fixture
def site(alx, db_url):
    """`alx` bound to a database holding the small site (Moodle tables only, ALX not installed)."""
    build_site(db_url)
    return alx


@pytest.fixture
def installed(site):
    site.ok("install")
    return site


@pytest.fixture
def synced(installed):
    assert installed.json("sync", "--json")["created"] == len(SITE_KEYS)
    return installed


@pytest.fixture
def plain(tmp_path):
    """`alx` without a database (for commands and errors that need none)."""
    return Alx(tmp_path / "work")


def snapshot(url: str) -> tuple:
    """What a command must not change: tables, reporting rows with their change sequence, sync runs."""
    with Peek(url) as peek:
        tables = peek.tables()
        rows = peek.reporting() if REPORTING in tables else {}
        seqs = (
            sorted(peek.db.execute_sql(f"SELECT id, change_seq, last_updated FROM {REPORTING}").fetchall())
            if REPORTING in tables
            else []
        )
        runs = (
            sorted(peek.db.execute_sql(f"SELECT id, status, timefinished FROM {SYNC_RUNS}").fetchall())
            if SYNC_RUNS in tables
            else []
        )
    return tables, rows, seqs, runs


# --- the test harness ------------------------------------------------------------------------------


def test_the_fork_server_runs_alx_as_the_console_script_does(synced, tmp_path):
    """Most tests run `alx` as forks of a pre-imported interpreter (tests/support/alx_forkserver.py);
    for the same environment, working directory, time zone and arguments it must answer exactly as the
    installed console script does: status, stdout and stderr."""
    (synced.workdir / "alx.toml").write_text("rate_limit = 7\n")
    env = {"TZ": "America/New_York", "ALX_API_PORT": "8123"}
    runs = [
        ("--help",),
        ("nosuchcommand",),
        ("config", "--json"),
        ("runs",),
        ("check", "--json"),
        ("--db", f"sqlite:///{tmp_path / 'missing.db'}", "check"),
    ]
    for args in runs:
        db = args[0] != "--db"
        forked = synced(*args, db=db, env=env, forked=True)
        script = synced(*args, db=db, env=env, forked=False)
        assert (forked.code, forked.stdout, forked.stderr) == (script.code, script.stdout, script.stderr), (
            f"fork server:\n{forked}\nconsole script:\n{script}"
        )
    # The comparison above means something only if each run's settings reach the command:
    shown = synced("config", "--json", env=env, forked=True).json()
    assert shown["file"] == str(synced.workdir / "alx.toml")
    assert shown["settings"]["rate_limit"]["value"] == "7"
    assert shown["settings"]["api_port"] == {"source": "env:ALX_API_PORT", "value": "8123"}, shown[
        "settings"
    ]["api_port"]
    new_york = synced("runs", env={"TZ": "America/New_York"}, forked=True).stdout
    assert new_york != synced("runs", env={"TZ": "UTC"}, forked=True).stdout, "TZ changes the times shown"


# --- --help -----------------------------------------------------------------------------------------

# What the issue requires each help text to offer, on top of every option the parser defines.
REQUIRED_OPTIONS = {
    None: ["--db", "--prefix", "--config", "install", "check", "sync", "runs", "config", "demo"],
    "install": [],
    "check": ["--repair", "--json"],
    "sync": ["--full", "--company", "--json", "--batch-size"],
    "runs": ["--limit", "--json"],
    "config": ["--json"],
    "demo": ["--no-tui", "--no-serve", "--size", "--file"],
}


def _parser_options() -> dict[str | None, list[str]]:
    parser = build_parser()
    found: dict[str | None, list[str]] = {None: []}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = [s for a in sub._actions for s in a.option_strings]
        else:
            found[None].extend(action.option_strings)
    return found


def test_help_of_alx_and_every_subcommand(plain):
    options = _parser_options()
    assert set(REQUIRED_OPTIONS) <= set(options), "a subcommand required by the issue is missing"
    for command, wanted in REQUIRED_OPTIONS.items():
        args = [command, "--help"] if command else ["--help"]
        result = plain.ok(*args)
        assert result.stdout.startswith("usage: alx"), result
        for word in {*wanted, *options[command]}:
            assert word in result.stdout, f"`alx {' '.join(args)}` does not mention {word}:\n{result}"
    main = plain.ok("--help").stdout
    assert "75" in main and "78" in main, "the exit statuses are documented in `alx --help`"


@pytest.mark.parametrize("args", [[], ["nosuchcommand"], ["sync", "--bogus"], ["runs", "--limit", "many"]])
def test_usage_errors_exit_2(plain, args):
    result = plain(*args)
    assert result.code == 2, result
    assert "usage: alx" in result.stderr, result


# --- install and check ------------------------------------------------------------------------------


def test_install_creates_the_tables_then_says_up_to_date(site, db_url, db_backend):
    first = site.ok("install")
    assert "applied" in first.stderr.lower(), first
    with Peek(db_url) as peek:
        tables = peek.tables()
    assert tables >= PLUGIN_TABLES
    report = site.json("check", "--json")
    assert report["healthy"] is True and report["schema_version"] == report["latest_version"] >= 1
    # MariaDB runs on mysqlclient when it is installed (the suite installs it), else PyMySQL.
    drivers = {"sqlite": "sqlite3 (SQLite ", "mariadb": "mysqlclient ", "postgresql": "psycopg2 "}
    assert report["driver"].startswith(drivers[db_backend]), report["driver"]
    assert report["repaired"] == []
    assert {t["table"] for t in report["tables"]} >= PLUGIN_TABLES | {table("user"), table("company_users")}

    again = site.ok("install")
    assert "up to date" in again.stderr, again
    assert "applied" not in again.stderr.lower()
    with Peek(db_url) as peek:
        assert peek.tables() == tables


def test_check_plain_output_when_healthy(installed):
    result = installed.ok("check")
    assert "PROBLEM" not in result.stdout
    assert re.search(rf"ok\s+plugin\s+{REPORTING}", result.stdout), result
    assert re.search(rf"ok\s+moodle\s+{table('user_enrolments')}", result.stdout), result


def _assert_unhealthy(alx: Alx, table_name: str, problem: str) -> None:
    result = alx("check")
    assert result.code == 1, result
    line = next((ln for ln in result.stdout.splitlines() if table_name in ln.split()), "")
    assert line.startswith("PROBLEM") and problem in line, (
        f"{table_name} should be reported ({problem}):\n{result}"
    )
    assert "--repair" in result.stderr, result
    report = alx("check", "--json")
    assert report.code == 1, report
    data = report.json()
    assert data["healthy"] is False
    entry = next(t for t in data["tables"] if t["table"] == table_name)
    assert entry["ok"] is False and problem in entry["problem"], entry
    assert all(t["ok"] for t in data["tables"] if t["table"] != table_name), data


def _assert_repairs(alx: Alx, table_name: str) -> None:
    repaired = alx.ok("check", "--repair")
    assert table_name in repaired.stderr, f"the repair should name what it fixed:\n{repaired}"
    data = alx.json("check", "--json")
    assert data["healthy"] is True, data
    assert alx.json("sync", "--json")["status"] == "success"


def test_check_reports_a_missing_plugin_table_and_repair_recreates_it(synced, db_url):
    with Peek(db_url) as peek:
        peek.execute(f"DROP TABLE {REPORTING}")
    _assert_unhealthy(synced, REPORTING, "missing")
    # Commands that need the table refuse to run rather than failing half-way.
    assert_user_error(synced("sync"), 1, REPORTING, "alx check --repair")
    _assert_repairs(synced, REPORTING)
    with Peek(db_url) as peek:
        assert set(peek.reporting()) == SITE_KEYS


def test_check_reports_a_missing_column_and_repair_adds_it(synced, db_url):
    with Peek(db_url) as peek:
        peek.execute(f"ALTER TABLE {SYNC_RUNS} DROP COLUMN host")
    _assert_unhealthy(synced, SYNC_RUNS, "host")
    assert_user_error(synced("runs"), 1, SYNC_RUNS, "alx check --repair")
    _assert_repairs(synced, SYNC_RUNS)
    runs = synced.json("runs", "--json")
    assert len(runs) == 2 and runs[0]["host"], runs  # the re-added column is written again


def test_check_reports_a_missing_index_and_repair_creates_it(synced, db_url, db_backend):
    with Peek(db_url) as peek:
        index = next(i for i in peek.db.get_indexes(SYNC_RUNS) if i.columns == ["timestarted"])
        on = f" ON {SYNC_RUNS}" if db_backend == "mariadb" else ""
        peek.execute(f"DROP INDEX {index.name}{on}")
    _assert_unhealthy(synced, SYNC_RUNS, "index")
    _assert_repairs(synced, SYNC_RUNS)
    with Peek(db_url) as peek:
        assert ["timestarted"] in [i.columns for i in peek.db.get_indexes(SYNC_RUNS)]


def test_check_without_moodle_tables_names_the_prefix(alx, db_url):
    with Peek(db_url) as peek:
        peek.execute("CREATE TABLE unrelated (id INTEGER PRIMARY KEY)")  # a database, just not Moodle's
    before = snapshot(db_url)
    result = alx("check")
    assert_user_error(result, 78, "'mdl_'", "prefix")
    assert re.search(rf"PROBLEM\s+moodle\s+{table('user')}\s+missing", result.stdout), result
    assert alx("check", "--json").json()["healthy"] is False
    assert snapshot(db_url) == before


def test_check_with_a_wrong_prefix_names_it_and_does_not_advise_repair(installed, db_url):
    before = snapshot(db_url)
    result = installed("--prefix", "moodle_", "check")
    # The operator must learn that the prefix is wrong, not be sent to --repair (which would create
    # a second, empty set of ALX tables under the wrong prefix).
    assert_user_error(result, 78, "'moodle_'", "prefix")
    assert "--repair" not in result.stderr, result
    assert snapshot(db_url) == before


def test_check_repair_with_a_wrong_prefix_creates_nothing(installed, db_url):
    before = snapshot(db_url)
    result = installed("--prefix", "moodle_", "check", "--repair")
    assert_user_error(result, 78, "'moodle_'")
    assert snapshot(db_url) == before, "repair created tables under a prefix that has no Moodle tables"


@pytest.mark.parametrize("how", ["empty database", "wrong prefix"])
def test_install_refuses_without_moodle_tables(alx, db_url, how):
    if how == "wrong prefix":
        build_site(db_url)
        args, prefix = ["--prefix", "moodle_", "install"], "moodle_"
    else:
        with Peek(db_url) as peek:
            peek.execute("CREATE TABLE unrelated (id INTEGER PRIMARY KEY)")
        args, prefix = ["install"], PREFIX
    before = snapshot(db_url)
    assert_user_error(alx(*args), 78, f"'{prefix}'", "prefix")
    assert snapshot(db_url) == before, "install wrote ALX tables into a database without Moodle's"


# --- sync and runs ------------------------------------------------------------------------------------


def test_first_sync_is_full_then_incremental_writes_nothing(installed, db_url):
    first = installed.json("sync", "--json")
    assert set(first) >= SUMMARY_KEYS, first
    assert (first["mode"], first["status"]) == ("full", "success")
    assert (first["created"], first["updated"], first["deleted"], first["unchanged"]) == (
        len(SITE_KEYS),
        0,
        0,
        0,
    )
    assert isinstance(first["seconds"], float | int) and first["seconds"] >= 0
    with Peek(db_url) as peek:
        rows = peek.reporting()
    assert set(rows) == SITE_KEYS
    assert all(values[-1] == 0 for values in rows.values())  # none tombstoned
    before = snapshot(db_url)

    second = installed.json("sync", "--json")
    assert (second["mode"], second["status"]) == ("incremental", "success")
    assert (second["created"], second["updated"], second["deleted"]) == (0, 0, 0), second
    after = snapshot(db_url)
    assert after[:3] == before[:3], "an incremental sync with nothing to do rewrote rows"

    full = installed.json("sync", "--full", "--json")
    assert (full["mode"], full["status"]) == ("full", "success")
    assert (full["created"], full["updated"], full["deleted"], full["unchanged"]) == (0, 0, 0, len(SITE_KEYS))
    assert snapshot(db_url)[:3] == before[:3]


def test_sync_without_json_prints_a_summary_on_stderr(installed):
    result = installed.ok("sync")
    assert result.stdout == "", "data goes to stdout only when asked (--json)"
    assert re.search(rf"full sync success: {len(SITE_KEYS)} created", result.stderr), result


def test_sync_company_recomputes_that_company_only(synced, db_url):
    with Peek(db_url) as peek:
        # Renamed without touching timemodified: only a recomputation can notice.
        peek.execute(f"UPDATE {table('user')} SET lastname = 'Renamed' WHERE id IN (100, 200)")
    result = synced.json("sync", "--company", "1", "--json")
    assert (result["companyid"], result["status"]) == (1, "success")
    assert (result["created"], result["updated"], result["deleted"]) == (0, 2, 0), result
    assert result["unchanged"] == 4  # company 1's other rows; company 2's were not looked at
    with Peek(db_url) as peek:
        rows = peek.reporting()
    renamed = {key for key, values in rows.items() if values[1] == "Renamed"}
    assert renamed == {(1, 100, 10), (1, 100, 11)}, "company 2's row of user 200 must not be touched"

    runs = synced.json("runs", "--json")
    assert (runs[0]["companyid"], runs[0]["status"], runs[0]["updated"]) == (1, "success", 2), runs[0]

    rest = synced.json("sync", "--full", "--json")
    assert (rest["companyid"], rest["created"], rest["updated"], rest["deleted"]) == (0, 0, 1, 0), rest


def test_sync_company_that_does_not_exist_writes_nothing(synced, db_url):
    before = snapshot(db_url)
    result = synced("sync", "--company", "999", "--json")
    assert result.code == 0, result
    data = result.json()
    assert (data["created"], data["updated"], data["deleted"]) == (0, 0, 0), data
    assert snapshot(db_url)[:3] == before[:3]


def test_runs_lists_runs_with_status_and_counts(synced):
    synced.ok("sync")
    runs = synced.json("runs", "--json")
    assert [r["mode"] for r in runs] == ["incremental", "full"], "newest first"
    for run in runs:
        assert {
            "id",
            "status",
            "mode",
            "created",
            "updated",
            "deleted",
            "unchanged",
            "error",
            "timestarted",
            "timefinished",
        } <= set(run), run
        assert run["status"] == "success" and run["error"] is None
        assert run["timestarted"] == NOW  # ALX_NOW fixes the clock
    assert runs[1]["created"] == len(SITE_KEYS) and runs[0]["unchanged"] >= 0
    assert runs[0]["id"] > runs[1]["id"]

    limited = synced.json("runs", "--limit", "1", "--json")
    assert limited == runs[:1]

    table_text = synced.ok("runs").stdout.splitlines()
    assert table_text[0].split()[:4] == ["id", "started", "mode", "status"], table_text
    assert len(table_text) == 3 and "success" in table_text[1]


def test_runs_on_a_fresh_install_is_an_empty_list(installed):
    assert installed.json("runs", "--json") == []


# --- the sync lock (exit 75) ---------------------------------------------------------------------------


def test_sync_exits_75_naming_the_holder_while_another_sync_holds_the_lock(synced, db_url):
    db = open_database(db_url, PREFIX)
    with db.connection_context():
        SyncLock(900, holder="report-host:4242").acquire(NOW - 60)
    before = snapshot(db_url)
    for args in (["sync"], ["sync", "--json"], ["sync", "--full"], ["sync", "--company", "1"]):
        result = synced(*args)
        assert_user_error(result, 75, "report-host:4242", "started")
        assert result.stdout == "", result
    assert snapshot(db_url) == before, "a sync refused by the lock must not record a run or touch rows"

    with db.connection_context():
        SyncLock(900, holder="report-host:4242").release()
    assert synced.json("sync", "--json")["status"] == "success"
    db.close()


def test_a_stale_lock_expires(synced, db_url):
    db = open_database(db_url, PREFIX)
    with db.connection_context():
        SyncLock(900, holder="crashed-host:99").acquire(NOW - 3600)  # lease ended 45 minutes ago
    db.close()
    result = synced.json("sync", "--json")
    assert result["status"] == "success"
    # And it was really taken over: released at the end, so the next run gets it too.
    assert synced.json("sync", "--json")["status"] == "success"


HOLD_THE_LEASE = """
import sys, time
from alxapi.reporting.lock import LOCK_NAME, SyncLock
from models.plugin import State
from models.db import open_database
db = open_database(sys.argv[1], sys.argv[2])
with db.connection_context():
    SyncLock(900).acquire(int(time.time()))
print("held", flush=True)
time.sleep(120)
"""


def _hold_the_lease(db_url: str) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LEASE, db_url, PREFIX], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_killed_syncs_lease_on_this_host_is_taken_over_at_once(synced, db_url):
    holder = _hold_the_lease(db_url)
    try:
        assert_user_error(synced("sync"), 75, f":{holder.pid}")  # alive: the lease is respected
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        holder.stdout.close()
    result = synced("sync", "--json")  # not 15 minutes later: now
    assert result.code == 0 and result.json()["status"] == "success", result
    assert "took over the sync lease" in result.stderr


def test_a_dead_pid_on_another_host_or_boot_keeps_the_timeout(synced, db_url):
    db = open_database(db_url, PREFIX)
    with db.connection_context():
        SyncLock(900, holder="other-host:999999").acquire(NOW - 60)
        other_boot = {
            "holder": f"{socket.gethostname()}:999999",
            "started": NOW,
            "token": "x",
            "boot": "another",
        }
        assert_user_error(synced("sync"), 75, "other-host:999999")
        SyncLock(900, holder="other-host:999999").release()
        State.update(value_int=NOW + 900, value_text=json.dumps(other_boot)).where(
            State.name == LOCK_NAME
        ).execute()
    db.close()
    assert_user_error(synced("sync"), 75, ":999999")


# --- configuration -------------------------------------------------------------------------------------


def _settings(alx: Alx, *args: str, env: dict | None = None) -> dict:
    data = alx.json(*args, "config", "--json", env=env)
    return data


def test_config_precedence_flags_env_file_defaults(plain, tmp_path):
    conf = tmp_path / "conf" / "alx.toml"
    conf.parent.mkdir()
    conf.write_text('table_prefix = "file_"\nmax_records = 500\nrate_limit = 7\n', encoding="utf-8")
    env = {"ALX_TABLE_PREFIX": "env_", "ALX_MAX_RECORDS": "600"}

    data = _settings(plain, "--config", str(conf), "--prefix", "flag_", env=env)
    assert data["file"] == str(conf)
    s = data["settings"]
    assert s["table_prefix"] == {"value": "flag_", "source": "flag:--prefix"}
    assert s["max_records"] == {"value": "600", "source": "env:ALX_MAX_RECORDS"}
    assert s["rate_limit"] == {"value": "7", "source": f"file:{conf}"}
    assert s["log_retention_days"] == {"value": "90", "source": "default"}

    s = _settings(plain, "--config", str(conf), env=env)["settings"]
    assert s["table_prefix"] == {"value": "env_", "source": "env:ALX_TABLE_PREFIX"}

    s = _settings(plain, "--config", str(conf))["settings"]
    assert s["table_prefix"] == {"value": "file_", "source": f"file:{conf}"}
    assert s["max_records"] == {"value": "500", "source": f"file:{conf}"}

    # ALX_CONFIG names the file when --config does not; --config wins over it.
    other = tmp_path / "other.toml"
    other.write_text("max_records = 42\n", encoding="utf-8")
    data = _settings(plain, env={"ALX_CONFIG": str(conf)})
    assert (data["file"], data["settings"]["max_records"]["value"]) == (str(conf), "500")
    data = _settings(plain, "--config", str(other), env={"ALX_CONFIG": str(conf)})
    assert (data["file"], data["settings"]["max_records"]["value"]) == (str(other), "42")

    data = _settings(plain)
    assert data["file"] is None
    assert data["settings"]["table_prefix"] == {"value": "mdl_", "source": "default"}
    assert data["settings"]["max_records"] == {"value": "1000", "source": "default"}


def test_config_file_in_the_working_directory_is_found(plain):
    (plain.workdir / "alx.toml").write_text("rate_limit = 3\n", encoding="utf-8")
    data = _settings(plain)
    assert Path(data["file"]).resolve() == (plain.workdir / "alx.toml").resolve()
    assert data["settings"]["rate_limit"]["value"] == "3"


def test_config_masks_the_database_password(plain):
    url = "mysql://alx:S3cretPw@db.example.org/moodle"
    for args in (["--db", url, "config"], ["--db", url, "config", "--json"]):
        result = plain.ok(*args)
        assert "S3cretPw" not in result.output, result
        assert "alx:***@db.example.org" in result.stdout, result
    result = plain.ok("config", env={"ALX_DATABASE_URL": url})
    assert "S3cretPw" not in result.output and "env:ALX_DATABASE_URL" in result.stdout


def _bad_config_cases(tmp: Path) -> list[tuple[list[str], dict, list[str]]]:
    conf = tmp / "bad"
    conf.mkdir()
    (conf / "type.toml").write_text('max_records = "lots"\n', encoding="utf-8")
    (conf / "unknown.toml").write_text("max_recrods = 5\n", encoding="utf-8")
    (conf / "syntax.toml").write_text("max_records = \n", encoding="utf-8")
    (conf / "latin1.toml").write_bytes('timezone = "Europe/Zürich"\n'.encode("latin-1"))
    (conf / "range.toml").write_text("batch_size = 10\n", encoding="utf-8")
    cases = []
    if os.geteuid() != 0:  # root reads any file: the directory case below covers unreadable files then
        locked = conf / "locked.toml"
        locked.write_text("max_records = 5\n", encoding="utf-8")
        locked.chmod(0)
        cases.append((["--config", str(locked), "config"], {}, ["locked.toml", "permission denied"]))
    return cases + [
        (["config"], {"ALX_MAX_RECORDS": "lots"}, ["max_records", "ALX_MAX_RECORDS", "integer"]),
        (["config"], {"ALX_RATE_LIMIT": "-1"}, ["rate_limit", "ALX_RATE_LIMIT"]),
        (["--config", str(conf / "type.toml"), "config"], {}, ["max_records", "type.toml"]),
        (
            ["--config", str(conf / "unknown.toml"), "config"],
            {},
            ["max_recrods", "did you mean", "max_records"],
        ),
        (["--config", str(conf / "syntax.toml"), "config"], {}, ["invalid TOML", "syntax.toml", "line 1"]),
        (["--config", str(conf / "latin1.toml"), "config"], {}, ["latin1.toml", "UTF-8"]),
        (["--config", str(conf / "range.toml"), "sync"], {}, ["batch_size", "range.toml"]),
        (["--config", str(conf / "missing.toml"), "config"], {}, ["missing.toml", "does not exist"]),
        (["--config", str(conf), "config"], {}, ["cannot read config file", "directory"]),
        (["config"], {"ALX_CONFIG": str(conf / "gone.toml")}, ["gone.toml", "ALX_CONFIG"]),
        (["sync", "--batch-size", "10"], {}, ["batch_size", "--batch-size", "50"]),
        (["sync", "--max-sync-time", "0"], {}, ["max_sync_time", "--max-sync-time"]),
        (["--prefix", "Moodle-", "runs"], {}, ["table_prefix", "--prefix"]),
        (["runs"], {"ALX_TIMEZONE": "Mars/Olympus"}, ["timezone", "ALX_TIMEZONE"]),
        (["--db", "oracle://scott:Tig3r@db/orcl", "sync"], {}, ["database_url", "sqlite:///", "--db"]),
    ]


def test_invalid_configuration_exits_78_with_one_clear_message(plain, tmp_path):
    for args, env, needles in _bad_config_cases(tmp_path):
        result = plain(*args, env=env)
        assert_user_error(result, 78, "configuration error", *needles)
        assert result.stdout == "", result
        assert "Tig3r" not in result.output, f"the password leaked:\n{result}"


def test_invalid_configuration_writes_nothing(synced, db_url, tmp_path):
    conf = tmp_path / "broken.toml"
    conf.write_text("batch_size = 1\n", encoding="utf-8")
    before = snapshot(db_url)
    for args, env in (
        (["sync", "--full"], {"ALX_BATCH_SIZE": "zero"}),
        (["--config", str(conf), "sync", "--full"], {}),
        (["check", "--repair"], {"ALX_MAX_SYNC_TIME": "forever"}),
        (["install"], {"ALX_LOCK_STALE_SECONDS": "1"}),
    ):
        assert_user_error(synced(*args, env=env), 78, "configuration error")
    assert snapshot(db_url) == before


# --- bad input: databases ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["mysql://x:y@127.0.0.1:1/db", "postgresql://x:y@127.0.0.1:1/db"])
def test_unreachable_database(plain, url):
    for command in (["sync", "--json"], ["runs"], ["check"], ["install"]):
        result = plain("--db", url, *command)
        assert_user_error(result, 1, "cannot connect", url.replace(":y@", ":***@"), "--db", "running")
        assert ":y@" not in result.output, f"the password leaked:\n{result}"
        assert result.stdout == ""
    result = plain("runs", env={"ALX_DATABASE_URL": url})
    assert_user_error(result, 1, "cannot connect", "ALX_DATABASE_URL")


def test_database_server_down(synced, db_server, db_url):
    before = snapshot(db_url)
    db_server.stop(keep_data=True)
    try:
        for command in (["sync", "--json"], ["runs"]):
            result = synced(*command)
            assert_user_error(result, 1, "cannot connect", "running")
            assert db_server.password not in result.output, f"the password leaked:\n{result}"
    finally:
        db_server.start()
    assert snapshot(db_url) == before
    assert synced.json("sync", "--json")["status"] == "success"


@pytest.mark.parametrize("url", ["oracle://u:Hunt3r2@db/moodle", "mongodb://db/moodle", "moodle.sqlite3"])
def test_wrong_url_scheme(plain, url):
    result = plain("--db", url, "sync")
    assert_user_error(result, 78, "database_url", "sqlite:///", "mysql://", "postgresql://")
    assert "Hunt3r2" not in result.output


def test_a_sqlite_path_that_does_not_exist_is_not_created(plain, tmp_path):
    missing = tmp_path / "nowhere" / "moodle.sqlite3"
    typo = tmp_path / "mooodle.sqlite3"
    for path in (missing, typo):
        url = f"sqlite:///{path}"
        for command in (
            ["install"],
            ["check"],
            ["check", "--repair"],
            ["sync", "--full", "--json"],
            ["runs"],
            ["runs", "--json"],
        ):
            result = plain("--db", url, *command)
            assert_user_error(result, 1, str(path), "not found", "alx demo")
            assert result.stdout == ""
        result = plain("install", env={"ALX_DATABASE_URL": url})
        assert_user_error(result, 1, str(path), "ALX_DATABASE_URL")
    assert not missing.parent.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"], "nothing may be created"


def test_a_sqlite_url_with_two_slashes_says_how_to_write_it(plain):
    # sqlite://data/moodle.db is a classic slip for sqlite:///data/moodle.db.
    result = plain("--db", "sqlite://data/moodle.db", "runs")
    assert result.code in (1, 78), result
    assert_user_error(result, result.code, "sqlite:///")
    assert not (plain.workdir / "data").exists() and not (plain.workdir / "moodle.db").exists()


def test_missing_moodle_tables_names_the_prefix_and_writes_nothing(alx, db_url):
    with Peek(db_url) as peek:
        peek.execute("CREATE TABLE unrelated (id INTEGER PRIMARY KEY)")
    before = snapshot(db_url)
    for command in (["sync"], ["sync", "--full", "--json"], ["runs", "--json"]):
        result = alx(*command)
        assert_user_error(result, 78, "Moodle", "'mdl_'", "--prefix")
        assert result.stdout == ""
    assert snapshot(db_url) == before


def test_wrong_prefix_names_it_and_writes_nothing(synced, db_url):
    before = snapshot(db_url)
    for args, env, source in (
        (["--prefix", "moodle_", "sync", "--full"], {}, "--prefix"),
        (["sync", "--json"], {"ALX_TABLE_PREFIX": "moodle_"}, "ALX_TABLE_PREFIX"),
        (["--prefix", "moodle_", "runs"], {}, "--prefix"),
    ):
        result = synced(*args, env=env)
        assert_user_error(result, 78, "'moodle_'", source, "Moodle")
    assert snapshot(db_url) == before


def test_alx_tables_not_installed(site, db_url):
    before = snapshot(db_url)
    for command in (["sync"], ["runs"]):
        assert_user_error(site(*command), 1, "alx install")
    assert snapshot(db_url) == before


# --- demo ---------------------------------------------------------------------------------------------


def test_demo_builds_the_file_syncs_prints_next_steps_and_reuses_it(plain):
    first = plain.ok("demo", "--no-tui", "--no-serve", "--size", "tiny", "--file", "demo.sqlite3")
    path = (plain.workdir / "demo.sqlite3").resolve()
    url = f"sqlite:///{path}"
    assert path.is_file()
    assert sorted(p.name for p in plain.workdir.iterdir() if p.name.startswith("demo")) == ["demo.sqlite3"], (
        "no half-built or journal files left behind"
    )
    assert "building" in first.stderr and re.search(r"full sync: [1-9]\d* created", first.stderr), first
    assert url in first.stdout, "the next steps name the database"
    for step in ("runs", "sync", "check", "config"):
        assert re.search(rf"--db {re.escape(url)} {step}\b", first.stdout), (
            f"next steps lack `{step}`:\n{first}"
        )

    # The next steps work.
    demo = Alx(plain.workdir, url)
    assert demo.json("check", "--json")["healthy"] is True
    runs = demo.json("runs", "--json", "--limit", "1000")
    # A week of seeded history (for the console's trends), then the demo's own full sync.
    assert len(runs) > 7 and (runs[0]["mode"], runs[0]["status"]) == ("full", "success")
    assert all(r["timestarted"] < runs[0]["timestarted"] for r in runs[1:])
    with Peek(url) as peek:
        rows = peek.count(REPORTING)
        companies = peek.count(table("company"))
    assert rows == runs[0]["created"] > 0 and companies >= 2
    stamp = path.stat().st_ino

    second = plain.ok("demo", "--no-tui", "--no-serve", "--size", "tiny", "--file", "demo.sqlite3")
    assert "reusing" in second.stderr and "building" not in second.stderr, second
    assert re.search(r"incremental sync: 0 created, 0 updated, 0 tombstoned", second.stderr), second
    assert path.stat().st_ino == stamp, "the file was rebuilt instead of reused"
    latest = demo.json("runs", "--json", "--limit", "2")
    assert latest[0]["mode"] == "incremental" and latest[1]["id"] == runs[0]["id"]


def test_demo_into_a_directory_that_does_not_exist_fails_cleanly(plain, tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "demo.sqlite3"
    result = plain("demo", "--no-tui", "--no-serve", "--size", "tiny", "--file", str(target))
    assert_user_error(result, 1)
    error = [line for line in result.stderr.splitlines() if line.startswith("alx:")]
    assert error and str(target.parent) in error[-1], (
        f"the error should name the missing directory:\n{result}"
    )
    assert not (tmp_path / "no").exists()


def test_demo_rejects_an_unknown_size(plain):
    result = plain("demo", "--no-tui", "--no-serve", "--size", "enormous", "--file", "x.sqlite3")
    assert result.code in (1, 2), result
    assert "Traceback" not in result.output and "enormous" in result.stderr, result
    for word in ("tiny", "small", "medium"):
        assert word in result.stderr, result
    assert not (plain.workdir / "x.sqlite3").exists()
    assert not any(p.name.startswith("x.sqlite3") for p in plain.workdir.iterdir())


def test_serve_on_a_port_in_use_says_so_without_a_traceback(installed):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = installed("serve", "--port", str(port))
    assert result.code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
