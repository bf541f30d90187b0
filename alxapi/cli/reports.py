"""`alx report list|show|run`: the built-in reports (SPEC §8.4, §8.8)."""

from __future__ import annotations

import os
import sys

from .. import clock, exitcodes
from ..errors import UserError
from .common import add_action, add_group, connect_installed
from .output import print_json, say

RUN_FORMATS = ("table", "json", "csv", "xlsx", "pdf")


def register(sub) -> None:
    actions = add_group(
        sub,
        "report",
        "learning-analytics reports and saved SQL reports: list, show, run, add, remove",
        "Built-in reports over the reporting table and the time-spent table (alx analytics refresh):\n"
        "engagement, at-risk, course-summary, trends, time-spent, inactive-learners; and operators'\n"
        "saved SQL reports (alx report add), validated by a SQL parser and run read-only.",
    )
    p = add_action(actions, "list", cmd_list, "list the reports")
    p.add_argument("--json", action="store_true", help="print the list as JSON on stdout")
    p = add_action(actions, "show", cmd_show, "a report's columns and parameters")
    p.add_argument("name", help="report name (alx report list)")
    p.add_argument("--json", action="store_true", help="print the definition as JSON on stdout")
    p = add_action(
        actions,
        "run",
        cmd_run,
        "run a report for a company and print or save it",
        "Runs the report now. Without --company it covers every company (operators only).\n"
        "examples: alx report run at-risk --company 3\n"
        "          alx report run time-spent --company 3 --param from=2026-03-01 --param to=2026-03-31 -o t.csv\n"
        "          alx report run trends --company 3 -o trends.pdf\n"
        "          alx report run engagement --company 3 --format json | jq '.[] | select(.at_risk)'",
    )
    p.add_argument("name", help="report name (alx report list)")
    p.add_argument("--company", type=int, metavar="ID", help="IOMAD company id (default: every company)")
    p.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="a report parameter (repeatable)"
    )
    p.add_argument(
        "--format",
        dest="fmt",
        choices=RUN_FORMATS,
        help="table (aligned text), json, csv, xlsx or pdf (default: from the -o file's extension, else table)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (all or nothing) instead of stdout")
    p = add_action(
        actions,
        "add",
        cmd_add,
        "save an SQL report (validated; refused SQL is not stored)",
        "Saves a query as a report that runs like the built-in ones. Rules: one query (SELECT, WITH …\n"
        "SELECT, UNION); tables written as Moodle writes them, {user}, from report_allowed_tables;\n"
        "ordinary functions only; named parameters :name (--param name=… when run; :companyid is bound\n"
        "from --company). Runs are read-only and stopped after report_max_seconds.\n"
        "example: alx report add completions-by-course --sql-file q.sql --title 'Completions' --api",
    )
    p.add_argument("name", help="report name: lower-case letters, digits, - and _")
    p.add_argument("--sql-file", required=True, metavar="FILE", help="file holding the query ('-' for stdin)")
    p.add_argument("--title", default="", help="title shown in lists and files (default: the name)")
    p.add_argument(
        "--api",
        action="store_true",
        help="share with API tokens (the query must use :companyid, bound to the token's company)",
    )
    p = add_action(actions, "remove", cmd_remove, "delete a saved SQL report")
    p.add_argument("name", help="saved report name")


def _describe(report) -> dict:
    return {
        "name": report.name,
        "title": report.title,
        "description": report.description,
        "columns": [{"name": c.name, "type": c.type, "title": c.title} for c in report.columns],
        "parameters": [{"name": p.name, "type": p.type, "help": p.help} for p in report.params],
    }


def cmd_list(args) -> int:
    from dataclasses import asdict

    from ..analytics.service import listing

    config = connect_installed(args)
    reports = listing(config=config)
    if args.json:
        print_json([asdict(r) for r in reports])
        return exitcodes.OK
    width = max(len(r.name) for r in reports)
    for r in reports:
        shared = " [api]" if r.saved and r.api else ""
        print(f"{r.name:<{width}}  {r.title}: {r.description}{shared}")
    return exitcodes.OK


def cmd_show(args) -> int:
    from ..analytics.reports import REPORTS_BY_NAME, get_report

    if args.name not in REPORTS_BY_NAME:
        return _show_saved(args)
    report = get_report(args.name)
    if args.json:
        print_json(_describe(report))
        return exitcodes.OK
    print(f"{report.name}: {report.title}\n{report.description}\n\ncolumns:")
    for c in report.columns:
        print(f"  {c.name:<20} {c.type:<6} {c.title}")
    print("parameters:" + ("" if report.params else " none"))
    for param in report.params:
        print(f"  --param {param.name}=…  ({param.type}) {param.help}")
    return exitcodes.OK


def _show_saved(args) -> int:
    from ..savedsql import store

    connect_installed(args)
    row = store.get(args.name)
    if row is None:
        raise UserError(f"no report named {args.name!r} (alx report list)", code=exitcodes.USAGE)
    data = {
        "name": row.name,
        "title": row.title,
        "api": bool(row.api),
        "createdby": row.createdby,
        "sql": row.sql,
    }
    if args.json:
        print_json(data)
    else:
        shared = "shared with API tokens" if row.api else "not shared with the API"
        print(f"{row.name}: {row.title} (saved SQL report by {row.createdby}, {shared})\n\n{row.sql.strip()}")
    return exitcodes.OK


def cmd_add(args) -> int:
    from .. import audit
    from ..savedsql import store
    from ..savedsql.validator import Refused

    try:
        sql = sys.stdin.read() if args.sql_file == "-" else open(args.sql_file, encoding="utf-8").read()  # noqa: SIM115
    except OSError as exc:
        raise UserError(f"cannot read {args.sql_file}: {exc.strerror or exc}", code=exitcodes.USAGE) from None
    config = connect_installed(args)
    actor, now = audit.current_actor(), clock.now()
    try:
        store.add(
            args.name,
            sql,
            title=args.title,
            api=args.api,
            actor=actor,
            now=now,
            allowed_tables=config.report_allowed_tables,
        )
    except Refused as exc:
        audit.record(actor, "report.refused", args.name, {"reason": str(exc)}, now)
        raise UserError(f"report refused: {exc}", code=exitcodes.USAGE) from None
    say(f"saved report {args.name}" + (" (shared with API tokens)" if args.api else ""))
    return exitcodes.OK


def cmd_remove(args) -> int:
    from .. import audit
    from ..savedsql import store

    connect_installed(args)
    if not store.remove(args.name, actor=audit.current_actor(), now=clock.now()):
        raise UserError(f"no saved report named {args.name!r}", code=exitcodes.USAGE)
    say(f"removed report {args.name}")
    return exitcodes.OK


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--param takes NAME=VALUE, not {pair!r}", code=exitcodes.USAGE)
        values[key.strip()] = value
    return values


def cmd_run(args) -> int:
    from ..analytics.reports import ReportError
    from ..analytics.service import run_report
    from ..exports.reports import BINARY, Heading, export_report
    from ..exports.writers import ExportError
    from ..savedsql.runner import Stopped

    suffix = os.path.splitext(args.output or "")[1].lower().lstrip(".")
    fmt = args.fmt or (suffix if suffix in RUN_FORMATS else "table")
    if fmt in BINARY and not args.output and sys.stdout.isatty():
        raise UserError(f"{fmt} is binary: give -o FILE or redirect stdout to a file", code=exitcodes.USAGE)
    params = parse_pairs(args.param)
    config = connect_installed(args)
    try:
        result = run_report(args.name, args.company, params, now=clock.now(), config=config)
        heading = Heading(result.company, result.now, config.timezone)
        count = export_report(result.report, result.rows, fmt, args.output or sys.stdout, heading)
    except ReportError as exc:
        raise UserError(str(exc), code=exitcodes.USAGE) from None
    except Stopped as exc:
        raise UserError(str(exc)) from None
    except ExportError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    if result.cut:
        say(f"{result.report.name}: cut at report_max_rows ({config.report_max_rows:,} rows)")
    if args.output or fmt != "table":
        say(
            f"{result.report.name}: {count} rows for {result.company}"
            + (f" written to {args.output}" if args.output else "")
        )
    return exitcodes.OK
