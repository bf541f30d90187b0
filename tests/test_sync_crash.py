"""Crash safety of `alx sync` (SPEC §3.4): SIGTERM and SIGKILL in the middle of a real run.

Each test builds the "medium" demo site (~20k enrolments; without Moodle's log, which the sync never
reads), runs a first full sync, then changes
every reporting row (every user renamed; some role assignments removed, so some rows must be
tombstoned) and starts `alx sync --full --batch-size 50` as a real subprocess: ~100 batches of
whole courses. The run is caught in the middle, deterministically:

- MariaDB / PostgreSQL: before the start, the test locks one reporting row of a course in the middle
  of the run (SELECT … FOR UPDATE in a transaction of its own). The sync commits the batches before
  that course and then waits on the lock, so it cannot finish before the test acts.
- SQLite has no row locks: the test watches the change sequence and freezes the process with SIGSTOP
  as soon as a batch is committed (SIGCONT afterwards). Should the run be too quick to catch
  (it takes ~0.2 s), the prepared database is restored and the run started again.

Then the signal, and the checks: every course is either exactly as before the run or exactly as
after a complete one (one transaction per batch, never half a batch), the run is recorded, the next
`alx sync` finishes the work, and a full sync after that finds nothing left to change.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from alxapi.demo.generator import generate
from models.db import open_database

from .support.cli_helpers import (
    MEDIUM_WITHOUT_LOG,
    NOW,
    PREFIX,
    REPORTING,
    SYNC_QUEUE,
    Alx,
    Peek,
    by_course,
    table,
)

RUN_NOW = NOW + 60  # ALX_NOW of the syncs: a minute after the data was generated
STALE = 60  # lock_stale_seconds (the minimum): a killed run's lease expires a minute after its last batch
NEW_LASTNAME = "Crashtest"
SYNC_ARGS = ("sync", "--full", "--json", "--batch-size", "50")
WAIT = 60.0  # upper bound of every wait, seconds
SQLITE_ATTEMPTS = 5


@dataclass
class Site:
    alx: Alx
    url: str
    backend: str
    baseline: dict  # reporting rows after the first full sync
    prepared: Path | None = None  # SQLite: a copy of the prepared database, to start again

    def peek(self) -> Peek:
        return Peek(self.url)


@pytest.fixture
def site(db_url, db_backend, tmp_path) -> Site:
    db = open_database(db_url, PREFIX)
    with db.connection_context():
        generate(db, PREFIX, size=MEDIUM_WITHOUT_LOG, seed=42, now=NOW)
    db.close()
    alx = Alx(tmp_path / "work", db_url, ALX_NOW=RUN_NOW, ALX_LOCK_STALE_SECONDS=STALE)
    alx.ok("install")
    first = alx.json("sync", "--full", "--json")
    assert first["status"] == "success" and first["created"] > 10_000, first
    with Peek(db_url) as peek:
        baseline = peek.reporting()
        assert len(baseline) == first["created"]
        # Changes without timestamps: only the recomputation of each course finds them.
        peek.execute(f"UPDATE {table('user')} SET lastname = ?", [NEW_LASTNAME])
        every_ninth = "id % 9 = 0" if db_backend == "sqlite" else "MOD(id, 9) = 0"
        peek.execute(f"DELETE FROM {table('role_assignments')} WHERE {every_ninth}")
        if db_backend == "sqlite":
            peek.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    prepared = None
    if db_backend == "sqlite":
        prepared = tmp_path / "prepared.sqlite3"
        shutil.copyfile(_sqlite_path(db_url), prepared)
    return Site(alx, db_url, db_backend, baseline, prepared)


def _sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def _restore(site: Site) -> None:
    path = _sqlite_path(site.url)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(site.prepared, path)


# --- catching a run in the middle -----------------------------------------------------------------


def _change_seq(peek: Peek) -> int:
    return peek.state("change_seq") or 0


def _pending_courses(peek: Peek) -> int:
    """Courses with committed rows that the run has not rewritten yet."""
    return int(
        peek.scalar(
            f"SELECT COUNT(DISTINCT courseid) FROM {REPORTING} WHERE is_deleted = 0 AND lastname <> ?",
            [NEW_LASTNAME],
        )
    )


def _process_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _wait_until(condition, what: str, proc: subprocess.Popen | None = None, poll: float = 0.002) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(
                f"`{' '.join(proc.args[-3:])}` ended (exit {proc.returncode}) before {what}:\n{out}\n{err}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT:.0f}s waiting for {what}")
        time.sleep(poll)


def _stop_process(proc: subprocess.Popen) -> None:
    """Make sure the process we started is gone (only ever this pid)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired, ValueError):
        proc.communicate(timeout=WAIT)


class RowGate:
    """A row lock held by the test: a sync touching that row waits until the gate opens."""

    def __init__(self, url: str, row_id: int):
        self.peek = Peek(url)
        self.peek.execute("BEGIN")
        locked = self.peek.scalar(f"SELECT id FROM {REPORTING} WHERE id = ? FOR UPDATE", [row_id])
        assert locked == row_id

    def open(self) -> None:
        if not self.peek.db.is_closed():
            self.peek.execute("ROLLBACK")
            self.peek.close()


@dataclass
class MidRun:
    proc: subprocess.Popen
    gate: RowGate | None  # servers: the run waits on it
    frozen: bool  # SQLite: the run is stopped with SIGSTOP

    def resume(self) -> None:
        """Let the run go on (after the test has sent its signal)."""
        if self.gate:
            self.gate.open()
        if self.frozen and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def cleanup(self) -> None:
        _stop_process(self.proc)
        if self.gate:
            self.gate.open()


def _gate_row(peek: Peek, courses: list[int]) -> int:
    """A row of a course in the middle of the run that must be tombstoned (its student role is gone).

    On PostgreSQL the run then waits inside the batch's transaction, after the batch's other rows
    were rewritten and before the tombstone: killing it there checks that those writes roll back.
    """
    # Joined here rather than in SQL: PostgreSQL, without statistics on the freshly loaded tables,
    # planned the NOT EXISTS as a nested loop over every pair (5-10 s of server CPU per call).
    students = set(
        peek.db.execute_sql(
            f"SELECT ctx.instanceid, ra.userid FROM {table('role_assignments')} ra "
            f"JOIN {table('context')} ctx ON ctx.id = ra.contextid "
            f"JOIN {table('role')} role ON role.id = ra.roleid "
            "WHERE ctx.contextlevel = 50 AND role.shortname = 'student'"
        ).fetchall()
    )
    doomed: dict[int, int] = {}
    for course, user, row_id in peek.db.execute_sql(f"SELECT courseid, userid, id FROM {REPORTING}"):
        if (course, user) not in students:
            doomed[course] = min(row_id, doomed.get(course, row_id))
    middle = courses[len(courses) // 2]
    course = min(doomed, key=lambda c: (abs(courses.index(c) - courses.index(middle)), c))
    return int(doomed[course])


def _start_gated(site: Site, args: tuple[str, ...], env: dict | None) -> MidRun:
    with site.peek() as peek:
        row_id = _gate_row(peek, sorted(by_course(site.baseline)))
        seq0 = _change_seq(peek)
    gate = RowGate(site.url, row_id)
    try:
        proc = site.alx.start(*args, env=env)
    except BaseException:
        gate.open()
        raise
    run = MidRun(proc, gate, frozen=False)
    try:
        with site.peek() as peek:
            _wait_until(lambda: _change_seq(peek) > seq0, "it committed a batch", proc)
            # Then until it stops making progress: it is waiting on the gate's row.
            last = {"seq": _change_seq(peek), "since": time.monotonic()}

            def settled() -> bool:
                seq = _change_seq(peek)
                if seq != last["seq"]:
                    last.update(seq=seq, since=time.monotonic())
                return time.monotonic() - last["since"] > 0.5

            _wait_until(settled, "it reached the locked row", proc, poll=0.05)
            assert _pending_courses(peek) >= 5, "the run should be stopped in the middle"
    except BaseException:
        run.cleanup()
        raise
    return run


def _start_frozen(site: Site, args: tuple[str, ...], env: dict | None) -> MidRun | None:
    with site.peek() as peek:
        seq0 = _change_seq(peek)
        proc = site.alx.start(*args, env=env)
        try:
            while _change_seq(peek) <= seq0:
                if proc.poll() is not None:
                    out, err = proc.communicate()
                    assert proc.returncode == 0, (
                        f"`alx {args[0]}` failed (exit {proc.returncode}):\n{out}\n{err}"
                    )
                    return None  # finished before we looked
                time.sleep(0.001)
            os.kill(proc.pid, signal.SIGSTOP)
            _wait_until(lambda: _process_state(proc.pid) in ("T", "t", "Z", "gone"), "SIGSTOP to take effect")
            if proc.poll() is None and _process_state(proc.pid) in ("T", "t") and _pending_courses(peek) >= 5:
                return MidRun(proc, None, frozen=True)
            os.kill(proc.pid, signal.SIGCONT)
            _stop_process(proc)
            return None
        except BaseException:
            _stop_process(proc)
            raise


def start_mid_run(site: Site, args: tuple[str, ...] = SYNC_ARGS, env: dict | None = None) -> MidRun:
    """A full sync (`alx sync --full`, or the worker's) caught after a committed batch and well before its end."""
    if site.backend != "sqlite":
        return _start_gated(site, args, env)
    for attempt in range(SQLITE_ATTEMPTS):
        if attempt:
            _restore(site)
        run = _start_frozen(site, args, env)
        if run is not None:
            return run
    pytest.fail(f"could not catch `alx sync` in the middle in {SQLITE_ATTEMPTS} attempts")


# --- what must hold afterwards ----------------------------------------------------------------------


def assert_whole_batches(baseline: dict, interrupted: dict, final: dict) -> None:
    """Every course is as before the run or as after a complete one: never half-written."""
    before, during, after = by_course(baseline), by_course(interrupted), by_course(final)
    done, untouched = [], []
    for course in sorted(set(before) | set(during) | set(after)):
        b, d, a = before.get(course, {}), during.get(course, {}), after.get(course, {})
        if b == a:
            assert d == b, f"course {course} changed although nothing in it did"
        elif d == a:
            done.append(course)
        elif d == b:
            untouched.append(course)
        else:
            written = sum(1 for key, values in d.items() if values == a.get(key) and values != b.get(key))
            raise AssertionError(
                f"course {course} is half-written: {written} of its {len(a)} rows have the new "
                f"values, the others the old ones"
            )
    assert done, "no batch was committed before the interruption"
    assert untouched, "the run was not interrupted: every course was rewritten"


def assert_final_state(site: Site, final: dict) -> None:
    """After recovery: the same keys, renamed where live, tombstoned where the role was removed."""
    assert set(final) == set(site.baseline)
    live = {k: v for k, v in final.items() if v[-1] == 0}
    gone = {k: v for k, v in final.items() if v[-1] == 1}
    assert gone and live
    assert all(v[1] == NEW_LASTNAME for v in live.values())
    # A tombstone keeps the row's last values (SPEC §3.2).
    assert all(v[:-1] == site.baseline[k][:-1] for k, v in gone.items())


def assert_nothing_left(site: Site, env: dict | None = None) -> None:
    full = site.alx.json("sync", "--full", "--json", env=env)
    assert full["status"] == "success"
    assert (full["created"], full["updated"], full["deleted"]) == (0, 0, 0), full
    with site.peek() as peek:
        assert peek.count(SYNC_QUEUE) == 0


# --- the tests --------------------------------------------------------------------------------------


def test_sigterm_mid_run_stops_at_a_batch_boundary_and_the_next_sync_resumes(site):
    run = start_mid_run(site)
    try:
        os.kill(run.proc.pid, signal.SIGTERM)
        run.resume()
        out, err = run.proc.communicate(timeout=WAIT)
    finally:
        run.cleanup()
    assert run.proc.returncode == 0, f"exit {run.proc.returncode}\n{out}\n{err}"
    assert "Traceback" not in out + err, err
    assert "SIGTERM" in err, err
    summary = json.loads(out)
    assert (summary["mode"], summary["status"]) == ("full", "partial"), summary
    assert summary["remaining"] > 0 and summary["updated"] > 0, summary
    assert "stopped" in summary["error"], summary

    runs = site.alx.json("runs", "--json")
    assert runs[0]["id"] == summary["run_id"]
    assert (runs[0]["status"], runs[0]["mode"]) == ("partial", "full")
    assert (runs[0]["created"], runs[0]["updated"], runs[0]["deleted"]) == (
        summary["created"],
        summary["updated"],
        summary["deleted"],
    )
    assert "stopped" in runs[0]["error"]
    with site.peek() as peek:
        interrupted = peek.reporting()

    # The stopped run released the lock: the next sync runs at once and finishes the work.
    resumed = site.alx.json("sync", "--json")
    assert resumed["status"] == "success" and resumed["remaining"] == 0, resumed
    with site.peek() as peek:
        final = peek.reporting()
    assert_whole_batches(site.baseline, interrupted, final)
    assert_final_state(site, final)
    # Nothing written twice, nothing lost: the two runs together made exactly the changes needed.
    live = sum(1 for v in final.values() if v[-1] == 0)
    assert summary["updated"] + resumed["updated"] == live
    assert summary["deleted"] + resumed["deleted"] == len(final) - live
    assert_nothing_left(site)


def test_sigkill_mid_run_leaves_whole_batches_and_the_next_sync_completes(site):
    run = start_mid_run(site)
    try:
        os.kill(run.proc.pid, signal.SIGKILL)
        run.proc.communicate(timeout=WAIT)
        # Read while the killed connection's statement may still wait on the gate: whatever the
        # server has committed so far must already be whole batches.
        with site.peek() as peek:
            interrupted = peek.reporting()
    finally:
        run.cleanup()  # opens the gate: the server rolls back the killed connection's transaction
    assert run.proc.returncode == -signal.SIGKILL
    pid = run.proc.pid
    with site.peek() as peek:
        assert peek.reporting() == interrupted, "the killed run's open transaction must not be committed"

    runs = site.alx.json("runs", "--json")
    assert (runs[0]["status"], runs[0]["pid"]) == ("running", pid), runs[0]

    # The killed run's pid is gone from this host: the next sync takes its lease over at once (not
    # lock_stale_seconds later) and completes the work.
    later = {"ALX_NOW": str(RUN_NOW + 1)}
    taken = site.alx("sync", "--json", env=later)
    assert taken.code == 0 and f":{pid}, which is gone" in taken.stderr, taken
    resumed = taken.json()
    assert resumed["status"] == "success" and resumed["remaining"] == 0, resumed
    assert resumed["updated"] + resumed["deleted"] > 0, "the killed run's remaining work was not done"

    runs = {r["id"]: r for r in site.alx.json("runs", "--json", env=later)}
    killed = runs[min(i for i, r in runs.items() if r["pid"] == pid)]
    assert killed["status"] == "failed" and "interrupted" in (killed["error"] or ""), killed

    with site.peek() as peek:
        final = peek.reporting()
    assert_whole_batches(site.baseline, interrupted, final)
    assert_final_state(site, final)
    assert_nothing_left(site, env=later)


def test_worker_sigterm_mid_sync_exits_0_and_the_next_run_completes(site):
    """`alx worker` as systemd runs it: SIGTERM during its (full) sync stops at a batch boundary, exit 0."""
    # An hour after the first full sync, with full syncs due every half hour: the worker's first job
    # is a full sync, in batches of 50 like the CLI runs above.
    worker_env = {
        "ALX_NOW": str(RUN_NOW + 3600),
        "ALX_FULL_SYNC_HOURS": "0.5",
        "ALX_BATCH_SIZE": "50",
        "ALX_HEARTBEAT_SECONDS": "0.5",
    }
    run = start_mid_run(site, ("worker",), worker_env)
    try:
        os.kill(run.proc.pid, signal.SIGTERM)
        run.resume()
        out, err = run.proc.communicate(timeout=WAIT)
    finally:
        run.cleanup()
    assert run.proc.returncode == 0, f"exit {run.proc.returncode}\n{out}\n{err}"
    assert "Traceback" not in err and "SIGTERM received" in err and "worker stopped" in err, err
    runs = site.alx.json("runs", "--json")
    assert (runs[0]["mode"], runs[0]["status"]) == ("full", "partial"), runs[0]
    assert "stopped" in runs[0]["error"]
    with site.peek() as peek:
        interrupted = peek.reporting()
        assert peek.count(table("local_alx_api_heartbeat")) == 1
    resumed = site.alx.json("sync", "--json")
    assert resumed["status"] == "success" and resumed["remaining"] == 0, resumed
    with site.peek() as peek:
        final = peek.reporting()
    assert_whole_batches(site.baseline, interrupted, final)
    assert_final_state(site, final)
    assert_nothing_left(site)
