"""`alx`: one command, subcommands for every job. stdout carries data, stderr carries messages.

Exit status: 0 ok, 1 error, 2 usage, 75 another sync holds the lock, 78 configuration error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

import peewee

from . import clock
from .config import ConfigError, load_config
from .runtime import UserError, connect, first_line, require_schema

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_LOCKED, EXIT_CONFIG = 0, 1, 2, 75, 78

EPILOG = """\
configuration precedence (highest first):
  command-line flags > environment (ALX_<SETTING>, e.g. ALX_DATABASE_URL, ALX_RATE_LIMIT)
  > config file (--config / ALX_CONFIG, else ./alx.toml, ~/.config/alx/alx.toml, /etc/alx/alx.toml)
  > built-in defaults.  `alx config` shows every value and where it came from.

exit status:
  0 ok, 1 error, 2 usage error, 75 another sync holds the lock, 78 configuration error
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alx",
        description="ALX Report: IOMAD/Moodle course-progress reporting for Power BI and other BI tools.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", metavar="URL", help="database URL: sqlite:///path, mysql://user:pw@host/moodle, "
                        "postgresql://user:pw@host/moodle (ALX_DATABASE_URL)")
    parser.add_argument("--prefix", metavar="P", help="Moodle table prefix, default mdl_ (ALX_TABLE_PREFIX)")
    parser.add_argument("--config", metavar="PATH", help="config file (ALX_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)

    def command(name: str, func: Callable, help_text: str, description: str | None = None):
        p = sub.add_parser(name, help=help_text, description=description or help_text,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    command("install", cmd_install, "create or upgrade the ALX tables (idempotent)",
            "Create the ALX tables in the Moodle database, or apply pending upgrade steps. Safe to re-run.")
    p = command("check", cmd_check, "report missing or damaged tables (exit 1 when unhealthy)",
                "Check the ALX tables (schema version, columns, indexes) and the Moodle/IOMAD tables ALX reads.")
    p.add_argument("--repair", action="store_true", help="re-create missing ALX tables, columns and indexes")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = command("sync", cmd_sync, "bring the reporting table up to date",
                "Recompute the reporting table from Moodle's tables, writing only what changed.\n"
                "Without --full, only what changed since the last run is recomputed (the first run is full).\n"
                "A run stops cleanly after max_sync_time seconds or on SIGTERM; the next run resumes.")
    p.add_argument("--full", action="store_true", help="recompute every row instead of only the changes")
    p.add_argument("--company", type=int, metavar="ID", help="recompute only this company's rows (a full pass)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--batch-size", type=int, metavar="N", help="rows per transaction (batch_size)")
    p.add_argument("--max-sync-time", type=int, metavar="S", help="time budget in seconds (max_sync_time)")

    p = command("runs", cmd_runs, "recent sync runs with status, counts and errors")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="how many runs (default 20)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = command("config", cmd_config, "show every effective setting and where it came from (secrets masked)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = command("demo", cmd_demo, "build a demo database with realistic data and sync it",
                "Build (or reuse) an SQLite demo database with synthetic Moodle+IOMAD data, install the\n"
                "ALX tables, run a sync and print what to try next.")
    p.add_argument("--no-tui", action="store_true", help="do not open the console (the only mode for now)")
    p.add_argument("--size", default="small", help="tiny, small (default), medium, large or 1m")
    p.add_argument("--file", default="alx-demo.sqlite3", help="demo database file (default ./alx-demo.sqlite3)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the file even if it exists")
    return parser


# --- plumbing -----------------------------------------------------------------------------------

def _configure_logging(verbose: bool, level: str = "info") -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if verbose else getattr(logging, level.upper()),
                        format="%(levelname)s %(name)s: %(message)s")


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _print_json(data) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def _config(args, **flags):
    base = {"database_url": args.db, "table_prefix": args.prefix}
    return load_config(flags={**base, **flags}, config_path=args.config)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _configure_logging(args.verbose)
        return args.func(args)
    except ConfigError as exc:
        _say("alx: configuration error:\n  " + str(exc).replace("\n", "\n  "))
        return EXIT_CONFIG
    except UserError as exc:
        _say(f"alx: {exc}")
        return exc.code
    except KeyboardInterrupt:
        _say("alx: interrupted")
        return 130
    except peewee.DatabaseError as exc:
        # Anything the database refused that the commands did not foresee (a missing privilege,
        # a lost connection): one line, no traceback; details with --verbose.
        logging.getLogger("alx").debug("database error", exc_info=True)
        _say(f"alx: database error: {first_line(exc)}. Check the database user's privileges "
             "(README: LEAST-PRIVILEGE GRANTS) and that the server is up; --verbose shows details.")
        return EXIT_ERROR
    except BrokenPipeError:
        # `alx … | head`: the reader left; exit quietly like other Unix tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR


# --- commands -----------------------------------------------------------------------------------

def cmd_install(args) -> int:
    from models import schema

    config = _config(args)
    db = connect(config)
    applied = schema.install(db)
    _say("\n".join(f"applied step {s}" for s in applied) if applied
         else f"ALX tables are up to date (schema {schema.LATEST_VERSION}).")
    return EXIT_OK


def cmd_check(args) -> int:
    from models import schema

    config = _config(args)
    db = connect(config)
    repaired = schema.repair(db) if args.repair else []
    report = schema.check(db)
    if args.json:
        _print_json({"healthy": report.healthy, "schema_version": report.schema_version,
                     "latest_version": report.latest_version, "repaired": repaired,
                     "tables": [t.__dict__ for t in report.tables]})
    else:
        for action in repaired:
            _say(f"repair: {action}")
        print(f"schema version {report.schema_version} (latest {report.latest_version})")
        for t in report.tables:
            print(f"{'ok     ' if t.ok else 'PROBLEM'}  {t.owner:6}  {t.table}  {t.problem}")
        if not report.healthy:
            fix = "run `alx check --repair`" if report.repairable or report.schema_version < report.latest_version \
                else "check the table prefix and the Moodle installation"
            _say(f"unhealthy: {fix}")
    return EXIT_OK if report.healthy else EXIT_ERROR


class _ProgressLine:
    """A single updating line on a terminal; a line every few seconds otherwise (journal, pipes)."""

    def __init__(self, stream=sys.stderr, every: float = 5.0):
        self.stream = stream
        self.tty = stream.isatty()
        self.every = every
        self.last = 0.0
        self.started = time.monotonic()

    def __call__(self, result, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < self.every:
            return
        self.last = now
        text = (f"sync: {done}/{total} queued items, {result.created} created, {result.updated} updated, "
                f"{result.deleted} tombstoned, {result.unchanged} unchanged, {now - self.started:.1f}s")
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")


def cmd_sync(args) -> int:
    from .reporting.lock import LockHeld
    from .reporting.sync import SyncEngine, SyncOptions

    config = _config(args, batch_size=args.batch_size, max_sync_time=args.max_sync_time)
    db = connect(config)
    require_schema(db, config)
    stop = threading.Event()

    def on_signal(signum, frame):
        _say(f"alx: {signal.Signals(signum).name} received: finishing the current batch, then stopping")
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    progress = _ProgressLine()
    options = SyncOptions(full=args.full, companyid=args.company, batch_size=config.batch_size,
                          max_sync_time=config.max_sync_time, report_roles=list(config.report_roles),
                          overlap_seconds=config.sync_overlap_seconds,
                          lock_stale_seconds=config.lock_stale_seconds)
    try:
        result = SyncEngine(db, options, clock=clock.now, stop=stop, progress=progress).run()
    except LockHeld as exc:
        _say(f"alx: another sync is running ({exc.holder}, started {_when(exc.started)}); try again later")
        return EXIT_LOCKED
    finally:
        progress.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if args.json:
        _print_json(result.to_dict())
    else:
        _say(f"{result.mode} sync {result.status}: {result.created} created, {result.updated} updated, "
             f"{result.deleted} tombstoned, {result.unchanged} unchanged in {result.seconds:.2f}s"
             + (f" ({result.error})" if result.error else ""))
    return EXIT_OK if result.status in ("success", "partial") else EXIT_ERROR


def _when(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch else "-"


def cmd_runs(args) -> int:
    from models.plugin import SyncRun

    config = _config(args)
    db = connect(config)
    require_schema(db, config)
    runs = list(SyncRun.select().order_by(SyncRun.id.desc()).limit(max(args.limit, 1)).dicts())
    if args.json:
        _print_json(runs)
        return EXIT_OK
    print(f"{'id':>5}  {'started':19}  {'mode':11}  {'status':8}  {'created':>8}  {'updated':>8}  "
          f"{'deleted':>8}  {'unchanged':>9}  {'secs':>7}  error")
    for r in runs:
        print(f"{r['id']:>5}  {_when(r['timestarted']):19}  {r['mode']:11}  {r['status']:8}  {r['created']:>8}  "
              f"{r['updated']:>8}  {r['deleted']:>8}  {r['unchanged']:>9}  {r['duration_ms'] / 1000:>7.2f}  "
              f"{r['error'] or ''}")
    return EXIT_OK


def cmd_config(args) -> int:
    config = _config(args)
    rows = config.describe()
    if args.json:
        _print_json({"file": config.file, "settings": {n: {"value": v, "source": s} for n, v, s in rows}})
        return EXIT_OK
    width = max(len(n) for n, _, _ in rows)
    print(f"# config file: {config.file or '(none found)'}")
    for name, value, source in rows:
        print(f"{name:<{width}}  {value:<40}  {source}")
    for warning in config.warnings:
        _say(f"warning: {warning}")
    return EXIT_OK


def cmd_demo(args) -> int:
    from .demo.run import run_demo

    return run_demo(args, _config, _say)
