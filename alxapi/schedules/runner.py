"""The worker's ``reports`` job (SPEC §8.6): run each due schedule once, e-mail it, record the run.

Exactly once per occurrence, with any number of workers: a schedule is taken by one conditional
UPDATE that moves ``next_run`` to the next occurrence after now (so a worker that was down for
several occurrences sends one report, not a backlog); only the worker whose UPDATE changed the row
runs it. A failed attempt is retried after ``schedule_retry_minutes``, doubling each time, up to
``schedule_retries`` times (each retry taken the same way); after the last one the run is failed
and a ``report_failed`` alert is raised. A worker killed mid-run loses that occurrence (it was
taken); the run row stays ``running`` and says so.
"""

from __future__ import annotations

import io
import json
import logging
from email.message import EmailMessage

from models.analytics import ReportRun, Schedule
from models.db import database

from .. import audit
from ..alerts import lifecycle
from ..alerts.delivery import send_message
from ..alerts.rules import severity_for
from ..analytics.service import run_report
from ..exports.reports import MIME_TYPES, Heading, default_filename, export_report
from .occurrences import local_date, next_occurrence
from .store import recipients

log = logging.getLogger("alx.schedules")
MB = 1 << 20


def _next(row: Schedule, after: int, zone: str) -> int:
    return next_occurrence(
        after, every=row.every, at=row.at, weekday=row.weekday, monthday=row.monthday, zone=zone
    )


def _take_occurrence(row: Schedule, now: int, zone: str) -> bool:
    """This worker's claim on ``row``'s due occurrence: one conditional UPDATE."""
    taken = (
        Schedule.update(
            next_run=_next(row, now, zone), attempts=1, retry_at=0, retry_of=row.next_run, timemodified=now
        )
        .where((Schedule.id == row.id) & (Schedule.next_run == row.next_run) & (Schedule.retry_at == 0))
        .execute()
    )
    return taken == 1


def _take_retry(row: Schedule, now: int) -> bool:
    taken = (
        Schedule.update(attempts=row.attempts + 1, retry_at=0, timemodified=now)
        .where(
            (Schedule.id == row.id)
            & (Schedule.retry_at == row.retry_at)
            & (Schedule.attempts == row.attempts)
        )
        .execute()
    )
    return taken == 1


def run_due(config, now: int) -> dict[str, int]:
    """Run every due occurrence and retry; return counts."""
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    due = Schedule.select().where(
        (Schedule.enabled == 1)
        & (
            ((Schedule.retry_at == 0) & (Schedule.next_run <= now))
            | ((Schedule.retry_at > 0) & (Schedule.retry_at <= now))
        )
    )
    for row in list(due):
        if row.retry_at:
            if not _take_retry(row, now):
                continue
            occurrence, attempt = row.retry_of, row.attempts + 1
        else:
            if not _take_occurrence(row, now, config.timezone):
                continue
            occurrence, attempt = row.next_run, 1
        outcome = deliver(
            row, config, now, occurrence=occurrence, attempt=attempt, retries=config.schedule_retries
        )
        counts[outcome] += 1
    return counts


def deliver(row: Schedule, config, now: int, *, occurrence: int, attempt: int, retries: int) -> str:
    """One attempt at one occurrence: the file, one e-mail to all recipients, the run recorded.
    Returns ``sent``, ``retrying`` or ``failed``."""
    run = ReportRun.create(
        scheduleid=row.id, report=row.report, companyid=row.companyid, occurrence=occurrence, attempt=attempt,
        status="running", timestarted=now,
    )  # fmt: skip
    try:
        rows, size = _send(row, config, now)
    except Exception as exc:  # any failure of one schedule is recorded; the job goes on
        log.warning("schedule %s (%s) attempt %d failed: %s", row.id, row.report, attempt, exc)
        return _failed(row, run, config, now, attempt, retries, f"{type(exc).__name__}: {exc}"[:2000])
    ReportRun.update(status="success", rows=rows, bytes=size, timefinished=now).where(
        ReportRun.id == run.id
    ).execute()
    return "sent"


def _failed(row: Schedule, run: ReportRun, config, now: int, attempt: int, retries: int, error: str) -> str:
    if attempt <= retries:
        wait = int(config.schedule_retry_minutes * 60 * 2 ** (attempt - 1))
        with database.atomic():
            Schedule.update(retry_at=now + wait, retry_of=run.occurrence, attempts=attempt).where(
                Schedule.id == row.id
            ).execute()
            ReportRun.update(status="retrying", error=error, timefinished=now).where(
                ReportRun.id == run.id
            ).execute()
        return "retrying"
    with database.atomic():
        Schedule.update(retry_at=0, attempts=0).where(Schedule.id == row.id).execute()
        ReportRun.update(status="failed", error=error, timefinished=now).where(
            ReportRun.id == run.id
        ).execute()
        if config.enable_alerting:
            lifecycle.raise_alert(
                "report_failed",
                severity_for("report_failed", config),
                f"schedule {row.id}",
                f"scheduled report {row.report} for company {row.companyid} failed after {attempt} attempt(s): {error}",
                {"schedule": row.id, "report": row.report, "companyid": row.companyid, "attempts": attempt},
                now=now,
                cooldown_seconds=config.alert_cooldown * 60,
                threshold=config.alert_threshold,
            )
    return "failed"


def _send(row: Schedule, config, now: int) -> tuple[int, int]:
    result = run_report(row.report, row.companyid, json.loads(row.params or "{}"), now=now, config=config,
                        actor=f"schedule {row.id}")  # fmt: skip
    buffer = io.BytesIO()
    export_report(
        result.report, result.rows, row.format, buffer, Heading(result.company, now, config.timezone)
    )
    data = buffer.getvalue()
    day = local_date(now, config.timezone)
    message = EmailMessage()
    message["Subject"] = f"{result.report.title} · {result.company} · {day}"
    body = [f"{result.report.title} for {result.company}, {day}: {len(result.rows):,} rows."]
    if result.cut:
        body.append(f"The report was cut at report_max_rows ({config.report_max_rows:,} rows).")
    if len(data) > config.schedule_max_attachment_mb * MB:
        body.append(
            f"The {row.format.upper()} file ({len(data) / MB:.1f} MB) is larger than schedule_max_attachment_mb "
            f"({config.schedule_max_attachment_mb:g} MB) and is not attached. Get it with: "
            f"alx report run {row.report} --company {row.companyid} -o FILE.{row.format}"
        )
        message.set_content("\n\n".join(body) + "\n")
    else:
        message.set_content("\n\n".join(body) + "\n")
        maintype, subtype = MIME_TYPES[row.format].split("/")
        message.add_attachment(
            data,
            maintype=maintype,
            subtype=subtype,
            filename=default_filename(result.report, result.shortname, now, config.timezone, row.format),
        )
    send_message(config, message, recipients(row.id))
    return len(result.rows), len(data)


def run_now(scheduleid: int, config, now: int, *, actor: str) -> str:
    """`alx schedule run ID`: this occurrence now, once, without moving the schedule."""
    row = Schedule.get_or_none(Schedule.id == scheduleid)
    if row is None:
        raise LookupError(f"no schedule with id {scheduleid} (alx schedule list)")
    audit.record(actor, "schedule.run", f"schedule {scheduleid}", None, now)
    return deliver(row, config, now, occurrence=now, attempt=1, retries=0)
