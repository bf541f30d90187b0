"""The product's learning-analytics tables (SPEC §8.1), created by schema step 5.

Kept apart from ``plugin`` (the ALX reporting product) so the analytics feature reads as one folder
pair: ``models/analytics.py`` and ``alxapi/analytics/``.
"""

from __future__ import annotations

from peewee import SQL, BigAutoField, BigIntegerField, CharField, IntegerField, TextField

from .base import BaseModel
from .db import prefixed


class UserTimeDaily(BaseModel):
    """Time spent per (user, course, local date) computed from Moodle's standard log (SPEC §8.2).

    ``date`` is the local calendar date (setting ``timezone``) as ``YYYY-MM-DD``; ``duration`` is in
    seconds; ``lastupdated`` the epoch second the row was last written.
    """

    id = BigAutoField()
    userid = BigIntegerField()
    courseid = BigIntegerField()
    date = CharField(max_length=10)
    duration = BigIntegerField(default=0)
    sessions = IntegerField(default=0)
    events = IntegerField(default=0)
    interactions = IntegerField(default=0)
    lastupdated = BigIntegerField(default=0)
    # Where the pair's log stood at the end of the day (schema step 9): the time of its last event
    # and the start of that event's session. From the pair's latest row an incremental run carries
    # the session on from new events alone; 0 (rows older than step 9) means "unknown". A default
    # in the database too: a writer that does not know the columns (an older version still
    # running during an upgrade) keeps working.
    last_time = BigIntegerField(default=0, constraints=[SQL("DEFAULT 0")])
    open_start = BigIntegerField(default=0, constraints=[SQL("DEFAULT 0")])

    class Meta:
        table_function = prefixed("local_alx_api_usertime_daily")
        indexes = (
            (("userid", "courseid", "date"), True),
            (("courseid", "date"), False),  # reports by course and date range
        )


class SavedReport(BaseModel):
    """An operator's saved SQL report (SPEC §8.5): validated before it is stored and before each run.

    ``sql`` is the text as given, tables written as ``{user}``; ``api`` = 1 shares it with the
    company tokens of the REST API (it then binds ``:companyid``)."""

    id = BigAutoField()
    name = CharField(max_length=100)
    title = CharField(max_length=255, default="")
    sql = TextField()
    api = IntegerField(default=0)
    createdby = CharField(max_length=100, default="")
    timecreated = BigIntegerField(default=0)
    timemodified = BigIntegerField(default=0)

    class Meta:
        table_function = prefixed("local_alx_api_reports")
        indexes = ((("name",), True),)


class Schedule(BaseModel):
    """A report e-mailed on a schedule (SPEC §8.6). ``next_run`` is the next occurrence (epoch);
    ``retry_at`` > 0 while a failed occurrence waits for its next attempt."""

    id = BigAutoField()
    report = CharField(max_length=100)
    companyid = BigIntegerField()
    format = CharField(max_length=10)
    every = CharField(max_length=10)  # daily | weekly | monthly
    at = CharField(max_length=5, default="06:00")  # local HH:MM in `timezone`
    weekday = IntegerField(default=0)  # 0 = Monday (weekly)
    monthday = IntegerField(default=1)  # 1..28 (monthly)
    params = TextField(default="{}")  # JSON object of report parameters
    enabled = IntegerField(default=1)
    next_run = BigIntegerField(default=0)
    retry_at = BigIntegerField(default=0)
    retry_of = BigIntegerField(default=0)  # the occurrence a pending retry belongs to
    attempts = IntegerField(default=0)
    createdby = CharField(max_length=100, default="")
    timecreated = BigIntegerField(default=0)
    timemodified = BigIntegerField(default=0)

    class Meta:
        table_function = prefixed("local_alx_api_schedules")
        indexes = ((("enabled", "next_run"), False),)


class ScheduleRecipient(BaseModel):
    id = BigAutoField()
    scheduleid = BigIntegerField()
    email = CharField(max_length=255)

    class Meta:
        table_function = prefixed("local_alx_api_schedule_recipients")
        indexes = ((("scheduleid",), False),)


class ReportRun(BaseModel):
    """One attempt at one occurrence of a schedule (or a run asked for with `alx schedule run`)."""

    id = BigAutoField()
    scheduleid = BigIntegerField()
    report = CharField(max_length=100)
    companyid = BigIntegerField()
    occurrence = BigIntegerField(default=0)
    attempt = IntegerField(default=1)
    status = CharField(max_length=20, default="running")  # running | success | failed | retrying
    rows = BigIntegerField(default=0)
    bytes = BigIntegerField(default=0)
    error = TextField(null=True)
    timestarted = BigIntegerField(default=0)
    timefinished = BigIntegerField(default=0)

    class Meta:
        table_function = prefixed("local_alx_api_report_runs")
        indexes = ((("scheduleid", "timestarted"), False), (("timestarted",), False))


ANALYTICS_TABLES = [UserTimeDaily]
REPORT_TABLES = [SavedReport]
SCHEDULE_TABLES = [Schedule, ScheduleRecipient, ReportRun]
