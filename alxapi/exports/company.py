"""Exporting and browsing a company's reporting rows as its API clients see them (SPEC §6 Data & export).

Rows are those the API serves the company: its enabled courses (the course rule of SPEC §4.1), its
enabled fields in API order, values formatted as the Moodle-compatible endpoint formats them (dates in
the configured time zone, ``*_unix`` integers, percentages with at most 2 decimals). Tombstoned rows
(``is_deleted = 1``) are left out unless asked for; then a ``deleted`` column (0/1) is added.

Rows are read in keyset pages of ``(userid, courseid)`` (``api.feed.read_page``), so a company of any size
is streamed in constant memory. A file export is written to a temporary file beside the target and
renamed over it only when complete: a failed export never leaves a half-written file.

Typical use (the CLI)::

    with open_db():
        count = export_company(3, "csv", "out.csv", now=clock.now(), config=config)
        count = export_company(3, "json", sys.stdout, now=clock.now(), config=config)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from models.db import database

from ..access import settings as company_settings
from ..api import feed
from ..api.render import row_values
from ..config import local_timezone_name
from ..timefmt import DateFormatter
from .writers import (
    ExportError,
    binary_stream,
    text_stream,
    write_atomically,
    write_csv,
    write_json,
    write_xlsx,
)

FORMATS = ("csv", "xlsx", "json")
CHUNK_ROWS = 1000
DELETED_COLUMN = "deleted"


@dataclass(frozen=True)
class Scope:
    """What a company's clients see: enabled courses and fields (the API's filters)."""

    companyid: int
    courses: tuple[int, ...]
    fields: tuple[str, ...]


def company_scope(companyid: int) -> Scope:
    if company_settings.company_name(companyid) is None:
        raise ExportError(f"no company with id {companyid} in the IOMAD company table")
    settings = company_settings.load(companyid)
    return Scope(int(companyid), tuple(settings.courses), tuple(settings.fields))


def columns(scope: Scope, include_deleted: bool = False) -> list[str]:
    return [*scope.fields, DELETED_COLUMN] if include_deleted else list(scope.fields)


class _Formatter:
    """One reporting row (``feed.ROW_COLUMNS``) to its API values (``api.render.row_values``)."""

    def __init__(self, zone: str):
        self.dates = DateFormatter(zone)

    def values(self, row: tuple) -> dict[str, Any]:
        return row_values(self.dates, row)

    def record(self, row: tuple, cols: list[str]) -> list[Any]:
        values = self.values(row)
        values[DELETED_COLUMN] = int(row[12])
        return [values[c] for c in cols]


def _zone(config) -> str:
    return getattr(config, "timezone", None) or local_timezone_name()


def iter_rows(
    scope: Scope,
    *,
    include_deleted: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    after: tuple[int, int] | None = None,
) -> Iterator[list[tuple]]:
    """The scope's reporting rows (``feed.ROW_COLUMNS``) in ``(userid, courseid)`` order, chunk by chunk."""
    window = feed.Window(feed.FULL)
    while True:
        rows = feed.read_page(
            database,
            scope.companyid,
            list(scope.courses),
            window,
            feed.Position(after=after),
            chunk_rows,
            include_deleted=include_deleted,
        )
        if not rows:
            return
        yield rows
        if len(rows) < chunk_rows:
            return
        after = (int(rows[-1][0]), int(rows[-1][1]))


@dataclass
class Page:
    """One page of rows for the console's browser."""

    columns: list[str]
    rows: list[list[Any]]
    keys: list[tuple[int, int]]  # (userid, courseid) of each row
    total: int  # rows in the whole scope
    last_key: tuple[int, int] | None
    has_more: bool


def browse_page(
    companyid: int,
    *,
    after: tuple[int, int] | None = None,
    limit: int = 50,
    include_deleted: bool = False,
    config=None,
) -> Page:
    """One keyset page of the company's rows after ``after`` (None: the first page)."""
    scope = company_scope(companyid)
    cols = columns(scope, include_deleted)
    fmt = _Formatter(_zone(config))
    rows = feed.read_page(
        database,
        scope.companyid,
        list(scope.courses),
        feed.Window(feed.FULL),
        feed.Position(after=after),
        limit + 1,
        include_deleted=include_deleted,
    )
    has_more = len(rows) > limit
    rows = rows[:limit]
    total = feed.count_rows(
        database,
        scope.companyid,
        list(scope.courses),
        feed.Window(feed.FULL),
        include_deleted=include_deleted,
    )
    keys = [(int(r[0]), int(r[1])) for r in rows]
    return Page(cols, [fmt.record(r, cols) for r in rows], keys, total, keys[-1] if keys else None, has_more)


def export_company(
    companyid: int,
    fmt: str,
    path_or_stream: str | os.PathLike | IO,
    *,
    now: int,
    include_deleted: bool = False,
    config=None,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the company's rows as ``csv``, ``xlsx`` or ``json``; return how many rows were written.

    ``path_or_stream``: a file path (written to a temporary file in the same directory, then renamed
    over the target: all or nothing) or an open stream (text or binary for csv/json, binary — or a
    text stream with a ``buffer`` such as ``sys.stdout`` — for xlsx). ``config`` gives the time zone
    of the dates (default: the server's). ``progress(rows_so_far)`` is called after each chunk.
    Must run inside a database connection (the models' bound database). Raises :class:`ExportError`.
    """
    fmt = (fmt or "").strip().lower()
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: choose {', '.join(FORMATS)}")
    scope = company_scope(companyid)
    cols = columns(scope, include_deleted)
    formatter = _Formatter(_zone(config))

    def record(row: tuple) -> list[Any]:
        return formatter.record(row, cols)

    report = progress or (lambda _count: None)
    title = f"company {scope.companyid}"

    def write(stream) -> int:
        chunks = iter_rows(scope, include_deleted=include_deleted, chunk_rows=chunk_rows)
        if fmt == "xlsx":
            return write_xlsx(binary_stream(stream), cols, chunks, record, report, title, now)
        text, release = text_stream(stream)
        try:
            if fmt == "csv":
                return write_csv(text, cols, chunks, record, report, bom=to_file)
            return write_json(text, cols, chunks, record, report)
        finally:
            release()

    to_file = isinstance(path_or_stream, str | os.PathLike)
    if not isinstance(path_or_stream, str | os.PathLike):
        return write(path_or_stream)
    return write_atomically(path_or_stream, write)


def default_filename(companyid: int, fmt: str, now: int, zone: str | None = None) -> str:
    """``alx-company-<id>-<YYYYMMDD>.<fmt>`` with the local date of ``now``."""
    day = datetime.fromtimestamp(int(now), ZoneInfo(zone or local_timezone_name())).strftime("%Y%m%d")
    return f"alx-company-{int(companyid)}-{day}.{fmt}"
