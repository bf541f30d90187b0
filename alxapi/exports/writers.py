"""Writing rows to files: CSV, JSON and XLSX writers over chunks of rows, and an all-or-nothing
file write (a temporary file beside the target, renamed over it only when complete)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from ..safetext import FORMULA_TRIGGERS, guard_formula, xml_text


class ExportError(ValueError):
    """The export cannot be done as asked (unknown company or format, missing openpyxl, bad path)."""


def csv_safe(values: list[Any]) -> list[Any]:
    """A record with its text guarded against formula injection (names are typed by site users)."""
    return [guard_formula(v) if isinstance(v, str) else v for v in values]


def write_csv(stream: IO[str], cols: list[str], chunks, record, progress, bom: bool = False) -> int:
    """``bom``: start with a UTF-8 byte order mark, which spreadsheets need to read UTF-8 (files for
    people; a pipe to another program gets none)."""
    if bom:
        stream.write("\ufeff")
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(cols)
    count = 0
    for rows in chunks:
        writer.writerows(csv_safe(record(r)) for r in rows)
        count += len(rows)
        progress(count)
    return count


def write_json(stream: IO[str], cols: list[str], chunks, record, progress) -> int:
    stream.write("[")
    count = 0
    for rows in chunks:
        for r in rows:
            stream.write(",\n" if count else "\n")
            stream.write(
                json.dumps(dict(zip(cols, record(r), strict=True)), ensure_ascii=False, separators=(",", ":"))
            )
            count += 1
        progress(count)
    stream.write("\n]\n" if count else "]\n")
    return count


def write_xlsx(
    stream: IO[bytes],
    cols: list[str],
    chunks,
    record,
    progress,
    title: str,
    now: int,
    headings: list[str] | None = None,
) -> int:
    """A styled sheet in openpyxl's write-only mode (rows streamed, memory flat): a bold header on a
    fill, frozen; column widths fitted to the header and the first chunk; numbers as numbers,
    ``datetime`` values as date cells, text as text (never a formula)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    workbook.properties.creator = "ALX Report"
    workbook.properties.created = datetime.fromtimestamp(int(now), ZoneInfo("UTC")).replace(tzinfo=None)
    sheet = workbook.create_sheet(xml_text(title)[:31] or "report")
    chunks = iter(chunks)
    first = [record(r) for r in next(chunks, [])]
    names = headings or cols
    for i, name in enumerate(names):
        longest = max([len(name), *(len(_shown(values[i])) for values in first)])
        sheet.column_dimensions[get_column_letter(i + 1)].width = min(longest, 60) + 2
    sheet.freeze_panes = "A2"
    bold, fill = Font(bold=True, color="FFFFFF"), PatternFill("solid", fgColor="34547A")
    header = []
    for name in names:
        cell = WriteOnlyCell(sheet, value=xml_text(name))
        cell.font, cell.fill = bold, fill
        header.append(cell)
    sheet.append(header)
    for values in first:
        sheet.append([_xlsx_value(sheet, v) for v in values])
    count = len(first)
    progress(count)
    for rows in chunks:
        for r in rows:
            sheet.append([_xlsx_value(sheet, v) for v in record(r)])
        count += len(rows)
        progress(count)
    workbook.save(stream)
    return count


def _shown(value: Any) -> str:
    return "2026-01-01 00:00:00" if isinstance(value, datetime) else "" if value is None else str(value)


def _xlsx_value(sheet, value: Any) -> Any:
    """Text as a plain string cell: openpyxl would make ``=…`` a live formula and refuse (aborting the
    whole export) a character XML 1.0 forbids. Times as date cells shown to the second."""
    if isinstance(value, datetime):
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
        return cell
    if not isinstance(value, str):
        return value
    value = xml_text(value)
    if value.startswith(FORMULA_TRIGGERS):
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # stored as text, shown as typed, never evaluated
        return cell
    return value


def text_stream(stream) -> tuple[IO[str], Callable[[], None]]:
    """A text view of ``stream`` (binary streams are wrapped in UTF-8) and how to release it."""
    if isinstance(stream, io.TextIOBase) or hasattr(stream, "encoding"):
        return stream, lambda: None
    wrapper = io.TextIOWrapper(stream, encoding="utf-8", newline="")

    def release() -> None:
        wrapper.flush()
        wrapper.detach()

    return wrapper, release


def binary_stream(stream) -> IO[bytes]:
    if isinstance(stream, io.TextIOBase) or hasattr(stream, "encoding"):
        buffer = getattr(stream, "buffer", None)
        if buffer is None:
            raise ExportError("XLSX is binary: give a file path or a binary stream")
        stream.flush()
        return buffer
    return stream


def write_atomically(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Any:
    """Call ``write(binary_file)`` on a temporary file beside ``path``; rename it over ``path`` when
    ``write`` returns, remove it when it raises. Returns what ``write`` returned."""
    target = Path(path).expanduser()

    if target.is_dir():
        raise ExportError(f"{target} is a directory: give a file name")
    directory = target.parent
    if not directory.is_dir():
        raise ExportError(f"directory {directory} does not exist")
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=directory)
    try:
        with os.fdopen(handle, "wb") as raw:
            count = write(raw)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    return count
