"""The settings registry: every setting once, with its type, default, limits and help.

To add a setting, add one line to :data:`SETTINGS` (and its typed attribute to
:class:`alxapi.config.Config`); the environment variable, flag name, parsing, validation, masking and
`alx config` follow from it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .. import exitcodes
from ..alerts.kinds import SEVERITIES
from ..redact import redact_url, redact_url_path
from .checks import (
    check_alert_severities,
    check_database_url,
    check_emails,
    check_networks,
    check_table_prefix,
    check_timezone,
    check_webhook_url,
)
from .zones import local_timezone_name

# The default of report_allowed_tables (SPEC §8.5); the validator itself lives in alxapi.savedsql.
DEFAULT_ALLOWED_TABLES = (
    "local_alx_api_reporting",
    "local_alx_api_usertime_daily",
    "user",
    "course",
    "course_categories",
    "course_completions",
    "course_modules",
    "course_modules_completion",
    "enrol",
    "user_enrolments",
    "user_lastaccess",
    "logstore_standard_log",
    "company",
    "company_users",
    "department",
)

ENV_PREFIX = "ALX_"
CONFIG_ENV = "ALX_CONFIG"
# ALX_* variables that are not settings but are used elsewhere; never warned about.
ENV_NOT_SETTINGS = frozenset({CONFIG_ENV, "ALX_NOW", "ALX_BENCH_CACHE"})
ENV_FREE_PREFIXES = ("ALX_TEST_",)

KEYMAP_TABLE = "keymap"

# Setting types.
INT = "int"
FLOAT = "float"
BOOL = "bool"
STR = "str"
ENUM = "enum"  # a str restricted to Setting.choices (matched case-insensitively)
LIST = "list"  # a tuple of str: a TOML array, or a comma-separated string
PATH = "path"  # a str naming a file; "" means "not set / use the built-in location"
TYPES = frozenset({INT, FLOAT, BOOL, STR, ENUM, LIST, PATH})

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


class ConfigError(Exception):
    """The configuration cannot be used. ``str(err)`` is the message for the user (one line per problem)."""

    exit_code = exitcodes.CONFIG

    def __init__(self, message: str, problems: Iterable[str] | None = None):
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems) if problems is not None else (message,)


@dataclass(frozen=True)
class Setting:
    """One configurable value.

    ``default`` may be a zero-argument callable when the default depends on the machine (the local
    time zone). ``check`` validates beyond type and range: it gets the converted value and returns
    ``None`` if fine, or a phrase starting with "must" that completes "<name> must ...".
    ``mask`` turns a secret value into something safe to display; secrets without one show ``***``.
    """

    name: str
    type: str
    default: Any
    help: str
    min: int | float | None = None
    max: int | float | None = None
    choices: tuple[str, ...] | None = None
    secret: bool = False
    env: str | None = None  # environment variable; None means ALX_<NAME>
    flag: str | None = None  # the command-line flag shown in sources; None means --<name-with-dashes>
    check: Callable[[Any], str | None] | None = None
    mask: Callable[[Any], str] | None = None

    def __post_init__(self):
        if self.type not in TYPES:
            raise ValueError(f"setting {self.name}: unknown type {self.type!r}")
        if self.type == ENUM and not self.choices:
            raise ValueError(f"setting {self.name}: an enum needs choices")

    @property
    def env_var(self) -> str:
        return self.env or ENV_PREFIX + self.name.upper()

    @property
    def flag_name(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default

    def display(self, value: Any) -> str:
        """The value as ``alx config`` shows it, with secrets masked."""
        if self.secret and value not in ("", None):
            return self.mask(value) if self.mask else "***"
        return display_plain(value)


def display_plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ", ".join(value)
    return str(value)


# --- the registry ---------------------------------------------------------------------------------
# To add a setting, add one line here; env var, flag name, parsing, validation, masking and
# `alx config` follow from it.

SETTINGS: tuple[Setting, ...] = (
    # Database
    Setting("database_url", STR, "sqlite:///alx.sqlite3",
            "peewee database URL: sqlite:///path, mysql://user:password@host/db, postgresql://…",
            secret=True, env="ALX_DATABASE_URL", flag="--db", check=check_database_url,
            mask=redact_url),
    Setting("table_prefix", STR, "mdl_", "Moodle table prefix ($CFG->prefix)",
            flag="--prefix", check=check_table_prefix),
    Setting("timezone", STR, local_timezone_name, "time zone for day boundaries and displayed times",
            check=check_timezone),
    # Reporting and API limits
    Setting("report_roles", LIST, ("student",), "role shortnames whose enrolments are reported"),
    Setting("max_records", INT, 1000, "largest page an API call may return", min=1, max=10000),
    Setting("rate_limit", INT, 100, "API calls per token per local day; a company setting overrides it (0 = unlimited)", min=0, max=1_000_000),
    Setting("log_retention_days", INT, 90, "days of API logs, sync runs and resolved alerts kept", min=1, max=3650),
    Setting("allow_get_method", BOOL, False, "accept GET on the Moodle-compatible endpoint (POST only if off)"),
    Setting("url_tokens", BOOL, True, "accept a token in the URL's query string (wstoken on the Moodle "
            "endpoint, api_key on REST v1); off once every client sends it in the body or a header"),
    # Sync
    Setting("auto_sync_hours", FLOAT, 1.0, "hours between the worker's syncs (fractions allowed: 0.25 = 15 min)",
            min=0.0002, max=168),
    Setting("full_sync_hours", FLOAT, 24.0, "hours after the last full sync when the worker's next sync is full",
            min=0.001, max=720),
    Setting("max_sync_time", INT, 300, "seconds a sync may run before it stops at a batch boundary",
            min=10, max=86400),
    Setting("batch_size", INT, 1000, "rows per sync batch", min=50, max=100_000),
    Setting("sync_overlap_seconds", INT, 300, "safety overlap on timestamp candidates for incremental syncs",
            min=0, max=86400),
    Setting("sync_log_feed", BOOL, True, "read changes from Moodle's standard log (when logstore_standard "
            "is enabled) instead of scanning the source tables on every incremental sync"),
    Setting("reconcile_hours", FLOAT, 6.0, "hours between the full change detections (timestamps and "
            "fingerprints) that back up the log feed; 0 = on every sync", min=0, max=720),
    Setting("lock_stale_seconds", INT, 900, "seconds after which a sync lock without heartbeat is stale",
            min=60, max=86400),
    Setting("db_lock_timeout_seconds", INT, 50, "seconds a statement waits for a row or table lock held by "
            "another session before it fails (MariaDB innodb_lock_wait_timeout, PostgreSQL lock_timeout)",
            min=1, max=3600),
    # Learning analytics (SPEC §8)
    Setting("session_timeout", INT, 600, "seconds between two log events of a learner in a course that still "
            "belong to one session (time spent)", min=60, max=86400),
    Setting("analytics_minutes", FLOAT, 60.0, "minutes between the worker's time-spent updates from Moodle's log",
            min=0.01, max=1440),
    Setting("analytics_window_days", INT, 30, "local dates (today included) over which engagement and risk are measured",
            min=1, max=3650),
    Setting("engagement_weight_time", FLOAT, 0.3, "engagement weight of time spent (the four weights sum to 1)", min=0, max=1),
    Setting("engagement_weight_days", FLOAT, 0.2, "engagement weight of active days", min=0, max=1),
    Setting("engagement_weight_completion", FLOAT, 0.3, "engagement weight of course completion", min=0, max=1),
    Setting("engagement_weight_interactions", FLOAT, 0.2, "engagement weight of interactions", min=0, max=1),
    Setting("engagement_target_hours", FLOAT, 10.0, "hours in the window that count as full time engagement",
            min=0.01, max=10_000),
    Setting("engagement_target_days", INT, 12, "active days in the window that count as full engagement", min=1, max=3650),
    Setting("engagement_target_interactions", INT, 20, "interactions in the window that count as full engagement",
            min=1, max=1_000_000),
    Setting("risk_grace_days", INT, 7, "days after a learner starts a course before risk rules apply", min=0, max=3650),
    Setting("risk_min_hours", FLOAT, 1.0, "at risk (low_time) below this many hours in the window", min=0, max=10_000),
    Setting("risk_max_inactive_days", INT, 14, "at risk (inactive) after this many days without access", min=0, max=3650),
    Setting("risk_min_completion", FLOAT, 50.0, "at risk (low_completion) below this completion %", min=0, max=100),
    Setting("risk_min_engagement", FLOAT, 30.0, "at risk (low_engagement) below this engagement score", min=0, max=100),
    Setting("risk_threshold", INT, 50, "risk score (25 per reason) from which a learner is at risk", min=0, max=100),
    Setting("report_allowed_tables", LIST, DEFAULT_ALLOWED_TABLES, "Moodle and ALX tables (without prefix) a saved "
            "SQL report may read"),
    Setting("report_max_seconds", INT, 30, "seconds a saved SQL report may run before the database stops it",
            min=1, max=3600),
    Setting("report_max_rows", INT, 100_000, "rows a saved SQL report returns at most (the cut is reported)",
            min=1, max=10_000_000),
    Setting("schedule_retry_minutes", FLOAT, 5.0, "minutes before a failed scheduled report is tried again "
            "(doubling each time)", min=0.01, max=1440),
    Setting("schedule_retries", INT, 3, "retries of a failed scheduled report before it fails and alerts",
            min=0, max=20),
    Setting("schedule_max_attachment_mb", FLOAT, 10.0, "largest report attached to a scheduled e-mail (MB); "
            "a larger one is not attached and the e-mail says so", min=0.01, max=1000),
    Setting("report_retention_days", INT, 90, "days of scheduled report runs kept", min=1, max=3650),
    # Alerts
    Setting("enable_alerting", BOOL, True, "raise and deliver alerts"),
    Setting("alert_threshold", ENUM, "medium", "lowest severity that is delivered",
            choices=SEVERITIES),
    Setting("alert_cooldown", INT, 60, "minutes before an alert of the same type and subject is raised again", min=0, max=10080),
    Setting("alert_emails", LIST, (), "alert recipients (comma-separated)", check=check_emails),
    Setting("alert_severities", LIST, (), "severity overrides as alert_type=severity pairs, e.g. error_rate=high",
            check=check_alert_severities),
    Setting("alert_check_minutes", FLOAT, 15.0, "minutes between the worker's alert checks", min=0.01, max=1440),
    Setting("alert_sync_stale_hours", FLOAT, 2.0, "alert when no sync succeeded for this many hours",
            min=0.01, max=720),
    Setting("alert_sync_failures", INT, 3, "alert (critical) after this many consecutive failed syncs",
            min=2, max=1000),
    Setting("alert_response_ms", INT, 2000, "alert when the last hour's average response exceeds this (ms)",
            min=1, max=600_000),
    Setting("alert_error_rate_percent", FLOAT, 5.0, "alert when the last hour's error rate exceeds this (%)",
            min=0, max=100),
    Setting("alert_cache_hit_percent", FLOAT, 70.0, "alert when the last hour's cache hit rate is below this (%)",
            min=0, max=100),
    Setting("alert_min_calls", INT, 20, "calls in the hour needed before the response-time, error-rate and cache alerts apply",
            min=1, max=1_000_000),
    Setting("alert_company_calls_per_hour", INT, 200, "alert when a company makes more calls than this in an hour",
            min=1, max=10_000_000),
    Setting("alert_failed_auth_per_ip", INT, 10, "alert when one address fails authentication this often in an hour",
            min=1, max=1_000_000),
    Setting("alert_get_attempts_per_ip", INT, 5, "alert when one address tries refused GET requests this often in an hour",
            min=1, max=1_000_000),
    Setting("smtp_host", STR, "", "SMTP server for alert e-mail (empty = no e-mail)"),
    Setting("smtp_port", INT, 25, "SMTP port (465: SMTPS, TLS from the start)", min=1, max=65535),
    Setting("smtp_starttls", BOOL, False, "use STARTTLS"),
    Setting("smtp_user", STR, "", "SMTP user name (empty = no authentication)"),
    Setting("smtp_password_file", PATH, "", "file holding the SMTP password (e.g. a systemd credential)"),
    Setting("smtp_from", STR, "", "From: address of alert e-mail"),
    Setting("alert_webhook_url", STR, "", "JSON webhook for alerts (Slack/Teams-compatible)",
            secret=True, check=check_webhook_url, mask=redact_url_path),
    # Worker
    Setting("cleanup_hours", FLOAT, 24.0, "hours between the worker's cleanups (expired cache, old logs, runs, alerts)",
            min=0.01, max=720),
    Setting("heartbeat_seconds", FLOAT, 30.0, "seconds between the worker's heartbeats", min=0.2, max=3600),
    # HTTP API
    Setting("api_host", STR, "127.0.0.1", "address the API listens on", flag="--host"),
    Setting("api_port", INT, 8080, "port the API listens on (0 picks a free one)", min=0, max=65535, flag="--port"),
    Setting("api_threads", INT, 8, "API worker threads", min=1, max=64, flag="--threads"),
    Setting("api_workers", INT, 1, "API processes sharing the port (each with api_threads threads)",
            min=1, max=64, flag="--workers"),
    Setting("api_debug", BOOL, False, "include error details in API responses"),
    Setting("trusted_proxy", STR, "", "address of the reverse proxy whose X-Forwarded-* headers are trusted"),
    Setting("metrics_allow", LIST, ("127.0.0.0/8", "::1"), "addresses/networks that may read /metrics (the request's "
            "client address: behind a proxy, set trusted_proxy)", check=check_networks),
    Setting("cache_max_entries", INT, 1000, "response cache size (0 = no cache)", min=0, max=1_000_000),
    Setting("cache_max_mb", INT, 64, "response cache memory per API process, in MB of cached pages (0 = no cache)",
            min=0, max=16_384),
    Setting("failed_auth_limit", INT, 20, "failed token checks per IP before it is blocked",
            min=1, max=100_000),
    Setting("failed_auth_window_minutes", INT, 10, "window for counting failed token checks", min=1, max=1440),
    # Console and logging
    Setting("tui_refresh_seconds", FLOAT, 5.0, "seconds between console refreshes", min=0.5, max=3600),
    Setting("log_file", PATH, "", "log file of the worker, the API and the console (empty: stderr; the console: ~/.local/state/alx/alx-tui.log)"),
    Setting("log_level", ENUM, "info", "log level of the worker, the API and the console", choices=("debug", "info", "warning", "error")),
)  # fmt: skip

SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
SETTINGS_BY_ENV: dict[str, Setting] = {s.env_var: s for s in SETTINGS}
assert len(SETTINGS_BY_NAME) == len(SETTINGS), "duplicate setting name"
assert len(SETTINGS_BY_ENV) == len(SETTINGS), "duplicate environment variable"


ENGAGEMENT_WEIGHTS = (
    "engagement_weight_time",
    "engagement_weight_days",
    "engagement_weight_completion",
    "engagement_weight_interactions",
)


def cross_problems(values: dict[str, Any]) -> list[str]:
    """Problems between settings that are each valid alone (one line each, like the others)."""
    total = sum(values[name] for name in ENGAGEMENT_WEIGHTS)
    if abs(total - 1) > 1e-9:
        shown = " + ".join(f"{name} {values[name]:g}" for name in ENGAGEMENT_WEIGHTS)
        return [f"the engagement weights must sum to 1: {shown} = {total:g}"]
    return []


def _closest(word: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(candidates), n=1)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    suggestion = _closest(word, candidates)
    return f" (did you mean {suggestion!r}?)" if suggestion else ""


def get_setting(name: str) -> Setting:
    """The registry entry for ``name``; ``KeyError`` (with a suggestion) if there is none."""
    try:
        return SETTINGS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown setting {name!r}{did_you_mean(name, SETTINGS_BY_NAME)}") from None
