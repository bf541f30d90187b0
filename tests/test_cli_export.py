"""`alx export`: the rows the API serves a company, as CSV, XLSX or JSON, to stdout or a file."""

from __future__ import annotations

import csv
import io

import openpyxl

from .support.cli_helpers import Alx


def site(b) -> None:
    b.company(1)
    b.company(2)
    b.course(10, modules=1)
    for company in (1, 2):
        b.company_course(company, 10)
    for uid, company in ((100, 1), (101, 1), (102, 2)):
        b.user(uid)
        b.member(company, uid)
        b.enrol(uid, 10)


def test_export_csv_json_and_xlsx_hold_the_companys_rows_only(moodle, db_url, tmp_path):
    site(moodle)
    alx = Alx(tmp_path, db_url)
    alx.ok("sync")
    rows = list(csv.DictReader(io.StringIO(alx.ok("export", "--company", "1").stdout)))
    assert sorted(int(r["userid"]) for r in rows) == [100, 101]
    assert "email" in rows[0] and rows[0]["courseid"] == "10"

    as_json = alx.json("export", "--company", "1", "--format", "json")
    assert [(r["userid"], r["email"]) for r in as_json] == [(int(r["userid"]), r["email"]) for r in rows]

    result = alx.ok("export", "--company", "2", "-o", "two.xlsx")
    assert "exported 1 rows of company 2 as xlsx to two.xlsx" in result.stderr
    sheet = openpyxl.load_workbook(tmp_path / "two.xlsx", read_only=True).active
    header, *data = list(sheet.iter_rows(values_only=True))
    assert header[0] == "userid" and [d[0] for d in data] == [102]


def test_export_honours_the_companys_hidden_fields(moodle, db_url, tmp_path):
    site(moodle)
    alx = Alx(tmp_path, db_url)
    alx.ok("sync")
    alx.ok("company", "set", "1", "field_email=0")
    header = alx.ok("export", "--company", "1").stdout.splitlines()[0].split(",")
    assert "email" not in header and "username" in header


def test_export_errors_are_clear_and_leave_no_file(moodle, db_url, tmp_path):
    site(moodle)
    alx = Alx(tmp_path, db_url)
    alx.ok("sync")
    unknown = alx("export", "--company", "99", "-o", "x.csv")
    assert unknown.code == 1 and "no company with id 99" in unknown.stderr
    assert not (tmp_path / "x.csv").exists()
    missing_dir = alx("export", "--company", "1", "-o", "nowhere/x.csv")
    assert missing_dir.code == 1 and "does not exist" in missing_dir.stderr
    bad_format = alx("export", "--company", "1", "--format", "pdf")
    assert bad_format.code == 2
