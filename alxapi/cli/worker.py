"""`alx worker: the scheduled jobs."""

from __future__ import annotations

import logging

from .. import clock, exitcodes
from ..database import connect, require_schema
from ..errors import UserError
from .common import add_command, apply_logging, load, stop_on_signals
from .output import print_json, say


def register(sub) -> None:
    p = add_command(
        sub,
        "worker",
        cmd_worker,
        "run the scheduled jobs: sync, alert checks, cleanup, heartbeat",
        "Run the jobs on their cadence until SIGTERM/SIGINT (systemd: examples/alx-worker.service):\n"
        "  sync      every auto_sync_hours (a full sync when full_sync_hours have passed)\n"
        "  alerts    every alert_check_minutes: check the rules, deliver by e-mail/webhook\n"
        "  analytics every analytics_minutes: time spent from Moodle's log (alx analytics refresh)\n"
        "  reports   every minute: scheduled reports that are due, e-mailed (alx schedule)\n"
        "  cleanup   every cleanup_hours: expired cache, logs/runs/alerts past log_retention_days,\n"
        "            report runs past report_retention_days\n"
        "  heartbeat every heartbeat_seconds, stored in the database (console, health)\n"
        "A failing job is logged and retried at its next run; the worker keeps going.\n"
        "Exit status: 0 after SIGTERM, 78 on configuration errors; with --once, 0 only if every\n"
        "job succeeded.",
    )
    p.add_argument(
        "--once", action="store_true", help="run every job once and exit (cron, tests, diagnostics)"
    )
    p.add_argument("--json", action="store_true", help="with --once: print the job outcomes as JSON")


def cmd_worker(args) -> int:
    from ..worker import Worker

    config = load(args)
    apply_logging(config, args.verbose)
    db = connect(config)
    try:
        require_schema(db, config)
    except UserError as exc:  # restarting cannot fix this: systemd's RestartPreventExitStatus=78
        raise UserError(str(exc), code=exitcodes.CONFIG) from None
    db.close()
    with stop_on_signals(
        lambda name: logging.getLogger("alx.worker").info(
            "%s received: stopping after the current batch", name
        )
    ) as stop:
        worker = Worker(config, db, clock=clock.now, stop=stop)
        if not args.once:
            worker.run_forever()
            return exitcodes.OK
        outcomes = worker.run_once()
    if args.json:
        print_json([vars(o) for o in outcomes])
    else:
        for o in outcomes:
            say(f"{o.name:8} {o.status:7} {o.seconds:7.2f}s  {o.detail}")
    return exitcodes.OK if all(o.status != "failed" for o in outcomes) else exitcodes.ERROR
