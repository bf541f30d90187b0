"""The daily rate limit is exact under concurrency: N clients racing for a limit L in separate
connections (as separate API processes would) are served exactly L times, on every backend."""

from __future__ import annotations

import threading

from alxapi.access import ratelimit
from models import schema
from models.db import open_database
from models.plugin import RequestCounter

NOW = 1_700_000_000


def test_concurrent_requests_never_overshoot_the_daily_limit(db_url):
    db = open_database(db_url, "mdl_")
    with db.connection_context():
        schema.install(db)
    limit, clients, tries = 25, 8, 10
    served = []
    start = threading.Barrier(clients)

    def client() -> None:
        with db.connection_context():  # one connection per thread, like one per API process
            start.wait()
            for _ in range(tries):
                if ratelimit.daily_limit_exceeded("m:1", limit, NOW, "UTC") is None:
                    served.append(1)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(served) == limit  # 80 attempts, exactly 25 served
    with db.connection_context():
        assert RequestCounter.get().count == limit  # refusals took nothing
        refused = ratelimit.daily_limit_exceeded("m:1", limit, NOW, "UTC")
        assert refused is not None and 0 < refused.retry_after <= 86_400
        assert ratelimit.daily_limit_exceeded("m:2", limit, NOW, "UTC") is None  # other tokens are apart
        assert ratelimit.daily_limit_exceeded("m:1", limit, NOW + 86_400, "UTC") is None  # a new day
    db.close()
