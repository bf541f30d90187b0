"""One Moodle table missing or unreadable (an upgrade in progress, a revoked grant) must not silence
the product: commands that do not need it work, the sync fails naming it and records its failed run,
the worker keeps running and raises and delivers `sync_failed`, and everything recovers by itself once
the table is back. Exit 78 stays for "no Moodle tables under this prefix at all".
(The revoked-grant case on MariaDB/PostgreSQL is in test_db_grants.py.)"""

from __future__ import annotations

import json

from .support.cli_helpers import SYNC_RUNS, Alx, Peek, table
from .support.sinks import Webhook

COMPLETIONS = table("course_completions")


def small_site(b) -> None:
    b.company(1)
    b.course(10, modules=2)
    b.company_course(1, 10)
    for uid in range(100, 105):
        b.user(uid)
        b.member(1, uid)
        b.enrol(uid, 10)


def test_a_missing_source_table_fails_the_sync_alerts_and_recovers(moodle, db_url, tmp_path):
    small_site(moodle)
    with Webhook() as hook:
        alx = Alx(tmp_path, db_url, ALX_ALERT_WEBHOOK_URL=hook.url, ALX_ALERT_THRESHOLD="low")
        alx.ok("install")
        alx.ok("sync")
        with Peek(db_url) as peek:
            peek.execute(f"ALTER TABLE {COMPLETIONS} RENAME TO {table('cc_away')}")

        # Commands that do not read the table work.
        for args in (("runs", "--json"), ("alerts", "list", "--json"), ("token", "list", "--json")):
            alx.json(*args)
        assert alx("check").code == 1  # unhealthy, naming the table, but not a configuration error

        failed = alx("sync")
        assert failed.code == 1 and COMPLETIONS in failed.stderr and "recorded" in failed.stderr, failed
        latest = alx.json("runs", "--json")[0]
        assert latest["status"] == "failed" and COMPLETIONS in latest["error"]

        worker = alx("worker", "--once", "--json")
        assert worker.code == 1, worker  # a job failed; not 78 (systemd would stop restarting it)
        outcomes = {o["name"]: o for o in json.loads(worker.stdout)}
        assert outcomes["sync"]["status"] == "failed" and COMPLETIONS in outcomes["sync"]["detail"]
        assert outcomes["alerts"]["status"] == "ok" and outcomes["cleanup"]["status"] == "ok"
        alerts = {a["alert_type"]: a for a in alx.json("alerts", "list", "--json")}
        assert "sync_failed" in alerts
        assert any("sync_failed" in json.dumps(post) for post in hook.posts), hook.posts  # delivered

        with Peek(db_url) as peek:
            peek.execute(f"ALTER TABLE {table('cc_away')} RENAME TO {COMPLETIONS}")
        recovered = alx("worker", "--once", "--json")
        assert recovered.code == 0, recovered
        assert alx.json("runs", "--json")[0]["status"] == "success"
    with Peek(db_url) as peek:
        assert peek.scalar(f"SELECT COUNT(*) FROM {SYNC_RUNS} WHERE status = 'failed'") == 2
