"""Local time in the configured zone (setting ``timezone``): Moodle's date strings, fast, and the
local day boundaries that rate limits, trends and the console count by.

Moodle's date strings are "YYYY-MM-DD HH:MM:SS" in the configured zone, "" for 0.

A page of 1000 rows holds 2000 dates; ``datetime.fromtimestamp(ts, zone).strftime`` costs a few
microseconds each, more than the SQL that read them. Offsets change only at zone transitions,
which happen on quarter-hour boundaries, so the offset is cached per 15-minute bucket and the
date part per day.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_BUCKET = 900
_MAX_CACHE = 200_000


class DateFormatter:
    def __init__(self, zone_name: str):
        self.zone = ZoneInfo(zone_name)
        self._offsets: dict[int, int] = {}
        self._days: dict[int, str] = {}
        self._lock = threading.Lock()

    def _offset(self, ts: int) -> int:
        bucket = ts // _BUCKET
        offset = self._offsets.get(bucket)
        if offset is None:
            utcoffset = datetime.fromtimestamp(bucket * _BUCKET, self.zone).utcoffset()
            offset = int(utcoffset.total_seconds()) if utcoffset is not None else 0
            with self._lock:
                if len(self._offsets) > _MAX_CACHE:
                    self._offsets.clear()
                self._offsets[bucket] = offset
        return offset

    def format(self, ts: int | None) -> str:
        if not ts:
            return ""
        ts = int(ts)
        local = ts + self._offset(ts)
        day, second = divmod(local, 86_400)
        date = self._days.get(day)
        if date is None:
            date = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")
            with self._lock:
                if len(self._days) > _MAX_CACHE:
                    self._days.clear()
                self._days[day] = date
        hours, rest = divmod(second, 3600)
        return f"{date} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def format_local(ts: int | None, zone: str) -> str:
    """One epoch time as "YYYY-MM-DD HH:MM:SS" in ``zone`` ("" for 0/None): for messages and tables.

    Hot paths (API pages, exports) keep one :class:`DateFormatter` instead.
    """
    if not ts:
        return ""
    return datetime.fromtimestamp(int(ts), ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


def local_midnight(day: date, zone: ZoneInfo) -> int:
    """Epoch seconds of the local midnight that begins ``day`` in ``zone``."""
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


# Per zone, the [start, end) of the local day last asked for: every API request asks (its daily rate
# limit), and computing the day from the zone cost more than the rest of the rate-limit check.
_DAYS: dict[str, tuple[int, int]] = {}


def local_day_start(now: int, zone: str) -> int:
    """Epoch seconds of the local midnight that began the day containing ``now``."""
    span = _DAYS.get(zone)
    if span is not None and span[0] <= now < span[1]:
        return span[0]
    tz = ZoneInfo(zone)
    day = datetime.fromtimestamp(int(now), tz).date()
    start = local_midnight(day, tz)
    _DAYS[zone] = (start, local_midnight(day + timedelta(days=1), tz))  # one assignment: thread-safe
    return start


def local_day_starts(since: int, until: int, zone: str) -> list[int]:
    """Starts of the local days (zone ``zone``) that overlap ``[since, until)``, DST-correct."""
    tz = ZoneInfo(zone)
    day = datetime.fromtimestamp(int(since), tz).date()
    starts = []
    while (start := local_midnight(day, tz)) < int(until):
        starts.append(start)
        day += timedelta(days=1)
    return starts


def days_back(now: int, days: int, zone: str) -> int:
    """Start of the local day ``days - 1`` days before the one holding ``now`` (``days`` = 1: today)."""
    tz = ZoneInfo(zone)
    return local_midnight(datetime.fromtimestamp(int(now), tz).date() - timedelta(days=days - 1), tz)
