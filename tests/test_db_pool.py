"""The pooled connections of the API: no round trip to hand a connection out or take it back, a
transaction left open is still rolled back before the connection is reused, and each server thread
keeps its connection between requests unless it must go back to the pool."""

from __future__ import annotations

from types import SimpleNamespace

import peewee
import pytest

from alxapi.http.middleware import DatabaseSession
from models import db as db_module
from models.db import make_database


class CountingConnection:
    """Wraps a driver connection and counts the calls that cost a round trip to the server."""

    def __init__(self, conn):
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "calls", {"ping": 0, "rollback": 0})

    def __getattr__(self, name):
        if name in ("ping", "rollback"):
            self.calls[name] += 1
        return getattr(self._conn, name)

    def cursor(self, *args, **kwargs):  # a ROLLBACK statement counts as a rollback
        cursor = self._conn.cursor(*args, **kwargs)
        calls, execute = self.calls, cursor.execute

        def counting_execute(sql, *a, **k):
            if str(sql).strip().upper() == "ROLLBACK":
                calls["rollback"] += 1
            return execute(sql, *a, **k)

        try:
            cursor.execute = counting_execute
        except AttributeError:  # psycopg2's C cursor: wrap it
            return _CountingCursor(cursor, calls)
        return cursor

    def __setattr__(self, name, value):
        setattr(self._conn, name, value)


class _CountingCursor:
    def __init__(self, cursor, calls):
        self._cursor, self._calls = cursor, calls

    def execute(self, sql, *args, **kwargs):
        if str(sql).strip().upper() == "ROLLBACK":
            self._calls["rollback"] += 1
        return self._cursor.execute(sql, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._cursor, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._cursor.close()


@pytest.fixture
def pooled(db_server, mysql_driver, db_url, monkeypatch):
    """A pool of the server under test (SQLite has no round trips), every raw connection counted;
    MariaDB once per driver."""
    counted: list[CountingConnection] = []
    for driver_db in (db_module._DriverMySQLDatabase, peewee.PostgresqlDatabase):
        raw_connect = driver_db._connect

        def counting_connect(self, raw_connect=raw_connect):
            wrapped = CountingConnection(raw_connect(self))
            counted.append(wrapped)
            return wrapped

        monkeypatch.setattr(driver_db, "_connect", counting_connect)
    db = make_database(db_url, pooled=True, max_connections=2)
    yield db, counted
    db.close_all()


def test_checkout_and_checkin_cost_no_round_trip(pooled):
    db, counted = pooled
    for _ in range(20):
        with db.connection_context():
            assert db.execute_sql("SELECT 1").fetchone()[0] == 1
    assert len(counted) == 1  # one connection, reused
    assert counted[0].calls == {"ping": 0, "rollback": 0}


def test_a_connection_is_looked_at_once_per_checkout_and_statement(pooled, monkeypatch):
    """The pool looks at a connection's socket as it hands it out; the first statement right after does
    not look again, later ones do (a look is a system call, and under load a thread switch)."""
    db, _ = pooled
    looks = []
    real_select = db_module.select.select
    monkeypatch.setattr(db_module.select, "select", lambda *a: looks.append(a) or real_select(*a))
    with db.connection_context():
        db.execute_sql("SELECT 1")
    looks.clear()
    with db.connection_context():  # a pooled connection handed out again
        assert len(looks) == 1
        db.execute_sql("SELECT 1")
        assert len(looks) == 1
        db.execute_sql("SELECT 1")
        assert len(looks) == 2


def test_a_transaction_left_open_is_rolled_back_before_reuse(pooled):
    db, counted = pooled
    db.connect()
    db.execute_sql("CREATE TEMPORARY TABLE t_pool (x INTEGER)")
    db.execute_sql("BEGIN")
    db.execute_sql("INSERT INTO t_pool VALUES (1)")
    db.close()  # back to the pool with the transaction open
    assert counted[0].calls["rollback"] == 1
    with db.connection_context():
        assert db.execute_sql("SELECT COUNT(*) FROM t_pool").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("url", "tls"),
    [
        ("mysql+pymysql://alx:pw@127.0.0.1:3306/moodle", False),
        ("mysql+pymysql://alx:pw@localhost/moodle?unix_socket=/run/mysqld/mysqld.sock", False),
        ("mysql+pymysql://alx:pw@[::1]/moodle", False),
        ("mysql+pymysql://alx:pw@db.example.com/moodle", True),
        ("mysql+pymysql://alx:pw@10.0.0.5/moodle", True),
        ("mysql+pymysql://alx:pw@127.0.0.1/moodle?ssl_disabled=false", True),
        ("mysql+pymysql://alx:pw@127.0.0.1/moodle?ssl_ca=/etc/ssl/ca.pem", True),
    ],
)
def test_mariadb_connections_offer_tls_except_over_loopback(url, tls):
    """PyMySQL loads the system's CA bundle for every connection that may use TLS (31 ms of CPU)."""
    params = make_database(url).connect_params
    assert (not params.get("ssl_disabled", False)) is tls


def test_a_loopback_mariadb_connection_skips_tls(mariadb_server):
    url = mariadb_server.create_database("alx_tls_check")
    assert "@127.0.0.1:" in url
    db = make_database(url.replace("mysql://", "mysql+pymysql://"))
    try:
        assert db.connection().ssl is False  # PyMySQL's own flag: no TLS context made or offered
    finally:
        db.close()
        mariadb_server.drop_database("alx_tls_check")


# -- the API's server threads keep their connection between requests (alxapi.http.middleware) ------
def _request():
    return SimpleNamespace(context=SimpleNamespace())


def _serve(
    session: DatabaseSession, work=lambda db: db.execute_sql("SELECT 1").fetchone()
) -> SimpleNamespace:
    """One request through the middleware, ``work`` being what the resource does with the database."""
    req = _request()
    session.process_request(req, None)
    if not getattr(req.context, "db_down", False):
        work(session.db)
    session.process_response(req, None, None, True)
    return req


@pytest.fixture
def checkouts(pooled, monkeypatch):
    """(session, counted raw connections, how many times the pool handed a connection out)."""
    db, counted = pooled
    taken = []
    real = db._connect
    monkeypatch.setattr(db, "_connect", lambda: taken.append(1) or real())
    return DatabaseSession(db), counted, taken


def test_a_server_thread_keeps_its_connection_from_one_request_to_the_next(checkouts):
    session, counted, taken = checkouts
    for _ in range(5):
        _serve(session)
        assert not session.db.is_closed()
    assert len(taken) == 1 and len(counted) == 1
    assert counted[0].calls == {"ping": 0, "rollback": 0}


def test_a_request_that_leaves_a_transaction_open_gives_the_connection_back(checkouts):
    session, counted, taken = checkouts
    _serve(session, lambda db: db.execute_sql("CREATE TEMPORARY TABLE t_kept (x INTEGER)"))

    def leave_open(db):
        db.execute_sql("BEGIN")
        db.execute_sql("INSERT INTO t_kept VALUES (1)")

    def count_rows(db):
        assert db.execute_sql("SELECT COUNT(*) FROM t_kept").fetchone()[0] == 0

    _serve(session, leave_open)
    assert session.db.is_closed()  # back to the pool, which rolled the transaction back
    assert counted[0].calls["rollback"] == 1
    _serve(session, count_rows)
    assert len(taken) == 2 and len(counted) == 1


def test_a_connection_is_given_back_after_keep_seconds_and_after_a_database_error(checkouts, monkeypatch):
    session, _counted, taken = checkouts
    monkeypatch.setattr(DatabaseSession, "KEEP_SECONDS", 0.0)
    _serve(session)
    assert session.db.is_closed()
    monkeypatch.setattr(DatabaseSession, "KEEP_SECONDS", 60.0)
    _serve(session)
    assert not session.db.is_closed()

    def fails(db):
        with pytest.raises(peewee.DatabaseError):
            db.execute_sql("SELECT * FROM no_such_table_here")

    req = _request()
    session.process_request(req, None)
    fails(session.db)
    req.context.db_down = True  # what a resource notes when the database failed it
    session.process_response(req, None, None, False)
    assert session.db.is_closed()
    assert len(taken) == 2  # the third request ran on the connection the second kept
    _serve(session)
    assert len(taken) == 3


def test_a_database_that_is_not_a_pool_is_closed_after_each_request(tmp_path):
    db = make_database(f"sqlite:///{tmp_path / 'plain.sqlite3'}")
    session = DatabaseSession(db)
    _serve(session)
    assert db.is_closed()
