"""Every alert rule, triggered from real data — real syncs, real API calls through the Falcon app,
rows written by the API's own request logger — and left quiet by data just under its threshold.
Then the lifecycle: repeats, cooldown per (type, subject), automatic resolution, severities."""

from __future__ import annotations

import pytest

from alxapi.alerts import lifecycle as alerts
from alxapi.alerts import rules as alert_rules
from alxapi.api import requestlog
from models.plugin import Alert

from .support.api_helpers import build_site

ATTACKER = "203.0.113.9"


@pytest.fixture
def site(db_url):
    return build_site(db_url, rate_limit=0)


def findings(site, alert_type: str, **settings) -> list[alert_rules.Finding]:
    config = site.config.replace(**settings) if settings else site.config
    return alert_rules.RULES[alert_type](alert_rules.Check(config, site.now))


def subjects(site, alert_type: str, **settings) -> list[str]:
    return [f.subject for f in findings(site, alert_type, **settings)]


def break_sync(site) -> None:
    """A real failure: the sync's SELECT meets a missing Moodle table."""
    site.b.execute("ALTER TABLE mdl_course_completions RENAME TO mdl_cc_away")
    with pytest.raises(Exception):  # noqa: B017 — the driver's own error class differs per backend
        site.sync()


def repair_sync(site) -> None:
    site.b.execute("ALTER TABLE mdl_cc_away RENAME TO mdl_course_completions")


def log_calls(
    site, n: int, *, response_ms: float = 50.0, cache_hit: bool = False, error_code: str = ""
) -> None:
    for _ in range(n):
        requestlog.write(
            requestlog.LogEntry(
                endpoint="moodle",
                timecreated=site.now,
                companyid=1,
                token_ref="m:1",
                response_time_ms=response_ms,
                cache_hit=cache_hit,
                error_code=error_code,
                http_status=400 if error_code else 200,
            )
        )


# --- sync rules -------------------------------------------------------------------------------------


def test_sync_failed_fires_on_a_failed_run_and_not_after_a_success(site):
    assert findings(site, "sync_failed") == []
    break_sync(site)
    [finding] = findings(site, "sync_failed")
    assert finding.subject == "sync" and "failed" in finding.message
    repair_sync(site)
    site.advance(16 * 60)  # past the check interval (15 min): only the last run counts
    assert site.sync().status == "success"
    assert findings(site, "sync_failed") == []


def test_a_failure_seen_by_the_next_check_is_reported_even_if_a_later_run_recovered(site):
    site.advance(60)
    break_sync(site)
    repair_sync(site)
    site.advance(60)
    assert site.sync().status == "success"
    [finding] = findings(site, "sync_failed", alert_check_minutes=15)
    assert "failed" in finding.message
    site.advance(15 * 60)  # the next check: the failure is old news and the last run succeeded
    assert findings(site, "sync_failed", alert_check_minutes=15) == []


def test_consecutive_failures_fire_only_from_the_configured_count(site):
    for _ in range(2):
        site.advance(60)
        break_sync(site)
        repair_sync(site)
    assert findings(site, "sync_failures", alert_sync_failures=3) == []
    site.advance(60)
    break_sync(site)
    [finding] = findings(site, "sync_failures", alert_sync_failures=3)
    assert finding.message.startswith("3 consecutive syncs failed")
    assert len(finding.data["run_ids"]) == 3


def test_sync_stale_fires_when_no_sync_succeeded_for_too_long(site):
    site.advance(2 * 3600 - 60)
    assert findings(site, "sync_stale", alert_sync_stale_hours=2) == []
    site.advance(120)
    [finding] = findings(site, "sync_stale", alert_sync_stale_hours=2)
    assert "No successful sync since 2.0 h" in finding.message


# --- API rules --------------------------------------------------------------------------------------


def test_slow_responses_fire_on_the_hours_average_with_enough_calls(site):
    log_calls(site, 19, response_ms=2500)
    assert findings(site, "slow_responses", alert_min_calls=20) == []  # too few calls to judge
    log_calls(site, 1, response_ms=2500)
    [finding] = findings(site, "slow_responses", alert_min_calls=20, alert_response_ms=2000)
    assert "2500 ms" in finding.message
    assert findings(site, "slow_responses", alert_min_calls=20, alert_response_ms=3000) == []


def test_error_rate_fires_from_real_failing_calls(site):
    for _ in range(18):
        site.page(limit=5)
    site.call(
        body={
            "wsfunction": "local_alx_report_api_get_course_progress",
            "moodlewsrestformat": "json",
            "wstoken": site.tokens[1],
            "limit": "abc",
        }
    )
    # 1 of 19 = 5.3 %: over 5 %, but under 10 %.
    assert subjects(site, "error_rate", alert_min_calls=10, alert_error_rate_percent=5) == ["api"]
    assert subjects(site, "error_rate", alert_min_calls=10, alert_error_rate_percent=10) == []


def test_cache_hit_rate_fires_when_most_answers_miss_the_cache(site):
    log_calls(site, 15, cache_hit=True)
    log_calls(site, 5, cache_hit=False)
    assert findings(site, "cache_hit_rate", alert_min_calls=20, alert_cache_hit_percent=70) == []  # 75 %
    log_calls(site, 10, cache_hit=False)
    [finding] = findings(site, "cache_hit_rate", alert_min_calls=20, alert_cache_hit_percent=70)  # 50 %
    assert "50.0 %" in finding.message


def test_high_usage_fires_per_company_over_the_hourly_limit(site):
    for _ in range(11):
        site.page(limit=1)
    for _ in range(10):
        site.page(company=2, limit=1)
    assert subjects(site, "high_usage", alert_company_calls_per_hour=10) == ["company:1"]
    assert subjects(site, "high_usage", alert_company_calls_per_hour=11) == []
    site.advance(3601)  # an hour later the window is empty
    assert subjects(site, "high_usage", alert_company_calls_per_hour=10) == []


def test_rate_limit_exceeded_fires_for_the_token_that_was_refused(db_url):
    site = build_site(db_url, rate_limit=3)
    for _ in range(3):
        site.page(limit=1)
    assert findings(site, "rate_limit_exceeded") == []
    refused = site.post(limit=1)
    assert "ratelimitexceeded" in refused.text
    [finding] = findings(site, "rate_limit_exceeded")
    assert (
        finding.subject.startswith("token:")
        and finding.data["companyid"] == 1
        and finding.data["rejected"] == 1
    )


def test_failed_auth_fires_for_the_address_trying_bad_tokens(site):
    for i in range(9):
        site.call(
            body={"wsfunction": "local_alx_report_api_get_course_progress", "wstoken": f"{i:032x}"},
            remote_addr=ATTACKER,
        )
    site.page(limit=1)  # a good client is never a suspect
    assert findings(site, "failed_auth", alert_failed_auth_per_ip=10) == []
    site.call(
        body={"wsfunction": "local_alx_report_api_get_course_progress", "wstoken": "f" * 32},
        remote_addr=ATTACKER,
    )
    [finding] = findings(site, "failed_auth", alert_failed_auth_per_ip=10)
    assert finding.subject == f"ip:{ATTACKER}" and finding.data["failures"] == 10


def test_get_attempts_fire_for_the_address_using_get(site):
    query = {"wsfunction": "local_alx_report_api_get_course_progress", "wstoken": site.tokens[1]}
    for _ in range(4):
        result = site.call(method="GET", query=query, body=None, remote_addr="198.51.100.7")
        assert "invalidrequestmethod" in result.text
    assert findings(site, "get_attempts", alert_get_attempts_per_ip=5) == []
    site.call(method="GET", query=query, body=None, remote_addr="198.51.100.7")
    [finding] = findings(site, "get_attempts", alert_get_attempts_per_ip=5)
    assert finding.subject == "ip:198.51.100.7" and finding.data["attempts"] == 5


# --- lifecycle ----------------------------------------------------------------------------------------


def check(site, **settings) -> dict[str, int]:
    config = site.config.replace(**settings)
    return alert_rules.check(site.db, config, site.now)


def test_an_open_alert_repeats_instead_of_duplicating_and_resolves_when_the_condition_clears(site):
    break_sync(site)
    assert check(site)["created"] >= 1
    site.advance(900)
    again = check(site)
    assert again["created"] == 0 and again["repeated"] >= 1
    alert = Alert.get((Alert.alert_type == "sync_failed") & (Alert.subject == "sync"))
    assert (alert.occurrences, alert.severity, alert.resolved) == (2, "high", 0)

    repair_sync(site)
    site.advance(60)
    site.sync()
    assert check(site)["resolved"] >= 1
    alert = Alert.get_by_id(alert.id)
    assert (alert.resolved, alert.resolved_by, alert.timeresolved) == (1, "auto", site.now)


def test_cooldown_per_type_and_subject(site):
    def fail_once():
        site.advance(60)
        break_sync(site)
        repair_sync(site)

    fail_once()
    check(site, alert_cooldown=60)
    first = Alert.get(Alert.alert_type == "sync_failed")
    assert alerts.resolve_alert(first.id, "ops", site.now)
    # Still failing within the hour's cooldown: no new alert for (sync_failed, sync).
    fail_once()
    assert check(site, alert_cooldown=60)["cooldown"] >= 1
    assert Alert.select().where(Alert.alert_type == "sync_failed").count() == 1
    # A different subject is not covered by that cooldown.
    for _ in range(2):
        site.page(limit=1)
    assert check(site, alert_company_calls_per_hour=1)["created"] >= 1
    assert Alert.get(Alert.alert_type == "high_usage").subject == "company:1"
    # After the cooldown: raised again.
    site.advance(3600)
    fail_once()
    check(site, alert_cooldown=60)
    assert Alert.select().where(Alert.alert_type == "sync_failed").count() == 2


def test_severity_overrides_and_threshold_decide_delivery(site):
    break_sync(site)
    check(site, alert_severities="sync_failed=low", alert_threshold="medium")
    alert = Alert.get(Alert.alert_type == "sync_failed")
    assert (alert.severity, alert.delivery_status) == ("low", "skipped")
    repair_sync(site)
    site.advance(60)
    break_sync(site)
    repair_sync(site)
    site.advance(60)
    break_sync(site)
    check(site, alert_severities="sync_failed=low", alert_threshold="medium")
    critical = Alert.get(Alert.alert_type == "sync_failures")
    assert (critical.severity, critical.delivery_status) == ("critical", "pending")
