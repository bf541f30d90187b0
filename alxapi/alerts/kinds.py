"""What alerts there are: every alert type with its default severity, and the severity scale.

The one definition the rules, the configuration checks (``alert_severities``, ``alert_threshold``),
the CLI's choices and the console's filters all read. Standard library only, so the configuration
can import it before anything else.
"""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("low", "medium", "high", "critical")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES, start=1)}


@dataclass(frozen=True)
class AlertKind:
    name: str
    severity: str  # the default; `alert_severities` overrides it per type
    about: str


KINDS: dict[str, AlertKind] = {
    kind.name: kind
    for kind in (
        AlertKind("sync_failed", "high", "a sync run failed"),
        AlertKind("sync_stale", "high", "no successful sync for alert_sync_stale_hours"),
        AlertKind("sync_failures", "critical", "alert_sync_failures consecutive sync runs failed"),
        AlertKind(
            "slow_responses", "medium", "the last hour's average API response is above alert_response_ms"
        ),
        AlertKind("error_rate", "medium", "the last hour's API error rate is above alert_error_rate_percent"),
        AlertKind("cache_hit_rate", "low", "the last hour's cache hit rate is below alert_cache_hit_percent"),
        AlertKind("high_usage", "medium", "a company made more than alert_company_calls_per_hour calls"),
        AlertKind("rate_limit_exceeded", "high", "a token was refused for its daily rate limit"),
        AlertKind("failed_auth", "high", "one address failed authentication alert_failed_auth_per_ip times"),
        AlertKind("get_attempts", "medium", "one address sent refused GET requests"),
        AlertKind("report_failed", "high", "a scheduled report failed after its last retry"),
        AlertKind("test", "high", "raised by `alx alerts test` or the console"),
    )
}
ALERT_TYPES = tuple(KINDS)


def severity_at_least(severity: str, threshold: str) -> bool:
    return SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK.get(threshold, 0)
