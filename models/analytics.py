"""The product's learning-analytics tables (SPEC §8.1), created by schema step 5.

Kept apart from ``plugin`` (the ALX reporting product) so the analytics feature reads as one folder
pair: ``models/analytics.py`` and ``alxapi/analytics/``.
"""

from __future__ import annotations

from peewee import BigAutoField, BigIntegerField, CharField, IntegerField, TextField

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


ANALYTICS_TABLES = [UserTimeDaily]
REPORT_TABLES = [SavedReport]
