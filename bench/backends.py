"""The benchmarks on SQLite, MariaDB and PostgreSQL: private servers and the same data on each.

MariaDB and PostgreSQL run as private servers started by the benchmark (``tests/support/dbservers.py``:
127.0.0.1, a free port, a temporary directory, stopped by their own pid), with more memory than the
test suite gives them (see ``TUNING``). Each gets the very rows of the cached SQLite database of the
size: Moodle's tables are created with the generator's schema, loaded in bulk, then indexed and
analysed, as a restored Moodle database would be.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import time
from pathlib import Path

BACKENDS = ("sqlite", "mariadb", "postgresql")
TUNING = {
    # Comparable memory for both servers; durability as in the test suite (commits reach the OS).
    # Consecutive auto-increment ids across INSERT … SELECT statements, as Moodle's log writer gets
    # them from its multi-row INSERT … VALUES (mode 1 leaves a gap after each bulk insert, which
    # the log feed rightly refuses to trust).
    "mariadb": ["--innodb-buffer-pool-size=1G", "--innodb-autoinc-lock-mode=0"],
    "postgresql": [
        "-c",
        "shared_buffers=1GB",
        "-c",
        "work_mem=64MB",
        "-c",
        "maintenance_work_mem=256MB",
        "-c",
        "effective_cache_size=2GB",
    ],
}
LOAD_CHUNK = 5000


def parse_backends(text: str) -> list[str]:
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = sorted(set(names) - set(BACKENDS))
    if unknown or not names:
        raise SystemExit(
            f"unknown database backend(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(BACKENDS)}"
        )
    return [n for n in BACKENDS if n in names]


class Servers(contextlib.ExitStack):
    """Private MariaDB/PostgreSQL servers, started on first use and stopped on exit."""

    def __init__(self):
        super().__init__()
        self.servers: dict = {}

    def get(self, backend: str):
        if backend not in self.servers:
            root = Path(__file__).resolve().parent.parent
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            from tests.support.dbservers import SERVER_CLASSES

            server = SERVER_CLASSES[backend](extra_args=TUNING[backend])
            self.callback(server.stop)  # registered first: a failed start is cleaned up too
            print(f"starting a private {backend} server …", file=sys.stderr)
            server.start()
            self.servers[backend] = server
        return self.servers[backend]

    def database(self, backend: str, name: str) -> str:
        """URL of a fresh database ``name`` on the backend's server (dropped first if it exists)."""
        server = self.get(backend)
        server.drop_database(name)
        return server.create_database(name)


def load_moodle(source: Path, url: str, prefix: str = "mdl_") -> float:
    """Copy the Moodle tables of the SQLite file ``source`` into the empty database at ``url``."""
    from alxapi.demo.moodle_schema import TABLES, create_moodle_indexes, create_moodle_schema
    from models.db import dialect, make_database

    started = time.monotonic()
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    present = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables = [t for t in TABLES if prefix + t in present]
    db = make_database(url)
    with db.connection_context():
        create_moodle_schema(db, prefix, tables, indexes=False)
        kind = dialect(db)
        conn = db.connection()
        for table in tables:
            name = prefix + table
            cur = src.execute(f'SELECT * FROM "{name}"')
            columns = [d[0] for d in cur.description]
            quoted = ", ".join(db.quote[0] + c + db.quote[1] for c in columns)
            target = db.quote[0] + name + db.quote[1]
            with conn.cursor() as out:
                while rows := cur.fetchmany(LOAD_CHUNK):
                    if kind == "postgresql":
                        from psycopg2.extras import execute_values

                        execute_values(
                            out, f"INSERT INTO {target} ({quoted}) VALUES %s", rows, page_size=LOAD_CHUNK
                        )
                    else:  # both MariaDB drivers turn this into multi-row INSERTs
                        out.executemany(
                            f"INSERT INTO {target} ({quoted}) VALUES ({', '.join(['%s'] * len(columns))})",
                            rows,
                        )
            if kind == "postgresql" and "id" in columns:  # serial columns continue after the copied ids
                db.execute_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {target}), 0) + 1, false)"
                )
        create_moodle_indexes(db, prefix, tables)
        analyse(db, [prefix + t for t in tables])
    db.close()
    src.close()
    return time.monotonic() - started


def analyse(db, tables: list[str]) -> None:
    """Fresh planner statistics, as a live server would have them."""
    from models.db import dialect

    kind = dialect(db)
    if kind == "postgresql":
        db.execute_sql("ANALYZE")
    elif kind == "mysql":
        for name in tables:
            db.execute_sql(f"ANALYZE TABLE `{name}`").fetchall()
    else:
        db.execute_sql("ANALYZE")


def execute(url: str, statements: list[str]) -> None:
    """Run statements in one transaction on any backend (for the benchmark's data changes)."""
    from models.db import make_database

    db = make_database(url)
    with db.connection_context(), db.atomic():
        for sql in statements:
            db.execute_sql(sql)
    db.close()


def query(url: str, sql: str) -> list[tuple]:
    from models.db import make_database

    db = make_database(url)
    with db.connection_context():
        rows = db.execute_sql(sql).fetchall()
    db.close()
    return rows
