"""The alert rules (SPEC §5), evaluated by the worker every ``alert_check_minutes``.

Each rule looks at real data — sync runs, the request log — and returns findings: one per subject
(the sync, a company, a token, a client address) whose condition holds now. A finding raises an
alert (or bumps the open one); an open alert whose condition no longer holds is resolved.
Thresholds and severities come from the configuration (``alert_*`` settings, ``alert_severities``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import peewee

from models.plugin import SyncRun

from ..config import Config
from ..ops import monitor
from . import lifecycle as alerts
from .kinds import KINDS

HOUR = 3600


@dataclass
class Finding:
    subject: str
    message: str
    data: dict = field(default_factory=dict)


@dataclass
class Check:
    """One evaluation of the rules: the configuration, the time, and data several rules share."""

    config: Config
    now: int

    @functools.cached_property
    def last_hour(self) -> monitor.ApiWindow:
        """The API's last hour, read once for the three rate rules."""
        return monitor.api_window(self.now - HOUR, self.now + 1)


Rule = Callable[[Check], list[Finding]]


def severity_for(alert_type: str, config: Config) -> str:
    for item in config.alert_severities:
        kind, _, severity = item.partition("=")
        if kind.strip() == alert_type:
            return severity.strip()
    return KINDS[alert_type].severity


def _finished_runs(limit: int) -> list[SyncRun]:
    return list(
        SyncRun.select()
        .where(SyncRun.status != "running")
        .order_by(SyncRun.timestarted.desc(), SyncRun.id.desc())
        .limit(limit)
    )


def rule_sync_failed(check: Check) -> list[Finding]:
    """The last finished sync failed, or one failed since the previous check (even if a later run
    already recovered: a server that went down for a while is worth knowing about)."""
    config, now = check.config, check.now
    since = now - max(60, round(config.alert_check_minutes * 60))
    recent = list(
        SyncRun.select()
        .where((SyncRun.status == "failed") & (SyncRun.timefinished > since))
        .order_by(SyncRun.timefinished.desc(), SyncRun.id.desc())
        .limit(1)
    )
    latest = _finished_runs(1)
    run = recent[0] if recent else (latest[0] if latest and latest[0].status == "failed" else None)
    if run is None:
        return []
    return [
        Finding(
            "sync",
            f"Sync run {run.id} ({run.mode}) failed: {run.error or 'no error recorded'}",
            {"run_id": run.id, "error": run.error},
        )
    ]


def rule_sync_failures(check: Check) -> list[Finding]:
    config = check.config
    runs = _finished_runs(config.alert_sync_failures)
    if len(runs) < config.alert_sync_failures or any(r.status != "failed" for r in runs):
        return []
    return [
        Finding(
            "sync",
            f"{len(runs)} consecutive syncs failed; the last error: {runs[0].error or '-'}",
            {"run_ids": [r.id for r in runs]},
        )
    ]


def rule_sync_stale(check: Check) -> list[Finding]:
    config, now = check.config, check.now
    limit = config.alert_sync_stale_hours * HOUR
    last_success = (
        SyncRun.select(peewee.fn.MAX(SyncRun.timefinished))
        .where(SyncRun.status.in_(("success", "partial")))
        .scalar()
    )
    if last_success and now - last_success <= limit:
        return []
    since = f"since {round((now - last_success) / HOUR, 1)} h" if last_success else "ever"
    return [
        Finding(
            "sync",
            f"No successful sync {since} (limit {config.alert_sync_stale_hours:g} h). "
            "Is the worker running? See `alx runs` and `journalctl -u alx-worker`.",
            {"last_success": last_success or 0},
        )
    ]


def rule_slow_responses(check: Check) -> list[Finding]:
    config = check.config
    w = check.last_hour
    if (
        w.calls < config.alert_min_calls
        or w.avg_response_ms is None
        or w.avg_response_ms <= config.alert_response_ms
    ):
        return []
    return [
        Finding(
            "api",
            f"Average API response {w.avg_response_ms:.0f} ms over the last hour "
            f"({w.calls} calls; limit {config.alert_response_ms} ms)",
            {"avg_response_ms": round(w.avg_response_ms, 1), "calls": w.calls},
        )
    ]


def rule_error_rate(check: Check) -> list[Finding]:
    config = check.config
    w = check.last_hour
    if w.calls < config.alert_min_calls or (w.error_rate or 0) <= config.alert_error_rate_percent:
        return []
    return [
        Finding(
            "api",
            f"{w.error_rate:.1f} % of API calls failed in the last hour "
            f"({w.errors} of {w.calls}; limit {config.alert_error_rate_percent:g} %)",
            {"errors": w.errors, "calls": w.calls},
        )
    ]


def rule_cache_hit_rate(check: Check) -> list[Finding]:
    config = check.config
    w = check.last_hour
    if (
        w.served < config.alert_min_calls
        or w.cache_hit_rate is None
        or w.cache_hit_rate >= config.alert_cache_hit_percent
    ):
        return []
    return [
        Finding(
            "api",
            f"Cache hit rate {w.cache_hit_rate:.1f} % in the last hour "
            f"(below {config.alert_cache_hit_percent:g} %; {w.calls} calls)",
            {"cache_hits": w.cache_hits, "calls": w.calls},
        )
    ]


def rule_high_usage(check: Check) -> list[Finding]:
    config, now = check.config, check.now
    return [
        Finding(
            f"company:{c.companyid}",
            f"Company {c.company or c.companyid} made {c.calls} API calls in the "
            f"last hour (limit {config.alert_company_calls_per_hour})",
            {"companyid": c.companyid, "calls": c.calls},
        )
        for c in monitor.calls_by_company(now - HOUR, now + 1)
        if c.calls > config.alert_company_calls_per_hour
    ]


def rule_rate_limit_exceeded(check: Check) -> list[Finding]:
    now = check.now
    return [
        Finding(
            f"token:{v.token_ref}",
            f"Token {v.token_ref} of company {v.companyid} exceeded its daily rate "
            f"limit: {v.count} calls refused in the last hour",
            {"token_ref": v.token_ref, "companyid": v.companyid, "rejected": v.count},
        )
        for v in monitor.rate_limit_violations(now - HOUR, now + 1)
    ]


def rule_failed_auth(check: Check) -> list[Finding]:
    config, now = check.config, check.now
    return [
        Finding(
            f"ip:{f.ip_address}",
            f"{f.failures} failed token checks from {f.ip_address} in the last hour "
            f"(limit {config.alert_failed_auth_per_ip})",
            {"ip": f.ip_address, "failures": f.failures, "throttled": f.throttled},
        )
        for f in monitor.failed_auth_by_ip(now - HOUR, now + 1, threshold=config.alert_failed_auth_per_ip - 1)
    ]


def rule_get_attempts(check: Check) -> list[Finding]:
    config, now = check.config, check.now
    return [
        Finding(
            f"ip:{g.ip}",
            f"{g.attempts} refused GET requests from {g.ip} in the last hour: a client "
            "is configured for GET (allow_get_method is off)",
            {"ip": g.ip, "attempts": g.attempts},
        )
        for g in monitor.get_attempts_by_ip(now - HOUR, now + 1)
        if g.attempts >= config.alert_get_attempts_per_ip
    ]


RULES: dict[str, Rule] = {
    "sync_failed": rule_sync_failed,
    "sync_failures": rule_sync_failures,
    "sync_stale": rule_sync_stale,
    "slow_responses": rule_slow_responses,
    "error_rate": rule_error_rate,
    "cache_hit_rate": rule_cache_hit_rate,
    "high_usage": rule_high_usage,
    "rate_limit_exceeded": rule_rate_limit_exceeded,
    "failed_auth": rule_failed_auth,
    "get_attempts": rule_get_attempts,
}


def evaluate(config: Config, now: int) -> dict[str, list[Finding]]:
    """What every rule finds now, without writing anything (for tests and diagnostics)."""
    check = Check(config, now)
    return {alert_type: rule(check) for alert_type, rule in RULES.items()}


def check(db: peewee.Database, config: Config, now: int) -> dict[str, int]:
    """Evaluate every rule; raise new alerts and resolve cleared ones. Returns counts."""
    counts = {"created": 0, "repeated": 0, "cooldown": 0, "resolved": 0}
    for alert_type, findings in evaluate(config, now).items():
        severity = severity_for(alert_type, config)
        with db.atomic():
            for f in findings:
                raised = alerts.raise_alert(
                    alert_type,
                    severity,
                    f.subject,
                    f.message,
                    f.data,
                    now=now,
                    cooldown_seconds=config.alert_cooldown * 60,
                    threshold=config.alert_threshold,
                )
                counts[raised.outcome] += 1
            counts["resolved"] += alerts.auto_resolve(alert_type, {f.subject for f in findings}, now)
    return counts
