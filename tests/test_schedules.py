"""Scheduled reports (SPEC §8.6) against a local SMTP sink: occurrences in a non-UTC zone and across
DST, one message to all recipients with an attachment that opens, never twice for one occurrence
(two workers included), a backlog sends one, retries with doubling delays and the final alert, an
oversized attachment left out, and the CLI."""

from __future__ import annotations

import csv
import email.header
import io
import json
import subprocess
import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from pypdf import PdfReader

from alxapi.config import load_config
from alxapi.schedules import runner, store
from alxapi.schedules.occurrences import next_occurrence
from models.analytics import ReportRun, Schedule
from models.db import open_database
from models.plugin import Alert, Audit, Reporting

from .support.cli_helpers import Alx, alx_command, alx_env
from .support.sinks import SmtpSink

ZONE = "Europe/Berlin"
BERLIN = ZoneInfo(ZONE)


def at(*parts) -> int:
    """Epoch of a Berlin wall-clock time."""
    return int(datetime(*parts, tzinfo=BERLIN).timestamp())


def test_occurrences_keep_local_time_across_dst():
    # Berlin moves to CEST on 2026-03-29 and back on 2026-10-25.
    t = at(2026, 3, 27, 12, 0)
    seen = []
    for _ in range(3):
        t = next_occurrence(t, every="daily", at="06:00", weekday=0, monthday=1, zone=ZONE)
        seen.append(t)
    assert [datetime.fromtimestamp(s, UTC).hour for s in seen] == [
        5,
        4,
        4,
    ]  # 06:00 CET on the 28th, then CEST
    assert all(datetime.fromtimestamp(s, BERLIN).strftime("%H:%M") == "06:00" for s in seen)
    autumn = next_occurrence(
        at(2026, 10, 24, 7, 0), every="daily", at="06:00", weekday=0, monthday=1, zone=ZONE
    )
    assert autumn == at(2026, 10, 25, 6, 0) and autumn - at(2026, 10, 24, 6, 0) == 25 * 3600
    weekly = next_occurrence(
        at(2026, 3, 27, 12, 0), every="weekly", at="07:30", weekday=0, monthday=1, zone=ZONE
    )
    assert datetime.fromtimestamp(weekly, BERLIN).strftime("%a %d %H:%M") == "Mon 30 07:30"
    monthly = next_occurrence(
        at(2026, 3, 27, 12, 0), every="monthly", at="06:00", weekday=0, monthday=15, zone=ZONE
    )
    assert datetime.fromtimestamp(monthly, BERLIN).strftime("%m-%d %H:%M") == "04-15 06:00"
    assert next_occurrence(
        at(2026, 3, 28, 6, 0) - 1, every="daily", at="06:00", weekday=0, monthday=1, zone=ZONE
    ) == at(2026, 3, 28, 6, 0)


@pytest.fixture
def smtp():
    with SmtpSink() as sink:
        yield sink


def config(smtp=None, **extra):
    flags = {"timezone": ZONE, **extra}
    if smtp is not None:
        flags.update(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_from="alx@example.com")
    return load_config(flags=flags, env={}, search_paths=[])


def site(moodle):
    moodle.company(1, name="Acme")
    for uid, status in ((100, "completed"), (101, "in_progress"), (102, "not_started")):
        Reporting.create(companyid=1, userid=uid, courseid=10, firstname=f"F{uid}", lastname=f"=L{uid}",
                         coursename="Course 10", status=status, percentage=50, timestarted=at(2026, 1, 5, 9, 0))  # fmt: skip


def schedule(
    cfg, now, fmt="csv", every="daily", emails=("a@example.com", "b@example.com"), report="course-summary"
):
    spec = store.NewSchedule(report=report, companyid=1, format=fmt, every=every, at="06:00", emails=emails)
    return store.add(spec, actor="tester", now=now, zone=cfg.timezone)


def subject(message) -> str:
    return str(email.header.make_header(email.header.decode_header(message["Subject"])))


def body(message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain" and not p.get_filename())
    return part.get_payload(decode=True).decode()


def attachment(message):
    parts = [p for p in message.walk() if p.get_filename()]
    return parts[0] if parts else None


def test_due_at_the_local_time_once_to_all_recipients(moodle, smtp):
    site(moodle)
    cfg = config(smtp)
    row = schedule(cfg, at(2026, 3, 27, 12, 0))
    assert row.next_run == at(2026, 3, 28, 6, 0)
    assert runner.run_due(cfg, at(2026, 3, 28, 5, 59)) == {"sent": 0, "retrying": 0, "failed": 0}
    assert runner.run_due(cfg, at(2026, 3, 28, 6, 0))["sent"] == 1
    assert runner.run_due(cfg, at(2026, 3, 28, 6, 0) + 30)["sent"] == 0  # the same occurrence: never twice
    assert len(smtp.messages) == 1
    rcpts, message = smtp.messages[0]
    assert sorted(rcpts) == ["a@example.com", "b@example.com"]
    assert subject(message) == "Course summary · Acme · 2026-03-28"
    assert "1 rows" in body(message)
    part = attachment(message)
    assert part.get_filename() == "course-summary-c1-2026-03-28.csv" and part.get_content_type() == "text/csv"
    rows = list(csv.DictReader(io.StringIO(part.get_payload(decode=True).decode("utf-8-sig"))))
    assert rows[0]["learners"] == "3" and rows[0]["completed"] == "1"
    assert Schedule.get_by_id(row.id).next_run == at(2026, 3, 29, 6, 0)  # 04:00 UTC: the DST day
    run = ReportRun.get()
    assert (run.status, run.rows, run.occurrence) == ("success", 1, at(2026, 3, 28, 6, 0)) and run.bytes > 0


def test_a_backlog_sends_one_report(moodle, smtp):
    site(moodle)
    cfg = config(smtp)
    row = schedule(cfg, at(2026, 3, 20, 12, 0))
    assert runner.run_due(cfg, at(2026, 3, 25, 9, 0))["sent"] == 1  # five occurrences missed
    assert len(smtp.messages) == 1
    assert Schedule.get_by_id(row.id).next_run == at(2026, 3, 26, 6, 0)


def test_two_workers_at_once_send_exactly_one(moodle, smtp, db_url):
    site(moodle)
    cfg = config(smtp)
    schedule(cfg, at(2026, 3, 27, 12, 0))
    barrier = threading.Barrier(4)
    results = []

    def worker():
        db = open_database(db_url, "mdl_")  # binds the models again: same database, own connections
        with db.connection_context():
            barrier.wait()
            results.append(runner.run_due(cfg, at(2026, 3, 28, 6, 0)))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(r["sent"] for r in results) == 1 and len(results) == 4
    assert len(smtp.messages) == 1


def test_two_worker_processes_send_exactly_one(moodle, smtp, db_url, tmp_path):
    site(moodle)
    cfg = config(smtp)
    schedule(cfg, at(2026, 3, 27, 12, 0))
    env = alx_env(tmp_path / "home", ALX_NOW=at(2026, 3, 28, 6, 0), ALX_TIMEZONE=ZONE, ALX_SMTP_HOST="127.0.0.1",
                  ALX_SMTP_PORT=smtp.port, ALX_ENABLE_ALERTING="false")  # fmt: skip
    procs = [
        subprocess.Popen(
            [*alx_command(), "--db", db_url, "worker", "--once", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    reports = [next(o for o in json.loads(out) if o["name"] == "reports") for out, _err in outs]
    assert all(r["status"] == "ok" for r in reports), outs
    assert len(smtp.messages) == 1


def test_failures_are_retried_with_doubling_delays_then_alerted(moodle):
    site(moodle)
    cfg = config(
        smtp_host="127.0.0.1", smtp_port=9, schedule_retries=2, schedule_retry_minutes=5
    )  # nobody listens
    row = schedule(cfg, at(2026, 3, 27, 12, 0))
    start = at(2026, 3, 28, 6, 0)
    assert runner.run_due(cfg, start)["retrying"] == 1
    assert Schedule.get_by_id(row.id).retry_at == start + 300
    assert runner.run_due(cfg, start + 299) == {"sent": 0, "retrying": 0, "failed": 0}
    assert runner.run_due(cfg, start + 300)["retrying"] == 1
    assert Schedule.get_by_id(row.id).retry_at == start + 300 + 600  # doubled
    assert runner.run_due(cfg, start + 900)["failed"] == 1
    runs = list(ReportRun.select().order_by(ReportRun.id))
    assert [(r.attempt, r.status, r.occurrence) for r in runs] == [
        (1, "retrying", start),
        (2, "retrying", start),
        (3, "failed", start),
    ]
    assert "SMTP 127.0.0.1:9" in runs[-1].error
    alert = Alert.get(Alert.alert_type == "report_failed")
    assert alert.subject == f"schedule {row.id}" and "after 3 attempt(s)" in alert.message
    later = Schedule.get_by_id(row.id)
    assert (later.retry_at, later.next_run) == (0, at(2026, 3, 29, 6, 0))


@pytest.mark.parametrize("fmt", ["xlsx", "pdf"])
def test_xlsx_and_pdf_attachments_open_and_hold_the_rows(moodle, smtp, fmt):
    site(moodle)
    cfg = config(smtp)
    schedule(cfg, at(2026, 3, 27, 12, 0), fmt=fmt, report="engagement")
    runner.run_due(cfg, at(2026, 3, 28, 6, 0))
    part = attachment(smtp.messages[0][1])
    data = part.get_payload(decode=True)
    if fmt == "xlsx":
        assert part.get_content_type() == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        sheet = openpyxl.load_workbook(io.BytesIO(data)).active
        assert [c.value for c in sheet["B"]][1:] == [100, 101, 102]
        assert sheet.cell(2, 5).value == "=L100" and sheet.cell(2, 5).data_type == "s"
    else:
        assert part.get_content_type() == "application/pdf"
        text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
        assert "Engagement" in text and "Company: Acme" in text and "F101" in text


def test_an_oversized_attachment_is_left_out_and_the_mail_says_so(moodle, smtp):
    site(moodle)
    cfg = config(smtp, schedule_max_attachment_mb=0.01)  # 10 KB: a PDF is larger
    schedule(cfg, at(2026, 3, 27, 12, 0), fmt="pdf")
    assert runner.run_due(cfg, at(2026, 3, 28, 6, 0))["sent"] == 1
    message = smtp.messages[0][1]
    assert attachment(message) is None
    text = body(message)
    assert "larger than schedule_max_attachment_mb (0.01 MB) and is not attached" in text
    assert "alx report run course-summary --company 1" in text


def test_cli_schedules(moodle, smtp, db_url, tmp_path):
    site(moodle)
    alx = Alx(tmp_path, db_url, ALX_TIMEZONE=ZONE, ALX_SMTP_HOST="127.0.0.1", ALX_SMTP_PORT=smtp.port)
    added = alx.ok("schedule", "add", "--report", "trends", "--company", "1", "--format", "csv", "--every", "weekly",
                   "--weekday", "fri", "--at", "07:30", "--email", "x@example.com", "--email", "y@example.com")  # fmt: skip
    sid = int(added.stdout.strip())
    listed = alx.json("schedule", "list", "--json")
    assert [(s["id"], s["every"], s["weekday"], s["at"], s["emails"]) for s in listed] == [
        (sid, "weekly", "fri", "07:30", ["x@example.com", "y@example.com"])
    ]
    alx.ok("schedule", "run", str(sid))
    assert len(smtp.messages) == 1 and "Trends" in subject(smtp.messages[0][1])
    runs = alx.json("schedule", "runs", "--json")
    assert runs[0]["status"] == "success" and runs[0]["rows"] == 12
    for args, message in (
        (("--report", "nope"), "no report named"),
        (("--report", "trends", "--at", "25:00"), "HH:MM"),
        (("--report", "trends", "--monthday", "30", "--every", "monthly"), "1 to 28"),
        (("--report", "trends", "--email", "not-an-address"), "e-mail addresses"),
    ):
        base = {"--company": "1", "--format": "csv", "--every": "daily", "--email": "z@example.com"}
        argv = ["schedule", "add"]
        given = dict(zip(args[::2], args[1::2], strict=True))
        for key, value in {**base, **given}.items():
            argv += [key, value]
        bad = alx(*argv)
        assert bad.code == 2 and message in bad.stderr, (args, bad.stderr)
    alx.ok("schedule", "remove", str(sid))
    assert alx.json("schedule", "list", "--json") == []
    actions = [a.action for a in Audit.select().order_by(Audit.id)]
    assert [a for a in actions if a.startswith("schedule.")] == [
        "schedule.add",
        "schedule.run",
        "schedule.remove",
    ]


def test_runs_are_kept_for_report_retention_days(moodle):
    from alxapi.ops.cleanup import cleanup

    now = at(2026, 6, 1, 12, 0)
    for days, status in ((91, "success"), (89, "failed"), (200, "running")):
        ReportRun.create(
            scheduleid=1, report="trends", companyid=1, status=status, timestarted=now - days * 86_400
        )
    counts = cleanup(moodle.db, now=now, retention_days=90, report_retention_days=90)
    assert counts["report_runs"] == 1
    assert sorted(r.status for r in ReportRun.select()) == [
        "failed",
        "running",
    ]  # a running one is never removed
