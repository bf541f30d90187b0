"""`make bench-tui`: each console refresh's queries on 1M request-log rows and 100k reporting rows.

Builds (once, cached in ``$ALX_BENCH_CACHE``, default ``~/.cache/alx-bench``) a database with the
tiny demo Moodle site plus 20 companies, 100,000 reporting rows and 1,000,000 request-log rows
spread over 30 days (about 33,000 calls a day, with errors, rate-limit refusals and failed
authentications), then times the exact functions the Control Center and the Monitoring tabs call
in their worker threads (``alxapi.ops.monitor``), the median of several runs each. Goal: ≤ 100 ms.

    python -m bench.tui [--db URL] [--runs 9] [--rebuild]

``--db`` benchmarks another database (MariaDB, PostgreSQL) — it must be empty or built by this script.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

NOW = 1_772_445_600  # 2026-03-02 10:00 UTC, a Monday
DAY = 86_400
LOG_ROWS = 1_000_000
REPORTING_ROWS = 100_000
COMPANIES = 20
LOG_DAYS = 30
GOAL_MS = 100.0
CACHE = Path(os.environ.get("ALX_BENCH_CACHE", Path.home() / ".cache" / "alx-bench"))
CODES = [""] * 94 + [
    "invalidparameter",
    "ratelimitexceeded",
    "ratelimitexceeded",
    "invalidtoken",
    "accessexception",
    "toomanyfailures",
]


def _insert(db, table: str, columns: list[str], rows: list[tuple]) -> None:
    from models.db import quote

    sql = (
        f"INSERT INTO {quote(table, db)} ({', '.join(quote(c, db) for c in columns)}) "
        f"VALUES ({', '.join([db.param] * len(columns))})"
    )
    cursor = db.cursor()
    cursor.executemany(sql, rows)


def build(db, prefix: str) -> None:
    from alxapi.demo.generator import generate
    from models import schema
    from models.plugin import ApiLog, Reporting, SyncRun

    rng = random.Random(42)
    started = time.monotonic()
    generate(db, prefix, size="tiny", seed=42, now=NOW)
    schema.install(db)
    with db.atomic():
        _insert(
            db,
            f"{prefix}company",
            ["id", "name", "shortname", "suspended", "parentid"],
            [(c, f"Bench company {c}", f"bench{c}", 0, 0) for c in range(4, COMPANIES + 1)],
        )
    print(f"  Moodle site and schema: {time.monotonic() - started:.1f}s", file=sys.stderr)

    columns = [
        "companyid",
        "userid",
        "courseid",
        "firstname",
        "lastname",
        "email",
        "username",
        "coursename",
        "timecompleted",
        "timestarted",
        "percentage",
        "status",
        "is_deleted",
        "change_seq",
        "last_updated",
        "timecreated",
        "timemodified",
    ]
    rows = []
    for i in range(REPORTING_ROWS):
        company = 1 + i % COMPANIES
        user, course = 10_000 + i // 25, 1 + i % 25
        changed = NOW - rng.randint(0, 90 * DAY)
        status = rng.choice(("completed", "in_progress", "not_started"))
        rows.append(
            (
                company,
                user,
                course,
                "Ann",
                "Lee",
                f"u{user}@example.com",
                f"u{user}",
                f"Course {course}",
                changed if status == "completed" else 0,
                changed - 5 * DAY,
                100 if status == "completed" else rng.randint(0, 99),
                status,
                int(rng.random() < 0.02),
                i + 1,
                changed,
                changed,
                changed,
            )
        )
    with db.atomic():
        for i in range(0, len(rows), 5000):
            _insert(db, Reporting._meta.table_name, columns, rows[i : i + 5000])
    print(f"  {REPORTING_ROWS:,} reporting rows: {time.monotonic() - started:.1f}s", file=sys.stderr)

    columns = [
        "timecreated",
        "companyid",
        "token_ref",
        "endpoint",
        "ip_address",
        "user_agent",
        "record_count",
        "response_time_ms",
        "error_code",
        "http_status",
        "cache_hit",
        "userid",
        "company_shortname",
    ]
    batch = []
    for i in range(LOG_ROWS):
        code = rng.choice(CODES)
        company = 0 if code in ("invalidtoken", "toomanyfailures") else 1 + rng.randrange(COMPANIES)
        hit = int(not code and rng.random() < 0.75)
        batch.append(
            (
                NOW - rng.randint(1, LOG_DAYS * DAY),
                company,
                f"m:{company}" if company else "",
                "get_course_progress" if i % 3 else "v1_course_progress",
                f"10.0.{company}.{i % 7}" if company else f"203.0.113.{i % 40}",
                "bench",
                0 if code else 100,
                round(rng.uniform(2, 9) if hit else rng.lognormvariate(4.3, 0.6), 2),
                code,
                200 if not code else 429,
                hit,
                0,
                "",
            )
        )
        if len(batch) == 10_000:
            with db.atomic():
                _insert(db, ApiLog._meta.table_name, columns, batch)
            batch = []
    if batch:
        with db.atomic():
            _insert(db, ApiLog._meta.table_name, columns, batch)
    print(f"  {LOG_ROWS:,} request-log rows: {time.monotonic() - started:.1f}s", file=sys.stderr)

    runs = []
    for h in range(LOG_DAYS * 24):
        start = NOW - h * 3600 - 1800
        runs.append(
            (
                "full" if h % 24 == 0 else "incremental",
                0,
                "failed" if h % 97 == 5 else "success",
                start,
                start + 3,
                0,
                rng.randint(0, 50),
                0,
                0,
                3000,
                "bench",
                0,
            )
        )
    with db.atomic():
        _insert(
            db,
            SyncRun._meta.table_name,
            [
                "mode",
                "companyid",
                "status",
                "timestarted",
                "timefinished",
                "created",
                "updated",
                "deleted",
                "unchanged",
                "duration_ms",
                "host",
                "pid",
            ],
            runs,
        )
    if db.__class__.__name__.startswith("Sqlite"):
        db.execute_sql("ANALYZE")
    print(f"  built in {time.monotonic() - started:.1f}s", file=sys.stderr)


def refreshes(config):
    """(name, callable): exactly what each screen's fetch() calls."""
    from alxapi.alerts import lifecycle as alerts
    from alxapi.ops import monitor

    return [
        ("Control Center (overview)", lambda: monitor.overview(NOW, config)),
        ("Monitoring › Auto-Sync", lambda: monitor.autosync(NOW, config)),
        ("Monitoring › Performance", lambda: monitor.performance(NOW, config)),
        ("Monitoring › Security", lambda: monitor.security(NOW, config)),
        (
            "Alerts (list + counts)",
            lambda: (alerts.list_alerts(status="open", limit=500), alerts.open_counts()),
        ),
        # The window functions the alert rules call (1 h windows).
        ("rules: api_window 1 h", lambda: monitor.api_window(NOW - 3600, NOW)),
        ("rules: calls_by_company 1 h", lambda: monitor.calls_by_company(NOW - 3600, NOW)),
        ("rules: failed_auth_by_ip 10 min", lambda: monitor.failed_auth_by_ip(NOW - 600, NOW, 20)),
        ("rules: rate_limit_violations 1 h", lambda: monitor.rate_limit_violations(NOW - 3600, NOW)),
    ]


def main(argv: list[str] | None = None) -> int:
    from alxapi.config import load_config
    from models.db import open_database
    from models.plugin import ApiLog, Reporting

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a cached SQLite file)")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args(argv)
    prefix = "mdl_"
    url = args.db
    if url is None:
        CACHE.mkdir(parents=True, exist_ok=True)
        path = CACHE / "tui-1m-logs.sqlite3"
        if args.rebuild:
            path.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    db = open_database(url, prefix)
    with db.connection_context():
        if not db.table_exists(ApiLog._meta.table_name) or ApiLog.select().count() < LOG_ROWS:
            print(f"building the benchmark database ({url}) …", file=sys.stderr)
            build(db, prefix)
        logs, reporting = ApiLog.select().count(), Reporting.select().count()
    config = load_config(env={}, search_paths=[]).replace(database_url=url, timezone="UTC")
    print(
        f"\n{logs:,} request-log rows over {LOG_DAYS} days, {reporting:,} reporting rows, {COMPANIES} companies; "
        f"median of {args.runs} runs after one warm-up\n"
    )
    print(f"{'refresh':36} {'median ms':>10} {'min ms':>8} {'max ms':>8}  goal ≤ {GOAL_MS:.0f} ms")
    worst = 0.0
    with db.connection_context():
        for name, fetch in refreshes(config):
            fetch()  # warm-up: page cache, statement cache
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                fetch()
                times.append((time.perf_counter() - started) * 1000)
            median = statistics.median(times)
            worst = max(worst, median) if not name.startswith("rules") else worst
            print(
                f"{name:36} {median:10.1f} {min(times):8.1f} {max(times):8.1f}  "
                f"{'ok' if median <= GOAL_MS else 'SLOW'}"
            )
    print(f"\nslowest screen refresh: {worst:.1f} ms ({'within' if worst <= GOAL_MS else 'OVER'} the goal)")
    return 0 if worst <= GOAL_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
