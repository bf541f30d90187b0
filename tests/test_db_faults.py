"""Database faults on real MariaDB and PostgreSQL servers: restarts, crashes, dropped connections, lock waits.

Every test here runs on a server of its own (``own_db_server``: private to this module), so stopping
or killing it never disturbs the rest of the suite. What must hold:

- a connection the server dropped (restart, crash, ``KILL``/``pg_terminate_backend``, idle timeout)
  is never used again: the next statement outside a transaction runs on a new connection;
- a sync caught by a stopped server fails with one clear line (no traceback, exit 1), leaves whole
  batches only, its run is marked failed by the next run, and the next run completes the work;
- the API answers the documented errors while the server is down (Moodle's format with HTTP 200,
  problem+json 503 on REST v1) and serves again as soon as it is back, without a restart;
- a lock held by another session on the reporting table makes the sync fail after
  ``db_lock_timeout_seconds`` with a message that says so, cleanly, and the next sync completes.

A run is caught in the middle deterministically as in ``test_sync_crash.py``: the test locks one
reporting row of a course in the middle (SELECT … FOR UPDATE in a transaction of its own); the sync
commits the batches before that course and then waits on the row.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlencode

import peewee
import pytest

from alxapi.demo.generator import generate
from alxapi.reporting.sync import SyncEngine, SyncOptions
from models.db import make_database, open_database
from models.plugin import SyncRun

from .support.api_server import Server
from .support.cli_helpers import (
    MEDIUM_WITHOUT_LOG,
    NOW,
    PREFIX,
    REPORTING,
    SYNC_QUEUE,
    Alx,
    Peek,
    by_course,
    table,
)
from .support.dbservers import with_driver

RUN_NOW = NOW + 60
STALE = 60  # lock_stale_seconds of the CLI runs (the minimum)
NEW_LASTNAME = "Faulttest"
BATCH = "50"
WAIT = 60.0
FUNCTION = "local_alx_report_api_get_course_progress"

_numbers = itertools.count(1)


@pytest.fixture
def fault_url(own_db_server):
    """A fresh database on this module's private server, dropped afterwards."""
    name = f"alx_fault_{next(_numbers)}"
    url = own_db_server.create_database(name)
    yield url
    own_db_server.ensure_running()
    own_db_server.drop_database(name)


# --- a site whose next full sync rewrites every course ------------------------------------------------


@dataclass
class Site:
    url: str
    alx: Alx
    baseline: dict


def _prepare(url: str, tmp_path, **env) -> Site:
    db = open_database(url, PREFIX)
    with db.connection_context():
        generate(db, PREFIX, size=MEDIUM_WITHOUT_LOG, seed=7, now=NOW)
    db.close()
    alx = Alx(tmp_path / "work", url, ALX_NOW=RUN_NOW, ALX_LOCK_STALE_SECONDS=STALE, **env)
    alx.ok("install")
    first = alx.json("sync", "--full", "--json")
    assert first["status"] == "success" and first["created"] > 10_000, first
    with Peek(url) as peek:
        baseline = peek.reporting()
        # Changes only a recomputation finds: every row renamed, some rows to be tombstoned.
        peek.execute(f"UPDATE {table('user')} SET lastname = ?", [NEW_LASTNAME])
        peek.execute(f"DELETE FROM {table('role_assignments')} WHERE MOD(id, 9) = 0")
    return Site(url, alx, baseline)


@pytest.fixture
def site(fault_url, tmp_path) -> Site:
    return _prepare(fault_url, tmp_path)


class RowGate:
    """A row of the reporting table locked by the test (SELECT … FOR UPDATE in an open transaction)."""

    def __init__(self, url: str, row_id: int):
        self.peek = Peek(url)
        self.peek.execute("BEGIN")
        assert self.peek.scalar(f"SELECT id FROM {REPORTING} WHERE id = ? FOR UPDATE", [row_id]) == row_id

    def open(self) -> None:
        with contextlib.suppress(Exception):  # the server may have dropped the connection already
            self.peek.execute("ROLLBACK")
        with contextlib.suppress(Exception):
            self.peek.db.close()


def _middle_row(url: str, baseline: dict) -> int:
    """A reporting row of a course in the middle of the run's order."""
    courses = sorted(by_course(baseline))
    middle = courses[len(courses) // 2]
    with Peek(url) as peek:
        return int(peek.scalar(f"SELECT MIN(id) FROM {REPORTING} WHERE courseid = ?", [middle]))


def _change_seq(peek: Peek) -> int:
    return int(
        peek.scalar(f"SELECT value_int FROM {table('local_alx_api_state')} WHERE name = 'change_seq'") or 0
    )


def _wait_until(condition, what: str, alive=lambda: True, poll: float = 0.01) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if not alive():
            raise AssertionError(f"the sync ended before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT:.0f}s waiting for {what}")
        time.sleep(poll)


def _wait_blocked(url: str, seq0: int, alive) -> None:
    """Until the run has committed a batch and then stopped progressing (it waits on the gate)."""
    with Peek(url) as peek:
        _wait_until(lambda: _change_seq(peek) > seq0, "it committed a batch", alive)
        last = {"seq": _change_seq(peek), "since": time.monotonic()}

        def settled() -> bool:
            seq = _change_seq(peek)
            if seq != last["seq"]:
                last.update(seq=seq, since=time.monotonic())
            return time.monotonic() - last["since"] > 0.5

        _wait_until(settled, "it reached the locked row", alive, poll=0.05)


def assert_whole_batches(baseline: dict, interrupted: dict, final: dict) -> None:
    """Every course is as before the run or as after a complete one: never half-written."""
    before, during, after = by_course(baseline), by_course(interrupted), by_course(final)
    done, untouched = [], []
    for course in sorted(set(before) | set(during) | set(after)):
        b, d, a = before.get(course, {}), during.get(course, {}), after.get(course, {})
        if d == a and d != b:
            done.append(course)
        elif d == b and b != a:
            untouched.append(course)
        else:
            assert d == a == b, f"course {course} is half-written"
    assert done, "no batch was committed before the fault"
    assert untouched, "the run was not interrupted: every course was rewritten"


def assert_complete(site: Site, final: dict, env: dict | None = None) -> None:
    """The table equals a fresh full computation: a full sync finds nothing to change, the queue is empty."""
    full = site.alx.json("sync", "--full", "--json", env=env)
    assert full["status"] == "success", full
    assert (full["created"], full["updated"], full["deleted"]) == (0, 0, 0), full
    with Peek(site.url) as peek:
        assert peek.reporting() == final
        assert peek.count(SYNC_QUEUE) == 0
    assert set(final) == set(site.baseline)
    live = [v for v in final.values() if v[-1] == 0]
    assert live and all(v[1] == NEW_LASTNAME for v in live)
    assert any(v[-1] == 1 for v in final.values()), "the removed role assignments must tombstone rows"


# --- connections the server dropped ------------------------------------------------------------------


def _backend_pid(db: peewee.Database, backend: str) -> int:
    sql = "SELECT CONNECTION_ID()" if backend == "mariadb" else "SELECT pg_backend_pid()"
    return int(db.execute_sql(sql).fetchone()[0])


def _kill_session(url: str, backend: str, pid: int) -> None:
    with Peek(url) as peek:
        if backend == "mariadb":
            peek.execute(f"KILL {pid}")
        else:
            assert peek.scalar("SELECT pg_terminate_backend(?)", [pid]) is True
    time.sleep(0.1)  # the goodbye reaches the client socket


@pytest.mark.parametrize("pooled", [False, True], ids=["plain", "pooled"])
def test_a_connection_the_server_dropped_is_replaced_before_the_next_statement(
    fault_url, db_backend, mysql_driver, pooled
):
    db = make_database(with_driver(fault_url, mysql_driver), pooled=pooled, max_connections=2)
    db.connect()
    try:
        first = db.connection()
        _kill_session(fault_url, db_backend, _backend_pid(db, db_backend))  # as wait_timeout would
        assert db.execute_sql("SELECT 1").fetchone()[0] == 1  # no error: a new connection
        second = db.connection()
        assert second is not first
        with db.atomic():  # transactions work on it too
            assert db.execute_sql("SELECT 1").fetchone()[0] == 1
        # Inside a transaction nothing is replaced silently: the transaction fails, the next one works.
        with pytest.raises((peewee.OperationalError, peewee.InterfaceError)), db.atomic():
            _kill_session(fault_url, db_backend, _backend_pid(db, db_backend))
            db.execute_sql("SELECT 1")
        assert db.execute_sql("SELECT 1").fetchone()[0] == 1
        assert db.connection() is not second
    finally:
        db.close()
        if pooled:
            db.close_all()


@pytest.mark.parametrize("pooled", [False, True], ids=["plain", "pooled"])
def test_after_a_server_restart_the_same_database_object_works_again(
    fault_url, own_db_server, db_backend, mysql_driver, pooled
):
    db = make_database(with_driver(fault_url, mysql_driver), pooled=pooled, max_connections=4)
    try:
        db.connect()
        before = db.connection()
        own_db_server.stop(keep_data=True)
        with pytest.raises((peewee.OperationalError, peewee.InterfaceError)):
            db.execute_sql("SELECT 1")  # down: a clean driver error, quickly
        with pytest.raises((peewee.OperationalError, peewee.InterfaceError)):
            db.execute_sql("SELECT 1")  # still down: still a clean error
        own_db_server.start()
        assert db.execute_sql("SELECT 1").fetchone()[0] == 1  # back: the next statement just works
        assert db.connection() is not before
        db.close()
        if pooled:  # a pool must not hand out connections opened before the restart
            db.connect()
            old = db.connection()
            db.close()
            own_db_server.stop_hard()
            own_db_server.start()
            db.connect()
            assert db.connection() is not old
            assert db.execute_sql("SELECT 1").fetchone()[0] == 1
    finally:
        if not db.is_closed():
            db.close()
        if pooled:
            db.close_all()


def test_connections_wait_at_most_db_lock_timeout_seconds_for_a_lock(fault_url, db_backend):
    db = make_database(fault_url, lock_timeout=7)
    with db.connection_context():
        if db_backend == "mariadb":
            row = db.execute_sql(
                "SELECT @@SESSION.innodb_lock_wait_timeout, @@SESSION.lock_wait_timeout"
            ).fetchone()
            assert tuple(int(v) for v in row) == (7, 7)
        else:
            assert db.execute_sql("SHOW lock_timeout").fetchone()[0] == "7s"
    db = make_database(fault_url)  # the default, 50 s (MariaDB's own default; PostgreSQL's is "forever")
    with db.connection_context():
        sql = "SELECT @@SESSION.innodb_lock_wait_timeout" if db_backend == "mariadb" else "SHOW lock_timeout"
        assert str(db.execute_sql(sql).fetchone()[0]) in ("50", "50s")


# --- the sync -----------------------------------------------------------------------------------------


def test_server_killed_mid_sync_fails_cleanly_and_the_next_sync_completes(site, own_db_server):
    with Peek(site.url) as peek:
        seq0 = _change_seq(peek)
    gate = RowGate(site.url, _middle_row(site.url, site.baseline))
    proc = site.alx.start("sync", "--full", "--json", "--batch-size", BATCH)
    try:
        _wait_blocked(site.url, seq0, lambda: proc.poll() is None)
        with Peek(site.url) as peek:
            interrupted = peek.reporting()  # what is committed while the run waits mid-batch
        own_db_server.stop_hard()  # a crash: SIGKILL, crash recovery on the next start
        out, err = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=WAIT)
        gate.open()
    # One clear line, no traceback, exit 1.
    assert proc.returncode == 1, f"exit {proc.returncode}\n{out}\n{err}"
    assert "Traceback" not in out + err, err
    assert out == ""
    assert "lost the connection to the database server" in err, err
    assert "the next run resumes" in err, err

    own_db_server.start()
    with Peek(site.url) as peek:
        assert peek.reporting() == interrupted, "the batch in flight must have been rolled back"
    runs = site.alx.json("runs", "--json")
    assert runs[0]["status"] == "running"  # the run could not record its end: the server was gone
    stuck = runs[0]["id"]

    # The failed run's process has exited: its lease, on this host, is taken over at once.
    later = {"ALX_NOW": str(RUN_NOW + 1)}
    resumed = site.alx.json("sync", "--json", env=later)
    assert resumed["status"] == "success" and resumed["remaining"] == 0, resumed
    assert resumed["updated"] + resumed["deleted"] > 0, "the interrupted run's remaining work was not done"
    runs = {r["id"]: r for r in site.alx.json("runs", "--json", env=later)}
    assert runs[stuck]["status"] == "failed" and "interrupted" in runs[stuck]["error"], runs[stuck]
    # The worker's next alert check reports the failed run, although a later run recovered.
    checked = site.alx("worker", "--once", env=later)
    assert checked.code == 0, checked
    alerts = site.alx.json("alerts", "list", "--json", env=later)
    failed = [a for a in alerts if a["alert_type"] == "sync_failed"]
    assert failed and failed[0]["data"]["run_id"] == stuck and not failed[0]["resolved"], alerts

    with Peek(site.url) as peek:
        final = peek.reporting()
    assert_whole_batches(site.baseline, interrupted, final)
    assert_complete(site, final, env=later)


def test_a_long_running_process_syncs_again_as_soon_as_the_server_is_back(fault_url, own_db_server, tmp_path):
    """The worker's case: the same process, the same database object, no lease to wait for."""
    site = _prepare(fault_url, tmp_path)
    db = open_database(fault_url, PREFIX)  # the product's own (non-pooled) database, as the worker's
    options = SyncOptions(full=True, batch_size=int(BATCH), lock_stale_seconds=900)
    with Peek(fault_url) as peek:
        seq0 = _change_seq(peek)
    gate = RowGate(fault_url, _middle_row(fault_url, site.baseline))
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = SyncEngine(db, options, clock=lambda: RUN_NOW).run()
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    try:
        _wait_blocked(fault_url, seq0, thread.is_alive)
        own_db_server.stop(keep_data=True)  # a clean shutdown ends every session
        thread.join(WAIT)
        assert not thread.is_alive()
    finally:
        gate.open()
        own_db_server.ensure_running()
        thread.join(WAIT)
    error = outcome.get("error")
    assert isinstance(error, peewee.OperationalError), outcome
    assert "lost the connection to the database server" in str(error)

    # Back: the same process and database object, the same clock (the lease has not expired).
    with db.connection_context():
        failed = SyncRun.select().order_by(SyncRun.id.desc()).first()
        assert failed.status == "running"
    result = SyncEngine(db, options, clock=lambda: RUN_NOW).run()
    assert result.status == "success" and result.remaining == 0, result
    with db.connection_context():
        failed = SyncRun.get_by_id(failed.id)
        assert failed.status == "failed" and "lost its database connection" in failed.error
    db.close()
    with Peek(fault_url) as peek:
        final = peek.reporting()
    assert_complete(site, final, env={"ALX_NOW": str(RUN_NOW + 1)})


def test_a_lock_held_on_the_reporting_table_fails_the_sync_after_the_lock_timeout(fault_url, tmp_path):
    site = _prepare(fault_url, tmp_path, ALX_DB_LOCK_TIMEOUT_SECONDS=2)
    with Peek(site.url) as peek:
        before = peek.reporting()
    gate = RowGate(site.url, _middle_row(site.url, site.baseline))
    try:
        started = time.monotonic()
        result = site.alx("sync", "--full", "--batch-size", BATCH)
        took = time.monotonic() - started
        with Peek(site.url) as peek:
            interrupted = peek.reporting()
    finally:
        gate.open()
    assert result.code == 1, result
    assert took < 30, f"the sync should give up after about 2 s, took {took:.1f}s"
    assert "lock wait timeout" in result.stderr and "db_lock_timeout_seconds" in result.stderr, result
    assert len(result.stderr.strip().splitlines()) <= 3, result
    runs = site.alx.json("runs", "--json")
    assert runs[0]["status"] == "failed" and "lock wait timeout" in runs[0]["error"], runs[0]
    assert interrupted != before

    # The lock is gone: the next sync (no lease to wait for: the failed run released it) completes.
    resumed = site.alx.json("sync", "--json")
    assert resumed["status"] == "success" and resumed["remaining"] == 0, resumed
    with Peek(site.url) as peek:
        final = peek.reporting()
    assert_whole_batches(site.baseline, interrupted, final)
    assert_complete(site, final)


# --- the API ------------------------------------------------------------------------------------------


def _request(server: Server, method: str, path: str, body: dict | None = None, headers: dict | None = None):
    conn = server.connection()
    try:
        data = urlencode(body) if body is not None else None
        hdrs = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
        conn.request(method, path, body=data, headers={**hdrs, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read().decode()
    finally:
        conn.close()


def _moodle(server: Server, token: str):
    return _request(
        server,
        "POST",
        "/webservice/rest/server.php",
        {"wstoken": token, "wsfunction": FUNCTION, "moodlewsrestformat": "json", "limit": 50},
    )


def _v1(server: Server, token: str):
    return _request(
        server, "GET", "/api/v1/course-progress?limit=50", headers={"Authorization": f"Bearer {token}"}
    )


def _assert_serving(server: Server, token: str) -> None:
    status, _, body = _moodle(server, token)
    # A bare array: every row on a full pass, the changes (none here) on an incremental one.
    assert status == 200 and isinstance(json.loads(body), list), body
    status, _, body = _v1(server, token)
    assert status == 200 and json.loads(body)["data"], body
    status, _, body = _request(server, "GET", "/api/v1/health")
    assert status == 200 and json.loads(body)["database"]["reachable"] is True, body


def test_api_answers_documented_errors_while_the_server_is_down_and_recovers(
    fault_url, own_db_server, tmp_path
):
    db = open_database(fault_url, PREFIX)
    with db.connection_context():
        generate(db, PREFIX, size="tiny", seed=3, now=NOW)
    db.close()
    alx = Alx(tmp_path / "work", fault_url)
    alx.ok("install")
    alx.ok("sync")
    with Peek(fault_url) as peek:
        company = int(peek.scalar(f"SELECT MIN(companyid) FROM {REPORTING} WHERE is_deleted = 0"))
    token = alx.ok("token", "create", "--company", str(company)).stdout.strip()
    server = Server(fault_url, tmp_path / "serve", threads=4)
    try:
        _assert_serving(server, token)
        with ThreadPoolExecutor(8) as pool:  # every thread's pooled connection gets opened
            assert all(s == 200 for s, _, _ in pool.map(lambda _: _moodle(server, token), range(16)))

        # Restarted while the API is idle: its pooled connections are dead; no request may fail.
        own_db_server.stop(keep_data=True)
        own_db_server.start()
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: (_moodle if i % 2 else _v1)(server, token), range(16)))
        assert [s for s, _, _ in results] == [200] * 16, results

        # Down: the documented errors, quickly.
        own_db_server.stop_hard()
        for _ in range(2):
            started = time.monotonic()
            status, headers, body = _moodle(server, token)
            assert status == 200, body  # Moodle answers every error with HTTP 200
            assert json.loads(body) == {
                "exception": "moodle_exception",
                "errorcode": "servicetemporarilyunavailable",
                "message": "Service temporarily unavailable, please try again later",
            }
            status, headers, body = _v1(server, token)
            assert status == 503, body
            assert headers["Content-Type"].startswith("application/problem+json")
            assert headers.get("Retry-After")
            assert json.loads(body)["code"] == "servicetemporarilyunavailable"
            status, _, body = _request(server, "GET", "/api/v1/health")
            assert status == 503 and json.loads(body)["status"] == "unavailable", body
            assert time.monotonic() - started < 10
        assert server.alive()

        # Back: the very next requests succeed, without restarting the API.
        own_db_server.start()
        _assert_serving(server, token)
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: (_moodle if i % 2 else _v1)(server, token), range(16)))
        assert [s for s, _, _ in results] == [200] * 16, results
    finally:
        code = server.stop()
    assert code == 0, server.stderr
    assert "Traceback" not in server.stderr, server.stderr
