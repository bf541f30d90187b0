"""The one database handle every model binds to, URL parsing, and the Moodle table prefix.

Models are bound to ``database`` (a :class:`peewee.DatabaseProxy`) at import time; ``open_database``
creates the real connection object from a peewee URL and initialises the proxy. Moodle's table
prefix (``$CFG->prefix``) is runtime configuration, so every model computes its table name through
``Meta.table_function`` and ``set_table_prefix`` re-applies it to every registered model.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlparse

import peewee
from playhouse import pool

database = peewee.DatabaseProxy()

DEFAULT_PREFIX = "mdl_"
_MYSQL_FOUND_ROWS = 2  # pymysql.constants.CLIENT.FOUND_ROWS
_PREFIX_RE = re.compile(r"^[a-z0-9_]{0,20}$")

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
    if not _PREFIX_RE.match(prefix):
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


def _coerce(value: str):
    if value.isdigit():
        return int(value)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    try:
        return float(value)
    except ValueError:
        return value


def make_database(url: str, *, pooled: bool = False, max_connections: int = 8) -> peewee.Database:
    """Create (but do not connect) a peewee database from ``sqlite:///path``, ``mysql://…``, ``postgresql://…``.

    MySQL/MariaDB connections use ``utf8mb4`` (Moodle's charset); SQLite runs in WAL mode with a busy
    timeout so the API, the worker and the console can share one file.
    """
    parsed = urlparse(url)
    scheme = parsed.scheme.lower().replace("+pool", "")
    pooled = pooled or "+pool" in parsed.scheme.lower()
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
        kwargs = dict(pragmas=pragmas, timeout=30, check_same_thread=False)
        kwargs.update(options)
        if pooled:
            return pool.PooledSqliteDatabase(path, max_connections=max_connections, stale_timeout=300, **kwargs)
        return peewee.SqliteDatabase(path, **kwargs)
    if scheme in ("mysql", "mariadb"):
        # UPDATE reports rows matched, not rows changed, as SQLite and PostgreSQL do.
        return _server_database(parsed, options, "MySQL", "mysql", peewee.MySQLDatabase, pool.PooledMySQLDatabase,
                                pooled, max_connections, host=parsed.hostname or "localhost",
                                user=unquote(parsed.username or ""), password=unquote(parsed.password or ""),
                                charset="utf8mb4", client_flag=_MYSQL_FOUND_ROWS)
    if scheme in ("postgresql", "postgres", "pgsql"):
        return _server_database(parsed, options, "PostgreSQL", "postgresql", peewee.PostgresqlDatabase,
                                pool.PooledPostgresqlDatabase, pooled, max_connections,
                                host=parsed.hostname or None, user=unquote(parsed.username or "") or None,
                                password=unquote(parsed.password or "") or None)
    raise DatabaseURLError(
        f"unsupported database URL scheme {parsed.scheme!r}: use sqlite:///path, mysql://… or postgresql://…"
    )


def bind(db: peewee.Database, prefix: str = DEFAULT_PREFIX) -> peewee.Database:
    """Bind every model to ``db`` and apply the table prefix."""
    database.initialize(db)
    set_table_prefix(prefix)
    return db


def _server_database(parsed, options: dict, label: str, scheme: str, plain_cls, pooled_cls, pooled: bool,
                     max_connections: int, **kwargs) -> peewee.Database:
    """A MariaDB/MySQL or PostgreSQL database from a parsed URL: database name, port, options, pool."""
    name = parsed.path.strip("/")
    if not name:
        raise DatabaseURLError(f"{label} URL has no database name: {scheme}://user:password@host/moodle")
    kwargs["connect_timeout"] = 10
    if parsed.port:
        kwargs["port"] = parsed.port
    kwargs.update(options)
    if pooled:
        return pooled_cls(name, max_connections=max_connections, stale_timeout=300, **kwargs)
    return plain_cls(name, **kwargs)


def open_database(url: str, prefix: str = DEFAULT_PREFIX, **kwargs) -> peewee.Database:
    """Create the database for ``url``, bind every model to it and apply the table prefix."""
    return bind(make_database(url, **kwargs), prefix)


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages and ``alx config``)."""
    parsed = urlparse(url)
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
        return parsed._replace(netloc=netloc).geturl()
    return url


def quote(name: str, db: peewee.Database | None = None) -> str:
    """``name`` quoted as an identifier for the bound (or given) database: "x" or `x`."""
    obj = db if db is not None else database.obj
    if isinstance(obj, peewee.DatabaseProxy):
        obj = obj.obj
    left, right = obj.quote
    return left + name.replace(right, right + right) + right
