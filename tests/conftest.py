"""Shared pytest fixtures.

Databases: tests run against every selected backend, with real servers started by the test run itself
(see ``tests/support/dbservers.py``). Select backends with ``--databases=sqlite,mariadb`` or the environment
variable ``ALX_TEST_DATABASES`` (default: all three).

Fixtures:
    db_url          function  URL of a fresh, empty database; the test runs once per selected backend,
                              with ids [sqlite] / [mariadb] / [postgresql]
    db_backend      function  the current backend's name ("sqlite", "mariadb" or "postgresql")
    db_server       function  the running server (MariaDBServer / PostgreSQLServer) of the current
                              backend; tests using it run on the server backends only
    own_db_server   function  like db_server, but a server private to the test module, for fault
                              tests that stop or kill it
    mysql_driver    function  requested by a test, it runs on MariaDB once per driver (ids
                              [mariadb-mysqlclient] / [mariadb-pymysql]) and db_url names the driver
                              (mysql+pymysql://…); None on the other backends
    mariadb_server  session   the MariaDB server (started on first use, stopped at session end)
    postgresql_server session the PostgreSQL server (likewise)
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time

import pytest

from models.db import MYSQL_DRIVERS

from .support.dbservers import SERVER_CLASSES, with_driver

ALL_BACKENDS = ("sqlite", "mariadb", "postgresql")
SERVER_BACKENDS = tuple(SERVER_CLASSES)

_database_numbers = itertools.count(1)
_started_servers: dict[str, tuple[object, float]] = {}  # backend -> (server, seconds to ready)


def pytest_addoption(parser):
    parser.addoption(
        "--databases",
        default=os.environ.get("ALX_TEST_DATABASES", ",".join(ALL_BACKENDS)),
        help="comma-separated database backends to test: sqlite,mariadb,postgresql "
        "(default: $ALX_TEST_DATABASES, else all)",
    )


def selected_backends(config) -> list[str]:
    names = [name.strip().lower() for name in config.getoption("--databases").split(",") if name.strip()]
    unknown = sorted(set(names) - set(ALL_BACKENDS))
    if unknown:
        raise pytest.UsageError(
            f"unknown database backend(s) {', '.join(unknown)}; choose from {', '.join(ALL_BACKENDS)}"
        )
    return [name for name in ALL_BACKENDS if name in names]  # canonical order, no duplicates


RAM_TMPDIR = "/dev/shm"
RAM_TMPDIR_MIN_FREE = 4 << 30  # bytes: the servers' data directories and the SQLite sites of a run


def _temporary_files_in_ram() -> None:
    """The run's temporary files (servers' data directories, test databases, SQLite files, pytest's
    tmp_path) in RAM when /dev/shm is there and TMPDIR is not set.

    Creating files on the CI machine's ext4 root was a third of the suite's CPU: PostgreSQL copies
    its ~250 template files for every CREATE DATABASE and MariaDB creates one per table, and the
    kernel's inode allocator (``find_get_block_common``) took more CPU than the servers themselves.
    Set TMPDIR to keep them on disk.
    """
    if os.environ.get("TMPDIR") or not os.path.isdir(RAM_TMPDIR) or not os.access(RAM_TMPDIR, os.W_OK):
        return
    if shutil.disk_usage(RAM_TMPDIR).free < RAM_TMPDIR_MIN_FREE:
        return
    os.environ["TMPDIR"] = RAM_TMPDIR  # inherited by every server, `alx` run and xdist worker
    tempfile.tempdir = RAM_TMPDIR


def pytest_configure(config):
    selected_backends(config)  # fail on a typo before collecting anything
    _temporary_files_in_ram()


def pytest_generate_tests(metafunc):
    # One test per selected backend. Tests that need a server object run on the server backends
    # only; a plain db_url test also runs on SQLite.
    if "db_backend" in metafunc.fixturenames:
        backends = selected_backends(metafunc.config)
        if "db_server" in metafunc.fixturenames or "own_db_server" in metafunc.fixturenames:
            backends = [name for name in backends if name in SERVER_BACKENDS]
        if "mysql_driver" in metafunc.fixturenames:  # MariaDB once per driver
            pairs = [(b, d) for b in backends for d in (MYSQL_DRIVERS if b == "mariadb" else (None,))]
            ids = [f"{b}-{d}" if d else b for b, d in pairs]
            metafunc.parametrize(("db_backend", "mysql_driver"), pairs, ids=ids)
        else:
            metafunc.parametrize("db_backend", backends, ids=backends)


def _server_fixture(request, backend: str):
    """Start the backend's server once per session; a selected server that cannot start fails loudly."""
    if backend not in selected_backends(request.config):
        pytest.skip(f"{backend} is not among the selected databases (--databases / ALX_TEST_DATABASES)")
    error = None
    try:
        server = SERVER_CLASSES[backend]()
        # Registered before start(): a start that fails half-way still gets cleaned up.
        request.addfinalizer(server.stop)
        t0 = time.monotonic()
        server.start()
    except Exception as exc:
        error = f"could not start the {backend} test server: {exc}"
    if error:
        # Not a skip: CI must never silently drop a backend. Every test using it errors with this.
        pytest.fail(error, pytrace=False)
    _started_servers[backend] = (server, time.monotonic() - t0)
    return server


@pytest.fixture(scope="session")
def mariadb_server(request):
    return _server_fixture(request, "mariadb")


@pytest.fixture(scope="session")
def postgresql_server(request):
    return _server_fixture(request, "postgresql")


@pytest.fixture
def db_backend(request):
    """Name of the backend under test; parametrized by ``pytest_generate_tests``."""
    return request.param


@pytest.fixture
def db_server(request, db_backend):
    """The current backend's server; restarted afterwards if the test left it stopped."""
    server = request.getfixturevalue(f"{db_backend}_server")
    yield server
    server.ensure_running()


@pytest.fixture(scope="module")
def _own_servers(request):
    """Servers private to one test module, started on first use (see ``own_db_server``)."""
    servers: dict[str, object] = {}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def own_db_server(request, db_backend, _own_servers):
    """A server of the current backend private to the test module: fault tests stop, kill and restart
    it without disturbing the shared one. Restarted afterwards if the test left it stopped."""
    if db_backend not in _own_servers:
        if db_backend not in selected_backends(request.config):
            pytest.skip(
                f"{db_backend} is not among the selected databases (--databases / ALX_TEST_DATABASES)"
            )
        server = SERVER_CLASSES[db_backend]()
        _own_servers[db_backend] = server  # registered first: a failed start is cleaned up too
        try:
            server.start()
        except Exception as exc:
            pytest.fail(f"could not start a private {db_backend} server: {exc}", pytrace=False)
    server = _own_servers[db_backend]
    yield server
    server.ensure_running()


@pytest.fixture
def mysql_driver(request):
    """The MariaDB driver under test (None on other backends); parametrized by ``pytest_generate_tests``."""
    return request.param


@pytest.fixture
def db_url(request, db_backend, tmp_path):
    """URL of a fresh, empty database of the current backend, dropped after the test."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'moodle.sqlite3'}"  # absolute path: sqlite:////tmp/...
        return
    server = request.getfixturevalue(f"{db_backend}_server")
    name = f"alx_t_{next(_database_numbers)}"
    driver = request.getfixturevalue("mysql_driver") if "mysql_driver" in request.fixturenames else None
    url = with_driver(server.create_database(name), driver)
    yield url
    server.ensure_running()  # a fault test may have stopped it
    server.drop_database(name)


def pytest_terminal_summary(terminalreporter):
    # Start-up cost in CI logs: data directory creation, start until connectable, whole set-up.
    for backend, (server, seconds) in _started_servers.items():
        terminalreporter.write_line(
            f"{backend} test server {server.version}: ready in {seconds:.2f} s "
            f"(data directory {server.install_seconds:.2f} s, first start {server.first_start_seconds:.2f} s)"
        )


@pytest.fixture
def moodle(db_url):
    """An empty Moodle+IOMAD site (real schema) with the ALX tables installed, bound and connected."""
    from models.db import open_database
    from models.schema import install

    from .support.moodle_builder import MoodleBuilder

    db = open_database(db_url, "mdl_")
    with db.connection_context():
        install(db)
        yield MoodleBuilder(db, now=1_700_000_000)
    db.close()


@pytest.fixture
def snap_compare(snap_compare):
    """pytest-textual-snapshot's ``snap_compare``, the screenshot taken once the console is at rest
    (tui_helpers.settle): a snapshot taken while a second poll's rows were being laid out showed
    them with the header's widths (1 of ~60 snapshots, once in a CI run)."""
    from .support.tui_helpers import settle

    def compare(app, *args, run_before=None, **kwargs):
        async def then_settle(pilot) -> None:
            if run_before is not None:
                result = run_before(pilot)
                if result is not None:
                    await result
            await settle(pilot)

        return snap_compare(app, *args, run_before=then_settle, **kwargs)

    return compare
