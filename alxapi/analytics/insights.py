"""A company at a glance (the console's Insights screen): engagement summary and distribution,
learners at risk with their reasons, time spent by course, and the 12-month trends — all from one
read of the engagement rows (SPEC §8.3) plus the trends report."""

from __future__ import annotations

from dataclasses import dataclass

from .engagement import EngagementRow, Rules, engagement_rows, round2
from .reports import RunContext, get_report

BUCKETS = ("0–19", "20–39", "40–59", "60–79", "80–100")


@dataclass(frozen=True)
class CourseTime:
    courseid: int
    coursename: str
    learners: int
    time_spent: int  # seconds in the window
    avg_engagement: float


@dataclass(frozen=True)
class Insights:
    companyid: int
    window_days: int
    learners: int  # live rows
    at_risk_count: int
    avg_engagement: float
    time_spent: int
    distribution: list[int]  # live rows per engagement bucket (BUCKETS)
    at_risk: list[EngagementRow]  # highest risk first, then lowest engagement
    courses: list[CourseTime]  # most time first
    trends: list[tuple[str, int, int]]  # (YYYY-MM, started, completed), 12 months


def bucket(engagement: float) -> int:
    return min(int(engagement // 20), len(BUCKETS) - 1)


def company_insights(companyid: int, *, now: int, config) -> Insights:
    rules = Rules.from_config(config)
    rows = engagement_rows(companyid, now=now, zone=config.timezone, rules=rules)
    distribution = [0] * len(BUCKETS)
    courses: dict[int, list[EngagementRow]] = {}
    for row in rows:
        distribution[bucket(row.score.engagement)] += 1
        courses.setdefault(row.courseid, []).append(row)
    at_risk = sorted(
        (r for r in rows if r.score.at_risk),
        key=lambda r: (-r.score.risk_score, r.score.engagement, r.userid, r.courseid),
    )
    by_course = [
        CourseTime(
            cid,
            members[0].coursename,
            len(members),
            sum(r.time_spent for r in members),
            round2(sum(r.score.engagement for r in members) / len(members)),
        )
        for cid, members in courses.items()
    ]
    by_course.sort(key=lambda c: (-c.time_spent, c.courseid))
    trends = get_report("trends").run(RunContext(companyid, now, config))
    return Insights(
        companyid=companyid,
        window_days=rules.window_days,
        learners=len(rows),
        at_risk_count=len(at_risk),
        avg_engagement=round2(sum(r.score.engagement for r in rows) / len(rows)) if rows else 0.0,
        time_spent=sum(r.time_spent for r in rows),
        distribution=distribution,
        at_risk=at_risk,
        courses=by_course,
        trends=[(str(m), int(s), int(c)) for m, s, c in trends],
    )
