"""One measured step, run in its own process so its peak RSS is its own (see run.py)."""

from __future__ import annotations

import atexit
import collections
import json
import os
import sys
import time

from alxapi.reporting.dialect import Dialect
from alxapi.reporting.rules import Tables, members_sql, role_ids, rows_query
from alxapi.reporting.sync import SyncEngine, SyncOptions
from models.db import open_database, quote, table_prefix
from models.plugin import Reporting

NOW = 1_767_225_600  # 2026-01-01 00:00:00 UTC: the generator's "now" for the bench database


def baseline(db, now: int) -> dict:
    """The bare set-based computation: one INSERT … SELECT of every reporting row, nothing else.

    The members work table is created as the engine creates it (TEMPORARY, or an ordinary table on
    MariaDB/MySQL, see dialect.py).
    """
    d = Dialect(db)
    t = Tables.current(db, table_prefix() if d.name == "mysql" else "")
    courses = [r[0] for r in db.execute_sql(f"SELECT id FROM {t.course}").fetchall()]
    started = time.perf_counter()
    for sql in d.create_work_table(
        t.members, "userid BIGINT NOT NULL, companyid BIGINT NOT NULL, PRIMARY KEY (userid, companyid)"
    ):
        db.execute_sql(sql)
    with db.atomic():
        db.execute_sql(f"INSERT INTO {t.members} (userid, companyid) {members_sql(t)}")
        select, params = rows_query(
            t, db.param, now=now, role_ids=role_ids(db, t, ["student"]), courses=courses
        )
        columns = (
            "companyid, userid, courseid, firstname, lastname, email, username, coursename, "
            "timecompleted, timestarted, percentage, status, is_deleted, change_seq, last_updated, "
            "timecreated, timemodified"
        )
        select = f"SELECT q.*, 0, 1, {now}, {now}, {now} FROM ({select}) q"
        cursor = db.execute_sql(
            f"INSERT INTO {quote(Reporting._meta.table_name, db)} ({columns}) {select}", params
        )
    seconds = time.perf_counter() - started
    db.execute_sql(f"DROP TABLE IF EXISTS {t.members}")
    return {"seconds": seconds, "rows": cursor.rowcount}


def sync(db, full: bool, now: int) -> dict:
    started = time.perf_counter()
    result = SyncEngine(
        db, SyncOptions(full=full, max_sync_time=86_400, overlap_seconds=300), clock=lambda: now
    ).run()
    return {"seconds": time.perf_counter() - started, **result.to_dict()}


def profile_statements(db) -> None:
    """With BENCH_STATEMENTS=1: the step's slowest statements (total seconds, count) on stderr."""
    totals: dict[str, list] = collections.defaultdict(lambda: [0.0, 0])
    original = db.execute_sql

    def timed(sql, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(sql, *args, **kwargs)
        finally:
            entry = totals[" ".join(sql.split())[:100]]
            entry[0] += time.perf_counter() - started
            entry[1] += 1

    db.execute_sql = timed

    def report() -> None:
        for text, (seconds, count) in sorted(totals.items(), key=lambda kv: -kv[1][0])[:8]:
            print(f"    {seconds:7.2f}s {count:5d}×  {text}", file=sys.stderr)

    atexit.register(report)


def main() -> None:
    step, url, now = sys.argv[1], sys.argv[2], int(sys.argv[3])
    db = open_database(url, "mdl_")
    if os.environ.get("BENCH_STATEMENTS"):
        print(f"  statements of {step} at {now}:", file=sys.stderr)
        profile_statements(db)
    with db.connection_context():
        if step == "baseline":
            out = baseline(db, now)
        elif step == "full":
            out = sync(db, True, now)
        elif step == "incremental":
            out = sync(db, False, now)
        else:
            raise SystemExit(f"unknown step {step}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
