"""The read path writes nothing (issue 15): request-log rows and rate-limit counts are noted in memory
and written by the background writer; pass state is written once per page, and only when the pass
moves. Statements are counted on the request's own thread, on every backend."""

from __future__ import annotations

import re
import threading

from alxapi.access import ratelimit
from alxapi.access import settings as company_settings
from alxapi.api.background import BackgroundWriter
from models.plugin import ApiLog, RequestCounter

from .support.api_helpers import build_site
from .support.sql_spy import statements

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.I)
NOW = 1_700_000_000


def writes(seen: list[str], table: str = "") -> list[str]:
    return [s for s in seen if WRITE.match(s) and table in s]


def test_served_pages_write_nothing_until_the_writer_flushes(db_url):
    site = build_site(db_url, rate_limit=50)
    with site.db.connection_context():
        company_settings.set_values(1, {"sync_mode": "3"}, "tests", site.now)  # no pass state
    writer = site.app.context.writer
    writer.interval = 3600  # started, but the test decides when it writes (close)
    writer.start()
    try:
        site.page(limit=3)  # the first page of the day reads the token's count once
        with statements(site.db) as seen:
            for _ in range(5):
                assert len(site.page(limit=3)) == 3  # cached Moodle pages
                r = site.client.simulate_get(
                    "/api/v1/course-progress", headers={"Authorization": f"Bearer {site.tokens[1]}"}
                )
                assert r.status_code == 200
        assert seen and not writes(seen), writes(seen)
        with site.db.connection_context():
            assert ApiLog.select().count() == 0 and RequestCounter.select().count() == 0
    finally:
        writer.close()  # at shutdown everything noted is written
    with site.db.connection_context():
        assert ApiLog.select().count() == 11
        assert RequestCounter.get().count == 11


def test_a_page_writes_its_pass_once_and_only_when_the_pass_moves(db_url):
    site = build_site(db_url, users_per_company=5)  # 10 rows in company 1
    with site.db.connection_context():
        company_settings.set_values(1, {"sync_mode": "2"}, "tests", site.now)  # every pass full
    with statements(site.db) as seen:
        assert len(site.page(limit=4, offset=0)) == 4
    assert len(writes(seen, "sync_status")) == 1  # pinned and moved in one statement
    for offset, rows in ((4, 4), (8, 2)):
        with statements(site.db) as seen:
            assert len(site.page(limit=4, offset=offset)) == rows
        assert len(writes(seen, "sync_status")) == 1
    # A retried page of a pass that is already past it moves nothing and writes nothing.
    site.page(limit=4, offset=0)
    site.page(limit=4, offset=4)
    with statements(site.db) as seen:
        assert len(site.page(limit=4, offset=4)) == 4
    assert writes(seen, "sync_status") == []
    # A first page that is also the last starts and completes its pass in one statement.
    with statements(site.db) as seen:
        assert len(site.page(limit=100, offset=0)) == 10
    assert len(writes(seen, "sync_status")) == 1


def test_one_process_is_exact_under_concurrency(db_url):
    site = build_site(db_url)  # the schema and a database for the threads
    budgets = ratelimit.DailyBudgets()
    limit, clients, tries = 25, 8, 10
    served: list[int] = []
    start = threading.Barrier(clients)

    def client() -> None:
        with site.db.connection_context():
            start.wait()
            for _ in range(tries):
                if budgets.take("m:1", limit, NOW, "UTC") is None:
                    served.append(1)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(served) == limit
    with site.db.connection_context():
        assert budgets.flush() == limit
        assert RequestCounter.get().count == limit
        refused = budgets.take("m:1", limit, NOW, "UTC")
        assert refused is not None and refused.used == limit and 0 < refused.retry_after <= 86_400
        assert budgets.take("m:1", limit, NOW + 86_400, "UTC") is None  # a new day


def test_processes_see_each_others_counts_at_each_flush(db_url):
    """The documented tolerance: another process's requests are seen once both have flushed."""
    site = build_site(db_url)
    a, b = ratelimit.DailyBudgets(), ratelimit.DailyBudgets()
    with site.db.connection_context():
        assert all(a.take("m:1", 10, NOW, "UTC") is None for _ in range(6))
        assert b.take("m:1", 10, NOW, "UTC") is None  # b has not seen a's six yet
        a.flush()
        b.flush()  # writes its one and reads 7
        served = sum(b.take("m:1", 10, NOW, "UTC") is None for _ in range(10))
        assert served == 3
        b.flush()
        a.flush()  # reads b's three
        assert a.take("m:1", 10, NOW, "UTC") is not None
        assert RequestCounter.get().count == 10


def test_counts_survive_a_failed_flush_and_are_added_once(db_url, monkeypatch):
    site = build_site(db_url)
    budgets = ratelimit.DailyBudgets()
    real_take = ratelimit._take
    calls: list[str] = []

    def add_then_fail(key, period_start, limit, n=1):
        calls.append(key)
        real_take(key, period_start, limit, n)  # the first key is written ...
        if len(calls) == 2:
            raise ratelimit.peewee.OperationalError("server has gone away")  # ... the second fails

    with site.db.connection_context():
        assert budgets.take("m:1", 0, NOW, "UTC") is None
        assert budgets.take("m:2", 0, NOW, "UTC") is None
        monkeypatch.setattr(ratelimit, "_take", add_then_fail)
        try:
            budgets.flush()
        except ratelimit.peewee.OperationalError:
            pass
        else:
            raise AssertionError("the flush should have failed")
        monkeypatch.setattr(ratelimit, "_take", real_take)
        assert RequestCounter.select().count() == 0  # all or nothing
        assert budgets.take("m:1", 0, NOW, "UTC") is None
        assert budgets.flush() == 3  # the failed flush's counts and the new one, once each
        counts = {r.token_ref: r.count for r in RequestCounter.select()}
        assert counts == {"m:1": 2, "m:2": 1}


def test_the_writer_thread_outlives_a_failing_flush(db_url):
    """A flush that fails for any reason (a bug, a pool refusing a connection) is logged; the thread
    goes on and the next flush writes."""
    site = build_site(db_url)
    calls: list[int] = []
    written = threading.Event()

    def part() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("Exceeded maximum connections.")
        written.set()
        return 1

    writer = BackgroundWriter(site.db, [part], interval=0.05)
    writer.start()
    try:
        assert written.wait(10) and writer.running
    finally:
        writer.close()
    assert not writer.running
