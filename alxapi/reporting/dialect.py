"""The few SQL spellings that differ between SQLite, MariaDB/MySQL and PostgreSQL."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import peewee

from models.db import DB_ERRORS, quote
from models.db import dialect as dialect_of


class Dialect:
    def __init__(self, db: peewee.Database):
        self.db = db
        self.name = dialect_of(db)
        self.param = db.param
        self.q = functools.partial(quote, db=db)

    def insert_ignore(self, table: str, columns: str, select_sql: str) -> str:
        """INSERT … SELECT that silently skips rows violating a unique key."""
        if self.name == "mysql":
            return f"INSERT IGNORE INTO {table} ({columns}) {select_sql}"
        # SQLite needs a WHERE in an INSERT … SELECT … ON CONFLICT (parsing ambiguity).
        where = "" if " WHERE " in select_sql.upper() else " WHERE 1 = 1"
        return f"INSERT INTO {table} ({columns}) {select_sql}{where} ON CONFLICT DO NOTHING"

    def upsert(
        self, table: str, columns: list[str], select_sql: str, keys: list[str], update: list[str]
    ) -> str:
        """INSERT … SELECT that updates ``update`` columns of rows whose ``keys`` already exist."""
        cols = ", ".join(columns)
        if self.name == "mysql":
            sets = ", ".join(f"{c} = VALUES({c})" for c in update)
            return f"INSERT INTO {table} ({cols}) {select_sql} ON DUPLICATE KEY UPDATE {sets}"
        sets = ", ".join(f"{c} = excluded.{c}" for c in update)
        return (
            f"INSERT INTO {table} ({cols}) {select_sql} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
        )

    def driving_join(self) -> str:
        """JOIN that keeps the left table as the driver of the loop.

        SQLite has no statistics for work tables and would scan a million-row source table instead
        of looking up the few pairs listed in the scope; CROSS JOIN fixes its join order.
        """
        return "CROSS JOIN" if self.name == "sqlite" else "JOIN"

    def tombstone_pairs(self, reporting: str, scope: str, fresh: str) -> str | None:
        """MariaDB: tombstone the scope's rows that were not recomputed, as a multi-table UPDATE.

        The portable ``UPDATE … WHERE id IN (derived table) AND NOT EXISTS …`` makes MariaDB scan
        the whole reporting table for every batch; joining from the scope's few pairs reads only
        their rows. None: the portable statement is fine on this engine.
        """
        if self.name != "mysql":
            return None
        p = self.param
        return (
            f"UPDATE {scope} s JOIN {reporting} r ON r.userid = s.userid AND r.courseid = s.courseid "
            f"LEFT JOIN {fresh} f ON f.companyid = r.companyid AND f.userid = r.userid "
            f"AND f.courseid = r.courseid "
            f"SET r.is_deleted = 1, r.change_seq = {p}, r.last_updated = {p}, r.timemodified = {p} "
            f"WHERE r.is_deleted = 0 AND f.userid IS NULL"
        )

    def analyze(self, table: str) -> list[str]:
        """Statements that give the planner statistics for a freshly filled work table.

        PostgreSQL never auto-analyses temporary tables, so without this it plans every join with
        the members table from a guess. (The membership snapshot's quadratic anti-join was not
        fixed by this — measured unchanged — but by ON CONFLICT DO NOTHING in changes.py.)
        """
        return [f"ANALYZE {table}"] if self.name == "postgresql" else []

    @contextlib.contextmanager
    def reads_without_locks(self) -> Iterator[None]:
        """MariaDB/MySQL: READ COMMITTED for the block, restored afterwards.

        Under InnoDB's default REPEATABLE READ, ``INSERT … SELECT`` takes a shared lock on every
        row it reads: a full sync computing a whole site in one statement would hold Moodle's
        enrolments and completions against Moodle's own writes for its duration, and would wait
        for any locked reporting row before writing a single batch. READ COMMITTED reads a
        snapshot without locks; the sync's consistency comes from its lock and its per-batch
        transactions, not from the isolation level. SQLite and PostgreSQL never lock rows they
        only read.
        """
        if self.name != "mysql":
            yield
            return
        previous = self._isolation()
        self.db.execute_sql("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        try:
            yield
        finally:
            with contextlib.suppress(*DB_ERRORS):  # the connection may be gone: nothing to restore
                level = previous.replace("-", " ")
                self.db.execute_sql(f"SET SESSION TRANSACTION ISOLATION LEVEL {level}")

    def _isolation(self) -> str:
        # MySQL 8 and MariaDB 11.1+ call it transaction_isolation; MariaDB 10.x only tx_isolation.
        for variable in ("transaction_isolation", "tx_isolation"):
            try:
                return str(self.db.execute_sql(f"SELECT @@SESSION.{variable}").fetchone()[0])
            except DB_ERRORS:
                continue
        return "REPEATABLE-READ"

    def scan_join(self) -> str:
        """JOIN for "filter the big left table, then look up the small right one".

        MariaDB otherwise drives from the small table (course_modules, enrol) and probes the big
        one through its index for every row: 3.4 s instead of 0.4 s over 3.3 million activity
        completions. STRAIGHT_JOIN keeps the written order there; the others plan it well.
        """
        return "STRAIGHT_JOIN" if self.name == "mysql" else "JOIN"

    def text_differs(self, a: str, b: str) -> str:
        """a <> b compared byte for byte (MariaDB's default collation ignores case and accents)."""
        if self.name == "mysql":
            return f"(BINARY {a} <> BINARY {b})"
        return f"({a} <> {b})"

    def create_work_table(self, name: str, columns: str) -> list[str]:
        """DDL for a per-connection scratch table (TEMPORARY where the engine allows it).

        MariaDB cannot refer to a TEMPORARY table twice in one statement, so there the work
        tables are ordinary tables; only the lock holder (one sync at a time) uses them.
        """
        if self.name == "mysql":
            return [
                f"DROP TABLE IF EXISTS {name}",
                f"CREATE TABLE {name} ({columns}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            ]
        return [f"DROP TABLE IF EXISTS {name}", f"CREATE TEMPORARY TABLE {name} ({columns})"]
