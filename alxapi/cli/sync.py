"""`alx sync, runs: bring the reporting table up to date; the history of runs."""

from __future__ import annotations

from .. import clock, exitcodes
from ..database import connect, require_schema
from ..errors import UserError
from .common import add_command, load, stop_on_signals
from .output import ProgressLine, print_json, say, when


def register(sub) -> None:
    p = add_command(
        sub,
        "sync",
        cmd_sync,
        "bring the reporting table up to date",
        "Recompute the reporting table from Moodle's tables, writing only what changed.\n"
        "Without --full, only what changed since the last run is recomputed (the first run is full).\n"
        "A run stops cleanly after max_sync_time seconds or on SIGTERM; the next run resumes.",
    )
    p.add_argument("--full", action="store_true", help="recompute every row instead of only the changes")
    p.add_argument(
        "--company", type=int, metavar="ID", help="recompute only this company's rows (a full pass)"
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--batch-size", type=int, metavar="N", help="rows per transaction (batch_size)")
    p.add_argument("--max-sync-time", type=int, metavar="S", help="time budget in seconds (max_sync_time)")

    p = add_command(sub, "runs", cmd_runs, "recent sync runs with status, counts and errors")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="how many runs (default 20)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_sync(args) -> int:
    from ..reporting.lock import LockHeld
    from ..reporting.runner import run_sync
    from ..reporting.sources import SourcesUnreadable

    config = load(args, batch_size=args.batch_size, max_sync_time=args.max_sync_time)
    db = connect(config)
    require_schema(db, config)
    progress = ProgressLine()
    announce = "alx: {} received: finishing the current batch, then stopping"
    try:
        with stop_on_signals(lambda name: say(announce.format(name))) as stop:
            result = run_sync(
                db,
                config,
                clock=clock.now,
                full=args.full,
                companyid=args.company,
                stop=stop,
                progress=progress,
            )
    except LockHeld as exc:
        say(
            f"alx: another sync is running ({exc.holder}, started {when(exc.started, config.timezone)}); "
            "try again later"
        )
        return exitcodes.LOCKED
    except SourcesUnreadable as exc:
        raise UserError(f"sync failed: {exc}. The failed run is recorded.") from None
    finally:
        progress.close()
    if args.json:
        print_json(result.to_dict())
    else:
        say(
            f"{result.mode} sync {result.status}: {result.created} created, {result.updated} updated, "
            f"{result.deleted} tombstoned, {result.unchanged} unchanged in {result.seconds:.2f}s"
            + (f"; {result.found_by()}" if result.found_by() else "")
            + (f" ({result.error})" if result.error else "")
        )
    return exitcodes.OK if result.status in ("success", "partial") else exitcodes.ERROR


def cmd_runs(args) -> int:
    from models.plugin import SyncRun

    config = load(args)
    db = connect(config)
    require_schema(db, config)
    runs = list(SyncRun.select().order_by(SyncRun.id.desc()).limit(max(args.limit, 1)).dicts())
    if args.json:
        print_json(runs)
        return exitcodes.OK
    print(
        f"{'id':>5}  {'started':19}  {'mode':11}  {'status':8}  {'created':>8}  {'updated':>8}  "
        f"{'deleted':>8}  {'unchanged':>9}  {'secs':>7}  error"
    )
    for r in runs:
        print(
            f"{r['id']:>5}  {when(r['timestarted'], config.timezone):19}  {r['mode']:11}  {r['status']:8}  {r['created']:>8}  "
            f"{r['updated']:>8}  {r['deleted']:>8}  {r['unchanged']:>9}  {r['duration_ms'] / 1000:>7.2f}  "
            f"{r['error'] or ''}"
        )
    return exitcodes.OK
