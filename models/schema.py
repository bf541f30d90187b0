"""Install, upgrade and check the product's tables; check the Moodle/IOMAD tables it reads.

Upgrades are numbered steps applied in order and recorded one by one in the state table, so a
step interrupted half-way (MariaDB commits DDL implicitly) is simply re-run: every step is
idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from . import analytics, iomad, moodle, plugin
from .db import database, quote

SCHEMA_VERSION_KEY = "schema_version"
# Every table the product owns: checked and repaired by `alx check`.
OWN_TABLES: list[type[peewee.Model]] = [
    *plugin.ALL_TABLES,
    *analytics.ANALYTICS_TABLES,
    *analytics.REPORT_TABLES,
]


def _step_1_create_tables(db: peewee.Database) -> None:
    db.create_tables(plugin.ALL_TABLES, safe=True)


def _add_missing_columns(db: peewee.Database, model: type[peewee.Model], names: list[str]) -> None:
    present = {c.name for c in db.get_columns(model._meta.table_name)}
    fields = [model._meta.fields[n] for n in names if model._meta.fields[n].column_name not in present]
    if fields:
        migrator = SchemaMigrator.from_database(db)
        migrate(*(migrator.add_column(model._meta.table_name, f.column_name, f) for f in fields))


def _add_missing_indexes(db: peewee.Database, model: type[peewee.Model]) -> list[str]:
    existing = {tuple(i.columns) for i in db.get_indexes(model._meta.table_name)}
    created = []
    for index in model._meta.fields_to_index():
        columns = tuple(e.column_name for e in index._expressions)
        if columns not in existing:  # peewee has no CREATE INDEX IF NOT EXISTS for MariaDB
            db.execute(model._schema._create_index(index, safe=False))
            created.append(", ".join(columns))
    return created


def _step_2_api_state(db: peewee.Database) -> None:
    """Pass state of the Moodle-compatible endpoint; token, error and cache columns in the log."""
    _add_missing_columns(
        db,
        plugin.SyncStatus,
        [
            "pass_mode",
            "pass_since_seq",
            "pass_start_seq",
            "pass_started_at",
            "pass_offset",
            "pass_last_userid",
            "pass_last_courseid",
            "pass_scope",
            "done_start_seq",
            "done_at",
            "done_scope",
        ],
    )
    _add_missing_columns(db, plugin.ApiLog, ["token_ref", "error_code", "http_status", "cache_hit"])
    _add_missing_indexes(db, plugin.ApiLog)


def _step_3_alert_lifecycle(db: peewee.Database) -> None:
    """Alert subject, occurrences, resolution and delivery bookkeeping."""
    _add_missing_columns(
        db,
        plugin.Alert,
        [
            "subject",
            "occurrences",
            "timelastseen",
            "timeresolved",
            "resolved_by",
            "delivery_status",
            "delivered_channels",
            "delivery_attempts",
            "next_delivery_at",
            "delivery_error",
        ],
    )
    _add_missing_indexes(db, plugin.Alert)


def _drop_index_on(db: peewee.Database, model: type[peewee.Model], columns: tuple[str, ...]) -> None:
    table = model._meta.table_name
    for index in db.get_indexes(table):
        if tuple(index.columns) == columns:
            if isinstance(db, peewee.MySQLDatabase):
                db.execute_sql(f"DROP INDEX {quote(index.name, db)} ON {quote(table, db)}")
            else:
                db.execute_sql(f"DROP INDEX {quote(index.name, db)}")


def _step_4_log_window_index(db: peewee.Database) -> None:
    """A covering (timecreated, companyid, error_code, cache_hit, record_count, response_time_ms) index
    on the request log for the monitoring panes' window aggregates; it makes (timecreated) redundant."""
    _add_missing_indexes(db, plugin.ApiLog)
    _drop_index_on(db, plugin.ApiLog, ("timecreated",))


def _step_5_analytics_tables(db: peewee.Database) -> None:
    """The learning-analytics tables (SPEC §8.1): time spent per user, course and local date."""
    db.create_tables(analytics.ANALYTICS_TABLES, safe=True)


def _step_6_request_counters(db: peewee.Database) -> None:
    """Per-token daily request counters, taken before serving (exact rate limits)."""
    db.create_tables([plugin.RequestCounter], safe=True)


def _step_7_saved_reports(db: peewee.Database) -> None:
    """Operators' saved SQL reports (SPEC §8.5)."""
    db.create_tables(analytics.REPORT_TABLES, safe=True)


def _step_8_schedules(db: peewee.Database) -> None:
    """Scheduled e-mailed reports, their recipients and their runs (SPEC §8.6)."""
    db.create_tables(analytics.SCHEDULE_TABLES, safe=True)


def _step_9_time_spent_tails(db: peewee.Database) -> None:
    """Each daily time-spent row's last event and its session's start (incremental analytics)."""
    _add_missing_columns(db, analytics.UserTimeDaily, ["last_time", "open_start"])
    if isinstance(db, peewee.MySQLDatabase):
        # peewee's NOT NULL step (MODIFY COLUMN) redefines the column without its DEFAULT 0.
        table = quote(analytics.UserTimeDaily._meta.table_name, db)
        for column in ("last_time", "open_start"):
            db.execute_sql(f"ALTER TABLE {table} ALTER COLUMN {quote(column, db)} SET DEFAULT 0")


# (version, description, function). Append new steps; never renumber or edit a released one.
# Step 1 creates tables as the models now define them, so later steps skip what exists already.
UPGRADE_STEPS: list[tuple[int, str, Callable[[peewee.Database], None]]] = [
    (1, "create the plugin tables", _step_1_create_tables),
    (2, "API pass state and request-log columns", _step_2_api_state),
    (3, "alert subject, resolution and delivery columns", _step_3_alert_lifecycle),
    (4, "covering request-log index for the monitoring panes", _step_4_log_window_index),
    (5, "learning-analytics tables", _step_5_analytics_tables),
    (6, "per-token daily request counters", _step_6_request_counters),
    (7, "saved SQL reports", _step_7_saved_reports),
    (8, "scheduled reports", _step_8_schedules),
    (9, "time-spent session tails", _step_9_time_spent_tails),
]
LATEST_VERSION = UPGRADE_STEPS[-1][0]


def installed_version(db: peewee.Database | None = None) -> int:
    db = db or database
    if not db.table_exists(plugin.State._meta.table_name):
        return 0
    row = plugin.State.get_or_none(plugin.State.name == SCHEMA_VERSION_KEY)
    return row.value_int if row else 0


def _record_version(version: int) -> None:
    # Not State.put: its savepoint cannot survive MariaDB's implicit commit after a step's DDL.
    updated = plugin.State.update(value_int=version).where(plugin.State.name == SCHEMA_VERSION_KEY).execute()
    if not updated:
        plugin.State.insert(name=SCHEMA_VERSION_KEY, value_int=version).execute()


def install(db: peewee.Database | None = None) -> list[str]:
    """Apply every pending upgrade step; return the descriptions of the steps applied."""
    db = db or database
    applied = []
    current = installed_version(db)
    for version, description, step in UPGRADE_STEPS:
        if version <= current:
            continue
        with db.atomic():
            step(db)
            _record_version(version)
        applied.append(f"{version}: {description}")
    return applied


@dataclass
class TableCheck:
    table: str
    owner: str  # "plugin" or "moodle"
    ok: bool
    problem: str = ""


@dataclass
class CheckReport:
    schema_version: int
    latest_version: int
    tables: list[TableCheck] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return self.schema_version == self.latest_version and all(t.ok for t in self.tables)

    @property
    def repairable(self) -> list[TableCheck]:
        return [t for t in self.tables if not t.ok and t.owner == "plugin"]


class _Catalog:
    """Column names and index column lists of the tables ``check`` looks at.

    PostgreSQL answers in one catalog query per kind: peewee asks ``information_schema.columns`` and
    then the primary key for each table, ~100 queries costing the server ~140 ms of CPU, paid by every
    `alx` command (they all check the schema first). Elsewhere peewee's per-table introspection is cheap.
    """

    def __init__(self, db: peewee.Database, tables: list[str]):
        self.db = db
        self._columns: dict[str, set] | None = None
        self._indexes: dict[str, set] | None = None
        self._tables = tables

    def columns(self, table: str) -> set[str]:
        if not isinstance(self.db, peewee.PostgresqlDatabase):
            return {c.name for c in self.db.get_columns(table)}
        if self._columns is None:
            self._columns = self._per_table(_PG_COLUMNS, lambda column: column)
        return self._columns.get(table, set())

    def indexes(self, table: str) -> set[tuple[str, ...]]:
        if not isinstance(self.db, peewee.PostgresqlDatabase):
            return {tuple(i.columns) for i in self.db.get_indexes(table)}
        if self._indexes is None:
            self._indexes = self._per_table(_PG_INDEXES, lambda cols: tuple(peewee.unqesc(c) for c in cols))
        return self._indexes.get(table, set())

    def _per_table(self, sql: str, value: Callable) -> dict[str, set]:
        """(table, item) rows of ``sql`` for our tables, as table -> {value(item)}."""
        found: dict[str, set] = {}
        for name, item in self.db.execute_sql(sql, (self._tables,)):
            found.setdefault(name, set()).add(value(item))
        return found


_PG_COLUMNS = (
    "SELECT t.relname, a.attname FROM pg_catalog.pg_attribute AS a "
    "JOIN pg_catalog.pg_class AS t ON t.oid = a.attrelid "
    "WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%s) "
    "AND a.attnum > 0 AND NOT a.attisdropped"
)
_PG_INDEXES = (
    "SELECT t.relname, ARRAY(SELECT pg_get_indexdef(idx.indexrelid, k + 1, TRUE) "
    "FROM generate_subscripts(idx.indkey, 1) AS k ORDER BY k) "
    "FROM pg_catalog.pg_class AS t JOIN pg_catalog.pg_index AS idx ON t.oid = idx.indrelid "
    "WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%s)"
)


def _check_model(catalog: _Catalog, model: type[peewee.Model], owner: str, tables: set[str]) -> TableCheck:
    name = model._meta.table_name
    if name not in tables:
        return TableCheck(name, owner, False, "missing")
    present = catalog.columns(name)
    wanted = [f.column_name for f in model._meta.sorted_fields]
    missing = [c for c in wanted if c not in present]
    if missing:
        return TableCheck(name, owner, False, "missing columns: " + ", ".join(missing))
    if owner == "plugin":
        have_idx = catalog.indexes(name)
        for index_fields, _unique in model._meta.indexes:
            cols = tuple(model._meta.fields[f].column_name for f in index_fields)
            if cols not in have_idx:
                return TableCheck(name, owner, False, "missing index on " + ", ".join(cols))
    return TableCheck(name, owner, True)


def check(db: peewee.Database | None = None) -> CheckReport:
    """Which tables are missing or damaged (missing columns/indexes), ours and Moodle's."""
    db = db or database
    tables = set(db.get_tables())
    report = CheckReport(installed_version(db), LATEST_VERSION)
    models = [(m, "plugin") for m in OWN_TABLES] + [(m, "moodle") for m in moodle.REQUIRED + iomad.REQUIRED]
    catalog = _Catalog(db, [m._meta.table_name for m, _ in models if m._meta.table_name in tables])
    for model, owner in models:
        report.tables.append(_check_model(catalog, model, owner, tables))
    return report


def repair(db: peewee.Database | None = None) -> list[str]:
    """Re-create missing plugin tables, columns and indexes; never touches Moodle's tables."""
    db = db or database
    done = install(db)
    by_name = {m._meta.table_name: m for m in OWN_TABLES}
    migrator = SchemaMigrator.from_database(db)
    for problem in check(db).repairable:
        model = by_name[problem.table]
        if problem.problem == "missing":
            db.create_tables([model], safe=True)
            done.append(f"created {problem.table}")
            continue
        present = {c.name for c in db.get_columns(problem.table)}
        missing = [f for f in model._meta.sorted_fields if f.column_name not in present]
        if missing:
            # Every plugin column has a default (or is nullable), so adding it to a table with rows works.
            migrate(*(migrator.add_column(problem.table, f.column_name, f) for f in missing))
            done.append(f"added {', '.join(f.column_name for f in missing)} to {problem.table}")
        for columns in _add_missing_indexes(db, model):
            done.append(f"created index on {problem.table} ({columns})")
    return done
