"""`make bench`: the sync engine on 1M enrolments, against the bare INSERT … SELECT baseline.

The 1M-enrolment Moodle database is generated once and cached outside the repository
(``$ALX_BENCH_CACHE``, default ``~/.cache/alx-bench``); every run works on a fresh copy of it.
Each step runs in its own process; its peak RSS comes from ``wait4``.

``--databases sqlite,mariadb,postgresql`` (``BENCH_DATABASES`` in make) runs the same steps on
each backend, on the same rows (see bench/backends.py), each against its own baseline measured in
the same run, and prints one table with the backends side by side.
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

from .backends import Servers, execute, load_moodle, parse_backends, query
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
    ensure_moodle_log(path)
    return path


def ensure_moodle_log(path: Path) -> None:
    """The standard log enabled, with a month of history: one event per enrolment.

    The big sizes are generated without Moodle's log (the sync never reads old events); the change
    feed needs the store enabled, and a log that is not empty, so that reading from its position is
    the index lookup it is on a live site, not a scan of an empty table.
    """
    from alxapi.demo.moodle_schema import create_moodle_schema, insert_rows
    from models.db import open_database

    db = open_database(f"sqlite:///{path}")
    with db.connection_context():
        if "mdl_config_plugins" not in db.get_tables():
            create_moodle_schema(db, "mdl_", ["config_plugins"])
            rows = [dict(id=1, plugin="tool_log", name="enabled_stores", value="logstore_standard")]
            insert_rows(db, "config_plugins", rows)
        if not db.execute_sql("SELECT 1 FROM mdl_logstore_standard_log LIMIT 1").fetchone():
            print("adding a month of Moodle log history (one event per enrolment) …", file=sys.stderr)
            with db.atomic():
                db.execute_sql(
                    f"INSERT INTO mdl_logstore_standard_log (eventname, component, action, target, crud, "
                    f"edulevel, contextid, contextlevel, contextinstanceid, userid, courseid, anonymous, "
                    f"timecreated, origin) "
                    f"SELECT '\\mod_page\\event\\course_module_viewed', 'mod_page', 'viewed', "
                    f"'course_module', 'r', 2, 1, 70, 1, ue.userid, e.courseid, 0, "
                    f"{NOW} - 30 * 86400 + (ue.id * 7919) % (30 * 86400), 'web' "
                    f"FROM mdl_user_enrolments ue JOIN mdl_enrol e ON e.id = ue.enrolid "
                    f"ORDER BY 13"
                )
    db.close()


def event_name(url: str, name: str) -> str:
    """A SQL literal of an event class name: MariaDB reads backslashes in literals as escapes."""
    text = f"\\{name.replace('/', chr(92))}"
    return "'" + (text.replace("\\", "\\\\") if url.startswith("mysql") else text) + "'"


def fresh_plugin_tables(url: str) -> None:
    """Install the ALX tables as the current code defines them (the cache may hold older ones)."""
    from models import plugin, schema
    from models.db import open_database

    db = open_database(url)
    with db.connection_context():
        db.drop_tables(plugin.ALL_TABLES, safe=True)
        schema.install(db)
    db.close()


COLD = {"on": False}


def drop_os_cache() -> None:
    """Empty the OS page cache (root only): the step then reads what it needs from disk, as an
    hourly sync does on a server whose memory went to other work since the last run."""
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("1\n")


def measure(step: str, url: str, now: int) -> dict:
    if COLD["on"] and step == "incremental":
        drop_os_cache()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.steps", step, url, str(now)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"step {step} failed with status {status}")
    result = json.loads(out)
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    return result


STEPS = ("baseline", "(a)", "(c)", "(d)", "(e)", "(f)")
NAMES = {
    "baseline": "baseline: bare INSERT … SELECT",
    "(a)": "(a) full sync, empty table",
    "(c)": "(c) full re-sync, nothing changed",
    "(d)": "(d) incremental, 1 % new completions",
    "(e)": "(e) incremental, one course unenrolled",
    "(f)": "(f) the 6-hourly safety net after (d)(e)",
}


def work_database(backend: str, size: str, source: Path, servers: Servers) -> str:
    """A fresh copy of the cached database on the backend, with freshly installed ALX tables."""
    if backend == "sqlite":
        work = CACHE / f"work-{size}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{work}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(source, work)
        url = f"sqlite:///{work}"
    else:
        url = servers.database(backend, f"alx_bench_{size}")
        print(f"loading the {size} database into {backend} …", file=sys.stderr)
        print(f"  took {load_moodle(source, url):.0f}s", file=sys.stderr)
    fresh_plugin_tables(url)
    return url


def run_steps(url: str) -> dict[str, dict]:
    rows = {}
    # The data is "as of NOW"; the syncs run a day later, as a real site's would, so the safety
    # overlap of the incremental steps does not re-read the generator's last rows.
    day = NOW + 86_400
    rows["baseline"] = measure("baseline", url, day)
    # An empty table for (a), as a first sync finds it: TRUNCATE on the servers, so that (a) does
    # not share the machine with autovacuum cleaning up the baseline's 700,000 deleted rows.
    empty = "DELETE FROM" if url.startswith("sqlite") else "TRUNCATE TABLE"
    execute(url, [f"{empty} mdl_local_alx_api_reporting"])
    rows["(a)"] = measure("full", url, day)
    rows["(c)"] = measure("full", url, day + 60)

    # (d) new activity completions for 1 % of the reported pairs.
    execute(
        url,
        [
            f"""
        INSERT INTO mdl_course_modules_completion (coursemoduleid, userid, completionstate, timemodified)
        SELECT cm.id, r.userid, 1, {day + 3000}
        FROM (SELECT DISTINCT userid, courseid FROM mdl_local_alx_api_reporting WHERE is_deleted = 0
              AND MOD(userid * 31 + courseid, 100) = 7) r
        JOIN mdl_course_modules cm ON cm.id = (
            SELECT MIN(cm2.id) FROM mdl_course_modules cm2 WHERE cm2.course = r.courseid AND cm2.completion > 0
              AND NOT EXISTS (SELECT 1 FROM mdl_course_modules_completion x
                              WHERE x.userid = r.userid AND x.coursemoduleid = cm2.id))"""
        ],
    )
    # Moodle logs each of them; and an hour of ordinary traffic (50,000 page views) around them.
    log = (
        "INSERT INTO mdl_logstore_standard_log (eventname, component, action, target, crud, edulevel, "
        "contextid, contextlevel, contextinstanceid, userid, courseid, relateduserid, anonymous, "
        "timecreated, origin) "
    )
    execute(
        url,
        [
            f"{log} SELECT {event_name(url, 'core/event/course_module_completion_updated')}, 'core', "
            f"'updated', 'course_module_completion', 'u', 0, 1, 70, cmc.coursemoduleid, cmc.userid, "
            f"cm.course, cmc.userid, 0, cmc.timemodified, 'web' FROM mdl_course_modules_completion cmc "
            f"JOIN mdl_course_modules cm ON cm.id = cmc.coursemoduleid WHERE cmc.timemodified = {day + 3000}",
            f"{log} SELECT {event_name(url, 'mod_page/event/course_module_viewed')}, 'mod_page', 'viewed', "
            f"'course_module', 'r', 2, 1, 70, 1, ue.userid, e.courseid, NULL, 0, {day + 1800} + MOD(ue.id, 1800), "
            f"'web' FROM mdl_user_enrolments ue JOIN mdl_enrol e ON e.id = ue.enrolid WHERE MOD(ue.id, 20) = 3",
        ],
    )
    rows["(d)"] = measure("incremental", url, day + 3600)

    # (e) every learner of one (median-sized) course unenrolled.
    counts = query(
        url,
        "SELECT courseid, COUNT(*) FROM mdl_local_alx_api_reporting WHERE is_deleted = 0 "
        "GROUP BY courseid ORDER BY 2, 1",
    )
    course = counts[len(counts) // 2][0]
    execute(
        url,
        [
            f"{log} SELECT {event_name(url, 'core/event/user_enrolment_deleted')}, 'core', 'deleted', "
            f"'user_enrolment', 'd', 0, 1, 50, e.courseid, 2, e.courseid, ue.userid, 0, {day + 7000}, 'web' "
            f"FROM mdl_user_enrolments ue JOIN mdl_enrol e ON e.id = ue.enrolid WHERE e.courseid = {course}",
            f"DELETE FROM mdl_user_enrolments WHERE enrolid IN "
            f"(SELECT id FROM mdl_enrol WHERE courseid = {course})",
        ],
    )
    rows["(e)"] = measure("incremental", url, day + 7200)
    rows["(e)"]["course"] = course
    # (f) six hours after the full detection of (c): the safety net runs again, over everything
    # since then (the changes of (d) and (e) included, already applied: nothing left to write).
    rows["(f)"] = measure("incremental", url, day + 60 + 6 * 3600)
    return rows


def written(r: dict) -> int:
    return r.get("created", r.get("rows", 0)) + r.get("updated", 0) + r.get("deleted", 0)


def sync_rss(steps: dict[str, dict]) -> float:
    return max(r["peak_rss_mb"] for step, r in steps.items() if step != "baseline")


def report(size: str, results: dict[str, dict[str, dict]]) -> None:
    backends = list(results)
    print(
        f"\nSync benchmark, {size} enrolments, {os.cpu_count()} cores, "
        f"backends: {', '.join(backends)} (each ratio against its own baseline and (a))\n"
    )
    header = f"{'':40}" + "".join(f" | {b:^25}" for b in backends)
    print(header)
    print(f"{'step':40}" + "".join(f" | {'s':>6} {'ratio':>9} {'written':>8}" for _ in backends))
    print("-" * len(header))
    for step in STEPS:
        line = f"{NAMES[step]:40}"
        for b in backends:
            r = results[b][step]
            base, full = results[b]["baseline"]["seconds"], results[b]["(a)"]["seconds"]
            ratio = (
                f"{r['seconds'] / base:5.2f}×bas"
                if step in ("baseline", "(a)", "(c)")
                else f"{r['seconds'] / full:5.3f}×(a)"
            )
            line += f" | {r['seconds']:6.2f} {ratio:>9} {written(r):>8}"
        print(line)
    print(
        f"{'peak RSS of a sync step (a)-(e), MB':40}"
        + "".join(f" | {sync_rss(results[b]):6.0f} {'':>9} {'':>8}" for b in backends)
    )
    print(
        f"{'peak RSS of the baseline step, MB':40}"
        + "".join(f" | {results[b]['baseline']['peak_rss_mb']:6.0f} {'':>9} {'':>8}" for b in backends)
    )
    print(
        "\ngoals: (a) ≤ 1.5 × base; (c) ≤ 1.2 × base and 0 rows written; (d) ≤ 0.1 × (a); "
        "(e) ≤ 0.2 × (a); RSS ≤ 300 MB; (f) has no goal (it is what every incremental run cost "
        "before the log feed)"
    )
    for b in backends:
        print(
            f"  {b:10} detection: "
            + ", ".join(f"{step} {results[b][step].get('detection', '')}" for step in ("(d)", "(e)", "(f)"))
        )
    for b in backends:
        r = results[b]
        base, full = r["baseline"]["seconds"], r["(a)"]["seconds"]
        verdict = {
            "(a)": r["(a)"]["seconds"] <= 1.5 * base,
            "(c)": r["(c)"]["seconds"] <= 1.2 * base and written(r["(c)"]) == 0,
            "(d)": r["(d)"]["seconds"] <= 0.1 * full,
            "(e)": r["(e)"]["seconds"] <= 0.2 * full,
            "RSS": sync_rss(r) <= 300,
        }
        print(
            f"  {b:10} "
            + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in verdict.items())
            + f"; baseline {r['baseline'].get('rows', 0)} rows"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="1m", help="generator size (default 1m)")
    parser.add_argument(
        "--databases",
        default=os.environ.get("BENCH_DATABASES", "sqlite"),
        help="comma-separated backends: sqlite,mariadb,postgresql (default: $BENCH_DATABASES, else sqlite)",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="empty the OS page cache before each incremental step (root only; SQLite reads from "
        "disk, servers keep their own buffer pools)",
    )
    args = parser.parse_args()
    COLD["on"] = args.cold
    backends = parse_backends(args.databases)
    source = cached_database(args.size)
    results: dict[str, dict[str, dict]] = {}
    with Servers() as servers:
        for backend in backends:
            print(f"\n== {backend} ==", file=sys.stderr)
            started = time.monotonic()
            url = work_database(backend, args.size, source, servers)
            results[backend] = run_steps(url)
            print(f"  {backend}: {time.monotonic() - started:.0f}s in all", file=sys.stderr)
    report(args.size, results)


if __name__ == "__main__":
    main()
