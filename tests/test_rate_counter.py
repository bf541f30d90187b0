"""The failed-authentication throttle is exact under concurrency: N scanners racing for a limit L in
separate connections (as separate API processes would) are counted exactly L times, on every backend.
(The daily request limit, counted in memory per process, is tested in test_hot_path.py.)"""

from __future__ import annotations

import threading

from alxapi.access import ratelimit
from models import schema
from models.db import open_database

NOW = 1_700_000_000


def test_concurrent_failed_authentications_are_counted_exactly(db_url):
    db = open_database(db_url, "mdl_")
    with db.connection_context():
        schema.install(db)
    limit, clients, tries, window = 25, 8, 10, 600
    counted, refused = [], []
    start = threading.Barrier(clients)

    def scanner(i: int) -> None:
        with db.connection_context():
            start.wait()
            for _ in range(tries):  # different hosts of one IPv6 /64: one budget
                outcome = ratelimit.failed_authentication(f"2001:db8:7::{i:x}", NOW, limit, window)
                (counted if outcome is None else refused).append(outcome)

    threads = [threading.Thread(target=scanner, args=(i,)) for i in range(1, clients + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(counted) == limit and len(refused) == clients * tries - limit
    assert all(0 < r.retry_after <= window for r in refused)
    with db.connection_context():
        assert ratelimit.failed_authentication("2001:db8:8::1", NOW, limit, window) is None  # another /64
        assert (
            ratelimit.failed_authentication("2001:db8:7::1", NOW + window, limit, window) is None
        )  # next window
    db.close()
