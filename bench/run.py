"""`make bench`: the sync engine on 1M enrolments (SQLite), against the bare INSERT … SELECT baseline.

The 1M-enrolment Moodle database is generated once and cached outside the repository
(``$ALX_BENCH_CACHE``, default ``~/.cache/alx-bench``); every run works on a fresh copy of it.
Each step runs in its own process; its peak RSS comes from ``wait4``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .steps import NOW

CACHE = Path(os.environ.get("ALX_BENCH_CACHE", Path.home() / ".cache" / "alx-bench"))


def cached_database(size: str) -> Path:
    path = CACHE / f"moodle-{size}.sqlite3"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        from alxapi.demo.run import build_demo_database

        print(f"generating the {size} database once into {path} …", file=sys.stderr)
        started = time.monotonic()
        build_demo_database(path, size, NOW)
        print(f"  took {time.monotonic() - started:.0f}s", file=sys.stderr)
    return path


def fresh_plugin_tables(url: str) -> None:
    """Install the ALX tables as the current code defines them (the cache may hold older ones)."""
    from models import plugin, schema
    from models.db import open_database

    db = open_database(url)
    with db.connection_context():
        db.drop_tables(plugin.ALL_TABLES, safe=True)
        schema.install(db)
    db.close()


def measure(step: str, url: str, now: int) -> dict:
    proc = subprocess.Popen([sys.executable, "-m", "bench.steps", step, url, str(now)], stdout=subprocess.PIPE,
                            cwd=Path(__file__).resolve().parent.parent)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"step {step} failed with status {status}")
    result = json.loads(out)
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    return result


def sql(path: Path, statements: list[str]) -> None:
    import sqlite3

    con = sqlite3.connect(path)
    with con:
        for s in statements:
            con.execute(s)
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="1m", help="generator size (default 1m)")
    args = parser.parse_args()
    source = cached_database(args.size)
    work = CACHE / f"work-{args.size}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, work)
    url = f"sqlite:///{work}"
    fresh_plugin_tables(url)
    rows = {}

    # The data is "as of NOW"; the syncs run a day later, as a real site's would, so the safety
    # overlap of the incremental steps does not re-read the generator's last rows.
    day = NOW + 86_400
    rows["baseline: bare INSERT … SELECT"] = measure("baseline", url, day)
    sql(work, ["DELETE FROM mdl_local_alx_api_reporting"])
    rows["(a) full sync, empty table"] = measure("full", url, day)
    rows["(c) full re-sync, nothing changed"] = measure("full", url, day + 60)

    # (d) new activity completions for 1 % of the reported pairs.
    sql(work, [f"""
        INSERT INTO mdl_course_modules_completion (coursemoduleid, userid, completionstate, timemodified)
        SELECT cm.id, r.userid, 1, {day + 3000}
        FROM (SELECT userid, courseid FROM mdl_local_alx_api_reporting WHERE is_deleted = 0
              AND id % 100 = 7) r
        JOIN mdl_course_modules cm ON cm.id = (
            SELECT MIN(cm2.id) FROM mdl_course_modules cm2 WHERE cm2.course = r.courseid AND cm2.completion > 0
              AND NOT EXISTS (SELECT 1 FROM mdl_course_modules_completion x
                              WHERE x.userid = r.userid AND x.coursemoduleid = cm2.id))"""])
    rows["(d) incremental, 1 % new completions"] = measure("incremental", url, day + 3600)

    # (e) every learner of one (median-sized) course unenrolled.
    import sqlite3

    con = sqlite3.connect(work)
    counts = con.execute("SELECT courseid, COUNT(*) FROM mdl_local_alx_api_reporting WHERE is_deleted = 0 "
                         "GROUP BY courseid ORDER BY 2").fetchall()
    course = counts[len(counts) // 2][0]
    con.close()
    sql(work, [f"DELETE FROM mdl_user_enrolments WHERE enrolid IN (SELECT id FROM mdl_enrol WHERE courseid = {course})"])
    rows[f"(e) incremental, course {course} unenrolled"] = measure("incremental", url, day + 7200)

    base = rows["baseline: bare INSERT … SELECT"]["seconds"]
    full = rows["(a) full sync, empty table"]["seconds"]
    print(f"\nSync benchmark, {args.size} enrolments, SQLite, {os.cpu_count()} cores\n")
    print(f"{'step':42} {'seconds':>8} {'× base':>7} {'× full':>7} {'created':>9} {'updated':>8} "
          f"{'deleted':>8} {'unchanged':>9} {'RSS MB':>7}")
    for name, r in rows.items():
        print(f"{name:42} {r['seconds']:8.2f} {r['seconds'] / base:7.2f} {r['seconds'] / full:7.3f} "
              f"{r.get('created', r.get('rows', 0)):>9} {r.get('updated', 0):>8} {r.get('deleted', 0):>8} "
              f"{r.get('unchanged', 0):>9} {r['peak_rss_mb']:7.0f}")
    print("\ngoals: (a) ≤ 1.5 × base; (c) ≤ 1.2 × base and 0 rows written; (d) ≤ 0.1 × full; "
          "(e) ≤ 0.2 × full; RSS ≤ 300 MB")


if __name__ == "__main__":
    main()
