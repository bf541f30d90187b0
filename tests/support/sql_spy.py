"""Which SQL statements a block of code runs: for tests that assert what a path reads or writes."""

from __future__ import annotations

import threading
from contextlib import contextmanager


@contextmanager
def statements(db):
    """The SQL statements the current thread runs on ``db`` inside the block."""
    seen: list[str] = []
    me = threading.get_ident()
    original = db.execute_sql

    def spy(sql, *args, **kwargs):
        if threading.get_ident() == me:
            seen.append(sql)
        return original(sql, *args, **kwargs)

    db.execute_sql = spy
    try:
        yield seen
    finally:
        del db.execute_sql  # the class's method again
