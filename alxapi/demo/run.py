"""`alx demo`: a ready-to-explore SQLite database with realistic Moodle+IOMAD data, synced."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import peewee

from models import schema
from models.db import open_database
from models.plugin import Reporting

from .. import clock
from ..analytics.timespent import refresh as refresh_time_spent
from ..errors import UserError
from ..ops.diagnostics import local_api_url
from ..reporting.runner import run_sync
from .traffic import seed_history

DEMO_SEED = 42


def build_demo_database(path: Path, size: str, now: int, prefix: str = "mdl_") -> dict:
    """Generate into ``path`` atomically: a half-built file is never left under the final name."""
    from .generator import generate

    partial = path.with_name(path.name + ".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    db = open_database(f"sqlite:///{partial}", prefix)
    with db.connection_context():
        # generate() creates the Moodle tables itself and indexes them after loading (faster).
        counts = generate(db, prefix, size=size, seed=DEMO_SEED, now=now)
        schema.install(db)
        db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    os.replace(partial, path)
    return counts


def run_demo(args, load_config, say, console=None) -> int:
    path = Path(args.file).resolve()
    if not path.parent.is_dir():
        raise UserError(f"cannot create the demo database {path}: the directory {path.parent} does not exist")
    url = f"sqlite:///{path}"
    config = load_config(args, database_url=url)
    now = clock.now()
    fresh = args.rebuild or not path.exists()
    if fresh:
        say(f"building the {args.size} demo database in {path} …")
        started = time.monotonic()
        counts = build_demo_database(path, args.size, now, config.table_prefix)
        say(
            f"generated {counts.get('user_enrolments', 0):,} enrolments of {counts.get('user', 0):,} users "
            f"in {time.monotonic() - started:.1f}s"
        )
    else:
        say(f"reusing {path} (use --rebuild to start again)")
    db = open_database(url, config.table_prefix)
    with db.connection_context():
        schema.install(db)
        if fresh:
            # A week of past sync runs and API calls, so the console's trends and charts have a
            # history (written first, so that run ids follow time).
            seed_history(now, tz=config.timezone)
        result = run_sync(db, config, clock=clock.now)
        spent = refresh_time_spent(db, config, clock.now())
    db.close()
    say(
        f"{result.mode} sync: {result.created} created, {result.updated} updated, {result.deleted} tombstoned, "
        f"{result.unchanged} unchanged in {result.seconds:.2f}s"
    )
    say(
        f"time spent: {spent.events:,} log events, {spent.rows:,} daily rows (the Insights and Reports screens)"
    )
    alx = "alx" if sys.argv and Path(sys.argv[0]).name == "alx" else f"{sys.executable} -m alxapi"
    if not (args.no_serve or args.no_tui):
        companyid, token = create_demo_token(url, config)
        return console_demo(
            url, args, config, _demo_port(args, config), companyid, token, say, console=console
        )
    sys.stdout.write(f"""
The demo database is ready: {path}

Try next (or export ALX_DATABASE_URL={url} and drop --db):
  {alx} --db {url} runs              # sync history
  {alx} --db {url} sync              # incremental sync: nothing changed, nothing written
  {alx} --db {url} sync --full --json
  {alx} --db {url} check             # tables and schema health
  {alx} --db {url} config            # every setting and where it came from
""")
    if args.no_serve:
        return 0
    companyid, token = create_demo_token(url, config)
    with DemoChildren(url, args, config, _demo_port(args, config), with_api=False) as children:
        say(f"worker running (log: {children.logdir / 'worker.log'})")
        return serve_demo(config.replace(database_url=url), children.port, companyid, token, say)


def _demo_port(args, config) -> int:
    return config.api_port if args.port is None else args.port


def create_demo_token(url: str, config) -> tuple[int, str]:
    """A fresh token for the first company (shown once, like every token)."""
    from ..access import tokens

    db = open_database(url, config.table_prefix)
    with db.connection_context():
        companyid = (
            Reporting.select(peewee.fn.MIN(Reporting.companyid)).where(Reporting.is_deleted == 0).scalar()
        )
        token, _ = tokens.create_token(companyid, name="demo", actor="demo", now=clock.now())
    db.close()
    return companyid, token


def _usage(base: str, companyid: int, token: str) -> str:
    return f"""Demo token for company {companyid} (shown once): {token}

Moodle-compatible endpoint, as Power BI or a Moodle client calls it:
  curl -s -X POST {base}/webservice/rest/server.php \\
       -d wstoken={token} -d wsfunction=local_alx_report_api_get_course_progress \\
       -d moodlewsrestformat=json -d limit=5

REST v1 (JSON or CSV, cursor paging, change feed):
  curl -s -H 'Authorization: Bearer {token}' '{base}/api/v1/course-progress?limit=5'
  curl -s -H 'Authorization: Bearer {token}' '{base}/api/v1/course-progress?format=csv&limit=5'

Power BI (Get Data → Web → Advanced):
  URL parts:      {base}/api/v1/course-progress?limit=1000
  HTTP headers:   Authorization = Bearer {token}
  (or Web API credential with key name api_key; the Moodle endpoint works with Web.Contents and a
   POST body: Content=Text.ToBinary("wstoken=…&wsfunction=local_alx_report_api_get_course_progress&moodlewsrestformat=json"))
"""


def serve_demo(config, port: int, companyid: int, token: str, say) -> int:
    """Serve the API in the foreground (``alx demo --no-tui``)."""
    from ..http.serve import serve

    def announce(base: str) -> None:
        sys.stdout.write(
            f"\nThe API is running on {base} (Ctrl-C stops it).\n" + _usage(base, companyid, token)
        )
        sys.stdout.flush()

    try:
        return serve(config, config.api_host, port, config.api_threads, announce)
    except OSError as exc:
        raise UserError(
            f"cannot listen on {config.api_host}:{port}: {exc.strerror or exc}. "
            "Choose another port with --port or ALX_API_PORT (0 picks a free one)."
        ) from None


def console_demo(url: str, args, config, port: int, companyid: int, token: str, say, console=None) -> int:
    """API and worker as child processes, demo traffic in a thread, the console in the foreground."""
    from .traffic import run_traffic

    if console is None:
        from alxtui.app import run_console as console
    port = port or _free_port(config.api_host)
    with DemoChildren(url, args, config, port, with_api=True) as children:
        say(f"API on {children.base_url}, worker running; logs in {children.logdir}. Opening the console …")
        stop = threading.Event()
        traffic = threading.Thread(
            target=run_traffic, args=(children.base_url, token, stop), name="demo traffic", daemon=True
        )
        traffic.start()
        db = open_database(url, config.table_prefix)
        try:
            code = console(
                config.replace(database_url=url, log_file=str(children.logdir / "console.log")),
                db,
                api_url=children.base_url,
            )
        finally:
            stop.set()
            traffic.join(timeout=15)
            db.close()
    try:
        sys.stdout.write(
            "\nThe console closed; the API and the worker were stopped. To serve the demo API "
            f"again:\n  alx --db {url} serve --port {port}\n\n"
            + _usage(local_api_url(config.api_host, port), companyid, token)
        )
        sys.stdout.flush()
    except OSError:
        pass  # the terminal went away (SSH hang-up): nobody is left to read it
    return code


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# The demo's worker: a sync every 30 s, alert checks every minute, so the console's panes move.
DEMO_WORKER_ENV = {
    "ALX_AUTO_SYNC_HOURS": str(30 / 3600),
    "ALX_ALERT_CHECK_MINUTES": "1",
    "ALX_HEARTBEAT_SECONDS": "5",
    "ALX_ANALYTICS_MINUTES": "1",
}
STOP_TIMEOUT = 15.0


class DemoChildren:
    """``alx serve`` and ``alx worker`` as child processes of the demo, logging to files.

    Stopped (SIGTERM, then SIGKILL after STOP_TIMEOUT) when the ``with`` block ends, by their own
    pids; on Linux they also get SIGTERM if the demo process dies without cleaning up.
    """

    def __init__(self, url: str, args, config, port: int, *, with_api: bool):
        self.url, self.args, self.config, self.port, self.with_api = url, args, config, port, with_api
        self.logdir = Path(args.file).resolve().with_suffix(".logs")
        self.procs: dict[str, subprocess.Popen] = {}
        self.base_url = local_api_url(config.api_host, port)

    def _command(self, *argv: str) -> list[str]:
        cmd = [sys.executable, "-m", "alxapi", "--db", self.url, "--prefix", self.config.table_prefix]
        if getattr(self.args, "config", None):
            cmd += ["--config", self.args.config]
        return [*cmd, *argv]

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log_file = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 — the child owns it
        try:
            self.procs[name] = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                env={**os.environ, **env},
                preexec_fn=_die_with_parent,
            )
        finally:
            log_file.close()

    def __enter__(self) -> DemoChildren:
        self.logdir.mkdir(exist_ok=True)
        try:
            self._start("worker", self._command("worker"), DEMO_WORKER_ENV)
            if self.with_api:
                self._start(
                    "api",
                    self._command("serve", "--host", self.config.api_host, "--port", str(self.port)),
                    {},
                )
                self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            api = self.procs["api"]
            if api.poll() is not None:
                raise UserError(
                    f"the demo API stopped (exit {api.returncode}): {_tail(self.logdir / 'api.log')}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise UserError(
            f"the demo API did not answer on {self.base_url} within {timeout:.0f}s; "
            f"see {self.logdir / 'api.log'}"
        )

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM when the demo process dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
