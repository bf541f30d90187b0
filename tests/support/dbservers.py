"""Private MariaDB and PostgreSQL servers for the test suite.

Each server is a throw-away instance in its own temporary directory, listening on 127.0.0.1 on a free
port and on a unix socket inside that directory. Nothing touches the machine's own database services
(``.ci/install-db-servers.sh`` installs the packages and makes sure those services are stopped).

    server = MariaDBServer().start()          # or PostgreSQLServer()
    server.url                                # mysql://alx:<pw>@127.0.0.1:<port>/alx_test
    url = server.create_database("alx_t_1")   # fresh empty database owned by/granted to ``alx``
    server.drop_database("alx_t_1")
    server.execute_as_admin(["GRANT …"], database="alx_t_1")   # as the superuser, e.g. grants
    MariaDBServer(extra_args=["--innodb-buffer-pool-size=1G"])  # more server options (benchmarks)
    server.stop(keep_data=True); server.start()   # clean restart, same port, same data
    server.stop_hard(); server.start()            # SIGKILL (crash) and restart with crash recovery
    server.stop()                                 # stop and remove the temporary directory

Servers run as child processes of the test process and are stopped by their own pid (never by
process name). Two safety nets behind the pytest finalizers: an ``atexit`` hook stops whatever is still
running when the interpreter exits, and the kernel signals the servers if the test process dies
without exiting (SIGKILL), so no server outlives its test run.

As root, MariaDB runs as root (``--user=root``) and PostgreSQL as the ``postgres`` system user.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import peewee

STARTUP_TIMEOUT = 30.0  # seconds until a started server must accept connections
SHUTDOWN_TIMEOUT = 30.0  # seconds for a clean shutdown before we fall back to SIGKILL
TEST_USER = "alx"
TEST_DATABASE = "alx_test"

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# Every server that still owns a temporary directory, for the atexit safety net.
_live: set[_Server] = set()


class ServerError(RuntimeError):
    """A test database server could not be installed, started, stopped or used."""


# --------------------------------------------------------------------------------------------------
# Small helpers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now.

    Another process may grab it before the server binds it; ``start()`` retries with a new port when
    the server reports "Address already in use".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie.

    PostgreSQL backends outlive a killed postmaster by a moment and are re-parented to PID 1; in
    containers whose PID 1 does not reap, they stay zombies forever: treat that as dead.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): trust kill(0)
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc; the comm field may contain spaces and parentheses)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            children.append(int(entry))
    return children


def wait_for_exit(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(pid_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _find_executable(names: list[str], extra_dirs: list[str]) -> str | None:
    """First of ``names`` on PATH or in ``extra_dirs`` (sbin is often missing from non-root PATHs)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *extra_dirs])
    for name in names:
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


def _check_name(name: str) -> str:
    # Database names are interpolated into DDL (identifiers cannot be bound as parameters).
    if not _NAME_RE.match(name):
        raise ValueError(f"database name {name!r} must match {_NAME_RE.pattern}")
    return name


def peewee_database(url: str) -> peewee.Database:
    """A peewee database (not connected) for a ``sqlite:///``, ``mysql://`` or ``postgresql://`` URL.

    Deliberately independent of the product's own URL parsing, so the test infrastructure can be
    checked on its own. MySQL connections use ``utf8mb4`` like Moodle.
    """
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        return peewee.SqliteDatabase(unquote(parsed.path[1:]))
    kwargs = dict(
        host=parsed.hostname,
        port=parsed.port,
        user=unquote(parsed.username or ""),
        password=unquote(parsed.password or ""),
    )
    name = parsed.path.lstrip("/")
    if parsed.scheme == "mysql":
        # No TLS to the loopback test servers: PyMySQL would load the system's CA bundle for every
        # connection (~22 ms of CPU each).
        return peewee.MySQLDatabase(name, charset="utf8mb4", connect_timeout=10, ssl_disabled=True, **kwargs)
    if parsed.scheme == "postgresql":
        return peewee.PostgresqlDatabase(name, connect_timeout=10, **kwargs)
    raise ValueError(f"unsupported URL scheme in {url!r}")


# --------------------------------------------------------------------------------------------------
# Common server life cycle


class _Server:
    """Life cycle shared by both engines; subclasses provide the engine-specific steps.

    The server process is always our direct child (``subprocess.Popen``), never a daemon: we know its
    pid without trusting pid files, and we reap it ourselves. (Daemonizing through ``pg_ctl start``
    re-parents the server to PID 1; in containers whose PID 1 does not reap, a killed server stays a
    zombie whose pid PostgreSQL then mistakes for a running postmaster and refuses to restart.)
    """

    kind = ""  # "mariadb" / "postgresql"
    scheme = ""  # peewee URL scheme
    stop_signal = signal.SIGTERM  # the engine's clean, prompt shutdown signal
    orphan_signal = signal.SIGTERM  # sent by the kernel if the test process dies (see _popen)

    def __init__(
        self, *, startup_timeout: float = STARTUP_TIMEOUT, extra_args: list[str] | tuple[str, ...] = ()
    ):
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args)  # appended to the server's command line (e.g. benchmark tuning)
        self.password = secrets.token_hex(12)  # URL-safe; the server is reachable by local users
        self.port: int | None = None
        self.tmpdir: Path | None = None
        self.version = ""
        self.install_seconds = 0.0  # mariadb-install-db / initdb
        self.start_seconds = 0.0  # last start(): launch until the first successful connection
        self.first_start_seconds = 0.0
        self._proc: subprocess.Popen | None = None
        self._initialized = False  # the alx user and the alx_test database exist

    # -- public API --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Peewee URL of the ``alx_test`` database as user ``alx``."""
        return self.url_for(TEST_DATABASE)

    def url_for(self, name: str) -> str:
        return f"{self.scheme}://{TEST_USER}:{self.password}@127.0.0.1:{self.port}/{name}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running else None

    def start(self) -> _Server:
        """Create the data directory on first use, start the server and wait until it accepts connections.

        A restart (after ``stop(keep_data=True)`` or ``stop_hard()``) reuses the data and the port, so
        URLs handed out earlier stay valid. Call it from the main thread (see ``_popen``).
        """
        if self.running:
            return self
        if self.tmpdir is None:
            self.tmpdir = Path(tempfile.mkdtemp(prefix=f"alx-{self.kind}-"))
            _live.add(self)
            t0 = time.monotonic()
            self._install()
            self.install_seconds = time.monotonic() - t0
        restart = self.port is not None
        for attempt in range(3):
            if not restart:
                self.port = free_port()
            t0 = time.monotonic()
            log_offsets = self._log_sizes()
            try:
                self._proc = self._launch()
                self._wait_ready(t0)
            except ServerError as exc:
                new_log = self._log_text(log_offsets)  # what this attempt wrote
                self._kill()
                if not restart:
                    self.port = None
                    if "Address already in use" in new_log and attempt < 2:
                        continue  # lost the race for the free port: pick another one
                tail = "\n".join(new_log.splitlines()[-30:])
                raise ServerError(f"{exc}\n--- server log ({self.tmpdir}) ---\n{tail}") from None
            self.start_seconds = time.monotonic() - t0
            break
        if not self._initialized:
            self.first_start_seconds = self.start_seconds
            self._setup()
            self._initialized = True
        self.version = self._query_version()
        return self

    def stop(self, keep_data: bool = False) -> None:
        """Clean shutdown; with ``keep_data=False`` (default) also delete the temporary directory."""
        try:
            if self.running:
                self._proc.send_signal(self.stop_signal)
                try:
                    self._proc.wait(SHUTDOWN_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self._kill()
                    raise ServerError(
                        f"{self.kind} did not shut down within {SHUTDOWN_TIMEOUT:.0f} s; killed it"
                    ) from None
        finally:
            if not keep_data:
                self._remove()

    def stop_hard(self) -> None:
        """Simulate a crash: SIGKILL the server processes; ``start()`` then runs crash recovery."""
        self._kill()

    def ensure_running(self) -> None:
        """Restart the server if a test stopped it and did not restart it (e.g. because it failed).

        After ``stop()`` without ``keep_data`` this is a brand-new server (new port and password).
        """
        if not self.running:
            self.start()

    def create_database(self, name: str) -> str:
        """Create an empty database that ``alx`` fully controls; return its URL."""
        self._create_database(_check_name(name))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whatever still uses it (a leaked connection must not hang us)."""
        self._drop_database(_check_name(name))

    def copy_database(self, template: str, name: str) -> None:
        """Make database ``name`` (existing and empty, or absent) a copy of ``template``, rows,
        indexes and counters alike: cheaper than building the same site again (see
        ``tests/support/site_cache.py``). Nothing may be connected to ``template``."""
        self._copy_database(_check_name(template), _check_name(name))

    def execute_as_admin(self, statements: list[str], database: str | None = None) -> None:
        """Run statements as the superuser over the unix socket (e.g. GRANTs), connected to ``database``."""
        with self._admin(_check_name(database)) if database else self._admin() as cur:
            for sql in statements:
                cur.execute(sql)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self._log_text().splitlines()[-lines:])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        state = f"running pid={self.pid}" if self.running else "stopped"
        return f"<{type(self).__name__} {state} port={self.port} dir={self.tmpdir}>"

    # -- shared internals --------------------------------------------------------------------------

    def _wait_ready(self, t0: float) -> None:
        """Poll a real connection until it works, the process dies or the timeout expires."""
        last_error: Exception | None = None
        while time.monotonic() - t0 < self.startup_timeout:
            if not self.running:
                raise ServerError(f"{self.kind} exited during start-up (exit code {self._proc.returncode})")
            try:
                with self._admin():
                    return
            except Exception as exc:  # the drivers' "cannot connect yet" errors vary
                last_error = exc
            time.sleep(0.05)
        raise ServerError(
            f"{self.kind} did not accept connections within {self.startup_timeout:.0f} s (last error: {last_error})"
        )

    def _popen(self, cmd: list[str], log_name: str, **kwargs) -> subprocess.Popen:
        # Orphan guard: if the test process dies without cleaning up (SIGKILL, interpreter crash),
        # the kernel sends the server its shutdown signal. setpriv (util-linux) sets it and then
        # execs the server, so the pid stays the server's. Linux delivers it when the *thread* that
        # started the server exits: start servers from the main thread.
        setpriv = shutil.which("setpriv")
        if setpriv:
            cmd = [setpriv, f"--pdeathsig={self.orphan_signal.name.removeprefix('SIG')}", "--", *cmd]
        with open(self.tmpdir / log_name, "ab") as out:  # the child keeps its own copy of the fd
            # Own session: Ctrl-C in the terminal reaches pytest only, whose finalizers then shut
            # the server down cleanly (instead of the server dying under the running tests).
            return subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.tmpdir,
                start_new_session=True,
                **kwargs,
            )

    def _run(self, cmd: list[str], what: str, timeout: float = 120.0, **kwargs) -> None:
        """Run a set-up command with its output in ``<what>.log``."""
        log = self.tmpdir / f"{what}.log"
        with open(log, "ab") as out:
            try:
                proc = subprocess.run(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.tmpdir,
                    timeout=timeout,
                    **kwargs,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ServerError(f"{what} failed: {exc}") from exc
        if proc.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise ServerError(f"{what} failed (exit {proc.returncode}): {shlex.join(cmd)}\n{tail}")

    def _kill(self) -> None:
        if self.running:
            self._proc.kill()
        if self._proc is not None:
            self._proc.wait()

    def _remove(self) -> None:
        if self.running:
            self._kill()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.tmpdir = None
        self.port = None
        self._initialized = False
        _live.discard(self)

    def _log_files(self) -> list[str]:
        raise NotImplementedError

    def _log_sizes(self) -> dict[str, int]:
        return {
            name: (self.tmpdir / name).stat().st_size
            for name in self._log_files()
            if (self.tmpdir / name).exists()
        }

    def _log_text(self, offsets: dict[str, int] | None = None) -> str:
        """All logs, each without its first ``offsets[name]`` bytes (what earlier starts wrote)."""
        if self.tmpdir is None:
            return ""
        offsets = offsets or {}
        chunks = [
            (self.tmpdir / name).read_bytes()[offsets.get(name, 0) :]
            for name in self._log_files()
            if (self.tmpdir / name).exists()
        ]
        return b"".join(chunks).decode("utf-8", "replace")

    # -- engine-specific ---------------------------------------------------------------------------

    def _install(self) -> None:
        raise NotImplementedError

    def _launch(self) -> subprocess.Popen:
        raise NotImplementedError

    def _admin(self) -> contextlib.AbstractContextManager:
        """A cursor of an autocommit superuser connection over the unix socket."""
        raise NotImplementedError

    def _setup(self) -> None:
        raise NotImplementedError

    def _query_version(self) -> str:
        raise NotImplementedError

    def _create_database(self, name: str) -> None:
        raise NotImplementedError

    def _drop_database(self, name: str) -> None:
        raise NotImplementedError


# --------------------------------------------------------------------------------------------------
# MariaDB


class MariaDBServer(_Server):
    kind = "mariadb"
    scheme = "mysql"
    stop_signal = signal.SIGTERM  # mariadbd: clean shutdown (what mariadb-admin shutdown does)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.mariadbd = _find_executable(["mariadbd", "mysqld"], ["/usr/sbin", "/usr/local/sbin"])
        self.install_db = _find_executable(["mariadb-install-db", "mysql_install_db"], ["/usr/bin"])
        if not self.mariadbd or not self.install_db:
            raise ServerError(
                "MariaDB is not installed (mariadbd / mariadb-install-db): run .ci/install-db-servers.sh"
            )

    @property
    def socket_path(self) -> Path:
        return self.tmpdir / "mysqld.sock"

    @property
    def datadir(self) -> Path:
        return self.tmpdir / "data"

    def _common_options(self) -> list[str]:
        # --no-defaults: ignore /etc/mysql (the packaged service's port, socket, datadir and users).
        opts = ["--no-defaults", f"--datadir={self.datadir}", "--innodb-log-file-size=16M"]
        # mariadbd refuses to run as root unless told so explicitly. We run it as root rather than
        # switching to the "mysql" user: the data directory is private and throw-away, its files
        # stay owned by the test process (cleanup just works), and there is no chown dance on the
        # temporary directory. As a normal user (developer machine) no --user is needed.
        if os.geteuid() == 0:
            opts.append("--user=root")
        return opts

    def _install(self) -> None:
        cmd = [
            self.install_db,
            *self._common_options(),
            # Password-less root accounts (see _setup); the "socket" method would tie root to the OS
            # user running the tests.
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            # The bootstrap's temporary tables are named after pid and thread; in a shared /tmp, two
            # installs at once (pytest-xdist workers) can collide and fail ("Unknown table
            # 'mysql.tmp_user_sys'"). A private tmpdir per server rules that out.
            f"--tmpdir={self.tmpdir}",
        ]
        self._run(cmd, "mariadb-install-db")

    def _launch(self) -> subprocess.Popen:
        cmd = [
            self.mariadbd,
            *self._common_options(),
            f"--socket={self.socket_path}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",  # loopback only, never the machine's other interfaces
            "--skip-networking=0",
            f"--pid-file={self.tmpdir / 'mysqld.pid'}",
            f"--log-error={self.tmpdir / 'mysqld.err'}",
            f"--tmpdir={self.tmpdir}",
            "--skip-name-resolve",  # no DNS look-ups for clients (slow or hanging without network)
            # --no-defaults also skipped Debian's config that sets utf8mb4; the compiled-in default
            # is latin1. Moodle's tables are utf8mb4 / utf8mb4_unicode_ci.
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            # Speed without lying to crash tests: the redo log reaches the OS at every commit and is
            # fsync'ed once a second, so a killed mariadbd loses nothing committed (an OS crash
            # could, which tests never simulate).
            "--innodb-flush-log-at-trx-commit=2",
            "--innodb-buffer-pool-size=64M",
            *self.extra_args,
        ]
        return self._popen(cmd, "mysqld.out")

    def _log_files(self) -> list[str]:
        return ["mariadb-install-db.log", "mysqld.out", "mysqld.err"]

    @contextlib.contextmanager
    def _admin(self, database: str | None = None):
        import pymysql

        conn = pymysql.connect(
            unix_socket=str(self.socket_path),
            user="root",
            database=database,
            charset="utf8mb4",
            connect_timeout=5,
            autocommit=True,
            ssl_disabled=True,  # a unix socket; PyMySQL would still load the CA bundle (~22 ms of CPU)
        )
        try:
            yield conn.cursor()
        finally:
            conn.close()

    def _setup(self) -> None:
        with self._admin() as cur:
            # mariadb-install-db also creates password-less root@127.0.0.1, root@::1 and
            # root@<hostname>: anyone on this machine could log in over TCP. Keep only
            # root@localhost, which (with --skip-name-resolve) means our 0700 socket directory.
            cur.execute(
                "SELECT user, host FROM mysql.user WHERE (user = 'root' AND host <> 'localhost') OR user = ''"
            )
            for user, host in cur.fetchall():
                cur.execute("DROP USER %s@%s", (user, host))
            cur.execute(f"CREATE USER '{TEST_USER}'@'127.0.0.1' IDENTIFIED BY %s", (self.password,))
        self._create_database(TEST_DATABASE)

    def _query_version(self) -> str:
        with self._admin() as cur:
            cur.execute("SELECT VERSION()")
            return cur.fetchone()[0]

    def _create_database(self, name: str) -> None:
        with self._admin() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            cur.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{TEST_USER}'@'127.0.0.1'")

    def _copy_database(self, template: str, name: str) -> None:
        # No CREATE DATABASE … TEMPLATE: each table LIKE its template (indexes included), its rows,
        # and its AUTO_INCREMENT counter (ids of rows a test adds are those of a built site).
        with self._admin() as cur:
            cur.execute(
                f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
            cur.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{TEST_USER}'@'127.0.0.1'")
            cur.execute(
                "SELECT TABLE_NAME, AUTO_INCREMENT, TABLE_ROWS FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE'",
                (template,),
            )
            tables = cur.fetchall()
            cur.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0")
            for table, counter, _rows in tables:
                cur.execute(f"CREATE TABLE `{name}`.`{table}` LIKE `{template}`.`{table}`")
                cur.execute(f"INSERT INTO `{name}`.`{table}` SELECT * FROM `{template}`.`{table}`")
                if counter:
                    cur.execute(f"ALTER TABLE `{name}`.`{table}` AUTO_INCREMENT = {int(counter)}")

    def _drop_database(self, name: str) -> None:
        with self._admin() as cur:
            # A connection left in a transaction holds metadata locks and DROP would wait for it
            # (lock_wait_timeout defaults to a year): end the database's sessions first.
            cur.execute(
                "SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()",
                (name,),
            )
            for (thread_id,) in cur.fetchall():
                with contextlib.suppress(Exception):  # it may have gone meanwhile
                    cur.execute(f"KILL {int(thread_id)}")
            cur.execute("SET SESSION lock_wait_timeout = 30")
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


# --------------------------------------------------------------------------------------------------
# PostgreSQL


def _postgres_bindir() -> Path | None:
    """Directory holding initdb/postgres: PATH first, else Debian's newest /usr/lib/postgresql/<v>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not candidates:
        return None
    newest = max(candidates, key=lambda p: int(re.search(r"/(\d+)/bin/", p).group(1)))
    return Path(newest).parent


class PostgreSQLServer(_Server):
    kind = "postgresql"
    scheme = "postgresql"
    stop_signal = signal.SIGINT  # postmaster: "fast" shutdown, what `pg_ctl stop -m fast` sends
    orphan_signal = signal.SIGQUIT  # postmaster: "immediate" shutdown, takes its backends along

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.bindir = _postgres_bindir()
        if self.bindir is None:
            raise ServerError("PostgreSQL is not installed (initdb): run .ci/install-db-servers.sh")
        # PostgreSQL refuses to run as root. As root we run initdb and postgres as the "postgres"
        # system user (created by the Debian package) through Popen's user=/group= (a setuid in the
        # child, like runuser but with the server as our own child); otherwise as ourselves.
        self._as_postgres: dict = {}
        if os.geteuid() == 0:
            import pwd

            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                raise ServerError(
                    "running as root but there is no 'postgres' user to run PostgreSQL as"
                ) from None
            self._as_postgres = dict(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])

    @property
    def datadir(self) -> Path:
        return self.tmpdir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.tmpdir

    def _install(self) -> None:
        if self._as_postgres:
            # Data directory and socket live here, so it must belong to postgres (mkdtemp: 0700).
            os.chown(self.tmpdir, self._as_postgres["user"], self._as_postgres["group"])
        cmd = [
            str(self.bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            "postgres",
            # Explicit encoding/locale: CI often has no LANG, and initdb would then pick SQL_ASCII.
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            # Unix socket (in our 0700 directory) trusted for the superuser set-up; TCP needs alx's
            # password.
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",  # throw-away cluster
        ]
        try:
            self._run(cmd, "initdb", **self._as_postgres)
        except ServerError as exc:
            hint = f"\n(hint: {self.tmpdir.parent} must be searchable by the postgres user; try TMPDIR=/tmp)"
            raise ServerError(f"{exc}{hint if self._as_postgres else ''}") from None

    def _launch(self) -> subprocess.Popen:
        cmd = [
            str(self.bindir / "postgres"),
            "-D",
            str(self.datadir),
            "-p",
            str(self.port),
            "-k",
            str(self.socket_dir),
            "-c",
            "listen_addresses=127.0.0.1",  # loopback only
            # Speed without lying to crash tests: every commit still reaches the OS before it is
            # acknowledged (synchronous_commit stays on), so killed server processes lose nothing
            # committed; only an OS crash could, which tests never simulate.
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            *self.extra_args,
        ]
        return self._popen(cmd, "postgresql.log", **self._as_postgres)

    def _log_files(self) -> list[str]:
        return ["initdb.log", "postgresql.log"]

    def _kill(self) -> None:
        # Kill the backends with the postmaster: a restart refuses to start while old backends are
        # still attached to the shared memory. List them first, they get re-parented.
        if self.running:
            children = child_pids(self._proc.pid)
            self._proc.kill()
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self._proc.wait()
            if not wait_for_exit(children, SHUTDOWN_TIMEOUT):
                raise ServerError(f"postgres processes {children} survived SIGKILL")
        super()._kill()

    @contextlib.contextmanager
    def _admin(self, database: str = "postgres"):
        import psycopg2

        conn = psycopg2.connect(
            host=str(self.socket_dir), port=self.port, user="postgres", dbname=database, connect_timeout=5
        )
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
        try:
            with conn.cursor() as cur:
                yield cur
        finally:
            conn.close()

    def _setup(self) -> None:
        with self._admin() as cur:
            cur.execute(f"CREATE ROLE {TEST_USER} LOGIN PASSWORD %s", (self.password,))
        self._create_database(TEST_DATABASE)

    def _query_version(self) -> str:
        with self._admin() as cur:
            cur.execute("SHOW server_version")
            return cur.fetchone()[0]

    def _create_database(self, name: str) -> None:
        with self._admin() as cur:
            # Owner alx: since PostgreSQL 15 schema public belongs to pg_database_owner, so the
            # database owner may create tables there (a mere GRANT ALL ON DATABASE would not do).
            sql = f'CREATE DATABASE "{name}" OWNER {TEST_USER}'
            cur.execute("SHOW server_version_num")
            if int(cur.fetchone()[0]) >= 150000:
                # 15's default (WAL_LOG) copies the template through the WAL: ~35 ms; with fsync off
                # the old file copy takes ~15 ms, which adds up over one database per test.
                sql += " STRATEGY FILE_COPY"
            cur.execute(sql)

    def _copy_database(self, template: str, name: str) -> None:
        with self._admin() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            sql = f'CREATE DATABASE "{name}" TEMPLATE "{template}" OWNER {TEST_USER}'
            cur.execute("SHOW server_version_num")
            if int(cur.fetchone()[0]) >= 150000:
                sql += " STRATEGY FILE_COPY"  # see _create_database
            cur.execute(sql)

    def _drop_database(self, name: str) -> None:
        with self._admin() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # FORCE: ends open sessions


@atexit.register
def _stop_all() -> None:
    """Safety net: stop every server a crashed or interrupted test run left behind."""
    for server in list(_live):
        try:
            server.stop()
        except Exception:
            with contextlib.suppress(Exception):
                server.stop_hard()
            server._remove()


SERVER_CLASSES: dict[str, type[_Server]] = {"mariadb": MariaDBServer, "postgresql": PostgreSQLServer}


def with_driver(url: str, driver: str | None) -> str:
    """``mysql://…`` as ``mysql+<driver>://…`` (other URLs, or no driver: unchanged)."""
    return url.replace("mysql://", f"mysql+{driver}://", 1) if driver else url
