"""The checks behind the console's Diagnostics screen (SPEC §6.7), free of any UI.

Database reachability and latency (``SELECT 1`` timed over a few samples), the tables report of
``alx check`` with the same repair (audited), the worker heartbeat, the API's ``/healthz`` and the
effective configuration with the source of each value (secrets masked, as ``alx config`` shows it).
Timers are parameters so tests can make the figures deterministic.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

import peewee

from models import schema
from models.db import dialect

from .. import audit
from ..database import moodle_tables_problem
from ..errors import first_line
from . import heartbeat

Timer = Callable[[], float]


@dataclass
class DatabaseProbe:
    backend: str
    reachable: bool
    samples_ms: list[float] = field(default_factory=list)
    error: str = ""

    @property
    def min_ms(self) -> float | None:
        return min(self.samples_ms) if self.samples_ms else None

    @property
    def max_ms(self) -> float | None:
        return max(self.samples_ms) if self.samples_ms else None

    @property
    def avg_ms(self) -> float | None:
        return sum(self.samples_ms) / len(self.samples_ms) if self.samples_ms else None


def probe_database(db: peewee.Database, samples: int = 3, timer: Timer = time.perf_counter) -> DatabaseProbe:
    """Time ``SELECT 1`` ``samples`` times; a failure is reported, not raised."""
    try:
        backend = dialect(db)
    except Exception:  # an unknown database class still gets probed
        backend = type(db).__name__
    probe = DatabaseProbe(backend, False)
    try:
        for _ in range(max(1, samples)):
            started = timer()
            db.execute_sql("SELECT 1").fetchone()
            probe.samples_ms.append((timer() - started) * 1000.0)
        probe.reachable = True
    except (peewee.DatabaseError, peewee.InterfaceError, OSError) as exc:
        probe.error = first_line(exc)
    return probe


@dataclass
class TablesReport:
    report: schema.CheckReport
    moodle_problem: str | None

    @property
    def healthy(self) -> bool:
        return self.report.healthy and not self.moodle_problem

    @property
    def repairable(self) -> bool:
        """Whether ``repair_tables`` has something to do (and may do it: the Moodle tables are there)."""
        return not self.moodle_problem and (
            bool(self.report.repairable) or self.report.schema_version < self.report.latest_version
        )


def check_tables(db: peewee.Database, config) -> TablesReport:
    """``alx check``: every ALX and required Moodle/IOMAD table, ok or what is wrong."""
    report = schema.check(db)
    return TablesReport(report, moodle_tables_problem(report, config))


class RepairRefused(RuntimeError):
    """The repair was not attempted; the message says why."""


def repair_tables(db: peewee.Database, config, actor: str, now: int) -> list[str]:
    """``alx check --repair``: re-create missing ALX tables, columns and indexes; audited.

    Refused (nothing written) when the Moodle/IOMAD tables are missing: ALX tables are never created
    beside something that is not a Moodle database (usually a wrong table prefix).
    """
    problem = moodle_tables_problem(schema.check(db), config)
    if problem:
        raise RepairRefused(problem + " Nothing was repaired.")
    repaired = schema.repair(db)
    audit.record(actor, "schema.repair", "schema", {"actions": repaired}, now)
    return repaired


def worker_jobs() -> list[dict]:
    """The last outcome of each worker job (name, status, started, seconds, detail)."""
    return heartbeat.job_states()


def worker_heartbeats(now: int) -> list[dict]:
    """Every worker host's last beat (``heartbeat.latest``): age in seconds and whether it is alive."""
    return heartbeat.latest(heartbeat.WORKER, now)


@dataclass
class ApiProbe:
    url: str
    reachable: bool
    status: int | None = None
    latency_ms: float | None = None
    health: str = ""  # the "status" field of the /healthz answer ("ok", "unavailable")
    error: str = ""


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return first_line(reason) if isinstance(reason, BaseException) else str(reason)


# The API is ours and near: never through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe_api(base_url: str, timeout: float = 2.0, timer: Timer = time.perf_counter) -> ApiProbe:
    """GET ``<base_url>/healthz`` with a short timeout; any failure is reported, not raised."""
    url = base_url.rstrip("/") + "/healthz"
    probe = ApiProbe(url, False)
    request = urllib.request.Request(url, headers={"User-Agent": "alx-console", "Accept": "application/json"})
    started = timer()
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            body = response.read(65536)
            probe.status = response.status
    except urllib.error.HTTPError as exc:  # the API answered, with an error status (503: DB down)
        probe.status = exc.code
        body = exc.read(65536) if exc.fp else b""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        probe.error = _reason(exc)
        return probe
    probe.latency_ms = (timer() - started) * 1000.0
    probe.reachable = True
    try:
        probe.health = str(json.loads(body or b"{}").get("status", ""))
    except (ValueError, AttributeError):
        probe.health = ""
    return probe


def local_api_url(host: str, port: int) -> str:
    """The URL a client on this machine uses for an API listening on ``host``:``port``."""
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{f'[{host}]' if ':' in host and not host.startswith('[') else host}:{port}"


def effective_config(config) -> list[tuple[str, str, str]]:
    """``(name, value, source)`` of every setting, secrets masked (what ``alx config`` prints)."""
    return config.describe()
