"""`make bench-analytics`: time spent from Moodle's log (SPEC §8.2) against a bare baseline, one run.

A Moodle site (SQLite; ``--databases sqlite,mariadb,postgresql`` copies it to private servers as
in ``make bench``) gets ``--events`` log events (default 1,000,000; the issue's goal is stated for
10,000,000: ``--events 10000000``) of 20,000 learners in 200 courses over 90 days, in sessions of
events a few minutes apart. Each step runs in a fresh process on a fresh copy:

- baseline: one bare ``INSERT … SELECT`` that sessionises every event with ``LAG()`` into a scratch
  table (no local dates, no daily rows, no incremental bookkeeping);
- full: ``alx analytics refresh --full`` (the product, through its Python API);
- incremental: 1 % more events spread over all learners and courses, then a normal refresh.

Printed: seconds, ratio to the baseline (goal ≤ 1.5×), incremental / full (goal ≤ 0.05×), peak RSS.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOW = 1_780_000_000
LEARNERS, COURSES, DAYS = 20_000, 200, 90


def build(path: Path, events: int, seed: int = 5) -> None:
    from alxapi.demo.moodle_schema import create_moodle_schema
    from models import schema
    from models.db import open_database

    db = open_database(f"sqlite:///{path}", "mdl_")
    with db.connection_context():
        create_moodle_schema(db, "mdl_", ["course", "logstore_standard_log"], indexes=False)
        schema.install(db)
    db.close()
    con = sqlite3.connect(path)
    con.executemany(
        "INSERT INTO mdl_course (id, category, fullname, shortname, summary) VALUES (?, ?, ?, ?, '')",
        [(1, 0, "Site", "site")] + [(c, 1, f"Course {c}", f"c{c}") for c in range(2, COURSES + 2)],
    )
    con.executemany("INSERT INTO mdl_logstore_standard_log " + COLUMNS, generate(events, 1, seed))
    con.commit()
    # Moodle's own indexes on the log (a real site has them; incremental runs look pairs up by user).
    con.execute("CREATE INDEX mdl_logsstanlog_tim_ix ON mdl_logstore_standard_log (timecreated)")
    con.execute(
        "CREATE INDEX mdl_logsstanlog_couanotim_ix ON mdl_logstore_standard_log (courseid, anonymous, timecreated)"
    )
    con.execute(
        "CREATE INDEX mdl_logsstanlog_useconconcruedu_ix ON mdl_logstore_standard_log "
        "(userid, contextlevel, contextinstanceid, crud, edulevel, timecreated)"
    )
    con.commit()
    con.close()


COLUMNS = (
    "(id, eventname, component, action, target, crud, edulevel, contextid, contextlevel, contextinstanceid, "
    "userid, courseid, anonymous, timecreated, realuserid) VALUES (?, 'e', 'c', 'viewed', 't', 'r', ?, 1, 70, 1, "
    "?, ?, ?, ?, ?)"
)


def generate(events: int, first_id: int, seed: int, start: int = NOW - DAYS * 86_400, end: int = NOW - 3600):
    """Sessions of 1–20 events 10 s–9 min apart (now and then a gap over 10 min), ids in time order."""
    rng = random.Random(seed)
    rows = []
    while len(rows) < events:
        user, course = rng.randrange(2, LEARNERS + 2), rng.randrange(2, COURSES + 2)
        t = rng.randrange(start, end)
        for _ in range(rng.randint(1, 20)):
            rows.append((user, course, t, rng.random() < 0.02, rng.random() < 0.01))
            t += rng.randint(10, 540) if rng.random() < 0.95 else rng.randint(601, 7200)
    rows = rows[:events]
    rows.sort(key=lambda r: r[2])
    for i, (user, course, t, anonymous, logged_in_as) in enumerate(rows):
        yield (
            first_id + i,
            2 if i % 3 == 0 else 1,
            user,
            course,
            int(anonymous),
            t,
            2 if logged_in_as else None,
        )


BASELINE = """
CREATE TABLE scratch AS
SELECT l.userid, l.courseid, l.timecreated,
       l.timecreated - LAG(l.timecreated) OVER (PARTITION BY l.userid, l.courseid ORDER BY l.timecreated, l.id) AS gap
FROM mdl_logstore_standard_log l JOIN mdl_course c ON c.id = l.courseid AND c.category <> 0
WHERE l.userid > 0 AND l.anonymous = 0 AND l.realuserid IS NULL
"""


def peak_rss_mb() -> float:
    """This process's peak resident memory. Not getrusage's ru_maxrss: Linux carries it over from
    the parent across fork and exec, so every step reported the generator's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step(kind: str, url: str) -> dict:
    """Run in a fresh process: one measured step on the database at ``url``."""
    started = time.perf_counter()
    if kind == "baseline" and url.startswith("sqlite:///"):
        con = sqlite3.connect(url[len("sqlite:///") :])  # bare: SQLite's own defaults
        con.executescript(BASELINE)
        con.close()
        out = {}
    elif kind == "baseline":
        from models.db import make_database

        db = make_database(url)
        with db.connection_context(), db.atomic():
            db.execute_sql(BASELINE)
        db.close()
        out = {}
    else:
        from alxapi.analytics.timespent import refresh
        from alxapi.config import load_config
        from models.db import open_database

        db = open_database(url, "mdl_")
        config = load_config(flags={"timezone": "Europe/Berlin"}, env={}, search_paths=[])
        with db.connection_context():
            out = refresh(db, config, NOW, full=kind == "full").to_dict()
        db.close()
    out["seconds"] = time.perf_counter() - started
    out["rss_mb"] = peak_rss_mb()
    return out


def run_step(kind: str, url: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "bench.analytics", "--step", kind, url], capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def add_events(url: str, more: int, first_id: int) -> None:
    """1 % more events over the last three days, spread over all learners and courses."""
    from models.db import make_database

    db = make_database(url)
    rows = list(generate(more, first_id, seed=9, start=NOW - 3 * 86_400, end=NOW - 3600))
    with db.connection_context(), db.atomic():
        db.cursor().executemany(
            "INSERT INTO mdl_logstore_standard_log " + COLUMNS.replace("?", db.param), rows
        )
    db.close()


def measure(backend: str, source: Path, events: int, tmp: Path, servers) -> dict:
    """baseline, full and incremental on one backend, each step in a fresh process."""
    from bench.backends import execute, load_moodle

    if backend == "sqlite":
        work = tmp / "work.sqlite3"
        url = f"sqlite:///{work}"
        shutil.copyfile(source, work)
        baseline = run_step("baseline", url)
        shutil.copyfile(source, work)
    else:
        from models import schema
        from models.db import open_database

        url = servers.database(backend, "alx_bench_analytics")
        print(f"loading {events:,} events into {backend} …", file=sys.stderr)
        load_moodle(source, url)
        db = open_database(url, "mdl_")
        with db.connection_context():
            schema.install(db)
        db.close()
        baseline = run_step("baseline", url)
        execute(url, ["DROP TABLE scratch"])
    full = run_step("full", url)
    add_events(url, events // 100, events + 1)
    incremental = run_step("incremental", url)
    return {"baseline": baseline, "full": full, "incremental": incremental}


def main() -> None:
    from bench.backends import Servers, parse_backends

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite", help="sqlite,mariadb,postgresql (default sqlite)")
    parser.add_argument("--step", nargs=2, metavar=("KIND", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(step(*args.step)))
        return
    backends = parse_backends(args.databases)
    results = {}
    with tempfile.TemporaryDirectory(prefix="alx-bench-analytics-") as tmp, Servers() as servers:
        source = Path(tmp) / "site.sqlite3"
        print(f"generating {args.events:,} log events …", file=sys.stderr)
        build(source, args.events)
        for backend in backends:
            results[backend] = measure(backend, source, args.events, Path(tmp), servers)
    print(f"{'backend':11} {'step':28} {'seconds':>9} {'ratio':>14} {'peak RSS':>10}")
    for backend, r in results.items():
        base, full, inc = r["baseline"], r["full"], r["incremental"]
        print(
            f"{backend:11} {'baseline (bare LAG insert)':28} {base['seconds']:>9.2f} {'1.00× base':>14} {base['rss_mb']:>8.0f}MB"
        )
        print(
            f"{backend:11} {'full refresh':28} {full['seconds']:>9.2f} "
            f"{full['seconds'] / base['seconds']:>9.2f}× base {full['rss_mb']:>8.0f}MB"
        )
        print(
            f"{backend:11} {'incremental after +1 %':28} {inc['seconds']:>9.2f} "
            f"{inc['seconds'] / full['seconds']:>9.3f}× full {inc['rss_mb']:>8.0f}MB"
        )
        print(
            f"{backend:11} daily rows: {full['rows']:,}; incremental: {inc['events']:,} events, {inc['pairs']:,} pairs"
        )


if __name__ == "__main__":
    main()
