"""Helpers for tests that drive the real `alx` command in a subprocess.

Every run gets an isolated environment: no ``ALX_*`` variable of the developer's shell, ``HOME`` and
``XDG_CONFIG_HOME`` inside the test's temporary directory and that directory as working directory
(so no ``./alx.toml`` or ``~/.config/alx/alx.toml`` leaks in), and ``ALX_NOW`` fixed for
deterministic runs. Every wait is bounded.

The database is inspected from the test process through a connection of its own
(:func:`tests.support.dbservers.peewee_database`), independent of the product's model binding.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
        self, *args: str, db: bool = True, env: dict[str, str] | None = None, timeout: float = TIMEOUT
    ) -> Result:
        argv = self.argv(args, db)
        proc = subprocess.run(
            [*alx_command(), *argv],
            cwd=self.workdir,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        result = Result(argv, proc.returncode, proc.stdout, proc.stderr)
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
