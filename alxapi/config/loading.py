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

The package: ``registry`` (every setting once), ``checks`` (validation beyond type and range),
``values`` (parsing one value), ``files`` (finding and reading the file), ``zones`` (the server's
time zone), and here the :class:`Config` object and :func:`load_config`. No database driver is
imported, so configuration errors surface first.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .files import find_config_file, parse_keymap, read_config_file, split_file_table
from .registry import (
    ENV_FREE_PREFIXES,
    ENV_NOT_SETTINGS,
    ENV_PREFIX,
    KEYMAP_TABLE,
    SETTINGS,
    SETTINGS_BY_ENV,
    SETTINGS_BY_NAME,
    ConfigError,
    Setting,
    cross_problems,
    did_you_mean,
    get_setting,
)
from .values import Origin, coerce

# --- the configuration object ---------------------------------------------------------------------


class Config:
    """The effective configuration: read-only attributes named like the settings.

    ``cfg.max_records``; ``cfg.source("max_records")`` -> ``"env:ALX_MAX_RECORDS"``; ``cfg.file``
    (the file read, or ``None``); ``cfg.keymap`` (a fresh dict each time); ``cfg.warnings``
    (ignored ``ALX_*`` variables); ``cfg.describe()`` for display; ``cfg.replace(...)`` for tests.
    """

    __slots__ = ("_values", "_sources", "_keymap", "file", "warnings")

    # One typed attribute per setting, for readers and the type checker; values come from
    # ``__getattr__``. A test keeps these equal to the registry (names and types).
    database_url: str
    table_prefix: str
    timezone: str
    report_roles: tuple[str, ...]
    max_records: int
    rate_limit: int
    log_retention_days: int
    allow_get_method: bool
    url_tokens: bool
    auto_sync_hours: float
    full_sync_hours: float
    max_sync_time: int
    batch_size: int
    sync_overlap_seconds: int
    sync_log_feed: bool
    reconcile_hours: float
    lock_stale_seconds: int
    db_lock_timeout_seconds: int
    session_timeout: int
    analytics_minutes: float
    analytics_window_days: int
    engagement_weight_time: float
    engagement_weight_days: float
    engagement_weight_completion: float
    engagement_weight_interactions: float
    engagement_target_hours: float
    engagement_target_days: int
    engagement_target_interactions: int
    risk_grace_days: int
    risk_min_hours: float
    risk_max_inactive_days: int
    risk_min_completion: float
    risk_min_engagement: float
    risk_threshold: int
    report_allowed_tables: tuple[str, ...]
    report_max_seconds: int
    report_max_rows: int
    schedule_retry_minutes: float
    schedule_retries: int
    schedule_max_attachment_mb: float
    report_retention_days: int
    enable_alerting: bool
    alert_threshold: str
    alert_cooldown: int
    alert_emails: tuple[str, ...]
    alert_severities: tuple[str, ...]
    alert_check_minutes: float
    alert_sync_stale_hours: float
    alert_sync_failures: int
    alert_response_ms: int
    alert_error_rate_percent: float
    alert_cache_hit_percent: float
    alert_min_calls: int
    alert_company_calls_per_hour: int
    alert_failed_auth_per_ip: int
    alert_get_attempts_per_ip: int
    smtp_host: str
    smtp_port: int
    smtp_starttls: bool
    smtp_user: str
    smtp_password_file: str
    smtp_from: str
    alert_webhook_url: str
    cleanup_hours: float
    heartbeat_seconds: float
    api_host: str
    api_port: int
    api_threads: int
    api_workers: int
    api_debug: bool
    trusted_proxy: str
    metrics_allow: tuple[str, ...]
    cache_max_entries: int
    cache_max_mb: int
    failed_auth_limit: int
    failed_auth_window_minutes: int
    tui_refresh_seconds: float
    log_file: str
    log_level: str

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
            raise AttributeError(f"no setting {name!r}{did_you_mean(name, values)}") from None

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
    def metrics_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """``metrics_allow`` as networks (validated when loaded)."""
        return [ipaddress.ip_network(item.strip(), strict=False) for item in self._values["metrics_allow"]]

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
        origin = Origin("override")
        for name, raw in overrides.items():
            if name == KEYMAP_TABLE:
                keymap, problem = parse_keymap(raw, "in replace()")
                if problem:
                    raise ConfigError(problem)
                continue
            setting = _setting_or_type_error(name, "replace()")
            values[name] = coerce(setting, raw, origin, text_ok=True)
            sources[name] = origin.source
        if problems := cross_problems(values):
            raise ConfigError("\n".join(problems), problems)
        return Config(values, sources, self.file, keymap, self.warnings)


def _setting_or_type_error(name: str, where: str) -> Setting:
    if name not in SETTINGS_BY_NAME:
        raise TypeError(f"unknown setting {name!r} in {where}{did_you_mean(name, SETTINGS_BY_NAME)}")
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
        file_settings, keymap, problems = split_file_table(read_config_file(path), path)

    values = {s.name: s.default_value() for s in SETTINGS}
    sources = dict.fromkeys(values, "default")
    # Lowest precedence first: each layer overwrites the one before. Every layer is validated even
    # when a higher one overrides it, so a bad value in the unit file or in the environment is
    # reported now rather than when someone drops the flag.
    for setting, raw, origin, text_ok in _layers(file_settings, path, env, given_flags):
        try:
            values[setting.name] = coerce(setting, raw, origin, text_ok=text_ok)
        except ConfigError as err:
            problems.append(str(err))
            continue
        sources[setting.name] = origin.source
    if not problems:
        problems = cross_problems(values)
    if problems:
        raise ConfigError("\n".join(problems), problems)
    warnings = _env_warnings(env) + readable_by_others(
        [("the config file", path), ("smtp_password_file", values["smtp_password_file"] or None)]
    )
    return Config(values, sources, str(path) if path else None, keymap, warnings)


def readable_by_others(files: list[tuple[str, Any]]) -> list[str]:
    """Warnings for secret-holding files that the group or other users may read."""
    warnings = []
    for what, name in files:
        if not name:
            continue
        try:
            mode = os.stat(name).st_mode
        except OSError:
            continue  # a missing password file is reported when it is needed
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            warnings.append(
                f"{what} {name} is readable by {'others' if mode & stat.S_IROTH else 'its group'} "
                f"(mode {stat.S_IMODE(mode):o}) and may hold secrets: chmod 600 {name}"
            )
    return warnings


def _layers(
    file_settings: Mapping[str, Any], path: Path | None, env: Mapping[str, str], flags: Mapping[str, Any]
):
    """(setting, raw value, origin, text_ok) for every value given, lowest precedence first."""
    for name, raw in file_settings.items():
        yield SETTINGS_BY_NAME[name], raw, Origin("file", str(path)), False
    for setting in SETTINGS:
        if setting.env_var in env:
            yield setting, env[setting.env_var], Origin("env", setting.env_var), True
    for name, raw in flags.items():
        setting = SETTINGS_BY_NAME[name]
        yield setting, raw, Origin("flag", setting.flag_name), True


def _env_warnings(env: Mapping[str, str]) -> list[str]:
    """Messages for ALX_* variables that name no setting (probably typos); they are otherwise ignored."""
    warnings = []
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX) or var in SETTINGS_BY_ENV or var in ENV_NOT_SETTINGS:
            continue
        if var.startswith(ENV_FREE_PREFIXES):
            continue
        hint = did_you_mean(var, [*SETTINGS_BY_ENV, *ENV_NOT_SETTINGS])
        warnings.append(f"ignoring environment variable {var}: not a setting{hint}")
    return warnings
