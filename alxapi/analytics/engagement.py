"""Engagement and at-risk learners (SPEC §8.3), per live reporting row.

One SQL statement gathers, for each live row of a company, the window's sums from the daily table
and the last access; the scores are then plain arithmetic in Python (a few microseconds a row), kept
in one function, :func:`score`, that the hand-computed tests read against the SPEC line by line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import peewee
from peewee import JOIN, fn

from models.analytics import UserTimeDaily
from models.moodle import UserLastaccess
from models.plugin import Reporting

DAY = 86_400
POINTS_PER_REASON = 25
REASONS = ("low_time", "inactive", "low_completion", "low_engagement")
_CENT = Decimal("0.01")


def round2(value: float) -> float:
    """Half-up to 2 decimals as a person would round the printed number (29.995 -> 30.0)."""
    return float(Decimal(repr(float(value))).quantize(_CENT, rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Rules:
    """The §8.3 settings, read once from the configuration."""

    window_days: int = 30
    weight_time: float = 0.3
    weight_days: float = 0.2
    weight_completion: float = 0.3
    weight_interactions: float = 0.2
    target_hours: float = 10.0
    target_days: int = 12
    target_interactions: int = 20
    grace_days: int = 7
    min_hours: float = 1.0
    max_inactive_days: int = 14
    min_completion: float = 50.0
    min_engagement: float = 30.0
    threshold: int = 50

    @classmethod
    def from_config(cls, config) -> Rules:
        return cls(
            window_days=config.analytics_window_days,
            weight_time=config.engagement_weight_time,
            weight_days=config.engagement_weight_days,
            weight_completion=config.engagement_weight_completion,
            weight_interactions=config.engagement_weight_interactions,
            target_hours=config.engagement_target_hours,
            target_days=config.engagement_target_days,
            target_interactions=config.engagement_target_interactions,
            grace_days=config.risk_grace_days,
            min_hours=config.risk_min_hours,
            max_inactive_days=config.risk_max_inactive_days,
            min_completion=config.risk_min_completion,
            min_engagement=config.risk_min_engagement,
            threshold=config.risk_threshold,
        )


@dataclass(frozen=True)
class Score:
    engagement: float
    risk_score: int
    at_risk: bool
    reasons: tuple[str, ...]


def score(
    rules: Rules,
    *,
    time_spent: int,
    active_days: int,
    interactions: int,
    completion: float,
    days_since_access: int | None,
    status: str,
    timestarted: int,
    now: int,
) -> Score:
    """Engagement, risk score and reasons of one row (SPEC §8.3)."""
    engagement = round2(
        100
        * (
            rules.weight_time * min(1.0, time_spent / (rules.target_hours * 3600))
            + rules.weight_days * min(1.0, active_days / rules.target_days)
            + rules.weight_completion * completion / 100
            + rules.weight_interactions * min(1.0, interactions / rules.target_interactions)
        )
    )
    in_grace = timestarted > 0 and now - timestarted < rules.grace_days * DAY
    if status == "completed" or in_grace:
        return Score(engagement, 0, rules.threshold <= 0, ())
    fired = (
        time_spent < rules.min_hours * 3600,
        days_since_access is None or days_since_access > rules.max_inactive_days,
        completion < rules.min_completion,
        engagement < rules.min_engagement,
    )
    reasons = tuple(name for name, hit in zip(REASONS, fired, strict=True) if hit)
    risk = POINTS_PER_REASON * len(reasons)
    return Score(engagement, risk, risk >= rules.threshold, reasons)


def window(now: int, zone: str, days: int) -> tuple[str, str]:
    """The first and last local date (``YYYY-MM-DD``) of the ``days`` dates ending today in ``zone``."""
    today = datetime.fromtimestamp(now, UTC).astimezone(ZoneInfo(zone)).date()
    return (today - timedelta(days=days - 1)).isoformat(), today.isoformat()


def local_today(now: int, zone: str) -> date:
    return datetime.fromtimestamp(now, UTC).astimezone(ZoneInfo(zone)).date()


@dataclass(frozen=True)
class EngagementRow:
    companyid: int
    userid: int
    courseid: int
    firstname: str
    lastname: str
    coursename: str
    status: str
    percentage: float
    timestarted: int
    timecompleted: int
    time_spent: int
    active_days: int
    interactions: int
    days_since_access: int | None
    score: Score


def engagement_rows(companyid: int | None, *, now: int, zone: str, rules: Rules) -> list[EngagementRow]:
    """Every live reporting row of the company (all companies when None), ordered by company, user,
    course, with its window's sums and scores. Runs in the caller's connection."""
    first, last = window(now, zone, rules.window_days)
    r, d, la = Reporting, UserTimeDaily, UserLastaccess
    active = peewee.Case(None, [(d.sessions > 0, 1)], 0)
    row_fields = (
        r.companyid,
        r.userid,
        r.courseid,
        r.firstname,
        r.lastname,
        r.coursename,
        r.status,
        r.percentage,
        r.timestarted,
        r.timecompleted,
    )
    query = (
        r.select(
            *row_fields,
            fn.COALESCE(fn.SUM(d.duration), 0),
            fn.COALESCE(fn.SUM(active), 0),
            fn.COALESCE(fn.SUM(d.interactions), 0),
            fn.MAX(la.timeaccess),
        )
        .join(
            d,
            JOIN.LEFT_OUTER,
            on=(d.userid == r.userid) & (d.courseid == r.courseid) & d.date.between(first, last),
        )
        .join_from(r, la, JOIN.LEFT_OUTER, on=(la.userid == r.userid) & (la.courseid == r.courseid))
        .where(r.is_deleted == 0)
        .group_by(*row_fields)
        .order_by(r.companyid, r.userid, r.courseid)
    )
    if companyid is not None:
        query = query.where(r.companyid == companyid)
    rows = []
    # Raw tuples from the driver: peewee's per-value conversion cost as much as the query.
    for (
        c,
        u,
        k,
        first_name,
        last_name,
        course,
        status,
        pct,
        started,
        completed,
        spent,
        days,
        inter,
        seen,
    ) in Reporting._meta.database.execute(query).fetchall():
        completion = float(pct or 0)
        since = None if seen is None or int(seen) <= 0 else (now - int(seen)) // DAY
        rows.append(
            EngagementRow(
                int(c),
                int(u),
                int(k),
                first_name,
                last_name,
                course,
                status,
                completion,
                int(started),
                int(completed),
                int(spent),
                int(days),
                int(inter),
                since,
                score(
                    rules,
                    time_spent=int(spent),
                    active_days=int(days),
                    interactions=int(inter),
                    completion=completion,
                    days_since_access=since,
                    status=status,
                    timestarted=int(started),
                    now=now,
                ),
            )
        )
    return rows
