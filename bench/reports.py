"""`make bench-reports`: the `engagement` report of a 10,000-row company, in process and through the API.

A SQLite site holds 100,000 live reporting rows in 10 companies (company 1 has 10,000), daily
time-spent rows over the last 30 days for most of them, and Moodle's last accesses. Measured in one
run: the report in process (median of 7 after one cold run; goal ≤ 200 ms), and the first API page
(`GET /api/v1/reports/engagement?limit=1000` through Falcon's TestClient, median of 7; goal ≤ 2× the
in-process time).
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

NOW = 1_780_000_000
COMPANIES, ROWS_PER_COMPANY, COURSES = 10, 10_000, 20


def build(path: Path) -> str:
    from alxapi.access import tokens
    from alxapi.demo.moodle_schema import create_moodle_schema, insert_tuples
    from models import schema
    from models.analytics import UserTimeDaily
    from models.db import open_database
    from models.plugin import Reporting

    rng = random.Random(3)
    db = open_database(f"sqlite:///{path}", "mdl_")
    with db.connection_context():
        create_moodle_schema(db, "mdl_")
        schema.install(db)
        today = datetime.fromtimestamp(NOW, UTC).date()
        dates = [(today - timedelta(days=d)).isoformat() for d in range(30)]
        with db.atomic():
            insert_tuples(
                db,
                "company",
                ("id", "name", "shortname", "city", "country"),
                [(c, f"Company {c}", f"c{c}", "x", "GB") for c in range(1, COMPANIES + 1)],
            )
            reporting, daily, access = [], [], []
            for c in range(1, COMPANIES + 1):
                for i in range(ROWS_PER_COMPANY):
                    user, course = c * 100_000 + i // COURSES, 2 + i % COURSES
                    status = rng.choice(("not_started", "in_progress", "in_progress", "completed"))
                    reporting.append(
                        dict(companyid=c, userid=user, courseid=course, firstname=f"F{user}", lastname=f"L{user}",
                             email=f"u{user}@example.com", username=f"u{user}", coursename=f"Course {course}",
                             status=status, percentage=100 if status == "completed" else rng.randint(0, 99),
                             timestarted=NOW - rng.randint(0, 200) * 86_400, is_deleted=0)
                    )  # fmt: skip
                    if rng.random() < 0.8:
                        for date in rng.sample(dates, rng.randint(1, 12)):
                            daily.append(
                                dict(userid=user, courseid=course, date=date, duration=rng.randint(0, 7200),
                                     sessions=rng.randint(0, 3), events=rng.randint(1, 40),
                                     interactions=rng.randint(0, 10), lastupdated=NOW)
                            )  # fmt: skip
                        access.append((len(access) + 1, user, course, NOW - rng.randint(0, 40 * 86_400)))
            for model, rows in ((Reporting, reporting), (UserTimeDaily, daily)):
                for i in range(0, len(rows), 5000):
                    model.insert_many(rows[i : i + 5000]).execute()
            insert_tuples(db, "user_lastaccess", ("id", "userid", "courseid", "timeaccess"), access)
        token, _ = tokens.create_token(1, name="bench", actor="bench", now=NOW)
    db.close()
    return token


def main() -> None:
    from alxapi.analytics.reports import RunContext, get_report
    from alxapi.config import load_config
    from alxapi.http.app import create_app
    from models.db import open_database

    with tempfile.TemporaryDirectory(prefix="alx-bench-reports-") as tmp:
        path = Path(tmp) / "site.sqlite3"
        print("building 100,000 reporting rows, daily rows and last accesses …", file=sys.stderr)
        token = build(path)
        url = f"sqlite:///{path}"
        config = load_config(
            flags={"database_url": url, "timezone": "UTC", "rate_limit": 0}, env={}, search_paths=[]
        )
        db = open_database(url, "mdl_")
        report = get_report("engagement")
        with db.connection_context():
            started = time.perf_counter()
            rows = report.run(RunContext(1, NOW, config))
            cold = time.perf_counter() - started
            warm = []
            for _ in range(7):
                started = time.perf_counter()
                report.run(RunContext(1, NOW, config))
                warm.append(time.perf_counter() - started)
        import falcon.testing

        app = create_app(config, db=db, clock_fn=lambda: NOW)
        client = falcon.testing.TestClient(app)
        pages = []
        for _ in range(7):
            started = time.perf_counter()
            r = client.simulate_get(
                "/api/v1/reports/engagement",
                params={"limit": 1000},
                headers={"Authorization": f"Bearer {token}"},
            )
            pages.append(time.perf_counter() - started)
            assert r.status_code == 200 and len(r.json["data"]) == 1000, r.text[:200]
        in_process = statistics.median(warm)
        page = statistics.median(pages)
        print(f"engagement rows for company 1: {len(rows):,}")
        print(f"in process, cold:           {cold * 1000:8.1f} ms")
        print(f"in process, median of 7:    {in_process * 1000:8.1f} ms   (goal ≤ 200 ms)")
        print(
            f"API first page (1000 rows): {page * 1000:8.1f} ms   = {page / in_process:.2f}× in process (goal ≤ 2×)"
        )


if __name__ == "__main__":
    main()
