"""Running a saved report: validated again, then executed read-only, under the server's own time
limit, with a row cap (SPEC §8.5).

- SQLite: ``PRAGMA query_only`` for the run, and a progress handler that stops the statement once
  ``report_max_seconds`` have passed.
- MariaDB: a READ ONLY transaction and ``SET STATEMENT max_statement_time=N FOR …``.
- PostgreSQL: a READ ONLY transaction with ``SET LOCAL statement_timeout``.

The transaction is always rolled back: even if a validator bug let a write through, the server
refuses it and nothing is kept.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import peewee

from models.db import database, dialect

from .validator import Refused, check, compile_query


class Stopped(RuntimeError):
    """The report ran past ``report_max_seconds`` and the server stopped it."""


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[tuple]
    cut: bool  # more rows than report_max_rows: the rest were not read


def bind(parameters: tuple[str, ...], given: Mapping[str, str], companyid: int | None) -> dict[str, object]:
    """Values for the query's :names: ``companyid`` from the company, the others from ``given``."""
    unknown = sorted(set(given) - set(parameters))
    if unknown:
        raise Refused(
            f"the report has no parameter :{unknown[0]} (it uses {', '.join(':' + p for p in parameters) or 'none'})"
        )
    values: dict[str, object] = {}
    if "companyid" in given:
        raise Refused("the company is given with --company (API: the token's company), not as a parameter")
    for name in parameters:
        if name == "companyid":
            if companyid is None:
                raise Refused("the report uses :companyid: give --company ID")
            values[name] = companyid
        elif name in given:
            values[name] = given[name]
        else:
            raise Refused(f"the report needs a value for :{name} (--param {name}=…)")
    return values


def run_sql(sql: str, given: Mapping[str, str], companyid: int | None, config) -> Result:
    """Validate and run ``sql`` in the caller's connection; raise Refused or Stopped."""
    db = database.obj if isinstance(database, peewee.DatabaseProxy) else database
    kind = dialect(db)
    checked = check(sql, kind, config.report_allowed_tables)
    values = bind(checked.parameters, given, companyid)
    text, order = compile_query(checked, kind, config.table_prefix, db.param)
    params = [values[name] for name in order]
    limit, seconds = config.report_max_rows, config.report_max_seconds
    try:
        if kind == "sqlite":
            return _sqlite(db, text, params, limit, seconds)
        if kind == "mysql":
            return _server(
                db, f"SET STATEMENT max_statement_time={int(seconds)} FOR {text}", params, limit, "mysql"
            )
        return _server(db, text, params, limit, "postgresql", seconds)
    except peewee.DatabaseError as exc:
        message = str(exc).lower()
        if any(
            word in message
            for word in ("interrupted", "statement timeout", "max_statement_time", "canceling")
        ):
            raise Stopped(f"the report ran past report_max_seconds ({seconds} s) and was stopped") from None
        raise


def _fetch(cursor, limit: int) -> Result:
    columns = [d[0] for d in cursor.description or ()]
    rows = cursor.fetchmany(limit + 1)
    cut = len(rows) > limit
    rows = [tuple(float(v) if isinstance(v, Decimal) else v for v in row) for row in rows[:limit]]
    return Result(columns, rows, cut)


def _sqlite(db, text: str, params: list, limit: int, seconds: float) -> Result:
    conn = db.connection()
    deadline = time.monotonic() + seconds
    conn.execute("PRAGMA query_only = ON")
    conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
    try:
        # One SELECT is its own snapshot; no BEGIN: this product's SQLite transactions start with
        # BEGIN IMMEDIATE, a write that query_only refuses.
        return _fetch(db.execute_sql(text, params), limit)
    finally:
        conn.set_progress_handler(None, 0)
        conn.execute("PRAGMA query_only = OFF")


def _server(db, text: str, params: list, limit: int, kind: str, seconds: float = 0) -> Result:
    if kind == "mysql":
        db.execute_sql("SET SESSION TRANSACTION READ ONLY")
    try:
        with db.atomic() as transaction:
            if kind == "postgresql":
                db.execute_sql("SET TRANSACTION READ ONLY")
                db.execute_sql(f"SET LOCAL statement_timeout = {int(seconds * 1000)}")
            cursor = db.execute_sql(text, params)
            result = _fetch(cursor, limit)
            transaction.rollback()
        return result
    finally:
        if kind == "mysql":
            db.execute_sql("SET SESSION TRANSACTION READ WRITE")
