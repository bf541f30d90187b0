"""`alx install, check: the ALX tables (create, upgrade, check, repair)."""

from __future__ import annotations

from .. import exitcodes
from ..database import connect, moodle_tables_problem, require_moodle
from .common import add_command, load
from .output import print_json, say


def register(sub) -> None:
    add_command(
        sub,
        "install",
        cmd_install,
        "create or upgrade the ALX tables (idempotent)",
        "Create the ALX tables in the Moodle database, or apply pending upgrade steps. Safe to re-run.",
    )
    p = add_command(
        sub,
        "check",
        cmd_check,
        "report missing or damaged tables (exit 1 when unhealthy)",
        "Check the ALX tables (schema version, columns, indexes) and the Moodle/IOMAD tables ALX reads;\n"
        "name the database driver in use.",
    )
    p.add_argument("--repair", action="store_true", help="re-create missing ALX tables, columns and indexes")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_install(args) -> int:
    from models import schema

    config = load(args)
    db = connect(config)
    require_moodle(db, config)
    applied = schema.install(db)
    say(
        "\n".join(f"applied step {s}" for s in applied)
        if applied
        else f"ALX tables are up to date (schema {schema.LATEST_VERSION})."
    )
    return exitcodes.OK


def cmd_check(args) -> int:
    from models import schema
    from models.db import driver_name

    from ..reporting.logfeed import feed_status

    config = load(args)
    db = connect(config)
    report = schema.check(db)
    moodle_problem = moodle_tables_problem(report, config)
    # Never create ALX tables beside something that is not a Moodle database (a wrong prefix).
    repaired = schema.repair(db) if args.repair and not moodle_problem else []
    if repaired:
        report = schema.check(db)
    feed = None if moodle_problem else feed_status(db, config.sync_log_feed)
    if args.json:
        print_json(
            {
                "healthy": report.healthy,
                "schema_version": report.schema_version,
                "latest_version": report.latest_version,
                "repaired": repaired,
                "tables": [t.__dict__ for t in report.tables],
                "change_feed": None if feed is None else {"log": feed[0], "detail": feed[1]},
                "driver": driver_name(db),
            }
        )
    else:
        for action in repaired:
            say(f"repair: {action}")
        print(
            f"schema version {report.schema_version} (latest {report.latest_version}), driver {driver_name(db)}"
        )
        for t in report.tables:
            print(f"{'ok     ' if t.ok else 'PROBLEM'}  {t.owner:6}  {t.table}  {t.problem}")
        if feed is not None:
            print(f"change feed of incremental syncs: {feed[1]}")
        if moodle_problem:
            say(f"unhealthy: {moodle_problem}")
        elif not report.healthy:
            say("unhealthy: run `alx check --repair`")
    if moodle_problem:
        return exitcodes.CONFIG
    return exitcodes.OK if report.healthy else exitcodes.ERROR
