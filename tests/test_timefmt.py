"""Local day boundaries: the cached day of ``local_day_start`` answers as computing it afresh does,
whatever order the instants come in, across DST transitions."""

from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from alxapi import timefmt

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kolkata",
]
# Instants near the 2026 transitions of those zones (and ordinary days), ± a few hours.
TRANSITIONS = [1774746000, 1792890000, 1772953200, 1793512800, 1775314800, 1791043200, 1767225600]


def fresh_day_start(now: int, zone: str) -> int:
    tz = ZoneInfo(zone)
    day = datetime.fromtimestamp(now, tz).date()
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


instants = st.one_of(
    st.builds(lambda t, d: t + d, st.sampled_from(TRANSITIONS), st.integers(-30 * 3600, 30 * 3600)),
    st.integers(0, 2_000_000_000),
)


@given(calls=st.lists(st.tuples(instants, st.sampled_from(ZONES)), min_size=1, max_size=30))
def test_day_start_is_the_local_midnight_before_now(calls):
    for now, zone in calls:
        start = timefmt.local_day_start(now, zone)
        assert start == fresh_day_start(now, zone)
        assert start <= now < start + 26 * 3600


def test_the_next_day_starts_at_its_own_midnight():
    zone = "Europe/Berlin"
    spring = int(datetime(2026, 3, 29, tzinfo=ZoneInfo(zone)).timestamp())  # a 23-hour day
    assert timefmt.local_day_start(spring + 3600, zone) == spring
    assert timefmt.local_day_start(spring + 23 * 3600 - 1, zone) == spring
    assert timefmt.local_day_start(spring + 23 * 3600, zone) == spring + 23 * 3600
    assert timefmt.local_day_start(spring - 1, zone) == spring - 24 * 3600
