"""Upgrading an installed schema: a database at version 2 (before the alert-lifecycle columns and the
monitoring index) is brought to the latest version by `install`, on every backend, idempotently."""

from __future__ import annotations

from playhouse.migrate import SchemaMigrator, migrate

from models import analytics, plugin, schema
from models.db import open_database, quote

STEP_3_COLUMNS = [
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
]


def _as_version_2(db) -> None:
    """Undo steps 3 and 4 on a fresh install: what a site installed by version 2 has."""
    alerts, logs = plugin.Alert._meta.table_name, plugin.ApiLog._meta.table_name
    migrator = SchemaMigrator.from_database(db)
    for index in db.get_indexes(alerts):
        if set(index.columns) & set(STEP_3_COLUMNS):
            migrate(migrator.drop_index(alerts, index.name))
    migrate(*(migrator.drop_column(alerts, c) for c in STEP_3_COLUMNS))
    for index in db.get_indexes(logs):
        if index.columns[0] == "timecreated":
            migrate(migrator.drop_index(logs, index.name))
    migrate(migrator.add_index(logs, ("timecreated",), False))
    plugin.State.update(value_int=2).where(plugin.State.name == schema.SCHEMA_VERSION_KEY).execute()


def test_install_upgrades_a_version_2_database_and_is_idempotent(db_url):
    db = open_database(db_url, "mdl_")
    with db.connection_context():
        schema.install(db)
        _as_version_2(db)
        assert schema.installed_version(db) == 2
        assert "subject" not in {c.name for c in db.get_columns(plugin.Alert._meta.table_name)}

        applied = schema.install(db)
        assert applied == [
            "3: alert subject, resolution and delivery columns",
            "4: covering request-log index for the monitoring panes",
            "5: learning-analytics tables",
            "6: per-token daily request counters",
            "7: saved SQL reports",
            "8: scheduled reports",
            "9: time-spent session tails",
        ]
        assert schema.installed_version(db) == schema.LATEST_VERSION
        assert set(STEP_3_COLUMNS) <= {c.name for c in db.get_columns(plugin.Alert._meta.table_name)}
        log_indexes = [tuple(i.columns) for i in db.get_indexes(plugin.ApiLog._meta.table_name)]
        assert ("timecreated",) not in log_indexes  # replaced by the covering index
        assert any(cols[0] == "timecreated" and len(cols) > 1 for cols in log_indexes)
        assert [t.table for t in schema.check(db).tables if t.owner == "plugin" and not t.ok] == []
        assert schema.install(db) == []


def test_a_version_4_database_gains_the_analytics_table_and_check_repairs_it(db_url):
    db = open_database(db_url, "mdl_")
    daily = analytics.UserTimeDaily._meta.table_name
    with db.connection_context():
        schema.install(db)
        db.drop_tables([analytics.UserTimeDaily])
        plugin.State.update(value_int=4).where(plugin.State.name == schema.SCHEMA_VERSION_KEY).execute()

        assert schema.install(db) == [
            "5: learning-analytics tables",
            "6: per-token daily request counters",
            "7: saved SQL reports",
            "8: scheduled reports",
            "9: time-spent session tails",
        ]
        assert daily in db.get_tables()
        assert {("userid", "courseid", "date")} <= {
            tuple(i.columns) for i in db.get_indexes(daily) if i.unique
        }

        db.drop_tables([analytics.UserTimeDaily])
        assert [t.problem for t in schema.check(db).tables if t.table == daily] == ["missing"]
        assert f"created {daily}" in schema.repair(db)
        assert all(t.ok for t in schema.check(db).tables if t.owner == "plugin")


def test_a_version_8_database_gains_the_time_spent_tails(db_url):
    """Rows written before step 9 keep their figures; their tails are 0 ("unknown"), which makes
    the next incremental run recompute those pairs (tests/test_analytics_timespent.py)."""
    db = open_database(db_url, "mdl_")
    daily = analytics.UserTimeDaily._meta.table_name
    with db.connection_context():
        schema.install(db)
        migrator = SchemaMigrator.from_database(db)
        migrate(migrator.drop_column(daily, "last_time"), migrator.drop_column(daily, "open_start"))
        db.execute_sql(
            f"INSERT INTO {quote(daily, db)} (userid, courseid, date, duration, sessions, events, "
            "interactions, lastupdated) VALUES (100, 10, '2026-03-02', 300, 1, 2, 0, 5)"
        )
        plugin.State.update(value_int=8).where(plugin.State.name == schema.SCHEMA_VERSION_KEY).execute()

        assert schema.install(db) == ["9: time-spent session tails"]
        row = analytics.UserTimeDaily.get()
        assert (row.duration, row.events, row.last_time, row.open_start) == (300, 2, 0, 0)
        # a writer that does not name the new columns (the previous version, mid-upgrade) still works
        db.execute_sql(
            f"INSERT INTO {quote(daily, db)} (userid, courseid, date, duration, sessions, events, "
            "interactions, lastupdated) VALUES (101, 10, '2026-03-02', 0, 1, 1, 0, 5)"
        )
        assert all(t.ok for t in schema.check(db).tables if t.owner == "plugin")


def test_checks_catalog_reads_what_peewees_introspection_reads(moodle):
    """`check` reads columns and indexes in one query per kind on PostgreSQL; for every table it
    checks, the answer is peewee's per-table one (a dropped column and index included)."""
    db = moodle.db
    alerts = plugin.Alert._meta.table_name
    migrator = SchemaMigrator.from_database(db)
    migrate(migrator.drop_column(alerts, "delivery_error"))
    tables = sorted(set(db.get_tables()))
    catalog = schema._Catalog(db, tables)
    for table in tables:
        assert catalog.columns(table) == {c.name for c in db.get_columns(table)}, table
        assert catalog.indexes(table) == {tuple(i.columns) for i in db.get_indexes(table)}, table
    assert "delivery_error" not in catalog.columns(alerts)
    assert catalog.indexes(alerts), "the alert table's indexes are seen"
    problems = {t.table: t.problem for t in schema.check(db).tables if not t.ok}
    assert problems == {alerts: "missing columns: delivery_error"}
