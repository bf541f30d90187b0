"""The one database handle every model binds to, URL parsing, and the Moodle table prefix.

Models are bound to ``database`` (a :class:`peewee.DatabaseProxy`) at import time; ``open_database``
creates the real connection object from a peewee URL and initialises the proxy. Moodle's table
prefix (``$CFG->prefix``) is runtime configuration, so every model computes its table name through
``Meta.table_function`` and ``set_table_prefix`` re-applies it to every registered model.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import itertools
import logging
import re
import select
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlparse

import peewee
from playhouse import pool

log = logging.getLogger("alx.db")

database = peewee.DatabaseProxy()

DEFAULT_PREFIX = "mdl_"
DEFAULT_LOCK_TIMEOUT = 50  # seconds; setting db_lock_timeout_seconds (MariaDB's own default)
CONNECT_TIMEOUT = 10  # seconds to establish a connection to MariaDB/MySQL or PostgreSQL
# MariaDB/MySQL connections of the API pool: a socket read (one statement's answer) may take this
# long. The sync and the CLI have none: a full sync's statements may legitimately run for minutes.
API_READ_TIMEOUT = 120
# PostgreSQL TCP keepalives: a server host that vanished without closing the socket (power loss,
# network partition) is noticed after about 30 + 3 × 10 s instead of the kernel's two hours.
PG_KEEPALIVES = dict(keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
PING_AFTER_IDLE = 30.0  # seconds: a connection idle this long is pinged before its next statement
_MYSQL_FOUND_ROWS = 2  # CLIENT_FOUND_ROWS (MySQL's protocol; both drivers take client_flag)
_PREFIX_RE = re.compile(r"^[a-z0-9_]{0,20}$")  # Moodle's $CFG->prefix as the installer accepts it


def valid_table_prefix(prefix: str) -> bool:
    """Whether ``prefix`` can be a table prefix: lower-case letters, digits and '_', at most 20."""
    return bool(_PREFIX_RE.match(prefix))


_state = {"prefix": DEFAULT_PREFIX}
_prefixed_models: list[type[peewee.Model]] = []


class DatabaseURLError(ValueError):
    """The database URL cannot be understood (wrong scheme, missing path...)."""


def prefixed(base_name: str):
    """A ``Meta.table_function`` giving ``<prefix><base_name>``, re-evaluated by ``set_table_prefix``."""

    def table_function(model_class: type[peewee.Model]) -> str:
        if model_class not in _prefixed_models:
            _prefixed_models.append(model_class)
        return _state["prefix"] + base_name

    table_function.base_name = base_name  # type: ignore[attr-defined]
    return table_function


def set_table_prefix(prefix: str) -> None:
    """Point every model at tables named ``<prefix><name>`` (Moodle's ``$CFG->prefix``)."""
    if not valid_table_prefix(prefix):
        raise ValueError(f"table prefix {prefix!r} must be lower-case letters, digits or '_' (at most 20)")
    _state["prefix"] = prefix
    for model in _prefixed_models:
        model._meta.set_table_name(model._meta.table_function(model))


def table_prefix() -> str:
    return _state["prefix"]


def dialect(db: peewee.Database | None = None) -> str:
    """'sqlite', 'mysql' or 'postgresql' for the bound (or given) database."""
    obj = db if db is not None else database.obj
    if isinstance(obj, peewee.DatabaseProxy):
        obj = obj.obj
    if isinstance(obj, peewee.SqliteDatabase):
        return "sqlite"
    if isinstance(obj, peewee.MySQLDatabase):
        return "mysql"
    if isinstance(obj, peewee.PostgresqlDatabase):
        return "postgresql"
    raise DatabaseURLError(f"unsupported database type {type(obj).__name__}")


MYSQL_DRIVERS = ("mysqlclient", "pymysql")
_SCHEME_MODIFIERS = ("pool", *MYSQL_DRIVERS)


def split_scheme(scheme: str) -> tuple[str, frozenset[str]]:
    """``mysql+pool+pymysql`` -> ("mysql", {"pool", "pymysql"}): the database kind and its modifiers.
    Raises :class:`DatabaseURLError` for a modifier that is not known."""
    base, *mods = scheme.lower().split("+")
    unknown = [m for m in mods if m not in _SCHEME_MODIFIERS]
    if unknown:
        raise DatabaseURLError(
            f"unknown database URL modifier +{unknown[0]}: use +pool, or for MariaDB/MySQL "
            f"+mysqlclient or +pymysql"
        )
    return base, frozenset(mods)


def mysql_driver(requested: str | None = None):
    """The MariaDB/MySQL driver module: ``requested`` ("mysqlclient" or "pymysql"), else mysqlclient
    when installed (C, libmariadb: a query's client CPU is a third of PyMySQL's), else PyMySQL."""
    for name in (requested,) if requested else MYSQL_DRIVERS:
        try:
            if name == "mysqlclient":
                import MySQLdb as module
            else:
                import pymysql as module
        except ImportError:
            continue
        return module
    if requested == "mysqlclient":
        hint = "pip install 'alx-report[mysqlclient]' (needs libmariadb-dev, pkg-config and a C compiler)"
    else:
        hint = "pip install 'alx-report[mysql]' (PyMySQL)" + ("" if requested else " or '[mysqlclient]'")
    raise DatabaseURLError(f"no MariaDB/MySQL driver for {requested or 'mysql://'} URLs: {hint}")


def driver_name(db: peewee.Database) -> str:
    """The Python driver behind ``db`` with its version, e.g. "mysqlclient 2.3.2" (for ``alx check``)."""
    if isinstance(db, peewee.DatabaseProxy):
        db = db.obj
    if isinstance(db, peewee.SqliteDatabase):
        import sqlite3

        return f"sqlite3 (SQLite {sqlite3.sqlite_version})"
    if isinstance(db, _DriverMySQLDatabase):
        module = db.alx_driver or mysql_driver()
        if module.__name__ == "MySQLdb":
            return "mysqlclient " + ".".join(map(str, module.version_info[:3]))
        return f"PyMySQL {module.__version__}"
    if isinstance(db, peewee.PostgresqlDatabase):
        import psycopg2

        return f"psycopg2 {psycopg2.__version__.split()[0]}"
    return type(db).__name__


def _coerce(value: str):
    if value.isdigit():
        return int(value)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    try:
        return float(value)
    except ValueError:
        return value


# --------------------------------------------------------------------------------------------------
# Surviving server restarts and dropped connections (MariaDB/MySQL, PostgreSQL)


def _driver_closed(conn) -> bool:
    """Does the driver itself know that ``conn`` is unusable? (no round trip)"""
    if conn is None:
        return True
    is_open = getattr(conn, "open", None)  # PyMySQL (no socket once closed or lost), mysqlclient
    if isinstance(is_open, int):
        return not is_open
    closed = getattr(conn, "closed", 0)  # psycopg2: 0 open, 1 closed, 2 lost
    return bool(closed) if isinstance(closed, int) else False


def _known_closed(conn) -> bool:
    """Is ``conn`` unusable, as far as can be told without a round trip? The driver may know, or the
    socket is readable although no answer is due: an error packet ("shutdown", "killed") or end of file."""
    if _driver_closed(conn):
        return True
    sock = _socket_of(conn)
    try:
        return sock is not None and bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _socket_of(conn):
    sock = getattr(conn, "_sock", None)  # PyMySQL
    if sock is not None:
        return sock
    fileno = getattr(conn, "fileno", None)  # psycopg2
    try:
        return fileno() if callable(fileno) else None
    except Exception:
        return None


# What the mixin extends, for the type checker (at run time it is mixed into peewee's classes).
_DatabaseBase = peewee.Database if TYPE_CHECKING else object


class ResilientMixin(_DatabaseBase):  # type: ignore[valid-type,misc]
    """Never run a statement on a connection the server has already dropped; reconnect instead.

    Before the first statement outside a transaction (``BEGIN`` included) the connection is checked:
    the driver may already know it is closed (an earlier statement lost it); the socket may be
    readable although no answer is due (the server said goodbye: restart, ``wait_timeout``,
    ``pg_terminate_backend``, a proxy's idle timeout); or it has been idle for ``PING_AFTER_IDLE``
    seconds and a ping fails. Then it is dropped and replaced by a new connection (for a pool: the
    next good pooled one, or a new one) before the statement runs. A connection is never replaced
    inside a transaction, and nothing is ever retried after a statement failed: a statement or
    transaction that loses its connection fails, its transaction is rolled back by the server, and
    the next statement or transaction gets a working connection again, or a clean error while the
    server is down.
    """

    alx_lock_timeout = DEFAULT_LOCK_TIMEOUT

    def __init__(self, *args, **kwargs):
        self._alx_local = threading.local()
        super().__init__(*args, **kwargs)

    def _initialize_connection(self, conn):
        super()._initialize_connection(conn)
        self._alx_local.conn, self._alx_local.used = conn, time.monotonic()

    def execute_sql(self, sql, params=None):
        if not self._state.closed and not self.in_transaction():
            self._ensure_alive()
        try:
            return super().execute_sql(sql, params)
        finally:
            self._alx_local.used = time.monotonic()

    def begin(self, *args, **kwargs):
        if not self._state.closed:  # BEGIN runs before the transaction is pushed: nothing to lose yet
            self._ensure_alive()
        return super().begin(*args, **kwargs)

    def rollback(self):
        try:
            super().rollback()
        except (peewee.OperationalError, peewee.InterfaceError):
            # The server dropped the connection, and with it the transaction: nothing to roll back.
            # Raising here would hide the error that made us roll back.
            if not _driver_closed(self._state.conn):
                raise

    def _ensure_alive(self) -> None:
        conn = self._state.conn
        if conn is None or self._connection_ok(conn):
            return
        self._discard(conn)
        with peewee.__exception_wrapper__:
            new = self._connect()  # while the server is down: its error, at once
        self._state.conn = new
        self._initialize_connection(new)
        log.info("reconnected to the database (the server had closed the previous connection)")

    def _connection_ok(self, conn) -> bool:
        # The pool looked at it as it handed it out (the same request, microseconds ago): the first
        # statement does not look again. Each look is a system call, and under load a thread switch.
        just_checked = self._alx_local.__dict__.pop("checked", None) is conn
        if not just_checked and _known_closed(conn):
            return False
        if (
            self._alx_local.__dict__.get("conn") is conn
            and time.monotonic() - self._alx_local.used < PING_AFTER_IDLE
        ):
            return True
        return self._ping(conn)

    def _ping(self, conn) -> bool:
        try:
            if _is_pymysql(conn):
                conn.ping(False)  # False: report, do not silently reconnect
            elif hasattr(conn, "ping"):
                conn.ping()  # mysqlclient never reconnects
            else:
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
        except Exception:
            return False
        self._alx_local.conn, self._alx_local.used = conn, time.monotonic()
        return True

    def _discard(self, conn) -> None:
        with contextlib.suppress(Exception):
            conn.close()

    def _close(self, conn, *args, **kwargs):
        try:
            return super()._close(conn, *args, **kwargs)
        except Exception:
            if not _driver_closed(conn):
                raise
            return None  # closing a connection the server already dropped


class _ResilientPoolMixin(ResilientMixin):
    """A pool without a round trip per checkout: peewee's MySQL pool pings each connection it hands
    out and rolls back each one it takes back. Liveness is already checked before the first statement
    (``ResilientMixin``: the driver's state and the socket, a ping only after ``PING_AFTER_IDLE``), and a
    connection only needs a rollback when the server says a transaction is open."""

    def _discard(self, conn) -> None:
        pool.PooledDatabase._close(self, conn, close_conn=True)  # out of the pool for good

    def _is_closed(self, conn) -> bool:
        closed = _known_closed(conn)
        if not closed:
            self._alx_local.checked = conn  # see _connection_ok
        return closed

    def _can_reuse(self, conn) -> bool:
        try:
            if _transaction_open(conn):
                _rollback(conn)
        except Exception:
            return False
        return True


def _rollback(conn) -> None:
    """End the open transaction. psycopg2 in autocommit mode (peewee's) ignores ``rollback()``, though
    peewee began the transaction with a ``BEGIN`` statement: say ROLLBACK to the server instead."""
    if hasattr(getattr(conn, "info", None), "transaction_status") and conn.autocommit:
        with conn.cursor() as cursor:
            cursor.execute("ROLLBACK")
    else:
        conn.rollback()
    _note_transaction(conn, False)


_MYSQL_SERVER_STATUS_IN_TRANS = 1  # SERVER_STATUS_IN_TRANS, sent with every OK packet


def _transaction_open(conn) -> bool:
    """Whether the server has a transaction open on ``conn``, as the driver last heard (no round trip)."""
    status = getattr(conn, "server_status", None)  # PyMySQL
    if isinstance(status, int):
        return bool(status & _MYSQL_SERVER_STATUS_IN_TRANS)
    info = getattr(
        conn, "info", None
    )  # psycopg2: 0 idle, 1 active, 2 in a transaction, 3 in error, 4 unknown
    if info is not None and hasattr(info, "transaction_status"):
        return info.transaction_status != 0
    in_transaction = getattr(conn, "in_transaction", None)  # sqlite3
    if isinstance(in_transaction, bool):
        return in_transaction
    return getattr(conn, _IN_TRANSACTION, True)  # mysqlclient: as noted below; unknown: assume open


def may_keep(db: peewee.Database) -> bool:
    """Can the calling thread keep its open connection of ``db`` for its next unit of work as it is:
    no transaction open and not known to be lost, as far as can be told without a round trip?"""
    conn = db._state.conn
    return (
        conn is not None
        and not db.in_transaction()
        and not _driver_closed(conn)
        and not _transaction_open(conn)
    )


# mysqlclient does not tell whether the server has a transaction open, so the connection carries what
# this process did: set by BEGIN/START TRANSACTION, cleared by a COMMIT or ROLLBACK that succeeded.
_IN_TRANSACTION = "alx_in_transaction"
_TRANSACTION_ENDS = {"COMMIT", "COMMIT WORK", "ROLLBACK", "ROLLBACK WORK"}


def _note_transaction(conn, is_open: bool) -> None:
    if _is_mysqlclient(conn):
        setattr(conn, _IN_TRANSACTION, is_open)


def _note_statement(conn, sql: str) -> None:
    """Follow what a statement run as text does to the transaction (mysqlclient connections)."""
    if not _is_mysqlclient(conn):
        return
    head = sql.lstrip()[:20].upper()
    if head.startswith(("BEGIN", "START TRANSACTION", "SET AUTOCOMMIT", "XA ")):
        _note_transaction(conn, True)  # SET autocommit and XA: an open transaction, to be safe
    elif " ".join(head.rstrip(" ;").split()) in _TRANSACTION_ENDS:
        _note_transaction(conn, False)


def _is_pymysql(conn) -> bool:
    return type(conn).__module__.startswith("pymysql")


def _is_mysqlclient(conn) -> bool:
    """A MariaDB/MySQL connection that is not PyMySQL's (by what it has: wrappers pass)."""
    return hasattr(conn, "get_autocommit") and not _is_pymysql(conn)


class _DriverMySQLDatabase(peewee.MySQLDatabase):
    """peewee's MySQL database on the driver chosen by the URL (``mysql_driver``); peewee itself
    takes PyMySQL whenever it is installed."""

    alx_driver: Any = None  # the driver module, set by make_database
    alx_mariadb = False  # a MariaDB server (EXECUTE … USING takes literals), known once connected

    def _connect(self):
        driver = self.alx_driver or mysql_driver()
        conn = driver.connect(database=self.database, autocommit=True, **self.connect_params)
        _note_transaction(conn, False)
        return conn

    def _set_server_version(self, conn):
        super()._set_server_version(conn)
        info = conn.get_server_info() if hasattr(conn, "get_server_info") else ""
        self.alx_mariadb = "mariadb" in str(info).lower()

    def execute_sql(self, sql, params=None):
        cursor = super().execute_sql(sql, params)
        _note_statement(self._state.conn, sql)
        return cursor

    def begin(self, *args, **kwargs):
        super().begin(*args, **kwargs)
        _note_transaction(self._state.conn, True)

    def commit(self):
        super().commit()  # a failed COMMIT leaves the mark: the pool rolls back before reuse
        _note_transaction(self._state.conn, False)

    def rollback(self):
        super().rollback()
        _note_transaction(self._state.conn, False)


class AlxMySQLDatabase(ResilientMixin, _DriverMySQLDatabase):
    pass


class AlxPooledMySQLDatabase(_ResilientPoolMixin, pool._PooledMySQLDatabase, _DriverMySQLDatabase):
    pass


class AlxPostgresqlDatabase(ResilientMixin, peewee.PostgresqlDatabase):
    pass


class AlxPooledPostgresqlDatabase(_ResilientPoolMixin, pool.PooledPostgresqlDatabase):
    pass


def make_database(
    url: str, *, pooled: bool = False, max_connections: int = 8, lock_timeout: int | None = None
) -> peewee.Database:
    """Create (but do not connect) a peewee database from ``sqlite:///path``, ``mysql://…``, ``postgresql://…``.

    MySQL/MariaDB connections use ``utf8mb4`` (Moodle's charset); SQLite runs in WAL mode with a busy
    timeout so the API, the worker and the console can share one file.

    MariaDB/MySQL and PostgreSQL connections (see :class:`ResilientMixin`) are replaced when the server
    dropped them, connect within ``CONNECT_TIMEOUT`` seconds, and wait at most ``lock_timeout`` seconds
    (setting ``db_lock_timeout_seconds``, default 50) for a row or table lock another session holds.
    ``pooled`` (the API: one connection per thread) adds a read timeout on MariaDB/MySQL; the pool
    checks a connection before handing it out, so a restarted server costs no failed request.
    """
    lock_timeout = int(lock_timeout or DEFAULT_LOCK_TIMEOUT)
    parsed = urlparse(url)
    scheme, modifiers = split_scheme(parsed.scheme)
    pooled = pooled or "pool" in modifiers
    drivers = modifiers & set(MYSQL_DRIVERS)
    if drivers and (scheme not in ("mysql", "mariadb") or len(drivers) > 1):
        raise DatabaseURLError(f"+{'/+'.join(sorted(drivers))}: one driver, and only for mysql:// URLs")
    options = {k: _coerce(v) for k, v in parse_qsl(parsed.query)}
    if scheme in ("sqlite", "sqlite3"):
        path = unquote(parsed.path[1:] if parsed.path.startswith("/") else parsed.path)
        if parsed.netloc:  # sqlite://relative/path is a common mistake
            raise DatabaseURLError(f"SQLite URLs have three slashes: sqlite:///{parsed.netloc}{parsed.path}")
        if not path:
            raise DatabaseURLError("SQLite URL has no file path: use sqlite:///path/to/file.sqlite3")
        pragmas = {
            "journal_mode": "wal",
            "synchronous": "normal",
            "cache_size": -64_000,  # 64 MB page cache
            "temp_store": "memory",
            "busy_timeout": 30_000,
            # Checkpoint the WAL every ~64 MB instead of 4 MB: a sync commits once per batch, and
            # frequent checkpoints rewrite the same index pages (and fsync) hundreds of times.
            "wal_autocheckpoint": 16_000,
        }
        # Transactions take the write lock when they begin (BEGIN IMMEDIATE), so they wait on
        # busy_timeout for another process's writer. A deferred transaction that reads and then
        # writes gets SQLITE_BUSY at once, without waiting, if another process wrote in between
        # (two workers, the worker and the API's log inserts).
        kwargs = dict(pragmas=pragmas, timeout=30, check_same_thread=False, lock_type="IMMEDIATE")
        kwargs.update(options)
        if pooled:
            return pool.PooledSqliteDatabase(
                path, max_connections=max_connections, stale_timeout=300, **kwargs
            )
        return peewee.SqliteDatabase(path, **kwargs)
    if scheme in ("mysql", "mariadb"):
        extra: dict[str, Any] = (
            dict(read_timeout=API_READ_TIMEOUT, write_timeout=API_READ_TIMEOUT) if pooled else {}
        )
        # lock_wait_timeout: metadata locks (LOCK TABLES, DDL), a year by default.
        extra["init_command"] = (
            f"SET SESSION innodb_lock_wait_timeout = {lock_timeout}, "
            f"SESSION lock_wait_timeout = {lock_timeout}"
        )
        driver = mysql_driver(next(iter(drivers), None))
        if driver.__name__ == "pymysql":
            if is_loopback_host(parsed.hostname or "localhost") and not any(
                key.startswith("ssl") for key in options
            ):
                # PyMySQL otherwise offers TLS on every connection and loads the system's CA bundle
                # each time to do so: 31 ms of CPU per connection against 0.5 ms without. On a
                # loopback connection TLS protects nothing; ?ssl_disabled=false (or any ssl_ option)
                # asks for it anyway.
                extra["ssl_disabled"] = True
        else:
            # mysqlclient allows several statements in one query string unless told not to; PyMySQL
            # never does. Saved SQL reports run text an operator wrote: one statement, always.
            extra["multi_statements"] = False
            options = _mysqlclient_tls(options)
        # UPDATE reports rows matched, not rows changed, as SQLite and PostgreSQL do.
        db = _server_database(
            parsed,
            options,
            "MySQL",
            "mysql",
            AlxMySQLDatabase,
            AlxPooledMySQLDatabase,
            pooled,
            max_connections,
            host=parsed.hostname or "localhost",
            user=unquote(parsed.username or ""),
            password=unquote(parsed.password or ""),
            charset="utf8mb4",
            client_flag=_MYSQL_FOUND_ROWS,
            **extra,
        )
        db.alx_driver = driver
    elif scheme in ("postgresql", "postgres", "pgsql"):
        # Options of the URL (?options=...) come last and win.
        pg_options = f"-c lock_timeout={lock_timeout}s {options.pop('options', '')}".strip()
        db = _server_database(
            parsed,
            options,
            "PostgreSQL",
            "postgresql",
            AlxPostgresqlDatabase,
            AlxPooledPostgresqlDatabase,
            pooled,
            max_connections,
            host=parsed.hostname or None,
            user=unquote(parsed.username or "") or None,
            password=unquote(parsed.password or "") or None,
            options=pg_options,
            **PG_KEEPALIVES,
        )
    else:
        raise DatabaseURLError(
            f"unsupported database URL scheme {parsed.scheme!r}: use sqlite:///path, mysql://… or postgresql://…"
        )
    db.alx_lock_timeout = lock_timeout
    return db


def bind(db: peewee.Database, prefix: str = DEFAULT_PREFIX) -> peewee.Database:
    """Bind every model to ``db`` and apply the table prefix."""
    database.initialize(db)
    set_table_prefix(prefix)
    return db


class Prepared:
    """A peewee SELECT compiled to SQL once per database and table prefix, then run with new
    parameter values: on the API's hot path, compiling a query cost more than the database took to
    answer it (0.1 ms and more per query on a cached page).

    ``build(*samples)`` must use each sample value exactly once, in order (checked at compile time),
    so that the compiled parameter list can be replaced by the caller's values."""

    def __init__(self, build: Callable[..., peewee.Query], *samples):
        self._build = build
        self._samples = list(samples)
        self._compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _sql(self) -> tuple[peewee.Database, str]:
        db = database.obj
        by_prefix = self._compiled.setdefault(db, {})
        sql = by_prefix.get(_state["prefix"])
        if sql is None:
            sql, params = self._build(*self._samples).sql()
            if list(params) != self._samples:
                raise RuntimeError(
                    f"a Prepared query must use its sample values once each, in order: {params}"
                )
            by_prefix[_state["prefix"]] = sql
        return db, sql

    def _execute(self, params: tuple) -> Any:
        db, sql = self._sql()
        server = _server_prepares(db)
        if server is not None and not db.in_transaction():
            return _execute_prepared(db, server, sql, list(params))
        return db.execute_sql(sql, list(params))

    def dicts(self, *params) -> list[dict[str, Any]]:
        """The rows as dicts keyed by column name (or alias)."""
        cursor = self._execute(params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def tuples(self, *params) -> list[tuple]:
        return [tuple(row) for row in self._execute(params).fetchall()]


# A server parses (and PostgreSQL plans) a query each time it receives its text; the API's cached page
# is one query (the token and its company's state), whose parsing and planning cost more than running
# it: on PostgreSQL ~0.5 ms of a 1.1 ms request, on MariaDB ~60 of ~260 µs of server CPU. As a server-side
# prepared statement (PREPARE once per connection, then EXECUTE) it is parsed once, and on PostgreSQL
# its generic plan reused. Statement names are per SQL text; connections remember what they prepared.
# Pooled databases only (the API's): a connection opened for one unit of work would pay a PREPARE
# round trip for a single EXECUTE. Never inside a transaction: a failed PREPARE would abort it.
_PLACEHOLDER = re.compile(r"%([s%])")
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # connection -> prepared names
_unpreparable: set[str] = set()  # SQL a server refused to PREPARE: run as plain text


@dataclass(frozen=True)
class _ServerPrepare:
    """How one server prepares and executes statements, and its two errors that matter."""

    marker: Callable[[int], str]  # the n-th (from 1) parameter marker in the prepared text
    prepare: str  # PREPARE … with {name}, and {text} in it or (text_as_parameter) sent as %s
    text_as_parameter: bool
    execute: str  # EXECUTE … with {name} and {markers} (%s, %s …), when there are parameters
    already: Callable[[BaseException], bool]  # the name is taken on this connection
    forgotten: Callable[[BaseException], bool]  # the connection does not know the name

    def statement(self, sql: str) -> tuple[str, str]:
        """(statement name, the SQL with the server's parameter markers)."""
        numbers = itertools.count(1)
        text = _PLACEHOLDER.sub(lambda m: self.marker(next(numbers)) if m.group(1) == "s" else "%", sql)
        return "alx_" + hashlib.blake2b(sql.encode(), digest_size=8).hexdigest(), text


def _pgcode(exc: BaseException) -> str | None:
    """The SQLSTATE of the psycopg2 error behind a peewee error."""
    for cause in (getattr(exc, "orig", None), exc.__cause__, exc.__context__):
        code = getattr(cause, "pgcode", None)
        if code:
            return str(code)
    return None


def _mysql_code(exc: BaseException) -> int | None:
    """The MariaDB/MySQL error number behind a peewee error."""
    for cause in (getattr(exc, "orig", None), exc.__cause__, exc.__context__, exc):
        args = getattr(cause, "args", ())
        if args and isinstance(args[0], int):
            return args[0]
    return None


_POSTGRESQL_PREPARE = _ServerPrepare(
    marker=lambda n: f"${n}",
    prepare="PREPARE {name} AS {text}",  # psycopg2 sends it as it is: no parameters
    text_as_parameter=False,
    execute="EXECUTE {name}({markers})",
    already=lambda exc: _pgcode(exc) == "42P05",
    forgotten=lambda exc: _pgcode(exc) == "26000",
)
# MariaDB takes literals after EXECUTE … USING (MySQL only user variables: not used there).
_MARIADB_PREPARE = _ServerPrepare(
    marker=lambda n: "?",
    prepare="PREPARE {name} FROM %s",  # the text as a string literal, escaped by the driver
    text_as_parameter=True,
    execute="EXECUTE {name} USING {markers}",
    already=lambda exc: False,  # PREPARE replaces a statement of the same name
    forgotten=lambda exc: _mysql_code(exc) == 1243,  # ER_UNKNOWN_STMT_HANDLER
)


def _server_prepares(db: peewee.Database) -> _ServerPrepare | None:
    if isinstance(db, pool.PooledPostgresqlDatabase):
        return _POSTGRESQL_PREPARE
    if isinstance(db, AlxPooledMySQLDatabase) and db.alx_mariadb:
        return _MARIADB_PREPARE
    return None


@functools.lru_cache(maxsize=256)
def _statements(server: _ServerPrepare, sql: str, count: int) -> tuple[str, str, list | None, str]:
    """(name, PREPARE statement and its parameters, EXECUTE statement) of ``sql`` with ``count``
    parameters."""
    name, text = server.statement(sql)
    if server.text_as_parameter:
        prepare, prepare_params = server.prepare.format(name=name), [text]
    else:
        prepare, prepare_params = server.prepare.format(name=name, text=text), None
    execute = (
        server.execute.format(name=name, markers=", ".join(["%s"] * count)) if count else f"EXECUTE {name}"
    )
    return name, prepare, prepare_params, execute


def _execute_prepared(db: peewee.Database, server: _ServerPrepare, sql: str, params: list) -> Any:
    if sql in _unpreparable:
        return db.execute_sql(sql, params)
    name, prepare, prepare_params, execute = _statements(server, sql, len(params))
    for attempt in (1, 2):
        conn = db.connection()
        done = _prepared.setdefault(conn, set())
        if name not in done:
            try:
                db.execute_sql(prepare, prepare_params)
            except peewee.DatabaseError as exc:
                if not server.already(exc):
                    log.debug("could not prepare a statement; running it as text", exc_info=True)
                    _unpreparable.add(sql)
                    return db.execute_sql(sql, params)
            done.add(name)
        try:
            return db.execute_sql(execute, params)
        except peewee.DatabaseError as exc:
            # The connection does not know it: a new connection behind the same object (a reconnect),
            # prepare again. Twice in a row (a pooler handing each statement to another server
            # connection): run it as text.
            if not server.forgotten(exc):
                raise
            done.discard(name)
            if attempt == 2:
                _unpreparable.add(sql)
    return db.execute_sql(sql, params)


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address: a peer on this machine (secrets may travel in clear)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_TLS_FILES = ("ca", "capath", "cert", "key", "cipher")


def _mysqlclient_tls(options: dict) -> dict:
    """PyMySQL's TLS options of the URL (``ssl_ca=…``, ``ssl_verify_identity=true``, ``ssl_disabled``)
    as mysqlclient takes them (``ssl={"ca": …}``, ``ssl_mode=…``), so a URL works with either driver."""
    out = {k: v for k, v in options.items() if not k.startswith("ssl_") or k == "ssl_mode"}
    files = {name: options[f"ssl_{name}"] for name in _TLS_FILES if f"ssl_{name}" in options}
    if files:
        out["ssl"] = files
    if "ssl_mode" not in out:
        if options.get("ssl_disabled") is True:
            out["ssl_mode"] = "DISABLED"
        elif options.get("ssl_verify_identity") is True:
            out["ssl_mode"] = "VERIFY_IDENTITY"
        elif options.get("ssl_verify_cert") is True:
            out["ssl_mode"] = "VERIFY_CA"
        elif files or options.get("ssl_disabled") is False:
            out["ssl_mode"] = "REQUIRED"
    return out


def _server_database(
    parsed,
    url_options: dict,
    label: str,
    scheme: str,
    plain_cls,
    pooled_cls,
    pooled: bool,
    max_connections: int,
    **kwargs,
) -> peewee.Database:
    """A MariaDB/MySQL or PostgreSQL database from a parsed URL: database name, port, options, pool."""
    name = parsed.path.strip("/")
    if not name:
        raise DatabaseURLError(f"{label} URL has no database name: {scheme}://user:password@host/moodle")
    kwargs["connect_timeout"] = CONNECT_TIMEOUT
    if parsed.port:
        kwargs["port"] = parsed.port
    kwargs.update(url_options)
    if pooled:
        return pooled_cls(name, max_connections=max_connections, stale_timeout=300, **kwargs)
    return plain_cls(name, **kwargs)


def open_database(url: str, prefix: str = DEFAULT_PREFIX, **kwargs) -> peewee.Database:
    """Create the database for ``url``, bind every model to it and apply the table prefix."""
    return bind(make_database(url, **kwargs), prefix)


def quote(name: str, db: peewee.Database | None = None) -> str:
    """``name`` quoted as an identifier for the bound (or given) database: "x" or `x`."""
    obj = db if db is not None else database.obj
    if isinstance(obj, peewee.DatabaseProxy):
        obj = obj.obj
    left, right = obj.quote
    return left + name.replace(right, right + right) + right


# --------------------------------------------------------------------------------------------------
# What a database error means, for messages that say what happened

# MariaDB/MySQL client and server error numbers meaning "the connection is gone".
_MYSQL_CONNECTION_ERRORS = {1053, 1077, 1927, 2002, 2003, 2006, 2013, 2014, 2055, 4031}
_PG_CONNECTION_TEXT = (
    "server closed the connection",
    "connection already closed",
    "terminating connection",
    "could not connect",
    "connection refused",
    "no connection to the server",
    "the database system is shutting down",
    "the database system is starting up",
    "could not receive data",
    "could not send data",
    "ssl connection has been closed",
)


def error_kind(exc: BaseException) -> str | None:
    """'connection' (lost or refused), 'lock_timeout', 'deadlock', 'permission' or None."""
    orig = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__ or exc
    code = orig.args[0] if getattr(orig, "args", None) and isinstance(orig.args[0], int) else None
    pgcode = getattr(orig, "pgcode", None) or ""
    text = str(orig).lower()
    if code is not None:  # PyMySQL, mysqlclient: (number, message)
        if code in _MYSQL_CONNECTION_ERRORS or (code == 0 and isinstance(exc, peewee.InterfaceError)):
            return "connection"
        return {
            1205: "lock_timeout",
            1213: "deadlock",
            1044: "permission",
            1045: "permission",
            1142: "permission",
            1143: "permission",
        }.get(code)
    if pgcode == "55P03" or "lock timeout" in text:
        return "lock_timeout"
    if pgcode == "40P01":
        return "deadlock"
    if pgcode == "42501":
        return "permission"
    if pgcode.startswith(("08", "57P")) or any(t in text for t in _PG_CONNECTION_TEXT):
        return "connection"
    if isinstance(exc, peewee.InterfaceError) and "closed" in text:
        return "connection"
    return None


def error_detail(exc: BaseException) -> str:
    """The driver's own message, on one line, without the MariaDB drivers' (code, '...') tuple dressing."""
    orig = getattr(exc, "orig", None) or exc
    args: tuple = getattr(orig, "args", ())
    text = args[1] if len(args) >= 2 and isinstance(args[0], int) else str(orig)
    text = " ".join(str(text).split())
    return text or type(exc).__name__


def describe_error(exc: BaseException, lock_timeout: int | None = None) -> str | None:
    """A sentence for the database errors an operator can act on, or None for the others."""
    kind = error_kind(exc)
    detail = error_detail(exc)
    if kind == "connection":
        return f"lost the connection to the database server ({detail})"
    if kind == "lock_timeout":
        waited = f" for {lock_timeout} s" if lock_timeout else ""
        return (
            f"lock wait timeout: another session held a lock on a table ALX writes{waited} "
            f"(db_lock_timeout_seconds) ({detail})"
        )
    if kind == "deadlock":
        return f"deadlock with another session ({detail})"
    if kind == "permission":
        return f"permission denied ({detail}); see README: LEAST-PRIVILEGE GRANTS"
    return None


# What a failed statement can raise (peewee's InterfaceError is not a DatabaseError).
DB_ERRORS = (peewee.DatabaseError, peewee.InterfaceError)
