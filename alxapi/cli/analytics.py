"""`alx analytics refresh`: bring the time-spent table up to date from Moodle's log now."""

from __future__ import annotations

from .. import clock, exitcodes
from ..database import connect, require_schema
from .common import add_action, add_group, load
from .output import print_json, say


def register(sub) -> None:
    actions = add_group(
        sub,
        "analytics",
        "learning analytics from Moodle's log (time spent)",
        "Learning analytics (time spent per learner, course and day) from Moodle's standard log.",
    )
    p = add_action(
        actions,
        "refresh",
        cmd_refresh,
        "bring the time-spent table up to date from Moodle's standard log",
        "Reads the log events added since the last run (the worker does this every analytics_minutes)\n"
        "and recomputes the sessions and daily rows of the learners and courses they concern.\n"
        "--full recomputes every learner and course from the whole log.",
    )
    p.add_argument("--full", action="store_true", help="recompute from the whole log")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")


def cmd_refresh(args) -> int:
    from ..analytics.timespent import refresh

    config = load(args)
    db = connect(config)
    require_schema(db, config)
    with db.connection_context():
        result = refresh(
            db, config, clock.now(), full=args.full, progress=lambda text: say(f"analytics: {text}")
        )
    if args.json:
        print_json(result.to_dict())
    else:
        say(
            f"{result.mode} refresh: {result.events:,} new log events, {result.pairs:,} learner-course pairs, "
            f"{result.rows:,} daily rows written in {result.seconds:.2f}s (log id {result.watermark})"
        )
    return exitcodes.OK
