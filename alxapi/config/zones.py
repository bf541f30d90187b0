"""The server's time zone, and whether a name is one (the ``timezone`` setting and its default)."""

from __future__ import annotations

import os
import time
import zoneinfo


def is_timezone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # ValueError: not a valid key (e.g. a path)
        return False
    return True


def local_timezone_name(
    tz_env: str | None = None,
    etc_timezone: str | os.PathLike = "/etc/timezone",
    etc_localtime: str | os.PathLike = "/etc/localtime",
) -> str:
    """The server's time zone as an IANA name, for the ``timezone`` default.

    Tried in order: the ``TZ`` variable (``tz_env``; defaults to the process's own ``TZ``), Debian's
    ``/etc/timezone``, the target of the ``/etc/localtime`` symlink (systemd, RHEL, Alpine), the C
    library's zone abbreviation when zoneinfo knows it (e.g. ``UTC``, ``CET``), and finally ``UTC``.
    """
    if tz_env is None:
        tz_env = os.environ.get("TZ", "")
    candidates = [
        tz_env.lstrip(":"),  # POSIX allows TZ=":Europe/Paris"
        _read_first_line(etc_timezone),
        _zone_from_localtime_link(etc_localtime),
        *time.tzname,
    ]
    for candidate in candidates:
        if candidate and is_timezone(candidate):
            return candidate
    return "UTC"


def _read_first_line(path: str | os.PathLike) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _zone_from_localtime_link(path: str | os.PathLike) -> str:
    try:
        target = os.readlink(os.fspath(path))  # e.g. ../usr/share/zoneinfo/Europe/Paris
    except OSError:
        return ""
    _, found, zone = target.partition("zoneinfo/")
    if not found:
        return ""
    return zone.removeprefix("posix/").removeprefix("right/")
