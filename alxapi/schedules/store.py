"""Schedules and their recipients in the database; every change audited."""

from __future__ import annotations

import json
from dataclasses import dataclass

from models.analytics import ReportRun, Schedule, ScheduleRecipient
from models.db import database

from .. import audit
from ..analytics.reports import REPORTS_BY_NAME, ReportError
from ..config.checks import check_emails
from .occurrences import EVERY, WEEKDAYS, next_occurrence, parse_at

FORMATS = ("csv", "xlsx", "pdf")


@dataclass(frozen=True)
class NewSchedule:
    report: str
    companyid: int
    format: str
    every: str
    at: str = "06:00"
    weekday: str = "mon"
    monthday: int = 1
    emails: tuple[str, ...] = ()
    params: dict | None = None


def _validate(spec: NewSchedule) -> None:
    from ..savedsql import store as saved

    if spec.report not in REPORTS_BY_NAME and saved.get(spec.report) is None:
        raise ReportError(f"no report named {spec.report!r} (alx report list)")
    if spec.format not in FORMATS:
        raise ReportError(f"--format must be one of {', '.join(FORMATS)}")
    if spec.every not in EVERY:
        raise ReportError(f"--every must be one of {', '.join(EVERY)}")
    try:
        parse_at(spec.at)
    except ValueError as exc:
        raise ReportError(str(exc)) from None
    if spec.weekday not in WEEKDAYS:
        raise ReportError(f"--weekday must be one of {', '.join(WEEKDAYS)}")
    if not 1 <= spec.monthday <= 28:
        raise ReportError("--monthday must be 1 to 28 (every month has those days)")
    if not spec.emails:
        raise ReportError("give at least one --email")
    problem = check_emails(tuple(spec.emails))
    if problem:
        raise ReportError(f"--email {problem}")
    if spec.report in REPORTS_BY_NAME:
        REPORTS_BY_NAME[spec.report].parse_params(spec.params or {})


def add(spec: NewSchedule, *, actor: str, now: int, zone: str) -> Schedule:
    from ..analytics.service import company_names

    _validate(spec)
    company_names(spec.companyid)  # raises ReportError for an unknown company
    weekday = WEEKDAYS.index(spec.weekday)
    first = next_occurrence(
        now, every=spec.every, at=spec.at, weekday=weekday, monthday=spec.monthday, zone=zone
    )
    with database.atomic():
        row = Schedule.create(
            report=spec.report,
            companyid=spec.companyid,
            format=spec.format,
            every=spec.every,
            at=spec.at,
            weekday=weekday,
            monthday=spec.monthday,
            params=json.dumps(spec.params or {}, sort_keys=True),
            next_run=first,
            createdby=actor,
            timecreated=now,
            timemodified=now,
        )
        ScheduleRecipient.insert_many([{"scheduleid": row.id, "email": e} for e in spec.emails]).execute()
        audit.record(
            actor, "schedule.add", f"schedule {row.id}", {**spec.__dict__, "emails": list(spec.emails)}, now
        )
    return row


def remove(scheduleid: int, *, actor: str, now: int) -> bool:
    with database.atomic():
        deleted = Schedule.delete().where(Schedule.id == scheduleid).execute()
        ScheduleRecipient.delete().where(ScheduleRecipient.scheduleid == scheduleid).execute()
        if deleted:
            audit.record(actor, "schedule.remove", f"schedule {scheduleid}", None, now)
    return bool(deleted)


def set_enabled(scheduleid: int, enabled: bool, *, actor: str, now: int, zone: str) -> bool:
    """Pause or resume; a resumed schedule continues from its next occurrence after now."""
    with database.atomic():
        row = Schedule.get_or_none(Schedule.id == scheduleid)
        if row is None:
            return False
        changes: dict = {"enabled": int(enabled), "timemodified": now}
        if enabled and not row.enabled:
            changes["next_run"] = next_occurrence(now, every=row.every, at=row.at, weekday=row.weekday,
                                                  monthday=row.monthday, zone=zone)  # fmt: skip
            changes["retry_at"] = 0
        Schedule.update(**changes).where(Schedule.id == scheduleid).execute()
        audit.record(
            actor, "schedule.resume" if enabled else "schedule.pause", f"schedule {scheduleid}", None, now
        )
    return True


def recipients(scheduleid: int) -> list[str]:
    query = ScheduleRecipient.select(ScheduleRecipient.email).where(
        ScheduleRecipient.scheduleid == scheduleid
    )
    return [r.email for r in query.order_by(ScheduleRecipient.id)]


def listing() -> list[dict]:
    """Every schedule with its recipients and its last run."""
    found = []
    for row in Schedule.select().order_by(Schedule.id):
        last = ReportRun.select().where(ReportRun.scheduleid == row.id).order_by(ReportRun.id.desc()).first()
        found.append(
            {
                "id": row.id,
                "report": row.report,
                "companyid": row.companyid,
                "format": row.format,
                "every": row.every,
                "at": row.at,
                "weekday": WEEKDAYS[row.weekday] if row.every == "weekly" else None,
                "monthday": row.monthday if row.every == "monthly" else None,
                "params": json.loads(row.params or "{}"),
                "emails": recipients(row.id),
                "enabled": bool(row.enabled),
                "next_run": row.next_run,
                "retry_at": row.retry_at or None,
                "last_run": None
                if last is None
                else {"status": last.status, "finished": last.timefinished, "error": last.error},
            }
        )
    return found


def runs(scheduleid: int | None = None, limit: int = 50) -> list[dict]:
    query = ReportRun.select().order_by(ReportRun.id.desc()).limit(limit)
    if scheduleid is not None:
        query = query.where(ReportRun.scheduleid == scheduleid)
    return [
        {
            "id": r.id,
            "schedule": r.scheduleid,
            "report": r.report,
            "companyid": r.companyid,
            "occurrence": r.occurrence,
            "attempt": r.attempt,
            "status": r.status,
            "rows": r.rows,
            "bytes": r.bytes,
            "error": r.error,
            "started": r.timestarted,
            "finished": r.timefinished,
        }
        for r in query
    ]
