"""Configuration: defaults < config file (TOML) < environment (``ALX_*``) < command-line flags.

Every effective value remembers where it came from (``Config.source(name)``), so ``alx config`` and
the console's diagnostics screen can say *why* a value is what it is.

Where the file comes from, first match wins:

1. ``--config PATH`` (``load_config(config_path=...)``), then the ``ALX_CONFIG`` environment variable.
   A file named this way must exist and be readable.
2. Otherwise the first existing file of ``./alx.toml``, ``$XDG_CONFIG_HOME/alx/alx.toml`` (default
   ``~/.config/alx/alx.toml``) and ``/etc/alx/alx.toml``. No file at all is fine: defaults apply.

The file holds flat top-level keys named exactly like the settings, plus an optional ``[keymap]``
table (console binding id = key string)::

    database_url = "mysql://alx:secret@db/moodle"
    max_records = 500
    alert_emails = ["ops@example.com", "lead@example.com"]

    [keymap]
    sync_now = "ctrl+y"

Every setting ``foo_bar`` can also be set with the environment variable ``ALX_FOO_BAR``. Environment
variables that start with ``ALX_`` but name no setting are ignored; they are listed in
``Config.warnings`` (with a "did you mean" hint) so a typo does not go unnoticed, except for these,
which belong to other parts of the product and are silently accepted:

- ``ALX_CONFIG``: which config file to read (above);
- ``ALX_NOW``: fixes the clock for tests (:mod:`alxapi.clock`);
- ``ALX_TEST_*``: free for test suites and CI scripts.

Validation is strict: an unknown key in the file, a value of the wrong type or out of range is a
:class:`ConfigError` (the CLI exits with :data:`EX_CONFIG`, 78, which systemd units list in
``RestartPreventExitStatus=`` so a broken config is not restarted in a loop). Every problem found is
reported at once, one per line.

Only the standard library is used here, so configuration errors surface before any database driver
is imported.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import time
import tomllib
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EX_CONFIG = 78  # sysexits.h EX_CONFIG: "something was found in an unconfigured or misconfigured state"

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

    exit_code = EX_CONFIG

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
        return _display_plain(value)


# --- masking secrets ------------------------------------------------------------------------------

_URL_AUTHORITY = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<authority>[^/?#]*)(?P<rest>.*)$", re.S
)
_SECRET_QUERY_PARAM = re.compile(r"(?i)([?&](?:password|passwd|pwd|secret|token|api_key)=)[^&#]*")


def mask_url_password(url: str) -> str:
    """``mysql://u:secret@h/db`` -> ``mysql://u:***@h/db``; password-like query parameters too.

    Works on the text rather than through urllib's split/unsplit, which would rewrite
    ``sqlite:///path`` as ``sqlite:/path``.
    """
    match = _URL_AUTHORITY.match(url)
    if not match:
        return url
    authority = match["authority"]
    if "@" in authority:
        userinfo, _, hostport = authority.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        if has_password:
            authority = f"{user}:***@{hostport}"
    rest = _SECRET_QUERY_PARAM.sub(r"\1***", match["rest"])
    return f"{match['scheme']}{authority}{rest}"


def mask_url_path(url: str) -> str:
    """``https://hooks.slack.com/services/T0/B0/xyz`` -> ``https://hooks.slack.com/***``.

    Webhook URLs carry their credential in the path, so only the scheme and host are kept, enough
    to tell which service is configured.
    """
    match = _URL_AUTHORITY.match(url)
    if not match:
        return "***"
    host = match["authority"].rpartition("@")[2]
    return f"{match['scheme']}{host}/***"


# --- checks beyond type and range -----------------------------------------------------------------

_TABLE_PREFIX = re.compile(r"^[a-z0-9_]{0,20}$")  # same rule as models.db.set_table_prefix
_DATABASE_SCHEMES = ("sqlite", "sqlite3", "mysql", "mariadb", "postgresql", "postgres", "pgsql")


def _check_table_prefix(prefix: str) -> str | None:
    if _TABLE_PREFIX.match(prefix):
        return None
    return "must be lower-case letters, digits or '_' (at most 20 characters)"


def _check_timezone(name: str) -> str | None:
    return None if is_timezone(name) else "must be an IANA time zone name such as 'Europe/Paris' or 'UTC'"


def _check_database_url(url: str) -> str | None:
    scheme, sep, _ = url.partition("://")
    if sep and scheme.lower().removesuffix("+pool") in _DATABASE_SCHEMES:
        return None
    return "must be a database URL: sqlite:///path, mysql://user:password@host/db or postgresql://…"


def _check_emails(addresses: tuple[str, ...]) -> str | None:
    for address in addresses:
        local, at, domain = address.partition("@")
        if not (at and local and domain) or any(c.isspace() for c in address):
            return f"must be e-mail addresses such as user@example.com ({address!r} is not one)"
    return None


ALERT_TYPES = ("sync_failed", "sync_stale", "sync_failures", "slow_responses", "error_rate", "cache_hit_rate",
               "high_usage", "rate_limit_exceeded", "failed_auth", "get_attempts", "test")
_SEVERITY_NAMES = ("low", "medium", "high", "critical")


def _check_alert_severities(items: tuple[str, ...]) -> str | None:
    for item in items:
        kind, eq, severity = item.partition("=")
        if not eq or kind.strip() not in ALERT_TYPES or severity.strip() not in _SEVERITY_NAMES:
            return (f"must be alert_type=severity pairs such as error_rate=high ({item!r} is not one); "
                    f"types: {', '.join(ALERT_TYPES)}; severities: {', '.join(_SEVERITY_NAMES)}")
    return None


def _check_webhook_url(url: str) -> str | None:
    if url == "" or url.startswith(("https://", "http://")):
        return None
    return "must be an http:// or https:// URL"


def is_timezone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # ValueError: not a valid key (e.g. a path)
        return False
    return True


def local_timezone_name(
    tz_env: str | None = None,
    etc_timezone: str | os.PathLike = "/etc/timezone",
    etc_localtime: str | os.PathLike = "/etc/localtime",
) -> str:
    """The server's time zone as an IANA name, for the ``timezone`` default.

    Tried in order: the ``TZ`` variable (``tz_env``; defaults to the process's own ``TZ``), Debian's
    ``/etc/timezone``, the target of the ``/etc/localtime`` symlink (systemd, RHEL, Alpine), the C
    library's zone abbreviation when zoneinfo knows it (e.g. ``UTC``, ``CET``), and finally ``UTC``.
    """
    if tz_env is None:
        tz_env = os.environ.get("TZ", "")
    candidates = [
        tz_env.lstrip(":"),  # POSIX allows TZ=":Europe/Paris"
        _read_first_line(etc_timezone),
        _zone_from_localtime_link(etc_localtime),
        *time.tzname,
    ]
    for candidate in candidates:
        if candidate and is_timezone(candidate):
            return candidate
    return "UTC"


def _read_first_line(path: str | os.PathLike) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _zone_from_localtime_link(path: str | os.PathLike) -> str:
    try:
        target = os.readlink(path)  # e.g. ../usr/share/zoneinfo/Europe/Paris
    except OSError:
        return ""
    _, found, zone = target.partition("zoneinfo/")
    if not found:
        return ""
    return zone.removeprefix("posix/").removeprefix("right/")


# --- the registry ---------------------------------------------------------------------------------
# To add a setting, add one line here; env var, flag name, parsing, validation, masking and
# `alx config` follow from it.

SETTINGS: tuple[Setting, ...] = (
    # Database
    Setting("database_url", STR, "sqlite:///alx.sqlite3",
            "peewee database URL: sqlite:///path, mysql://user:password@host/db, postgresql://…",
            secret=True, env="ALX_DATABASE_URL", flag="--db", check=_check_database_url,
            mask=mask_url_password),
    Setting("table_prefix", STR, "mdl_", "Moodle table prefix ($CFG->prefix)",
            flag="--prefix", check=_check_table_prefix),
    Setting("timezone", STR, local_timezone_name, "time zone for day boundaries and displayed times",
            check=_check_timezone),
    # Reporting and API limits
    Setting("report_roles", LIST, ("student",), "role shortnames whose enrolments are reported"),
    Setting("max_records", INT, 1000, "largest page an API call may return", min=1, max=10000),
    Setting("rate_limit", INT, 100, "API calls per token per local day; a company setting overrides it (0 = unlimited)", min=0, max=1_000_000),
    Setting("log_retention_days", INT, 90, "days of API logs, sync runs and resolved alerts kept", min=1, max=3650),
    Setting("allow_get_method", BOOL, False, "accept GET on the Moodle-compatible endpoint (POST only if off)"),
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
    Setting("lock_stale_seconds", INT, 900, "seconds after which a sync lock without heartbeat is stale",
            min=60, max=86400),
    Setting("db_lock_timeout_seconds", INT, 50, "seconds a statement waits for a row or table lock held by "
            "another session before it fails (MariaDB innodb_lock_wait_timeout, PostgreSQL lock_timeout)",
            min=1, max=3600),
    # Alerts
    Setting("enable_alerting", BOOL, True, "raise and deliver alerts"),
    Setting("alert_threshold", ENUM, "medium", "lowest severity that is delivered",
            choices=("low", "medium", "high", "critical")),
    Setting("alert_cooldown", INT, 60, "minutes before an alert of the same type and subject is raised again", min=0, max=10080),
    Setting("alert_emails", LIST, (), "alert recipients (comma-separated)", check=_check_emails),
    Setting("alert_severities", LIST, (), "severity overrides as alert_type=severity pairs, e.g. error_rate=high",
            check=_check_alert_severities),
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
    Setting("smtp_port", INT, 25, "SMTP port", min=1, max=65535),
    Setting("smtp_starttls", BOOL, False, "use STARTTLS"),
    Setting("smtp_user", STR, "", "SMTP user name (empty = no authentication)"),
    Setting("smtp_password_file", PATH, "", "file holding the SMTP password (e.g. a systemd credential)"),
    Setting("smtp_from", STR, "", "From: address of alert e-mail"),
    Setting("alert_webhook_url", STR, "", "JSON webhook for alerts (Slack/Teams-compatible)",
            secret=True, check=_check_webhook_url, mask=mask_url_path),
    # Worker
    Setting("cleanup_hours", FLOAT, 24.0, "hours between the worker's cleanups (expired cache, old logs, runs, alerts)",
            min=0.01, max=720),
    Setting("heartbeat_seconds", FLOAT, 30.0, "seconds between the worker's heartbeats", min=0.2, max=3600),
    # HTTP API
    Setting("api_host", STR, "127.0.0.1", "address the API listens on", flag="--host"),
    Setting("api_port", INT, 8080, "port the API listens on (0 picks a free one)", min=0, max=65535, flag="--port"),
    Setting("api_threads", INT, 8, "API worker threads", min=1, max=64, flag="--threads"),
    Setting("api_debug", BOOL, False, "include error details in API responses"),
    Setting("trusted_proxy", STR, "", "address of the reverse proxy whose X-Forwarded-* headers are trusted"),
    Setting("cache_max_entries", INT, 1000, "response cache size (0 = no cache)", min=0, max=1_000_000),
    Setting("failed_auth_limit", INT, 20, "failed token checks per IP before it is blocked",
            min=1, max=100_000),
    Setting("failed_auth_window_minutes", INT, 10, "window for counting failed token checks", min=1, max=1440),
    # Console and logging
    Setting("tui_refresh_seconds", FLOAT, 5.0, "seconds between console refreshes", min=0.5, max=3600),
    Setting("log_file", PATH, "", "log file of the worker, the API and the console (empty: stderr; the console: ~/.local/state/alx/alx-tui.log)"),
    Setting("log_level", ENUM, "info", "log level of the worker, the API and the console", choices=("debug", "info", "warning", "error")),
)  # fmt: skip

SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
_SETTINGS_BY_ENV: dict[str, Setting] = {s.env_var: s for s in SETTINGS}
assert len(SETTINGS_BY_NAME) == len(SETTINGS), "duplicate setting name"
assert len(_SETTINGS_BY_ENV) == len(SETTINGS), "duplicate environment variable"


def _closest(word: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(candidates), n=1)
    return matches[0] if matches else None


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    suggestion = _closest(word, candidates)
    return f" (did you mean {suggestion!r}?)" if suggestion else ""


def get_setting(name: str) -> Setting:
    """The registry entry for ``name``; ``KeyError`` (with a suggestion) if there is none."""
    try:
        return SETTINGS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown setting {name!r}{_did_you_mean(name, SETTINGS_BY_NAME)}") from None


# --- converting and validating one value ----------------------------------------------------------


@dataclass(frozen=True)
class _Origin:
    """Where a raw value came from: kind is default, file, env, flag or override."""

    kind: str
    where: str = ""

    @property
    def source(self) -> str:  # what Config.source() returns
        return f"{self.kind}:{self.where}" if self.where else self.kind

    @property
    def label(self) -> str:  # how error messages name it
        return f"{self.kind} {self.where}" if self.where else self.kind


class _WrongType(ValueError):
    """Raised by converters with the description of what was expected."""


_EXPECTED = {
    INT: "an integer",
    FLOAT: "a number",
    BOOL: "a boolean (true/false, yes/no, on/off, 1/0)",
    STR: "a string",
    ENUM: "a string",
    PATH: "a string (a file path)",
    LIST: "a list of strings or a comma-separated string",
}


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise _WrongType(_EXPECTED[BOOL])


def parse_list(text: str) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``: items are stripped, empty ones dropped."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _from_text(setting: Setting, text: str) -> Any:
    """Convert a string from the environment or a flag."""
    kind = setting.type
    try:
        if kind == INT:
            return int(text.strip())
        if kind == FLOAT:
            return _finite(float(text.strip()))
    except ValueError:
        raise _WrongType(_EXPECTED[kind]) from None
    if kind == BOOL:
        return parse_bool(text)
    if kind == LIST:
        return parse_list(text)
    return _from_native(setting, text)


def _from_native(setting: Setting, value: Any) -> Any:
    """Convert a value that already has a type (TOML, or a typed flag)."""
    kind = setting.type
    # bool is a subclass of int, so it is excluded explicitly: `max_records = true` is a mistake.
    if kind == INT and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == FLOAT and isinstance(value, int | float) and not isinstance(value, bool):
        return _finite(float(value))
    if kind == BOOL and isinstance(value, bool):
        return value
    if kind == PATH and isinstance(value, os.PathLike):  # e.g. argparse type=Path
        value = os.fspath(value)
    if kind in (STR, PATH) and isinstance(value, str):
        return value.strip()
    if kind == ENUM and isinstance(value, str):
        return value.strip().lower()
    if kind == LIST:
        if isinstance(value, str):
            return parse_list(value)
        if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            return tuple(item.strip() for item in value if item.strip())
    raise _WrongType(_EXPECTED[kind])


def _finite(number: float) -> float:
    if not math.isfinite(number):
        raise _WrongType(_EXPECTED[FLOAT])
    return number


def _display_plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ", ".join(value)
    return str(value)


def _shown(setting: Setting, raw: Any) -> str:
    """A raw value quoted for an error message, never revealing a secret."""
    if setting.secret and isinstance(raw, str):
        raw = setting.display(raw)
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, tuple):
        return repr(", ".join(raw))
    return repr(raw)


def _limits_phrase(setting: Setting) -> str:
    low, high = setting.min, setting.max
    if low is not None and high is not None:
        return f"must be between {low} and {high}"
    return f"must be at least {low}" if low is not None else f"must be at most {high}"


def _coerce(setting: Setting, raw: Any, origin: _Origin, *, text_ok: bool) -> Any:
    """Turn ``raw`` into a valid value for ``setting`` or raise ``ConfigError``.

    ``text_ok`` says whether strings are parsed (environment, flags) or must already be the right
    type (TOML, which has real integers and booleans; lists alone may be a comma-separated string).
    """
    try:
        parse = _from_text if text_ok and isinstance(raw, str) else _from_native
        value = parse(setting, raw)
    except _WrongType as wrong:
        raise ConfigError(
            f"{setting.name} in {origin.label}: expected {wrong}, got {_shown(setting, raw)}"
        ) from None
    problem = _problem_with(setting, value)
    if problem:
        raise ConfigError(f"{setting.name} {problem}, got {_shown(setting, value)} (from {origin.label})")
    return value


def _problem_with(setting: Setting, value: Any) -> str | None:
    if setting.type in (INT, FLOAT):
        too_low = setting.min is not None and value < setting.min
        too_high = setting.max is not None and value > setting.max
        if too_low or too_high:
            return _limits_phrase(setting)
    if setting.choices and value not in setting.choices:
        return "must be one of " + ", ".join(setting.choices)
    if setting.check:
        return setting.check(value)
    return None


# --- finding and reading the file -----------------------------------------------------------------


def default_search_paths(
    env: Mapping[str, str] | None = None, cwd: str | os.PathLike | None = None
) -> list[Path]:
    """``./alx.toml``, the XDG user config, ``/etc/alx/alx.toml``: project, user, system (clig.dev order)."""
    env = os.environ if env is None else env
    paths = [Path(cwd if cwd is not None else Path.cwd()) / "alx.toml"]
    user_dir = _xdg_config_home(env)
    if user_dir is not None:
        paths.append(user_dir / "alx" / "alx.toml")
    paths.append(Path("/etc/alx/alx.toml"))
    return paths


def _xdg_config_home(env: Mapping[str, str]) -> Path | None:
    xdg = env.get("XDG_CONFIG_HOME", "")
    if os.path.isabs(xdg):  # the XDG spec says to ignore a relative value
        return Path(xdg)
    home = env.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".config" if os.path.isabs(home) else None


def find_config_file(
    config_path: str | os.PathLike | None,
    env: Mapping[str, str],
    search_paths: Iterable[str | os.PathLike] | None = None,
) -> Path | None:
    """The file to read: ``--config``, else ``ALX_CONFIG``, else the first existing search path."""
    if config_path is not None and str(config_path) != "":
        return _named_file(Path(config_path), "--config")
    if env.get(CONFIG_ENV):  # empty counts as unset, like XDG variables
        return _named_file(Path(env[CONFIG_ENV]), CONFIG_ENV)
    candidates = default_search_paths(env) if search_paths is None else [Path(p) for p in search_paths]
    for candidate in candidates:
        if _exists(candidate):
            return candidate
    return None


def _named_file(path: Path, named_by: str) -> Path:
    if not _exists(path):
        raise ConfigError(f"config file {path} (given by {named_by}) does not exist")
    return path


def _exists(path: Path) -> bool:
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except PermissionError:
        # A file we cannot even look at should not be skipped silently: the admin put it there.
        raise ConfigError(f"cannot read config file {path}: permission denied") from None
    return True


def read_config_file(path: Path) -> dict[str, Any]:
    """The parsed TOML table, with I/O and syntax errors turned into ``ConfigError``."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except PermissionError:
        raise ConfigError(f"cannot read config file {path}: permission denied") from None
    except IsADirectoryError:
        raise ConfigError(f"cannot read config file {path}: it is a directory") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"invalid TOML in {path}: the file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:  # its message ends with "(at line N, column M)"
        raise ConfigError(f"invalid TOML in {path}: {err}") from None


def _split_file_table(
    table: Mapping[str, Any], path: Path
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """Separate settings from the keymap; report unknown keys and a malformed keymap."""
    settings: dict[str, Any] = {}
    keymap: dict[str, str] = {}
    problems: list[str] = []
    known = [*SETTINGS_BY_NAME, KEYMAP_TABLE]
    for key, value in table.items():
        if key == KEYMAP_TABLE:
            keymap, keymap_problem = _parse_keymap(value, f"in {path}")
            if keymap_problem:
                problems.append(keymap_problem)
        elif key in SETTINGS_BY_NAME:
            settings[key] = value
        else:
            what = "table" if isinstance(value, dict) else "setting"
            problems.append(f"unknown {what} {key!r} in {path}{_did_you_mean(key, known)}")
    return settings, keymap, problems


def _parse_keymap(value: Any, where: str) -> tuple[dict[str, str], str | None]:
    if not isinstance(value, Mapping):
        return {}, f'keymap {where} must be a table of binding id = "key" lines'
    bad = [key for key, keys in value.items() if not isinstance(key, str) or not isinstance(keys, str)]
    if bad:
        return {}, f'keymap {where}: {bad[0]!r} must map to a key string such as "ctrl+r"'
    return dict(value), None


# --- the configuration object ---------------------------------------------------------------------


class Config:
    """The effective configuration: read-only attributes named like the settings.

    ``cfg.max_records``; ``cfg.source("max_records")`` -> ``"env:ALX_MAX_RECORDS"``; ``cfg.file``
    (the file read, or ``None``); ``cfg.keymap`` (a fresh dict each time); ``cfg.warnings``
    (ignored ``ALX_*`` variables); ``cfg.describe()`` for display; ``cfg.replace(...)`` for tests.
    """

    __slots__ = ("_values", "_sources", "_keymap", "file", "warnings")

    def __init__(
        self,
        values: Mapping[str, Any],
        sources: Mapping[str, str],
        file: str | None = None,
        keymap: Mapping[str, str] | None = None,
        warnings: Iterable[str] = (),
    ):
        missing = set(SETTINGS_BY_NAME) - set(values)
        if missing:
            raise TypeError(f"Config is missing settings: {', '.join(sorted(missing))}")
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "_sources", dict(sources))
        object.__setattr__(self, "_keymap", dict(keymap or {}))
        object.__setattr__(self, "file", file)
        object.__setattr__(self, "warnings", tuple(warnings))

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails, i.e. for setting names.
        values = object.__getattribute__(self, "_values")
        try:
            return values[name]
        except KeyError:
            raise AttributeError(f"no setting {name!r}{_did_you_mean(name, values)}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Config is read-only; use cfg.replace(name=value)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Config is read-only")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config):
            return NotImplemented
        return (self._values, self._sources, self.file, self._keymap) == (
            other._values,
            other._sources,
            other.file,
            other._keymap,
        )

    __hash__ = None  # type: ignore[assignment]  # equal configs may hold different keymap dicts

    def __repr__(self) -> str:  # masked, so logging a Config never leaks a password
        shown = ", ".join(
            f"{s.name}={s.display(self._values[s.name]) if s.secret else self._values[s.name]!r}"
            for s in SETTINGS
        )
        return f"Config({shown})"

    @property
    def keymap(self) -> dict[str, str]:
        """Console binding id -> key string, from the file's ``[keymap]`` table (a copy)."""
        return dict(self._keymap)

    def source(self, name: str) -> str:
        """``"default"``, ``"file:/path"``, ``"env:ALX_NAME"``, ``"flag:--name"`` (or ``"override"``)."""
        return self._sources[get_setting(name).name]

    def describe(self) -> list[tuple[str, str, str]]:
        """``(name, display value, source)`` for every setting, in registry order, secrets masked."""
        return [(s.name, s.display(self._values[s.name]), self._sources[s.name]) for s in SETTINGS]

    def replace(self, **overrides: Any) -> Config:
        """A copy with some values changed (validated like flags; source ``"override"``).

        ``keymap=`` replaces the keymap. Unknown names raise ``TypeError``, like ``dataclasses.replace``.
        """
        values, sources, keymap = dict(self._values), dict(self._sources), self._keymap
        origin = _Origin("override")
        for name, raw in overrides.items():
            if name == KEYMAP_TABLE:
                keymap, problem = _parse_keymap(raw, "in replace()")
                if problem:
                    raise ConfigError(problem)
                continue
            setting = _setting_or_type_error(name, "replace()")
            values[name] = _coerce(setting, raw, origin, text_ok=True)
            sources[name] = origin.source
        return Config(values, sources, self.file, keymap, self.warnings)


def _setting_or_type_error(name: str, where: str) -> Setting:
    if name not in SETTINGS_BY_NAME:
        raise TypeError(f"unknown setting {name!r} in {where}{_did_you_mean(name, SETTINGS_BY_NAME)}")
    return SETTINGS_BY_NAME[name]


# --- loading --------------------------------------------------------------------------------------


def load_config(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_path: str | os.PathLike | None = None,
    search_paths: Iterable[str | os.PathLike] | None = None,
) -> Config:
    """Build the effective configuration: flags > environment > file > defaults.

    ``flags`` maps setting names to what the user passed on the command line: typed values or
    strings (parsed like environment values). ``None`` means "not given", so argparse options should
    default to ``None`` (not ``False``). ``env`` defaults to ``os.environ``; ``config_path`` is the
    ``--config`` flag; ``search_paths`` replaces the default file search list (tests pass ``[]``).
    Raises ``ConfigError`` listing every problem found.
    """
    env = os.environ if env is None else env
    given_flags = {name: value for name, value in (flags or {}).items() if value is not None}
    for name in given_flags:
        _setting_or_type_error(name, "flags")

    path = find_config_file(config_path, env, search_paths)
    file_settings: dict[str, Any] = {}
    keymap: dict[str, str] = {}
    problems: list[str] = []
    if path is not None:
        file_settings, keymap, problems = _split_file_table(read_config_file(path), path)

    values = {s.name: s.default_value() for s in SETTINGS}
    sources = dict.fromkeys(values, "default")
    # Lowest precedence first: each layer overwrites the one before. Every layer is validated even
    # when a higher one overrides it, so a bad value in the unit file or in the environment is
    # reported now rather than when someone drops the flag.
    for setting, raw, origin, text_ok in _layers(file_settings, path, env, given_flags):
        try:
            values[setting.name] = _coerce(setting, raw, origin, text_ok=text_ok)
        except ConfigError as err:
            problems.append(str(err))
            continue
        sources[setting.name] = origin.source
    if problems:
        raise ConfigError("\n".join(problems), problems)
    return Config(values, sources, str(path) if path else None, keymap, _env_warnings(env))


def _layers(
    file_settings: Mapping[str, Any], path: Path | None, env: Mapping[str, str], flags: Mapping[str, Any]
):
    """(setting, raw value, origin, text_ok) for every value given, lowest precedence first."""
    for name, raw in file_settings.items():
        yield SETTINGS_BY_NAME[name], raw, _Origin("file", str(path)), False
    for setting in SETTINGS:
        if setting.env_var in env:
            yield setting, env[setting.env_var], _Origin("env", setting.env_var), True
    for name, raw in flags.items():
        setting = SETTINGS_BY_NAME[name]
        yield setting, raw, _Origin("flag", setting.flag_name), True


def _env_warnings(env: Mapping[str, str]) -> list[str]:
    """Messages for ALX_* variables that name no setting (probably typos); they are otherwise ignored."""
    warnings = []
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX) or var in _SETTINGS_BY_ENV or var in ENV_NOT_SETTINGS:
            continue
        if var.startswith(ENV_FREE_PREFIXES):
            continue
        hint = _did_you_mean(var, [*_SETTINGS_BY_ENV, *ENV_NOT_SETTINGS])
        warnings.append(f"ignoring environment variable {var}: not a setting{hint}")
    return warnings
