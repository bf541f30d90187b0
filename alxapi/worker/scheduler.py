"""`alx worker`: runs the jobs of :mod:`.jobs` — sync, alert checks, cleanup — and the heartbeat.

One ``schedule.Scheduler()`` runs the jobs in this thread, one at a time, so jobs never overlap in
a process; across processes and hosts the sync's database lock keeps one sync at a time. Each job
is wrapped: an exception is logged and recorded (``ops.heartbeat.record_job``) and never stops the
loop. Runs stay on a fixed grid (start + k × interval), so a slow job does not push every later
run back. The heartbeat has its own thread, so the worker looks alive during a long sync.

SIGTERM/SIGINT set ``stop``: a running sync stops at its next batch boundary (its transaction
commits or rolls back whole), and :meth:`Worker.run_forever` returns.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import peewee
import schedule

from ..config import Config
from ..errors import describe, first_line
from ..ops import heartbeat
from ..reporting.lock import LockHeld
from .jobs import JOBS, JobContext

log = logging.getLogger("alx.worker")


@dataclass
class JobOutcome:
    name: str
    status: str  # ok | failed | skipped
    started: int
    seconds: float
    detail: str


@dataclass
class _Cadence:
    """A job's fixed grid of run times: ``anchor + k × period``."""

    anchor: datetime
    period: timedelta

    def next_after(self, moment: datetime) -> datetime:
        steps = math.floor((moment - self.anchor) / self.period) + 1
        return self.anchor + max(steps, 1) * self.period


class Worker:
    def __init__(
        self,
        config: Config,
        db: peewee.Database,
        *,
        clock: Callable[[], int],
        stop: threading.Event | None = None,
        jobs: dict[str, Callable[[], str]] | None = None,
        intervals: dict[str, float] | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.clock = clock
        self.stop = stop or threading.Event()
        self.scheduler = schedule.Scheduler()
        context = JobContext(config, db, clock, self.stop)
        self.jobs = (
            jobs
            if jobs is not None
            else {name: functools.partial(job, context) for name, (job, _every) in JOBS.items()}
        )
        self._intervals = intervals
        self.current = "idle"
        self._cadences: dict[schedule.Job, _Cadence] = {}
        self._realigned: dict[schedule.Job, datetime] = {}

    # --- running them ------------------------------------------------------------------------------
    def intervals(self) -> dict[str, float]:
        """Seconds between runs of each job, from the configuration."""
        if self._intervals is not None:
            return {name: self._intervals[name] for name in self.jobs}
        return {name: JOBS[name][1](self.config) if name in JOBS else 60.0 for name in self.jobs}

    def run_job(self, name: str) -> JobOutcome:
        """Run one job; whatever happens, record the outcome and return it (never raise)."""
        self.current = name
        started, t0 = self.clock(), time.monotonic()
        try:
            with self.db.connection_context():
                detail = self.jobs[name]()
            status = "ok"
            log.info("%s: %s", name, detail)
        except LockHeld as exc:
            status, detail = "skipped", f"another sync is running ({exc.holder})"
            log.info("%s: %s", name, detail)
        except Exception as exc:  # noqa: BLE001 — a job's failure must never stop the loop
            status, detail = "failed", describe(exc)
            log.error("%s failed: %s", name, detail)
            log.debug("%s failure details", name, exc_info=True)  # the traceback with log_level=debug
        finally:
            self.current = "idle"
        outcome = JobOutcome(name, status, started, round(time.monotonic() - t0, 3), detail)
        self._record(outcome)
        return outcome

    def _record(self, outcome: JobOutcome) -> None:
        try:
            with self.db.connection_context():
                heartbeat.record_job(outcome.name, outcome.started, asdict(outcome), self.clock())
        except peewee.DatabaseError:
            log.warning("could not record the outcome of %s (database unavailable)", outcome.name)

    def beat(self) -> None:
        info = {
            "job": self.current,
            "next": {
                job.job_func.args[0]: job.next_run.timestamp() for job in self.scheduler.jobs if job.next_run
            },
        }
        try:
            with self.db.connection_context():
                heartbeat.beat(heartbeat.WORKER, self.clock(), info)
        except peewee.DatabaseError as exc:
            log.warning("heartbeat not written: %s", first_line(exc))

    def run_once(self) -> list[JobOutcome]:
        """Every job once, in order (``alx worker --once``)."""
        self.beat()
        return [self.run_job(name) for name in self.jobs if not self.stop.is_set()]

    def run_forever(self) -> None:
        """Run the schedule until ``stop`` is set. Every job runs once at start, then on its grid."""
        beats = threading.Thread(target=self._beat_loop, name="heartbeat", daemon=True)
        beats.start()
        start = datetime.now()  # noqa: DTZ005 — schedule keeps naive local times
        for name, seconds in self.intervals().items():
            job = self.scheduler.every(seconds).seconds.do(self.run_job, name)
            job.next_run = start  # run at once: after a restart the data should not wait an hour
            self._cadences[job] = _Cadence(start, timedelta(seconds=seconds))
        log.info("worker started: %s", ", ".join(f"{n} every {s:g}s" for n, s in self.intervals().items()))
        try:
            while not self.stop.is_set():
                self.scheduler.run_pending()
                self._realign()
                idle = self.scheduler.idle_seconds
                self.stop.wait(min(1.0, max(0.05, idle if idle is not None else 1.0)))
        finally:
            self.stop.set()
            beats.join(timeout=5)
            self.scheduler.clear()
            log.info("worker stopped")

    def _realign(self) -> None:
        """Put each job's next run back on its grid (schedule counts from the end of the last run)."""
        now = datetime.now()  # noqa: DTZ005 — schedule keeps naive local times
        for job, cadence in self._cadences.items():
            if job.last_run is not None and job.last_run != self._realigned.get(job):
                # Only jobs that just ran: one that fell due meanwhile must still run, late.
                job.next_run = cadence.next_after(max(now, job.last_run))
                self._realigned[job] = job.last_run

    def _beat_loop(self) -> None:
        while not self.stop.is_set():
            self.beat()
            self.stop.wait(self.config.heartbeat_seconds)
