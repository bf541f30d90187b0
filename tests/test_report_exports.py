"""Report exports (SPEC §8.7): CSV, XLSX and PDF files that open in their readers (csv, openpyxl,
pypdf) and hold the report's rows, typed and guarded; JSON and the terminal table."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import openpyxl
import pytest
from pypdf import PdfReader

from alxapi.analytics.reports import get_report
from alxapi.exports.pdf import unicode_font
from alxapi.exports.reports import Heading, default_filename, export_report, text_table
from alxapi.exports.writers import ExportError

NOW = 1_774_951_200  # 2026-03-31 10:00 UTC = 12:00 CEST
ZONE = "Europe/Berlin"
HEADING = Heading("Acme Learning", NOW, ZONE)
ENGAGEMENT = get_report("engagement")
INACTIVE = get_report("inactive-learners")
TRENDS = get_report("trends")


def engagement_rows(n: int = 3) -> list[tuple]:
    rows = [
        (
            1,
            100,
            10,
            '=HYPERLINK("http://evil")',
            "Zoë Ørsted",
            "Course 10",
            3600,
            2,
            5,
            40.0,
            20,
            29.33,
            75,
            True,
            ["inactive", "low_completion", "low_engagement"],
        ),
        (1, 101, 10, "Ann", "Bell", "Course 10", 0, 0, 0, 100.0, None, 30.0, 0, False, []),
    ]
    for i in range(n - 2):
        rows.append(
            (
                1,
                200 + i,
                11,
                f"First{i}",
                f"Last{i}",
                "Course 11",
                i,
                1,
                1,
                12.5,
                3,
                10.25,
                25,
                False,
                ["low_time"],
            )
        )
    return rows


INACTIVE_ROWS = [
    (100, "Ann", "Bell", "ann@example.com", 2, NOW - 40 * 86_400),
    (102, "-Bob", "Dee", "bob@example.com", 1, 0),
]


def test_csv_file_has_a_bom_formatted_times_and_guarded_text(tmp_path):
    target = tmp_path / "r.csv"
    assert export_report(INACTIVE, INACTIVE_ROWS, "csv", target, HEADING) == 2
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == INACTIVE.column_names
    # 2026-02-19 10:00 UTC is 11:00 in Berlin (CET); 0 stays empty; a leading "-" is guarded.
    assert rows[1] == ["100", "Ann", "Bell", "ann@example.com", "2", "2026-02-19 11:00:00"]
    assert rows[2] == ["102", "'-Bob", "Dee", "bob@example.com", "1", ""]
    engagement = tmp_path / "e.csv"
    export_report(ENGAGEMENT, engagement_rows(), "csv", engagement, HEADING)
    first = list(csv.DictReader(io.StringIO(engagement.read_text(encoding="utf-8-sig"))))[0]
    assert first["firstname"] == "'" + '=HYPERLINK("http://evil")'
    assert (first["risk_reasons"], first["at_risk"], first["completion"]) == (
        "inactive, low_completion, low_engagement",
        "true",
        "40.00",
    )


def test_csv_to_a_stream_has_no_bom():
    out = io.StringIO()
    export_report(INACTIVE, INACTIVE_ROWS, "csv", out, HEADING)
    assert out.getvalue().startswith("userid,")


def test_xlsx_is_styled_and_typed(tmp_path):
    target = tmp_path / "r.xlsx"
    export_report(ENGAGEMENT, engagement_rows(), "xlsx", target, HEADING)
    sheet = openpyxl.load_workbook(target).active
    header = [c for c in sheet[1]]
    assert [c.value for c in header] == [c.title for c in ENGAGEMENT.columns]
    assert header[0].font.bold and header[0].fill.fgColor.rgb.endswith("34547A")
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["D"].width >= len('=HYPERLINK("http://evil")')
    values = [c.value for c in sheet[2]]
    assert (
        values[3] == '=HYPERLINK("http://evil")' and sheet.cell(2, 4).data_type == "s"
    )  # text, not a formula
    assert (values[6], values[9], values[13], values[14]) == (
        3600,
        40,
        True,
        "inactive, low_completion, low_engagement",
    )
    assert sheet.cell(3, 11).value is None  # no last access
    inactive = tmp_path / "i.xlsx"
    export_report(INACTIVE, INACTIVE_ROWS, "xlsx", inactive, HEADING)
    sheet = openpyxl.load_workbook(inactive).active
    assert sheet.cell(2, 6).value == datetime(2026, 2, 19, 11, 0, 0)  # noqa: DTZ001 (a date cell holds naive local time)
    assert sheet.cell(2, 6).number_format == "yyyy-mm-dd hh:mm:ss"
    assert sheet.cell(3, 6).value is None


def pdf_text(path) -> list[str]:
    return [page.extract_text() for page in PdfReader(path).pages]


def test_pdf_has_title_company_rows_repeated_header_and_page_numbers(tmp_path):
    target = tmp_path / "r.pdf"
    rows = engagement_rows(120)
    assert export_report(ENGAGEMENT, rows, "pdf", target, HEADING) == 120
    pages = pdf_text(target)
    assert len(pages) >= 2
    assert "Engagement" in pages[0] and "Company: Acme Learning" in pages[0]
    assert "Generated: 2026-03-31 12:00 (Europe/Berlin)" in pages[0]
    for number, text in enumerate(pages, start=1):
        assert f"page {number} of {len(pages)}" in text
        assert "Days since access" in text  # the header on every page
    everything = "\n".join(pages)
    assert "First0" in everything and "Last117" in everything
    assert "low_completion" in everything and "low_engagement" in everything  # wrapped in its cell
    if unicode_font():
        assert "Zoë Ørsted" in everything
    else:  # Helvetica holds Latin-1: ë and Ø are in it too
        assert "Zo" in everything


def test_pdf_of_trends_draws_the_chart(tmp_path):
    rows = [(f"2025-{m:02d}", m, m // 2) for m in range(4, 13)] + [
        (f"2026-{m:02d}", 0, 0) for m in range(1, 4)
    ]
    target = tmp_path / "t.pdf"
    export_report(TRENDS, rows, "pdf", target, HEADING)
    page = PdfReader(target).pages[0]
    text = page.extract_text()
    assert "Started and completed per month" in text and "25-04" in text
    content = page.get_contents().get_data().decode("latin-1")
    # One filled rectangle per non-zero bar (9 started, 8 completed), besides the table's shading.
    without = tmp_path / "n.pdf"
    export_report(get_report("course-summary"), [], "pdf", without, HEADING)
    bars = content.count(" re f") - PdfReader(without).pages[0].get_contents().get_data().decode(
        "latin-1"
    ).count(" re f")
    assert bars >= 17


def test_json_keeps_native_values_and_table_aligns():
    out = io.StringIO()
    export_report(INACTIVE, INACTIVE_ROWS, "json", out, HEADING)
    data = json.loads(out.getvalue())
    assert data[0] == {
        "userid": 100,
        "firstname": "Ann",
        "lastname": "Bell",
        "email": "ann@example.com",
        "courses": 2,
        "last_access": NOW - 40 * 86_400,
    }
    table = text_table(INACTIVE, INACTIVE_ROWS, ZONE).splitlines()
    assert table[0].split() == INACTIVE.column_names
    assert table[1].index("Ann") == table[2].index("-Bob")  # text left-aligned in one column
    assert table[1].endswith("2026-02-19 11:00:00")


def test_a_failed_export_leaves_no_file_and_bad_formats_are_refused(tmp_path):
    with pytest.raises(ExportError, match="choose csv, xlsx, pdf, json, table"):
        export_report(INACTIVE, INACTIVE_ROWS, "docx", tmp_path / "x.docx", HEADING)
    with pytest.raises(ExportError, match="does not exist"):
        export_report(INACTIVE, INACTIVE_ROWS, "csv", tmp_path / "missing" / "x.csv", HEADING)
    assert list(tmp_path.iterdir()) == []
    assert (
        default_filename(INACTIVE, "acme/uk", NOW, ZONE, "pdf") == "inactive-learners-acme_uk-2026-03-31.pdf"
    )
