"""`alx schedule add|list|remove|run|runs`: reports e-mailed on a schedule (SPEC §8.6)."""

from __future__ import annotations

from .. import clock, exitcodes
from ..errors import UserError
from .common import add_action, add_group, connect_installed
from .output import print_json, say, when
from .reports import parse_pairs


def register(sub) -> None:
    actions = add_group(
        sub,
        "schedule",
        "reports e-mailed on a schedule: add, list, remove, run, runs",
        "Reports e-mailed on a schedule by the worker's reports job (every minute), over the SMTP\n"
        "settings of the alerts. Times are local to the timezone setting (DST-correct). One e-mail per\n"
        "occurrence to all recipients, even with several workers; failures are retried\n"
        "(schedule_retry_minutes, doubling, schedule_retries times), then alerted (report_failed).",
    )
    p = add_action(
        actions,
        "add",
        cmd_add,
        "schedule a report; prints the new schedule's id",
        "example: alx schedule add --report at-risk --company 3 --format xlsx --every weekly \\\n"
        "           --weekday mon --at 07:30 --email hr@example.com --email lead@example.com",
    )
    p.add_argument("--report", required=True, help="report name (alx report list)")
    p.add_argument("--company", type=int, required=True, metavar="ID", help="IOMAD company id")
    p.add_argument(
        "--format", dest="fmt", required=True, choices=("csv", "xlsx", "pdf"), help="attachment format"
    )
    p.add_argument("--every", required=True, choices=("daily", "weekly", "monthly"), help="how often")
    p.add_argument("--at", default="06:00", metavar="HH:MM", help="local time (default 06:00)")
    p.add_argument(
        "--weekday",
        default="mon",
        choices=("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
        help="for weekly",
    )
    p.add_argument("--monthday", type=int, default=1, metavar="1-28", help="for monthly (default 1)")
    p.add_argument("--email", action="append", default=[], metavar="ADDR", help="recipient (repeatable)")
    p.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="report parameter (repeatable)"
    )
    p = add_action(actions, "list", cmd_list, "schedules with their recipients, next run and last run")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add_action(actions, "remove", cmd_remove, "delete a schedule")
    p.add_argument("id", type=int, help="schedule id")
    p = add_action(
        actions, "run", cmd_run, "run a schedule now (sends the e-mail; the schedule is not moved)"
    )
    p.add_argument("id", type=int, help="schedule id")
    p = add_action(actions, "runs", cmd_runs, "recent runs (status, rows, bytes, error)")
    p.add_argument("--schedule", type=int, metavar="ID", help="only this schedule's runs")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_add(args) -> int:
    from .. import audit
    from ..analytics.reports import ReportError
    from ..schedules import store

    config = connect_installed(args)
    spec = store.NewSchedule(
        report=args.report,
        companyid=args.company,
        format=args.fmt,
        every=args.every,
        at=args.at,
        weekday=args.weekday,
        monthday=args.monthday,
        emails=tuple(args.email),
        params=parse_pairs(args.param),
    )
    try:
        row = store.add(spec, actor=audit.current_actor(), now=clock.now(), zone=config.timezone)
    except ReportError as exc:
        raise UserError(str(exc), code=exitcodes.USAGE) from None
    print(row.id)
    say(
        f"schedule {row.id}: {args.report} for company {args.company}, next {when(row.next_run, config.timezone)}"
    )
    return exitcodes.OK


def cmd_list(args) -> int:
    from ..schedules import store

    config = connect_installed(args)
    rows = store.listing()
    if args.json:
        print_json(rows)
        return exitcodes.OK
    if not rows:
        say("no schedules (alx schedule add)")
    for r in rows:
        day = {"weekly": f" {r['weekday']}", "monthly": f" day {r['monthday']}"}.get(r["every"], "")
        last = r["last_run"]
        last_text = (
            "never run"
            if last is None
            else f"last {last['status']}" + (f": {last['error']}" if last["error"] else "")
        )
        print(
            f"{r['id']:>4}  {r['report']} company {r['companyid']} {r['format']} {r['every']}{day} at {r['at']} "
            f"to {', '.join(r['emails'])}; next {when(r['next_run'], config.timezone)}; {last_text}"
        )
    return exitcodes.OK


def cmd_remove(args) -> int:
    from .. import audit
    from ..schedules import store

    connect_installed(args)
    if not store.remove(args.id, actor=audit.current_actor(), now=clock.now()):
        raise UserError(f"no schedule with id {args.id}", code=exitcodes.USAGE)
    say(f"removed schedule {args.id}")
    return exitcodes.OK


def cmd_run(args) -> int:
    from .. import audit
    from ..schedules import runner, store

    config = connect_installed(args)
    try:
        outcome = runner.run_now(args.id, config, clock.now(), actor=audit.current_actor())
    except LookupError as exc:
        raise UserError(str(exc), code=exitcodes.USAGE) from None
    last = store.runs(args.id, limit=1)[0]
    if outcome != "sent":
        raise UserError(f"schedule {args.id} failed: {last['error']}")
    say(f"schedule {args.id}: sent {last['rows']:,} rows ({last['bytes']:,} bytes)")
    return exitcodes.OK


def cmd_runs(args) -> int:
    from ..schedules import store

    config = connect_installed(args)
    rows = store.runs(args.schedule)
    if args.json:
        print_json(rows)
        return exitcodes.OK
    for r in rows:
        error = f"  {r['error']}" if r["error"] else ""
        print(
            f"{r['id']:>5}  schedule {r['schedule']} {r['report']} company {r['companyid']} attempt {r['attempt']} "
            f"{r['status']} {r['rows']:,} rows {r['bytes']:,} bytes at {when(r['started'], config.timezone)}{error}"
        )
    return exitcodes.OK
