"""When a schedule is due: the next local wall-clock occurrence after a moment, in ``timezone``.

Occurrences are computed on local dates and times, then turned into epoch seconds by the zone, so
"daily at 06:00" stays at 06:00 local across DST changes (a day of 23 or 25 hours in between). A
local time that does not exist (the hour skipped in spring) resolves to the same wall time after the
change; one that happens twice (autumn) to its first instance.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

EVERY = ("daily", "weekly", "monthly")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_at(text: str) -> time:
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"--at takes HH:MM (24-hour), not {text!r}") from None


def _epoch(day: date, at: time, zone: ZoneInfo) -> int:
    local = datetime.combine(day, at).replace(tzinfo=zone, fold=0)
    # A skipped local time has no instant of its own: round-tripping through UTC normalises it.
    return int(local.astimezone(UTC).timestamp())


def _matches(day: date, every: str, weekday: int, monthday: int) -> bool:
    if every == "daily":
        return True
    if every == "weekly":
        return day.weekday() == weekday
    return day.day == monthday


def next_occurrence(after: int, *, every: str, at: str, weekday: int, monthday: int, zone: str) -> int:
    """The first occurrence strictly after ``after`` (epoch seconds)."""
    if every not in EVERY:
        raise ValueError(f"every must be one of {', '.join(EVERY)}")
    tz = ZoneInfo(zone)
    wall = parse_at(at)
    day = datetime.fromtimestamp(after, UTC).astimezone(tz).date()
    for _ in range(400):  # a monthly schedule matches within 31 days; the bound is a guard
        if _matches(day, every, weekday, monthday):
            moment = _epoch(day, wall, tz)
            if moment > after:
                return moment
        day += timedelta(days=1)
    raise ValueError("no occurrence within 400 days")  # unreachable for valid schedules


def local_date(epoch: int, zone: str) -> str:
    return datetime.fromtimestamp(epoch, UTC).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d")
