"""`make bench-exports`: report exports and saved SQL reports (issue figures), one run, one machine.

- Exports, each in a fresh process (peak RSS from /proc, goal ≤ 300 MB): a 100,000-row report to
  CSV (goal ≤ 2× a bare ``csv.writer`` over the same rows, measured in the same process), to XLSX,
  and a 10,000-row report to PDF (times reported).
- Saved SQL: a report over a 1,000,000-row reporting table (200 companies) filtered by
  ``:companyid``, run through the product (validation, compilation, read-only run) against the same
  SQL executed directly (goal ≤ 2×); the validator alone (goal ≤ 20 ms).
"""

from __future__ import annotations

import csv
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOW = 1_780_000_000


def rows(n: int) -> list[tuple]:
    rng = random.Random(4)
    reasons = ["low_time", "inactive", "low_completion", "low_engagement"]
    return [
        (1 + i % 7, 1000 + i // 5, 2 + i % 5, f"First{i}", f"Last{i}", f"Course {i % 5}", rng.randint(0, 40_000),
         rng.randint(0, 12), rng.randint(0, 30), round(rng.random() * 100, 2), rng.choice([None, 3, 20]),
         round(rng.random() * 100, 2), 25 * rng.randint(0, 4), rng.random() < 0.3, rng.sample(reasons, rng.randint(0, 3)))
        for i in range(n)
    ]  # fmt: skip


def peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def export_step(fmt: str, count: int, path: str) -> dict:
    from alxapi.analytics.reports import get_report
    from alxapi.exports.reports import DisplayText, Heading, export_report

    report = get_report("engagement")
    data = rows(count)
    started = time.perf_counter()
    export_report(report, data, fmt, path, Heading("Bench", NOW, "UTC"))
    seconds = time.perf_counter() - started
    out = {"seconds": seconds, "rss_mb": peak_rss_mb()}
    if fmt == "csv":  # the bare baseline: csv.writer over the same rows, as display text
        text = DisplayText(report, "UTC")
        started = time.perf_counter()
        with open(path + ".bare", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(report.column_names)
            writer.writerows(text.record(r) for r in data)
        out["bare_seconds"] = time.perf_counter() - started
    return out


def run_export(fmt: str, count: int, tmp: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "bench.exports", "--step", fmt, str(count), str(tmp / f"out.{fmt}")],
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise SystemExit(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


SAVED_SQL = (
    "SELECT r.userid, r.courseid, r.lastname, r.status, r.percentage FROM {local_alx_api_reporting} r "
    "WHERE r.companyid = :companyid AND r.is_deleted = 0 ORDER BY r.userid, r.courseid"
)


def saved_sql(tmp: Path) -> dict:
    from alxapi.config import load_config
    from alxapi.savedsql import runner
    from alxapi.savedsql.validator import DEFAULT_ALLOWED_TABLES, check, compile_query
    from models import schema
    from models.db import open_database

    path = tmp / "reporting.sqlite3"
    db = open_database(f"sqlite:///{path}", "mdl_")
    with db.connection_context():
        schema.install(db)
    db.close()
    con = sqlite3.connect(path)
    print("filling 1,000,000 reporting rows …", file=sys.stderr)
    con.executemany(
        "INSERT INTO mdl_local_alx_api_reporting (companyid, userid, courseid, firstname, lastname, email, username, "
        "coursename, timecompleted, timestarted, percentage, status, is_deleted, change_seq, last_updated, "
        "timecreated, timemodified) VALUES (?, ?, ?, 'F', ?, 'e', 'u', 'c', 0, 0, 50, 'in_progress', 0, 0, 0, 0, 0)",
        ((1 + i % 200, 10_000 + i // 10, 2 + i % 10, f"L{i}") for i in range(1_000_000)),
    )
    con.commit()
    con.close()
    config = load_config(flags={"timezone": "UTC"}, env={}, search_paths=[])
    db = open_database(f"sqlite:///{path}", "mdl_")
    with db.connection_context():
        checked = check(SAVED_SQL, "sqlite", DEFAULT_ALLOWED_TABLES)
        text, order = compile_query(checked, "sqlite", "mdl_", "?")
        direct, product, validator = [], [], []
        for attempt in range(8):
            company = 1 + attempt * 17
            started = time.perf_counter()
            db.execute_sql(text, [company]).fetchall()
            direct.append(time.perf_counter() - started)
            started = time.perf_counter()
            result = runner.run_sql(SAVED_SQL, {}, company, config)
            product.append(time.perf_counter() - started)
            started = time.perf_counter()
            check(SAVED_SQL, "sqlite", DEFAULT_ALLOWED_TABLES)
            validator.append(time.perf_counter() - started)
    db.close()
    return {
        "rows": len(result.rows),
        "direct_ms": statistics.median(direct) * 1000,
        "product_ms": statistics.median(product) * 1000,
        "validator_ms": statistics.median(validator) * 1000,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--step":
        fmt, count, path = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        print(json.dumps(export_step(fmt, count, path)))
        return
    with tempfile.TemporaryDirectory(prefix="alx-bench-exports-") as tmp:
        folder = Path(tmp)
        csv_run = run_export("csv", 100_000, folder)
        xlsx_run = run_export("xlsx", 100_000, folder)
        pdf_run = run_export("pdf", 10_000, folder)
        saved = saved_sql(folder)
    print(f"{'export':26} {'seconds':>9} {'peak RSS':>10}")
    ratio = csv_run["seconds"] / csv_run["bare_seconds"]
    print(f"{'CSV, 100,000 rows':26} {csv_run['seconds']:>9.2f} {csv_run['rss_mb']:>8.0f}MB   "
          f"bare csv.writer {csv_run['bare_seconds']:.2f} s: {ratio:.2f}× (goal ≤ 2×)")  # fmt: skip
    print(f"{'XLSX, 100,000 rows':26} {xlsx_run['seconds']:>9.2f} {xlsx_run['rss_mb']:>8.0f}MB")
    print(
        f"{'PDF, 10,000 rows':26} {pdf_run['seconds']:>9.2f} {pdf_run['rss_mb']:>8.0f}MB   (goal ≤ 300 MB each)"
    )
    print(
        f"saved SQL, company of {saved['rows']:,} rows in 1,000,000: product {saved['product_ms']:.1f} ms, "
        f"direct {saved['direct_ms']:.1f} ms = {saved['product_ms'] / saved['direct_ms']:.2f}× (goal ≤ 2×); "
        f"validator {saved['validator_ms']:.1f} ms (goal ≤ 20 ms)"
    )


if __name__ == "__main__":
    main()
