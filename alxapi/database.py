"""Opening the configured database safely (clear errors instead of tracebacks, nothing created by
accident), and refusing to run against one without the Moodle tables or our installed tables."""

from __future__ import annotations

import os
from urllib.parse import urlparse

import peewee

from models import schema
from models.db import DatabaseURLError, open_database

from . import exitcodes
from .config import Config
from .errors import UserError, first_line
from .redact import redact_url


def connect(config: Config, *, create: bool = False, pooled: bool = False) -> peewee.Database:
    """Open and test the configured database, or raise UserError naming the problem.

    A SQLite file that does not exist is an error unless ``create`` (only ``alx demo`` creates):
    a typo in a path must not silently create an empty database.
    """
    url = config.database_url
    shown = redact_url(url)
    parsed = urlparse(url)
    if parsed.scheme.startswith("sqlite") and parsed.netloc:
        raise UserError(
            f"bad database URL {shown}: SQLite URLs have three slashes: "
            f"sqlite:///{parsed.netloc}{parsed.path}",
            code=exitcodes.CONFIG,
        )
    if parsed.scheme.startswith("sqlite") and not create:
        path = parsed.path[1:] if parsed.path.startswith("/") else parsed.path
        if path and path != ":memory:" and not os.path.exists(path):
            raise UserError(
                f"database file not found: {path} (from {config.source('database_url')}). "
                "Check --db / ALX_DATABASE_URL; `alx demo` builds a demo database."
            )
    try:
        db = open_database(
            url, config.table_prefix, pooled=pooled, lock_timeout=config.db_lock_timeout_seconds
        )
        db.connect(reuse_if_open=True)
        db.execute_sql("SELECT 1")
    except DatabaseURLError as exc:
        raise UserError(f"bad database URL {shown}: {exc}", code=exitcodes.CONFIG) from None
    except peewee.ImproperlyConfigured as exc:
        raise UserError(
            f"cannot use {shown}: {exc}. Install the driver: pip install 'alx-report[mysql]' "
            "or 'alx-report[postgresql]'",
            code=exitcodes.CONFIG,
        ) from None
    except (peewee.DatabaseError, OSError) as exc:
        raise UserError(
            f"cannot connect to {shown}: {first_line(exc)}. "
            "Check the URL (--db / ALX_DATABASE_URL), that the server is running and reachable, "
            "and the credentials."
        ) from None
    return db


def moodle_tables_problem(report: schema.CheckReport, config: Config) -> str | None:
    """The message when there are no Moodle/IOMAD tables under the prefix at all (a wrong prefix, or
    not a Moodle database): a configuration error. None otherwise.

    One table missing or unreadable among the others (a Moodle upgrade in progress, a revoked grant)
    is not this: commands that do not need it work, and the sync fails naming it (and alerts) until
    it is back (``alxapi.reporting.sources``).
    """
    moodle = [t for t in report.tables if t.owner == "moodle"]
    if any(t.problem != "missing" for t in moodle):
        return None
    missing = [t.table for t in moodle]
    return (
        f"no Moodle/IOMAD tables found: {', '.join(missing[:5])}"
        f"{' …' if len(missing) > 5 else ''} are missing. Is the table prefix right? It is "
        f"{config.table_prefix!r} (from {config.source('table_prefix')}); set --prefix / ALX_TABLE_PREFIX."
    )


def require_moodle(db: peewee.Database, config: Config) -> schema.CheckReport:
    """Refuse (exit 78) to touch a database that has no Moodle/IOMAD tables under the configured prefix."""
    report = schema.check(db)
    problem = moodle_tables_problem(report, config)
    if problem:
        raise UserError(problem + " Nothing was written.", code=exitcodes.CONFIG)
    return report


def require_schema(db: peewee.Database, config: Config) -> None:
    """Refuse to run against a database without the Moodle tables or without our installed tables."""
    report = require_moodle(db, config)
    if report.schema_version < report.latest_version:
        raise UserError(
            f"ALX tables are not installed or not up to date (schema {report.schema_version} of "
            f"{report.latest_version}): run `alx install`."
        )
    broken = [f"{t.table} ({t.problem})" for t in report.tables if t.owner == "plugin" and not t.ok]
    if broken:
        raise UserError(f"ALX tables damaged: {', '.join(broken)}. Run `alx check --repair`.")
