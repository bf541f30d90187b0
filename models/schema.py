"""Install, upgrade and check the product's tables; check the Moodle/IOMAD tables it reads.

Upgrades are numbered steps applied in order and recorded one by one in the state table, so a
step interrupted half-way (MariaDB commits DDL implicitly) is simply re-run: every step is
idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import peewee

from . import iomad, moodle, plugin
from .db import database

SCHEMA_VERSION_KEY = "schema_version"


def _step_1_create_tables(db: peewee.Database) -> None:
    db.create_tables(plugin.ALL_TABLES, safe=True)


# (version, description, function). Append new steps; never renumber or edit a released one.
UPGRADE_STEPS: list[tuple[int, str, Callable[[peewee.Database], None]]] = [
    (1, "create the plugin tables", _step_1_create_tables),
]
LATEST_VERSION = UPGRADE_STEPS[-1][0]


def installed_version(db: peewee.Database | None = None) -> int:
    db = db or database
    if not db.table_exists(plugin.State._meta.table_name):
        return 0
    row = plugin.State.get_or_none(plugin.State.name == SCHEMA_VERSION_KEY)
    return row.value_int if row else 0


def _record_version(version: int) -> None:
    updated = (plugin.State.update(value_int=version)
               .where(plugin.State.name == SCHEMA_VERSION_KEY).execute())
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


def _check_model(db: peewee.Database, model: type[peewee.Model], owner: str, tables: set[str]) -> TableCheck:
    name = model._meta.table_name
    if name not in tables:
        return TableCheck(name, owner, False, "missing")
    present = {c.name for c in db.get_columns(name)}
    wanted = [f.column_name for f in model._meta.sorted_fields]
    missing = [c for c in wanted if c not in present]
    if missing:
        return TableCheck(name, owner, False, "missing columns: " + ", ".join(missing))
    if owner == "plugin":
        have_idx = {tuple(i.columns) for i in db.get_indexes(name)}
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
    for model in plugin.ALL_TABLES:
        report.tables.append(_check_model(db, model, "plugin", tables))
    for model in moodle.REQUIRED + iomad.REQUIRED:
        report.tables.append(_check_model(db, model, "moodle", tables))
    return report


def repair(db: peewee.Database | None = None) -> list[str]:
    """Re-create missing plugin tables, columns and indexes; never touches Moodle's tables."""
    db = db or database
    done = install(db)
    report = check(db)
    from playhouse.migrate import SchemaMigrator, migrate

    migrator = SchemaMigrator.from_database(db)
    by_name = {m._meta.table_name: m for m in plugin.ALL_TABLES}
    for problem in report.repairable:
        model = by_name[problem.table]
        if problem.problem == "missing":
            db.create_tables([model], safe=True)
            done.append(f"created {problem.table}")
            continue
        present = {c.name for c in db.get_columns(problem.table)}
        ops = []
        for f in model._meta.sorted_fields:
            if f.column_name not in present:
                if not f.null and f.default is None:
                    # A NOT NULL column without a default cannot be added to a table with rows.
                    f = f.clone() if hasattr(f, "clone") else f
                ops.append(migrator.add_column(problem.table, f.column_name, f))
        if ops:
            migrate(*ops)
            done.append(f"added columns to {problem.table}")
        model.create_table(safe=True)  # creates missing indexes (IF NOT EXISTS)
        done.append(f"checked indexes of {problem.table}")
    return done
