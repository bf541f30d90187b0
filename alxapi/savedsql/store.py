"""Saved reports in ``local_alx_api_reports``: added only when the validator accepts them, removed,
listed; every change audited with who and what."""

from __future__ import annotations

import re

from models.analytics import SavedReport
from models.db import database, dialect

from .. import audit
from .validator import Refused, check

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")


def backend() -> str:
    return dialect(database)


def add(name: str, sql: str, *, title: str, api: bool, actor: str, now: int, allowed_tables) -> SavedReport:
    """Validate and store a new report (one transaction with its audit row). Raises :class:`Refused`."""
    from ..analytics.reports import REPORTS_BY_NAME

    if not NAME.fullmatch(name or ""):
        raise Refused(f"a report name is lower-case letters, digits, - and _ (up to 100), not {name!r}")
    if name in REPORTS_BY_NAME:
        raise Refused(f"{name} is a built-in report; choose another name")
    checked = check(sql, backend(), allowed_tables)
    if api and "companyid" not in checked.parameters:
        raise Refused("a report shared with --api must use :companyid (bound to the token's company)")
    with database.atomic():
        if SavedReport.select().where(SavedReport.name == name).exists():
            raise Refused(f"a saved report named {name} exists; remove it first")
        row = SavedReport.create(
            name=name,
            title=title or name,
            sql=sql,
            api=int(bool(api)),
            createdby=actor,
            timecreated=now,
            timemodified=now,
        )
        audit.record(
            actor,
            "report.add",
            name,
            {"title": row.title, "api": bool(api), "tables": list(checked.tables)},
            now,
        )
    return row


def remove(name: str, *, actor: str, now: int) -> bool:
    with database.atomic():
        deleted = SavedReport.delete().where(SavedReport.name == name).execute()
        if deleted:
            audit.record(actor, "report.remove", name, None, now)
    return bool(deleted)


def get(name: str) -> SavedReport | None:
    return SavedReport.get_or_none(SavedReport.name == name)


def all_saved(api_only: bool = False) -> list[SavedReport]:
    query = SavedReport.select().order_by(SavedReport.name)
    if api_only:
        query = query.where(SavedReport.api == 1)
    return list(query)
