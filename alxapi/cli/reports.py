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
        "learning-analytics reports: list, show, run",
        "Built-in reports over the reporting table and the time-spent table (alx analytics refresh):\n"
        "engagement, at-risk, course-summary, trends, time-spent, inactive-learners.",
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


def _describe(report) -> dict:
    return {
        "name": report.name,
        "title": report.title,
        "description": report.description,
        "columns": [{"name": c.name, "type": c.type, "title": c.title} for c in report.columns],
        "parameters": [{"name": p.name, "type": p.type, "help": p.help} for p in report.params],
    }


def cmd_list(args) -> int:
    from ..analytics.reports import list_reports

    reports = list_reports()
    if args.json:
        print_json([_describe(r) for r in reports])
        return exitcodes.OK
    width = max(len(r.name) for r in reports)
    for r in reports:
        print(f"{r.name:<{width}}  {r.title}: {r.description}")
    return exitcodes.OK


def cmd_show(args) -> int:
    from ..analytics.reports import ReportError, get_report

    try:
        report = get_report(args.name)
    except ReportError as exc:
        raise UserError(str(exc), code=exitcodes.USAGE) from None
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
    except ExportError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    if args.output or fmt != "table":
        say(
            f"{result.report.name}: {count} rows for {result.company}"
            + (f" written to {args.output}" if args.output else "")
        )
    return exitcodes.OK
