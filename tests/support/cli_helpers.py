"""Helpers for tests that drive the real `alx` command in a subprocess.

Every run gets an isolated environment: no ``ALX_*`` variable of the developer's shell, ``HOME`` and
``XDG_CONFIG_HOME`` inside the test's temporary directory and that directory as working directory
(so no ``./alx.toml`` or ``~/.config/alx/alx.toml`` leaks in), and ``ALX_NOW`` fixed for
deterministic runs. Every wait is bounded.

The database is inspected from the test process through a connection of its own
(:func:`tests.support.dbservers.peewee_database`), independent of the product's model binding.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import peewee

from alxapi.demo.generator import SIZES

from .dbservers import peewee_database

NOW = 1_700_000_000
PREFIX = "mdl_"
# The "medium" demo site without Moodle's log: what the sync crash and fault tests need (the sync
# never reads the log), built in 2 s instead of 37 s on MariaDB (the log is most of the rows).
MEDIUM_WITHOUT_LOG = replace(SIZES["medium"], log_activity=False)
TIMEOUT = 120  # seconds: the longest any single `alx` invocation may take in these tests


def alx_command() -> list[str]:
    """The installed console script of the interpreter running the tests (``.venv/bin/alx``)."""
    script = Path(sys.executable).with_name("alx")
    if script.exists():
        return [str(script)]
    found = shutil.which("alx")
    assert found, "the `alx` console script is not installed (pip install -e .)"
    return [found]


def alx_env(home: Path, **extra: str | int) -> dict[str, str]:
    """The environment of an `alx` run: the caller's without any ALX_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALX_")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        ALX_NOW=str(NOW),
        PYTHONDONTWRITEBYTECODE="1",
        LC_ALL="C.UTF-8",
    )
    env.pop("COLUMNS", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


class ForkServer:
    """Runs `alx` as forks of one pre-imported interpreter (``alx_forkserver``), started on first use.

    ``ALX_TEST_FORKSERVER=0`` runs the console script itself for every run instead.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._dir = ""
        atexit.register(self.stop)

    @staticmethod
    def wanted() -> bool:
        return os.environ.get("ALX_TEST_FORKSERVER", "1") != "0"

    def _socket_path(self) -> str:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self.stop()  # a server that died: its directory goes with it
                self._dir = tempfile.mkdtemp(prefix="alx-forkserver-")
                path = os.path.join(self._dir, "socket")
                env = alx_env(Path(self._dir) / "home")
                env.pop("ALX_NOW")
                self._proc = subprocess.Popen(
                    [sys.executable, str(Path(__file__).with_name("alx_forkserver.py")), path],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=env,
                    cwd=self._dir,
                )
                ready = self._proc.stdout.readline()
                assert ready == b"ready\n", f"the alx fork server did not start (said {ready!r})"
            return os.path.join(self._dir, "socket")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stdin.close()  # its signal to exit
            self._proc.wait(timeout=10)
            shutil.rmtree(self._dir, ignore_errors=True)
            self._proc = None

    def run(self, argv: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str, str]:
        """Run ``alx argv`` to its end: (exit status, stdout, stderr); kills it after ``timeout``."""
        path = self._socket_path()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        stdin = os.open(os.devnull, os.O_RDONLY)
        request = {"argv": [alx_command()[0], *argv], "cwd": str(cwd), "env": env}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(path)
            try:
                socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [stdin, out_w, err_w])
            finally:
                for fd in (stdin, out_w, err_w):
                    os.close(fd)
            replies = conn.makefile("rb")
            pid = int(replies.readline())
            output = _read_until_closed({out_r: "stdout", err_r: "stderr"}, timeout)
            if output is None:
                os.kill(pid, signal.SIGKILL)
                replies.readline()
                raise subprocess.TimeoutExpired(["alx", *argv], timeout)
            code = int(replies.readline())
        return code, output["stdout"], output["stderr"]


def _read_until_closed(pipes: dict[int, str], timeout: float) -> dict[str, str] | None:
    """Everything written to ``pipes`` until their writers close them; None after ``timeout``."""
    chunks: dict[str, list[bytes]] = {name: [] for name in pipes.values()}
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for fd in pipes:
            selector.register(fd, selectors.EVENT_READ)
        try:
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                for key, _ in selector.select(left):
                    data = os.read(key.fd, 65536)
                    if data:
                        chunks[pipes[key.fd]].append(data)
                    else:
                        selector.unregister(key.fd)
        finally:
            for fd in pipes:
                os.close(fd)
    # Decoded as subprocess.run(text=True) does: universal newlines.
    return {
        name: b"".join(parts).decode().replace("\r\n", "\n").replace("\r", "\n")
        for name, parts in chunks.items()
    }


_forkserver = ForkServer()


@dataclass
class Result:
    args: list[str]
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self):
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"`alx {' '.join(self.args)}` did not print JSON ({exc}):\n{self}") from None

    def __str__(self) -> str:
        return (
            f"$ alx {' '.join(self.args)}\nexit {self.code}\n--- stdout\n{self.stdout}\n"
            f"--- stderr\n{self.stderr}"
        )


class Alx:
    """Runs `alx` with a fixed working directory and environment: ``alx("sync", "--json")``."""

    def __init__(self, workdir: Path, db_url: str | None = None, **env: str | int):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_url = db_url
        self.env = alx_env(workdir / "home", **env)

    def argv(self, args: tuple[str, ...], db: bool) -> list[str]:
        return [*(["--db", self.db_url] if db and self.db_url else []), *args]

    def __call__(
        self,
        *args: str,
        db: bool = True,
        env: dict[str, str] | None = None,
        timeout: float = TIMEOUT,
        forked: bool | None = None,
    ) -> Result:
        """Run `alx args` to its end. ``forked``: through the fork server (default unless
        ``ALX_TEST_FORKSERVER=0``) or False for the console script itself."""
        argv = self.argv(args, db)
        run_env = {**self.env, **(env or {})}
        if ForkServer.wanted() if forked is None else forked:
            code, stdout, stderr = _forkserver.run(argv, self.workdir, run_env, timeout)
        else:
            proc = subprocess.run(
                [*alx_command(), *argv],
                cwd=self.workdir,
                env=run_env,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
            code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
        result = Result(argv, code, stdout, stderr)
        assert "Traceback" not in result.output, f"a traceback escaped:\n{result}"
        return result

    def ok(self, *args: str, **kw) -> Result:
        result = self(*args, **kw)
        assert result.code == 0, f"expected success:\n{result}"
        return result

    def json(self, *args: str, **kw):
        return self.ok(*args, **kw).json()

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start `alx` in the background (stdout/stderr to pipes); the caller must reap it."""
        return subprocess.Popen(
            [*alx_command(), *self.argv(args, True)],
            cwd=self.workdir,
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def assert_user_error(result: Result, code: int, *needles: str) -> None:
    """A failure the operator can act on: the exit status, the words, no traceback, short stderr."""
    assert result.code == code, f"expected exit {code}:\n{result}"
    assert "Traceback" not in result.output, f"a traceback escaped:\n{result}"
    assert result.stderr.strip(), f"no message on stderr:\n{result}"
    lowered = result.stderr.lower()
    for needle in needles:
        assert needle.lower() in lowered, f"stderr should mention {needle!r}:\n{result}"
    assert len(result.stderr.strip().splitlines()) <= 4, f"one message expected, got a screenful:\n{result}"


# --- looking at the database from the test ----------------------------------------------------------


def table(base_name: str, prefix: str = PREFIX) -> str:
    return prefix + base_name


REPORTING = table("local_alx_api_reporting")
SYNC_RUNS = table("local_alx_api_sync_runs")
STATE = table("local_alx_api_state")
SYNC_QUEUE = table("local_alx_api_sync_queue")
VALUE_COLUMNS = (
    "firstname",
    "lastname",
    "email",
    "username",
    "coursename",
    "timecompleted",
    "timestarted",
    "percentage",
    "status",
    "is_deleted",
)


class Peek:
    """A connection of the test's own to the database under test (autocommit reads and writes)."""

    def __init__(self, url: str):
        self.url = url
        self.db: peewee.Database = peewee_database(url)
        self.db.connect()

    def close(self) -> None:
        if not self.db.is_closed():
            self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def tables(self) -> set[str]:
        return set(self.db.get_tables())

    def scalar(self, sql: str, params: list | None = None):
        row = self.db.execute_sql(sql.replace("?", self.db.param), params or []).fetchone()
        return row[0] if row else None

    def execute(self, sql: str, params: list | None = None) -> int:
        return self.db.execute_sql(sql.replace("?", self.db.param), params or []).rowcount

    def count(self, name: str, where: str = "1 = 1") -> int:
        return int(self.scalar(f"SELECT COUNT(*) FROM {name} WHERE {where}"))

    def state(self, name: str) -> int | None:
        value = self.scalar(f"SELECT value_int FROM {STATE} WHERE name = ?", [name])
        return None if value is None else int(value)

    def reporting(self) -> dict[tuple[int, int, int], tuple]:
        """Every reporting row (live or tombstoned): (company, user, course) -> its values."""
        rows = self.db.execute_sql(
            f"SELECT companyid, userid, courseid, {', '.join(VALUE_COLUMNS)} FROM {REPORTING}"
        ).fetchall()
        return {(int(r[0]), int(r[1]), int(r[2])): tuple(_plain(v) for v in r[3:]) for r in rows}


def _plain(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode()
    return value


def by_course(rows: dict[tuple[int, int, int], tuple]) -> dict[int, dict]:
    courses: dict[int, dict] = {}
    for key, values in rows.items():
        courses.setdefault(key[2], {})[key] = values
    return courses
