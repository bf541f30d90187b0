"""The demo's Moodle log and last accesses (SPEC §8.1): events as Moodle writes them, the kinds the
time-spent rules exclude, last accesses consistent with the log, and every at-risk reason alive."""

from __future__ import annotations

from collections import Counter

from alxapi.analytics.reports import RunContext, get_report
from alxapi.analytics.timespent import refresh
from alxapi.config import load_config
from alxapi.demo.generator import generate
from alxapi.reporting.sync import SyncEngine, SyncOptions
from models import schema
from models.db import open_database

NOW = 1_772_445_600


def test_the_demo_log_feeds_time_spent_and_every_risk_reason(db_url):
    config = load_config(flags={"timezone": "Europe/Berlin"}, env={}, search_paths=[])
    db = open_database(db_url, "mdl_")
    with db.connection_context():
        counts = generate(db, "mdl_", size="small", seed=42, now=NOW)
        schema.install(db)
        assert counts["logstore_standard_log"] > 10 * counts["user_enrolments"]
        one = db.execute_sql(
            "SELECT SUM(anonymous), SUM(CASE WHEN realuserid IS NOT NULL THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN courseid = 1 THEN 1 ELSE 0 END), SUM(CASE WHEN courseid = 0 THEN 1 ELSE 0 END), "
            "COUNT(DISTINCT id), COUNT(*), MAX(timecreated) FROM mdl_logstore_standard_log"
        ).fetchone()
        anonymous, logged_in_as, site_course, logins, distinct, total, latest = (int(v) for v in one)
        assert min(anonymous, logged_in_as, site_course, logins) > 0 and distinct == total and latest < NOW
        mismatched = db.execute_sql(
            "SELECT COUNT(*) FROM mdl_user_lastaccess la WHERE la.timeaccess <> (SELECT MAX(l.timecreated) "
            "FROM mdl_logstore_standard_log l WHERE l.userid = la.userid AND l.courseid = la.courseid)"
        ).fetchone()[0]
        assert mismatched == 0
        SyncEngine(db, SyncOptions(report_roles=["student"]), clock=lambda: NOW).run()
        result = refresh(db, config, NOW)
        assert result.rows > 0
        reasons = Counter()
        for row in get_report("engagement").run(RunContext(None, NOW, config)):
            reasons.update(row[-1])
        assert set(reasons) == {"low_time", "inactive", "low_completion", "low_engagement"}
        learners = get_report("engagement").run(RunContext(None, NOW, config))
        assert any(
            row[6] >= 3600 and row[10] is not None and row[10] <= 14 for row in learners
        )  # active ones too
    db.close()
