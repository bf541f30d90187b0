"""`alx worker`: the schedule loop in-process (failure isolation, no drift) and as a real subprocess
(scheduled syncs, heartbeats, SIGTERM → exit 0, two workers at once, --once, config errors → 78).

The SIGTERM-in-the-middle-of-a-sync test lives in test_sync_crash.py with the other crash tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time

from alxapi.config import load_config
from alxapi.ops.heartbeat import job_states
from alxapi.worker import Worker

from .support.cli_helpers import REPORTING, Alx, Peek, table

SYNC_RUNS = table("local_alx_api_sync_runs")
HEARTBEAT = table("local_alx_api_heartbeat")
WAIT = 30.0
FAST = {"ALX_AUTO_SYNC_HOURS": "0.0003", "ALX_HEARTBEAT_SECONDS": "0.3", "ALX_ALERT_CHECK_MINUTES": "0.01"}


def small_site(b, users=range(100, 105)) -> None:
    b.company(1)
    b.course(10, modules=2)
    b.company_course(1, 10)
    for uid in users:
        b.user(uid)
        b.member(1, uid)
        b.enrol(uid, 10)


def wait_for(condition, what: str, procs=()) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        for proc in procs:
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"the worker exited ({proc.returncode}) before {what}:\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT:.0f}s waiting for {what}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen) -> tuple[int, str]:
    """SIGTERM our own worker process and collect its exit status and stderr."""
    try:
        os.kill(proc.pid, signal.SIGTERM)
        _out, err = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.communicate()
    return proc.returncode, err


def real_clock_alx(tmp_path, db_url, **env) -> Alx:
    alx = Alx(tmp_path, db_url, **env)
    alx.env.pop("ALX_NOW")  # the worker's schedule runs on the real clock
    return alx


# --- in-process: the loop ---------------------------------------------------------------------------


def run_for(worker: Worker, seconds: float, until=None) -> None:
    """Run the worker for ``seconds``, or, with ``until``, until it holds (at most WAIT: a loaded
    machine runs fewer ticks per second, and the test is about what happens, not how fast)."""
    thread = threading.Thread(target=worker.run_forever)
    thread.start()
    if until is None:
        time.sleep(seconds)
    else:
        deadline = time.monotonic() + WAIT
        while not until() and time.monotonic() < deadline:
            time.sleep(0.05)
    worker.stop.set()
    thread.join(timeout=WAIT)
    assert not thread.is_alive()


def test_a_failing_job_is_recorded_and_never_stops_the_others(moodle):
    config = load_config(env={}, search_paths=[]).replace(heartbeat_seconds=0.2)
    ticks, booms = [], []

    def boom() -> str:
        booms.append(time.monotonic())
        raise RuntimeError("kaput")

    def tick() -> str:
        ticks.append(time.monotonic())
        return "fine"

    worker = Worker(
        config,
        moodle.db,
        clock=lambda: 1_700_000_000,
        jobs={"boom": boom, "tick": tick},
        intervals={"boom": 0.3, "tick": 0.3},
    )
    run_for(worker, 1.5, until=lambda: len(booms) >= 3 and len(ticks) >= 3)
    assert len(booms) >= 3 and len(ticks) >= 3
    states = {s["name"]: s for s in job_states()}
    assert states["boom"]["status"] == "failed" and states["boom"]["detail"] == "RuntimeError: kaput"
    assert states["tick"]["status"] == "ok" and states["tick"]["detail"] == "fine"


def test_runs_stay_on_their_grid_when_a_job_is_slow(moodle):
    """A 0.4 s job every second starts every second (schedule alone would start it every 1.4 s)."""
    config = load_config(env={}, search_paths=[]).replace(heartbeat_seconds=5)
    starts = []

    def slow() -> str:
        starts.append(time.monotonic())
        time.sleep(0.4)
        return "done"

    worker = Worker(
        config, moodle.db, clock=lambda: 1_700_000_000, jobs={"slow": slow}, intervals={"slow": 1.0}
    )
    run_for(worker, 4.6, until=lambda: len(starts) >= 5)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert len(gaps) >= 3, starts
    # On the grid: back to a 1 s gap after the 0.4 s job (schedule alone: 1.4 s). One gap may be
    # stretched by a loaded machine; the next start returns to the grid.
    assert sum(abs(gap - 1.0) < 0.25 for gap in gaps) >= len(gaps) - 1, gaps
    assert all(abs((t - starts[0]) - round(t - starts[0])) < 0.35 for t in starts), starts


def test_a_job_due_while_another_runs_still_runs(moodle):
    config = load_config(env={}, search_paths=[]).replace(heartbeat_seconds=5)
    quick = []
    worker = Worker(
        config,
        moodle.db,
        clock=lambda: 1_700_000_000,
        jobs={"long": lambda: time.sleep(1.2) or "slept", "quick": lambda: quick.append(1) or "ok"},
        intervals={"long": 10.0, "quick": 0.5},
    )
    run_for(worker, 2.6, until=lambda: len(quick) >= 2)  # the long job ends at ~1.2 s
    assert len(quick) >= 2  # ran at start, then late (after the long job) rather than never


# --- as a real process --------------------------------------------------------------------------------


def test_worker_syncs_on_schedule_beats_and_exits_0_on_sigterm(moodle, db_url, tmp_path):
    small_site(moodle)
    alx = real_clock_alx(tmp_path, db_url, **FAST)
    proc = alx.start("worker")
    try:
        with Peek(db_url) as peek:
            wait_for(lambda: peek.count(REPORTING) == 5, "the first sync", [proc])
            wait_for(lambda: peek.count(HEARTBEAT) == 1, "a heartbeat", [proc])
            beat = peek.scalar(f"SELECT timebeat FROM {HEARTBEAT}")
            # A new enrolment is picked up by a later scheduled run.
            moodle.user(105)
            moodle.member(1, 105)
            moodle.enrol(105, 10)
            wait_for(
                lambda: peek.count(REPORTING, "userid = 105") == 1, "the new enrolment to be synced", [proc]
            )
            wait_for(
                lambda: peek.scalar(f"SELECT timebeat FROM {HEARTBEAT}") > beat, "a later heartbeat", [proc]
            )
            # The run that synced the new row records its success when it ends, just after its batch.
            wait_for(
                lambda: peek.count(SYNC_RUNS, "status = 'success'") >= 2, "the second run to end", [proc]
            )
            info = json.loads(peek.scalar(f"SELECT info FROM {HEARTBEAT}"))
    finally:
        code, err = stop(proc)
    assert code == 0, err
    assert set(info["next"]) == {"sync", "alerts", "analytics", "reports", "cleanup"}
    assert "worker stopped" in err and "Traceback" not in err


def test_two_workers_at_once_never_sync_together_and_neither_crashes(moodle, db_url, tmp_path):
    small_site(moodle, users=range(100, 140))
    alx = real_clock_alx(tmp_path, db_url, **FAST)
    procs = [alx.start("worker"), alx.start("worker")]
    try:
        with Peek(db_url) as peek:
            wait_for(lambda: peek.count(SYNC_RUNS, "status = 'success'") >= 6, "several syncs", procs)
    finally:
        results = [stop(p) for p in procs]
    for code, err in results:
        assert code == 0 and "Traceback" not in err, err
    with Peek(db_url) as peek:
        runs = peek.db.execute_sql(
            f"SELECT id, timestarted, timefinished, status, pid FROM {SYNC_RUNS} ORDER BY id"
        ).fetchall()
    assert all(status in ("success", "partial") for _, _, _, status, _ in runs), runs
    # One at a time: each run started after the previous one finished (the database lock).
    for (_, _, finished, _, _), (_, started, _, _, _) in zip(runs, runs[1:], strict=False):
        assert started >= finished, runs
    with Peek(db_url) as peek:
        assert peek.count(REPORTING) == 40


def refuse_reporting_inserts(b, backend: str) -> None:
    """A trigger that makes every insert into the reporting table fail, like a full disk would."""
    name = "mdl_local_alx_api_reporting"
    if backend == "sqlite":
        b.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON {name} BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    elif backend == "mariadb":
        b.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON {name} FOR EACH ROW "
            "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'disk full'"
        )
    else:
        b.execute(
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ "
            "LANGUAGE plpgsql"
        )
        b.execute(f"CREATE TRIGGER refuse BEFORE INSERT ON {name} FOR EACH ROW EXECUTE FUNCTION refuse()")


def test_once_runs_every_job_and_reports_a_failure_in_its_exit_status(moodle, db_url, db_backend, tmp_path):
    small_site(moodle)
    alx = Alx(tmp_path, db_url)
    refuse_reporting_inserts(moodle, db_backend)
    failed = alx("worker", "--once")
    assert failed.code == 1, failed
    assert "sync     failed" in failed.stderr and "disk full" in failed.stderr, failed
    assert "alerts   ok" in failed.stderr and "cleanup  ok" in failed.stderr  # the others still ran
    with Peek(db_url) as peek:
        assert peek.count(REPORTING) == 0  # nothing half-written
        assert peek.scalar(f"SELECT status FROM {SYNC_RUNS}") == "failed"
        raised = peek.db.execute_sql(
            f"SELECT alert_type FROM {table('local_alx_api_alerts')} ORDER BY alert_type"
        )
        # The run failed, and no sync has ever succeeded.
        assert [r[0] for r in raised.fetchall()] == ["sync_failed", "sync_stale"]

    moodle.execute(
        "DROP TRIGGER refuse" + (" ON mdl_local_alx_api_reporting" if db_backend == "postgresql" else "")
    )
    result = alx("worker", "--once", "--json")
    assert result.code == 0, result
    outcomes = {o["name"]: o for o in json.loads(result.stdout)}
    assert list(outcomes) == ["sync", "alerts", "analytics", "reports", "cleanup"]
    assert {o["status"] for o in outcomes.values()} == {"ok"}
    assert "full sync success: 5 created" in outcomes["sync"]["detail"]
    # A sync succeeded: sync_stale cleared itself. sync_failed stays open until a check no longer
    # sees a recent failure (the failed run is minutes old: at this fixed clock, none have passed).
    assert "1 resolved" in outcomes["alerts"]["detail"]
    later = alx("worker", "--once", "--json", env={"ALX_NOW": str(int(alx.env["ALX_NOW"]) + 16 * 60)})
    later_outcomes = {o["name"]: o for o in json.loads(later.stdout)}
    assert "1 resolved" in later_outcomes["alerts"]["detail"], later
    # An incremental run says how it found its work (this site's Moodle keeps no standard log).
    assert later_outcomes["sync"]["detail"].startswith("incremental sync success"), later
    assert later_outcomes["sync"]["detail"].endswith(
        "; changes found by full detection: logstore_standard is not enabled"
    ), later


def test_configuration_errors_exit_78(moodle, db_url, tmp_path):
    alx = Alx(tmp_path, db_url)
    bad = alx("worker", env={"ALX_AUTO_SYNC_HOURS": "often"})
    assert bad.code == 78 and "auto_sync_hours" in bad.stderr, bad


def test_a_database_without_alx_tables_exits_78(tmp_path):
    alx = Alx(tmp_path)
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    result = alx("--db", f"sqlite:///{empty}", "worker", db=False)
    assert result.code == 78, result
