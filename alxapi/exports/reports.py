"""A report's rows to a file or a stream (SPEC §8.7): CSV, XLSX, PDF, JSON, or an aligned text table.

One module for every front end: ``alx report run``, the console's export and the scheduler call
:func:`export_report`. Values follow the report's column types: times as local
``YYYY-MM-DD HH:MM:SS`` (0 stays empty) in CSV and PDF and as date cells in XLSX, lists
comma-separated, booleans as ``true``/``false`` (``yes``/``no`` in a PDF); JSON keeps the native
values (epoch seconds, arrays, booleans). CSV text is guarded against formula injection, files get a
UTF-8 BOM, and a file is written all or nothing (a temporary file renamed over the target).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from ..analytics.reports import BOOL, FLOAT, INT, LIST, TIME, Report
from ..timefmt import DateFormatter
from .pdf import write_pdf
from .writers import ExportError, binary_stream, text_stream, write_atomically, write_csv, write_xlsx

FORMATS = ("csv", "xlsx", "pdf", "json", "table")
BINARY = ("xlsx", "pdf")
MIME_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "json": "application/json",
    "table": "text/plain",
}
CHUNK = 1000


@dataclass(frozen=True)
class Heading:
    """What the file says about itself: the company's name (or "All companies") and the time zone."""

    company: str
    now: int
    zone: str


def _chunks(rows: Sequence[tuple]):
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def json_record(report: Report, row: tuple) -> dict[str, Any]:
    return dict(zip(report.column_names, row, strict=True))


class DisplayText:
    """Display strings of one report's values (CSV, PDF, the text table)."""

    def __init__(self, report: Report, zone: str, yes: str = "true", no: str = "false"):
        self.types = [c.type for c in report.columns]
        self.dates = DateFormatter(zone)
        self.yes, self.no = yes, no

    def value(self, kind: str, value: Any) -> str:
        if value is None:
            return ""
        if kind == TIME:
            return self.dates.format(value)
        if kind == LIST:
            return ", ".join(value)
        if kind == BOOL:
            return self.yes if value else self.no
        if kind == FLOAT:
            return f"{value:.2f}"
        return str(value)

    def record(self, row: tuple) -> list[str]:
        return [self.value(kind, v) for kind, v in zip(self.types, row, strict=True)]


def _xlsx_record(report: Report, zone: str):
    types = [c.type for c in report.columns]
    tz = ZoneInfo(zone)

    def record(row: tuple) -> list[Any]:
        values = []
        for kind, v in zip(types, row, strict=True):
            if kind == TIME:
                v = datetime.fromtimestamp(int(v), UTC).astimezone(tz).replace(tzinfo=None) if v else None
            elif kind == LIST:
                v = ", ".join(v)
            values.append(v)
        return values

    return record


def text_table(report: Report, rows: Sequence[tuple], zone: str) -> str:
    """Aligned columns for a terminal: numbers right, text left."""
    fmt = DisplayText(report, zone)
    cells = [[c.name for c in report.columns], *(fmt.record(r) for r in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(report.columns))]
    right = [c.type in (INT, FLOAT) for c in report.columns]
    lines = [
        "  ".join(
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(line, widths, right, strict=True)
        ).rstrip()
        for line in cells
    ]
    return "\n".join(lines) + "\n"


def title_lines(report: Report, heading: Heading, count: int) -> list[str]:
    generated = datetime.fromtimestamp(heading.now, UTC).astimezone(ZoneInfo(heading.zone))
    return [
        f"Company: {heading.company}",
        f"Generated: {generated.strftime('%Y-%m-%d %H:%M')} ({heading.zone})",
        f"Rows: {count}",
    ]


def export_report(
    report: Report,
    rows: Sequence[tuple],
    fmt: str,
    path_or_stream: str | os.PathLike | IO,
    heading: Heading,
) -> int:
    """Write ``rows`` (the report's tuples) as ``fmt``; return the row count. A path is written all
    or nothing; a stream is written as it goes (binary formats need a binary stream or one with a
    ``buffer``). Raises :class:`ExportError` for an unknown format or an unusable path."""
    fmt = (fmt or "").strip().lower()
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: choose {', '.join(FORMATS)}")
    to_file = isinstance(path_or_stream, str | os.PathLike)

    def write(stream) -> int:
        if fmt == "xlsx":
            names = [c.title for c in report.columns]
            record = _xlsx_record(report, heading.zone)
            return write_xlsx(
                binary_stream(stream),
                report.column_names,
                _chunks(rows),
                record,
                _quiet,
                report.title,
                heading.now,
                names,
            )
        if fmt == "pdf":
            return _pdf(report, rows, binary_stream(stream), heading)
        text, release = text_stream(stream)
        try:
            if fmt == "csv":
                return write_csv(
                    text,
                    report.column_names,
                    _chunks(rows),
                    DisplayText(report, heading.zone).record,
                    _quiet,
                    bom=to_file,
                )
            if fmt == "json":
                text.write(json.dumps([json_record(report, r) for r in rows], ensure_ascii=False, indent=1))
                text.write("\n")
            else:
                text.write(text_table(report, rows, heading.zone))
            return len(rows)
        finally:
            release()

    if not isinstance(path_or_stream, str | os.PathLike):
        return write(path_or_stream)
    return write_atomically(path_or_stream, write)


def _quiet(_count: int) -> None:
    pass


def _pdf(report: Report, rows: Sequence[tuple], stream: IO[bytes], heading: Heading) -> int:
    fmt = DisplayText(report, heading.zone, yes="yes", no="no")
    chart = None
    if report.chart == "trends":
        labels = [r[0][2:] for r in rows]  # "26-03": twelve fit under the bars
        chart = (
            "Started and completed per month",
            labels,
            [("started", [int(r[1]) for r in rows]), ("completed", [int(r[2]) for r in rows])],
        )
    return write_pdf(
        stream,
        title=report.title,
        lines=title_lines(report, heading, len(rows)),
        headings=[c.title for c in report.columns],
        rows=(fmt.record(r) for r in rows),
        numeric=[c.type in (INT, FLOAT) for c in report.columns],
        chart=chart,
    )


def default_filename(report: Report | str, company_short: str, now: int, zone: str, fmt: str) -> str:
    """``<report>-<company shortname>-<YYYY-MM-DD>.<ext>`` (SPEC §8.6), safe as a file name."""
    day = datetime.fromtimestamp(now, UTC).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d")
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in company_short) or "company"
    name = report if isinstance(report, str) else report.name
    return f"{name}-{safe}-{day}.{'txt' if fmt == 'table' else fmt}"
