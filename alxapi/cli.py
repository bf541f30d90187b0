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
import textwrap
import threading
import time
from collections.abc import Callable

import peewee

from . import clock
from .config import ConfigError, load_config
from .runtime import UserError, connect, first_line, moodle_tables_problem, require_moodle, require_schema

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

    p = command("serve", cmd_serve, "serve the HTTP API (Moodle-compatible endpoint and REST v1) with Waitress",
                "Serve /webservice/rest/server.php (Moodle's REST protocol), /api/v1/course-progress,\n"
                "/api/v1/health, /healthz, /metrics and /api/v1/openapi.json until SIGTERM or Ctrl-C.\n"
                "Put nginx (TLS) in front and set trusted_proxy so client addresses are right.")
    p.add_argument("--host", help="address to listen on (api_host, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (api_port, default 8080; 0 picks a free one)")
    p.add_argument("--threads", type=int, help="worker threads = database connections (api_threads, default 8)")

    p = command("worker", cmd_worker, "run the scheduled jobs: sync, alert checks, cleanup, heartbeat",
                "Run the jobs on their cadence until SIGTERM/SIGINT (systemd: examples/alx-worker.service):\n"
                "  sync      every auto_sync_hours (a full sync when full_sync_hours have passed)\n"
                "  alerts    every alert_check_minutes: check the rules, deliver by e-mail/webhook\n"
                "  cleanup   every cleanup_hours: expired cache, logs/runs/alerts past log_retention_days\n"
                "  heartbeat every heartbeat_seconds, stored in the database (console, health)\n"
                "A failing job is logged and retried at its next run; the worker keeps going.\n"
                "Exit status: 0 after SIGTERM, 78 on configuration errors; with --once, 0 only if every\n"
                "job succeeded.")
    p.add_argument("--once", action="store_true", help="run every job once and exit (cron, tests, diagnostics)")
    p.add_argument("--json", action="store_true", help="with --once: print the job outcomes as JSON")

    alerts_cmd = sub.add_parser("alerts", help="list, resolve and test alerts",
                                description="Alerts raised by the worker's checks (sync failures, slow or "
                                "failing API, cache, usage, security).", formatter_class=argparse.RawDescriptionHelpFormatter)
    alerts_sub = alerts_cmd.add_subparsers(dest="alerts_action", metavar="<action>", required=True)
    p = alerts_sub.add_parser("list", help="recent alerts, newest first")
    p.set_defaults(func=cmd_alerts_list)
    p.add_argument("--status", choices=["open", "resolved"], help="only open or only resolved alerts")
    p.add_argument("--severity", choices=["low", "medium", "high", "critical"], help="at least this severity")
    p.add_argument("--type", dest="alert_type", metavar="TYPE", help="only this alert type")
    p.add_argument("--limit", type=int, default=50, metavar="N", help="how many (default 50)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = alerts_sub.add_parser("test", help="raise a test alert and deliver it through every channel now",
                              description="Raise a test alert and deliver it at once by e-mail and webhook (when "
                              "configured), printing each channel's result. Exit 1 if any channel failed or none "
                              "is configured.")
    p.set_defaults(func=cmd_alerts_test)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = alerts_sub.add_parser("resolve", help="mark an alert resolved (audited)")
    p.set_defaults(func=cmd_alerts_resolve)
    p.add_argument("id", type=int, metavar="ID", help="alert id, from `alx alerts list`")

    p = command("export", cmd_export, "write a company's reporting rows to CSV, XLSX or JSON",
                "Export the rows the API serves a company: its enabled courses and fields, dates formatted\n"
                "as the API sends them. A file is written under a temporary name and renamed when complete.\n"
                "examples: alx export --company 3 -o progress.csv\n"
                "          alx export --company 3 --format xlsx -o progress.xlsx\n"
                "          alx export --company 3 --format json | jq length")
    p.add_argument("--company", type=int, required=True, metavar="ID", help="IOMAD company id")
    p.add_argument("--format", dest="fmt", choices=["csv", "xlsx", "json"], default=None,
                   help="file format (default: from the -o file's extension, else csv)")
    p.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout; xlsx needs a file "
                   "or a redirected stdout)")
    p.add_argument("--include-deleted", action="store_true", help="also rows that left the report (a "
                   "'deleted' column says which)")

    command("tui", cmd_tui, "open the console (Textual): monitoring, companies, tokens, alerts, export",
            "Open the terminal console on the configured database. Keys are shown in the footer and the\n"
            "command palette (ctrl+p); number keys 1-7 switch screens, r refreshes, p pauses, q quits.\n"
            "Logs go to log_file (default ~/.local/state/alx/alx-tui.log), never to the screen.")

    p = command("demo", cmd_demo, "build a demo site and open the console with the API and worker running",
                "Build (or reuse) an SQLite demo database with synthetic Moodle+IOMAD data, install the ALX\n"
                "tables, sync, and create a demo token. Then start the API (`alx serve`) and the worker\n"
                "(`alx worker`, a sync every 30 s) as child processes with their logs in <file>.logs/,\n"
                "send some demo API traffic, and open the console; quitting it stops them all.\n"
                "The token and curl/Power BI examples are printed when the console closes.")
    p.add_argument("--no-tui", action="store_true",
                   help="no console: serve the API in the foreground (the worker still runs)")
    p.add_argument("--no-serve", action="store_true", help="only build and sync; no token, API, worker or console")
    p.add_argument("--port", type=int, help="API port for the demo (default api_port, 8080; 0 picks a free one)")
    p.add_argument("--size", default="small", choices=["tiny", "small", "medium", "large", "1m"],
                   help="amount of data: tiny, small (default), medium, large or 1m enrolments")
    p.add_argument("--file", default="alx-demo.sqlite3", help="demo database file (default ./alx-demo.sqlite3)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the file even if it exists")
    _add_access_commands(sub)
    return parser


def _add_access_commands(sub) -> None:
    """`alx token …` and `alx company …`: API tokens and per-company settings (audited)."""
    from .access.settings import FIELDS

    fmt = argparse.RawDescriptionHelpFormatter
    fields = textwrap.fill(", ".join(FIELDS), width=76, initial_indent=" " * 22, subsequent_indent=" " * 22)

    def group(name: str, help_text: str, description: str):
        p = sub.add_parser(name, help=help_text, description=description, formatter_class=fmt)
        return p.add_subparsers(dest=f"{name}_action", metavar="<action>", required=True)

    def action(parent, name: str, func: Callable, help_text: str, description: str | None = None):
        p = parent.add_parser(name, help=help_text, description=description or help_text, formatter_class=fmt)
        p.set_defaults(func=func)
        return p

    tokens = group("token", "create, list and revoke API tokens",
                   "API tokens managed by ALX: 32 hex characters, bound to one company, stored only as a\n"
                   "SHA-256 hash (the token is shown once, at creation). Moodle-issued tokens of the\n"
                   "alx_report_api services keep working and are managed in Moodle.")
    p = action(tokens, "create", cmd_token_create, "create a token for a company (printed once)",
               "Create an API token bound to a company. Plain output is the token alone on stdout\n"
               "(e.g. TOKEN=$(alx token create --company 3)). The token is shown once: store it now;\n"
               "only its SHA-256 hash is kept, so it cannot be shown again.")
    p.add_argument("--company", type=int, required=True, metavar="ID", help="IOMAD company id the token may read")
    p.add_argument("--user", type=int, default=0, metavar="ID", help="Moodle user id to attribute calls to")
    p.add_argument("--name", default="", metavar="N", help="label, e.g. 'Power BI finance'")
    p.add_argument("--expires-days", type=int, metavar="D", help="expire after D days (default: never)")
    p.add_argument("--ip", metavar="CIDR", help="allowed client addresses: comma-separated IPs or CIDR "
                   "networks, e.g. 10.0.0.0/8,192.0.2.7 (default: any)")
    p.add_argument("--json", action="store_true", help="print id, token, company and expiry as JSON")
    p = action(tokens, "list", cmd_token_list, "list managed tokens (never the tokens themselves)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = action(tokens, "revoke", cmd_token_revoke, "revoke a managed token at once (audited)",
               "Revoke a managed token: clients using it get accessexception from now on.\n"
               "Revoking an already revoked token changes nothing.")
    p.add_argument("id", type=int, metavar="ID", help="token id, from `alx token list`")

    companies = group("company", "show or change a company's API settings",
                      "Per-company settings (table local_alx_api_settings): response fields, course access,\n"
                      "sync mode and window, cache TTL, rate limit and page size. Changes are audited.")
    p = action(companies, "show", cmd_company_show, "every effective setting, whether it is default, "
               "and the enabled courses")
    p.add_argument("id", type=int, metavar="ID", help="IOMAD company id")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = action(companies, "set", cmd_company_set, "change settings (all or nothing)",
               "Change company settings: KEY=VALUE pairs, saved together or not at all.\n"
               "  field_<name>=0|1    hide (0) or show (1) a response field; names:\n" + fields + "\n"
               "  course_<id>=0|1     course access; once any course_<id> is set only courses set\n"
               "                      to 1 are served, otherwise the company's IOMAD courses\n"
               "  sync_mode=0..3      0 auto, 1 always incremental, 2 always full, 3 disabled\n"
               "  sync_window_hours=1..8760   cache_ttl_minutes=0..1440\n"
               "  rate_limit=0..1000000 (0 = unlimited)   max_records=1..10000\n"
               "  KEY=default         remove the override (back to the default / global value)\n"
               "example: alx company set 3 rate_limit=500 field_email=0 course_12=1")
    p.add_argument("id", type=int, metavar="ID", help="IOMAD company id")
    p.add_argument("assignments", nargs="+", metavar="KEY=VALUE", help="settings to change")


# --- plumbing -----------------------------------------------------------------------------------

def _configure_logging(verbose: bool, level: str = "info") -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if verbose else getattr(logging, level.upper()),
                        format="%(levelname)s %(name)s: %(message)s")


def _apply_logging(config, verbose: bool) -> None:
    """Long-running commands log at log_level, to stderr (journald) and to log_file when set."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else getattr(logging, config.log_level.upper()))
    if config.log_file:
        try:
            handler = logging.FileHandler(config.log_file, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write the log file {config.log_file} (log_file, from "
                            f"{config.source('log_file')}): {exc.strerror or exc}", code=EXIT_CONFIG) from None
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)


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
    except (peewee.DatabaseError, peewee.InterfaceError) as exc:
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
    require_moodle(db, config)
    applied = schema.install(db)
    _say("\n".join(f"applied step {s}" for s in applied) if applied
         else f"ALX tables are up to date (schema {schema.LATEST_VERSION}).")
    return EXIT_OK


def cmd_check(args) -> int:
    from models import schema

    config = _config(args)
    db = connect(config)
    report = schema.check(db)
    moodle_problem = moodle_tables_problem(report, config)
    # Never create ALX tables beside something that is not a Moodle database (a wrong prefix).
    repaired = schema.repair(db) if args.repair and not moodle_problem else []
    if repaired:
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
        if moodle_problem:
            _say(f"unhealthy: {moodle_problem}")
        elif not report.healthy:
            _say("unhealthy: run `alx check --repair`")
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
    from .reporting.runner import run_sync

    config = _config(args, batch_size=args.batch_size, max_sync_time=args.max_sync_time)
    db = connect(config)
    require_schema(db, config)
    stop = threading.Event()

    def on_signal(signum, frame):
        _say(f"alx: {signal.Signals(signum).name} received: finishing the current batch, then stopping")
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    progress = _ProgressLine()
    try:
        result = run_sync(db, config, clock=clock.now, full=args.full, companyid=args.company,
                          stop=stop, progress=progress)
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


def cmd_serve(args) -> int:
    from .serve import serve

    config = _config(args, api_host=args.host, api_port=args.port, api_threads=args.threads)
    _apply_logging(config, args.verbose)
    db = connect(config)
    require_schema(db, config)
    db.close()
    try:
        return serve(config, config.api_host, config.api_port, config.api_threads,
                     lambda url: _say(f"alx: serving on {url} (Ctrl-C or SIGTERM stops)"))
    except OSError as exc:  # address in use, not permitted, unknown host
        raise UserError(f"cannot listen on {config.api_host}:{config.api_port}: {exc.strerror or exc}. "
                        "Choose another --port/--host (api_port, api_host).") from None


def cmd_worker(args) -> int:
    from .worker import Worker

    config = _config(args)
    _apply_logging(config, args.verbose)
    db = connect(config)
    try:
        require_schema(db, config)
    except UserError as exc:  # restarting cannot fix this: systemd's RestartPreventExitStatus=78
        raise UserError(str(exc), code=EXIT_CONFIG) from None
    db.close()
    stop = threading.Event()

    def on_signal(signum, frame):
        logging.getLogger("alx.worker").info("%s received: stopping after the current batch",
                                             signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    worker = Worker(config, db, clock=clock.now, stop=stop)
    try:
        if not args.once:
            worker.run_forever()
            return EXIT_OK
        outcomes = worker.run_once()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if args.json:
        _print_json([vars(o) for o in outcomes])
    else:
        for o in outcomes:
            _say(f"{o.name:8} {o.status:7} {o.seconds:7.2f}s  {o.detail}")
    return EXIT_OK if all(o.status != "failed" for o in outcomes) else EXIT_ERROR


def cmd_alerts_list(args) -> int:
    from .alerts import list_alerts

    _connect_installed(args)
    rows = list_alerts(status=args.status, severity=args.severity, alert_type=args.alert_type, limit=args.limit)
    if args.json:
        _print_json(rows)
        return EXIT_OK
    if not rows:
        _say("no alerts")
        return EXIT_OK
    print(f"{'id':>5}  {'raised':19}  {'severity':8}  {'type':19}  {'subject':22}  {'state':9}  {'delivery':9}  message")
    for a in rows:
        state = "resolved" if a["resolved"] else "open"
        print(f"{a['id']:>5}  {_when(a['timecreated']):19}  {a['severity']:8}  {a['alert_type']:19}  "
              f"{a['subject'][:22]:22}  {state:9}  {a['delivery_status']:9}  {a['message']}")
    return EXIT_OK


def cmd_alerts_test(args) -> int:
    from .audit import current_actor
    from .notify import send_test_alert

    config = _connect_installed(args)
    results = send_test_alert(config, actor=current_actor(), now=clock.now())
    if args.json:
        _print_json([vars(r) for r in results])
    elif not results:
        _say("alx: no delivery channel configured: set smtp_host and alert_emails, and/or alert_webhook_url "
             "(the test alert is visible in the console and `alx alerts list`)")
    else:
        for r in results:
            _say(f"{r.channel:8} {'ok' if r.ok else 'FAILED':6}  {r.detail}")
    return EXIT_OK if results and all(r.ok for r in results) else EXIT_ERROR


def cmd_alerts_resolve(args) -> int:
    from .alerts import AlertError, resolve_alert
    from .audit import current_actor

    _connect_installed(args)
    try:
        changed = resolve_alert(args.id, current_actor(), clock.now())
    except AlertError as exc:
        raise UserError(f"{exc} (see `alx alerts list`)") from None
    _say(f"alert {args.id} resolved" if changed else f"alert {args.id} was already resolved")
    return EXIT_OK


def cmd_export(args) -> int:
    from .export import ExportError, export_company

    config = _connect_installed(args)
    suffix = os.path.splitext(args.output or "")[1].lower().lstrip(".")
    fmt = args.fmt or (suffix if suffix in ("csv", "xlsx", "json") else "csv")
    if fmt == "xlsx" and not args.output and sys.stdout.isatty():
        raise UserError("an XLSX export is binary: give -o FILE or redirect stdout to a file", code=EXIT_USAGE)
    try:
        count = export_company(args.company, fmt, args.output or sys.stdout, now=clock.now(),
                               include_deleted=args.include_deleted, config=config)
    except ExportError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    _say(f"exported {count} rows of company {args.company} as {fmt}" + (f" to {args.output}" if args.output else ""))
    return EXIT_OK


def cmd_tui(args) -> int:
    from alxtui.app import run_console

    config = _config(args)
    db = connect(config)
    require_schema(db, config)
    db.close()
    return run_console(config, db)


def cmd_demo(args) -> int:
    from .demo.run import run_demo

    return run_demo(args, _config, _say)


# --- tokens and company settings ----------------------------------------------------------------

def _connect_installed(args):
    config = _config(args)
    db = connect(config)
    require_schema(db, config)
    return config


def cmd_token_create(args) -> int:
    from . import audit
    from .access.settings import company_name
    from .access.tokens import TokenError, create_token

    _connect_installed(args)
    try:
        token, row = create_token(args.company, userid=args.user, name=args.name, expires_days=args.expires_days,
                                  ip=args.ip, actor=audit.current_actor(), now=clock.now())
    except TokenError as exc:
        raise UserError(str(exc)) from None
    company = company_name(row.companyid) or ""
    if args.json:
        _print_json({"id": row.id, "token": token, "companyid": row.companyid, "company": company,
                     "userid": row.userid, "name": row.name, "expires": row.expires_at or None,
                     "iprestriction": row.iprestriction})
    else:
        print(token)
    expiry = f"expires {_when(row.expires_at)}" if row.expires_at else "does not expire"
    _say(f"token {row.id} created for company {row.companyid} ({company}); {expiry}. It is shown only this "
         "once: store it now (`alx token revoke` if it leaks).")
    return EXIT_OK


def cmd_token_list(args) -> int:
    from .access.tokens import list_tokens

    _connect_installed(args)
    tokens = list_tokens(clock.now())
    if args.json:
        _print_json(tokens)
        return EXIT_OK
    print(f"{'id':>5}  {'status':8}  {'company':24}  {'user':>6}  {'created':19}  {'last used':19}  "
          f"{'expires':19}  {'ip':18}  name")
    for t in tokens:
        company = f"{t['companyid']} {t['company']}"[:24]
        print(f"{t['id']:>5}  {t['status']:8}  {company:24}  {t['userid'] or '-':>6}  {_when(t['created']):19}  "
              f"{_when(t['lastused'] or 0):19}  {_when(t['expires'] or 0) if t['expires'] else 'never':19}  "
              f"{t['iprestriction'] or 'any':18}  {t['name']}")
    if not tokens:
        _say("no managed tokens yet: `alx token create --company ID` creates one")
    return EXIT_OK


def cmd_token_revoke(args) -> int:
    from . import audit
    from .access.tokens import TokenError, revoke_token

    _connect_installed(args)
    try:
        row, revoked = revoke_token(args.id, audit.current_actor(), clock.now())
    except TokenError as exc:
        raise UserError(str(exc)) from None
    if revoked:
        _say(f"token {row.id} ({row.name or 'unnamed'}, company {row.companyid}) revoked")
    else:
        _say(f"token {row.id} was already revoked on {_when(row.revoked_at)}; nothing changed")
    return EXIT_OK


def _require_company(companyid: int) -> str:
    from .access.settings import company_name

    name = company_name(companyid)
    if name is None:
        raise UserError(f"no company with id {companyid} in the IOMAD company table; check the id "
                        "(company ids are in Moodle: Site administration > IOMAD)")
    return name


def cmd_company_show(args) -> int:
    from .access import settings as company_settings

    config = _connect_installed(args)
    name = _require_company(args.id)
    current = company_settings.load(args.id)
    rows = company_settings.describe(current, config)
    if args.json:
        _print_json({"companyid": args.id, "company": name,
                     "settings": {r["key"]: {"value": r["value"], "default": r["default"],
                                             "effective": r["effective"]} for r in rows},
                     "course_rule": current.course_rule, "enabled_courses": list(current.courses)})
        return EXIT_OK
    print(f"company {args.id}: {name}")
    width = max(len(r["key"]) for r in rows)
    for r in rows:
        value = r["value"]
        if value is None:
            shown = f"{r['effective']} (global)"
        elif r["key"] == "sync_mode":
            shown = f"{value} ({company_settings.SYNC_MODES[value]})"
        elif r["key"] == "rate_limit" and value == 0:
            shown = "0 (unlimited)"
        else:
            shown = str(value)
        print(f"{r['key']:<{width}}  {shown:<22}  {'default' if r['default'] else 'set'}")
    rule = ("course_<id> settings (only courses set to 1)" if current.course_rule == "settings"
            else "the company's courses in IOMAD company_course (no course_<id> settings)")
    courses = ", ".join(str(c) for c in current.courses) or "none"
    print(f"enabled courses: {courses}")
    print(f"course rule: {rule}")
    return EXIT_OK


def cmd_company_set(args) -> int:
    from . import audit
    from .access.settings import SettingError, parse_assignments, set_values

    _connect_installed(args)
    _require_company(args.id)
    try:
        changes = set_values(args.id, parse_assignments(args.assignments), audit.current_actor(), clock.now())
    except SettingError as exc:
        raise UserError(str(exc)) from None
    if not changes:
        _say(f"company {args.id}: nothing changed (the values were already set)")
    for key, old, new in changes:
        _say(f"company {args.id}: {key} {'default' if old is None else old} -> {'default' if new is None else new}")
    return EXIT_OK
