"""How figures read on screen: counts, rates, durations and times in the configured zone.

Every time is formatted from epoch seconds relative to ``now`` (the console's clock), never the
wall clock, so what a screen shows is a function of the data.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from rich.text import Text

from alxapi.safetext import terminal_text


def count(n: int | None) -> str:
    return "–" if n is None else f"{int(n):,}"


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else words or word + 's'}"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} %"


def ms(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def clock(ts: int | None, tz: str, now: int | None = None) -> str:
    """``HH:MM`` for today, ``MM-DD HH:MM`` otherwise, ``never`` for 0/None."""
    if not ts:
        return "never"
    zone = ZoneInfo(tz)
    local = datetime.fromtimestamp(int(ts), zone)
    if now is not None and local.date() == datetime.fromtimestamp(int(now), zone).date():
        return local.strftime("%H:%M")
    return local.strftime("%m-%d %H:%M")


def stamp(ts: int | None, tz: str) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in the zone, ``never`` for 0/None."""
    if not ts:
        return "never"
    return datetime.fromtimestamp(int(ts), ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


def ago(ts: int | None, now: int) -> str:
    """``5 s ago`` / ``12 min ago`` / ``3 h ago`` / ``2 d ago``; ``in 40 min`` for the future."""
    if not ts:
        return "never"
    delta = int(now) - int(ts)
    future = delta < 0
    delta = abs(delta)
    if delta < 60:
        text = f"{delta} s"
    elif delta < 3600:
        text = f"{delta // 60} min"
    elif delta < 86_400:
        text = f"{delta // 3600} h"
    else:
        text = f"{delta // 86_400} d"
    return f"in {text}" if future else f"{text} ago"


def plain(value: object) -> Text:
    """Data as text on screen: never parsed as markup (``[/]`` in a name would raise, ``[link=…]``
    would plant a link) and without control characters (ESC/OSC sequences would reach the
    operator's terminal: clipboard writes, window titles)."""
    return Text(terminal_text(str(value)))


def cell(value: object) -> object:
    """A DataTable cell: numbers as they are, text as :func:`plain` (a str cell is parsed as markup)."""
    if isinstance(value, str):
        return plain(value)
    if isinstance(value, Text) and value.plain != terminal_text(value.plain):
        return Text(terminal_text(value.plain), style=value.style)
    return value
