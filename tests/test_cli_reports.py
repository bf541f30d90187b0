"""`alx report list|show|run` (SPEC §8.8): every format, a company or all, parameters, clear errors."""

from __future__ import annotations

import csv
import io

import openpyxl
from pypdf import PdfReader

from .support.cli_helpers import Alx


def site(b) -> None:
    b.company(1, name="Acme")
    b.company(2)
    b.course(10, modules=1)
    for uid, company in ((100, 1), (101, 1), (102, 2)):
        b.user(uid)
        b.member(company, uid)
        b.enrol(uid, 10, timecreated=b.now - 30 * 86_400)  # past the grace period


def test_list_and_show(tmp_path, db_url, moodle):
    alx = Alx(tmp_path, db_url)
    names = [r["name"] for r in alx.json("report", "list", "--json")]
    assert names == ["engagement", "at-risk", "course-summary", "trends", "time-spent", "inactive-learners"]
    assert "at-risk" in alx.ok("report", "list").stdout
    shown = alx.json("report", "show", "time-spent", "--json")
    assert [p["name"] for p in shown["parameters"]] == ["from", "to"]
    assert "--param days=" in alx.ok("report", "show", "inactive-learners").stdout
    unknown = alx("report", "show", "nope")
    assert unknown.code == 2 and "no report named 'nope'" in unknown.stderr


def test_run_in_every_format(moodle, db_url, tmp_path):
    site(moodle)
    alx = Alx(tmp_path, db_url)
    alx.ok("sync")
    rows = alx.json("report", "run", "engagement", "--company", "1", "--format", "json")
    assert [(r["companyid"], r["userid"], r["courseid"]) for r in rows] == [(1, 100, 10), (1, 101, 10)]
    assert rows[0]["at_risk"] is True and rows[0]["risk_reasons"] == [
        "low_time",
        "inactive",
        "low_completion",
        "low_engagement",
    ]
    everyone = alx.json("report", "run", "engagement", "--format", "json")
    assert {r["companyid"] for r in everyone} == {1, 2}

    table = alx.ok("report", "run", "course-summary", "--company", "1").stdout.splitlines()
    assert table[0].split()[:3] == ["courseid", "coursename", "learners"] and table[1].split()[0] == "10"

    alx.ok("report", "run", "at-risk", "--company", "1", "-o", "risk.csv")
    with open(tmp_path / "risk.csv", encoding="utf-8-sig", newline="") as f:
        assert [r["userid"] for r in csv.DictReader(f)] == ["100", "101"]
    done = alx.ok("report", "run", "inactive-learners", "--company", "1", "-o", "inactive.xlsx")
    assert "inactive-learners: 2 rows for Acme written to inactive.xlsx" in done.stderr
    sheet = openpyxl.load_workbook(tmp_path / "inactive.xlsx").active
    assert [c.value for c in sheet["A"]][1:] == [100, 101]
    alx.ok("report", "run", "trends", "--company", "1", "-o", "trends.pdf")
    text = PdfReader(tmp_path / "trends.pdf").pages[0].extract_text()
    assert "Trends" in text and "Company: Acme" in text
    csv_out = alx.ok(
        "report", "run", "time-spent", "--company", "1", "--format", "csv", "--param", "from=2020-01-01"
    )
    assert next(csv.reader(io.StringIO(csv_out.stdout))) == [
        "userid",
        "courseid",
        "date",
        "duration",
        "sessions",
        "events",
        "interactions",
    ]


def test_run_errors_are_one_clear_line(moodle, db_url, tmp_path):
    site(moodle)
    alx = Alx(tmp_path, db_url)
    alx.ok("sync")
    for args, code, message in (
        (("report", "run", "nope"), 2, "no report named 'nope'"),
        (("report", "run", "trends", "--company", "99"), 2, "no company with id 99"),
        (("report", "run", "inactive-learners", "--param", "days=x"), 2, "days must be a whole number"),
        (("report", "run", "inactive-learners", "--param", "days"), 2, "--param takes NAME=VALUE"),
        (("report", "run", "time-spent", "--param", "from=2026-13-01"), 2, "from must be a date YYYY-MM-DD"),
        (("report", "run", "trends", "-o", "nowhere/t.pdf"), 1, "does not exist"),
    ):
        result = alx(*args)
        assert (result.code, result.stderr.count("\n")) == (code, 1), result.stderr
        assert message in result.stderr
    assert not (tmp_path / "nowhere").exists()
