"""Can the sync read Moodle? A cheap probe of every source table the sync reads, before it starts.

A Moodle upgrade in progress or a revoked grant leaves one table missing or unreadable while the
rest of the site is fine. That is not a configuration error (exit 78 is for "no Moodle here at
all"): the sync fails with a message naming the tables, its run is recorded as failed (so the
alert rules raise ``sync_failed``), and the next run succeeds once the table is back.
"""

from __future__ import annotations

import peewee

from models import iomad, moodle
from models.db import DB_ERRORS, quote

from ..errors import first_line

# The Moodle/IOMAD tables the sync reads (alxapi.reporting.rules.Tables), with the columns it reads.
SYNC_SOURCES: tuple[type[peewee.Model], ...] = (
    moodle.User,
    moodle.Course,
    moodle.CourseModule,
    moodle.CourseModuleCompletion,
    moodle.CourseCompletion,
    moodle.Enrol,
    moodle.UserEnrolment,
    moodle.Context,
    moodle.Role,
    moodle.RoleAssignment,
    iomad.CompanyUser,
)


class SourcesUnreadable(RuntimeError):
    """Some source tables cannot be read; ``str()`` names each with the database's reason."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "cannot read Moodle table"
            + ("s " if len(problems) > 1 else " ")
            + "; ".join(problems)
            + " (a Moodle upgrade in progress, or a missing SELECT grant?); the next run retries"
        )


def unreadable_sources(
    db: peewee.Database, models: tuple[type[peewee.Model], ...] = SYNC_SOURCES
) -> list[str]:
    """``"<table>: <reason>"`` for each table that cannot be read with the columns the product maps.

    Each probe selects no row (``WHERE 1 = 0``), so it costs a plan, not a scan. Run outside a
    transaction: on PostgreSQL a failed statement would abort the surrounding one.
    """
    problems = []
    for model in models:
        table = model._meta.table_name
        columns = ", ".join(quote(f.column_name, db) for f in model._meta.sorted_fields)
        try:
            db.execute_sql(f"SELECT {columns} FROM {quote(table, db)} WHERE 1 = 0").fetchall()
        except DB_ERRORS as exc:
            if db.in_transaction():
                raise  # cannot recover inside a transaction: let the caller's rollback handle it
            problems.append(f"{table}: {first_line(exc)}")
    return problems


def require_sources(db: peewee.Database) -> None:
    problems = unreadable_sources(db)
    if problems:
        raise SourcesUnreadable(problems)
