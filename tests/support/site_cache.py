"""Sites built once per test process and copied into each test's own database.

Building the console's demo site (generate, install, sync, time spent, a week of history) takes a
second on MariaDB and PostgreSQL, and about 250 tests ask for the same one. The first test of a
process builds it into a template (a file for SQLite, a database on the same server otherwise);
every test then gets a copy in its own empty database: a file copy, ``CREATE DATABASE … TEMPLATE``
on PostgreSQL, tables ``LIKE`` theirs with their rows and counters on MariaDB. The copy is the
built site, row for row, so a test cannot tell it from one built for it alone.
"""

from __future__ import annotations

import atexit
import itertools
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from . import dbservers

_templates: dict[tuple, tuple[str, object]] = {}  # slot -> (template, what its build returned)
_numbers = itertools.count(1)
T = TypeVar("T")
_sqlite_dir: Path | None = None


def _sqlite_templates() -> Path:
    global _sqlite_dir
    if _sqlite_dir is None:
        _sqlite_dir = Path(tempfile.mkdtemp(prefix="alx-site-templates-"))
        atexit.register(shutil.rmtree, _sqlite_dir, True)
    return _sqlite_dir


def _server_on(port: int | None) -> dbservers._Server:
    for server in dbservers._live:
        if server.running and server.port == port:
            return server
    raise LookupError(f"no running test server on port {port}")


def fill(db_url: str, key: Hashable, build: Callable[[str], T]) -> T:
    """Make the empty database at ``db_url`` hold the site ``build(url)`` builds for ``key``;
    returns what that build returned (state of the builder that a copy's user carries on with)."""
    parsed = urlparse(db_url)
    if parsed.scheme == "sqlite":
        slot = ("sqlite", key)
        if slot not in _templates:
            template = str(_sqlite_templates() / f"site-{next(_numbers)}.sqlite3")
            built = build(f"sqlite:///{template}")
            con = sqlite3.connect(template)
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every row in the file itself
            con.close()
            _templates[slot] = (template, built)
        template, built = _templates[slot]
        shutil.copyfile(template, db_url[len("sqlite:///") :])  # relative paths too
        return built
    server = _server_on(parsed.port)
    # The port names the server: one restarted afresh (new port, new data) builds its own template.
    slot = (parsed.scheme, parsed.port, key)
    if slot not in _templates:
        template = f"alx_site_{next(_numbers)}"
        _templates[slot] = (template, build(server.create_database(template)))
    template, built = _templates[slot]
    server.copy_database(template, parsed.path.lstrip("/"))
    return built
