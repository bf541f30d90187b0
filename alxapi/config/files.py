"""Finding and reading the config file: ``--config``, ``ALX_CONFIG``, then the search paths."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .registry import CONFIG_ENV, KEYMAP_TABLE, SETTINGS_BY_NAME, ConfigError, did_you_mean


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


def split_file_table(
    table: Mapping[str, Any], path: Path
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """Separate settings from the keymap; report unknown keys and a malformed keymap."""
    settings: dict[str, Any] = {}
    keymap: dict[str, str] = {}
    problems: list[str] = []
    known = [*SETTINGS_BY_NAME, KEYMAP_TABLE]
    for key, value in table.items():
        if key == KEYMAP_TABLE:
            keymap, keymap_problem = parse_keymap(value, f"in {path}")
            if keymap_problem:
                problems.append(keymap_problem)
        elif key in SETTINGS_BY_NAME:
            settings[key] = value
        else:
            what = "table" if isinstance(value, dict) else "setting"
            problems.append(f"unknown {what} {key!r} in {path}{did_you_mean(key, known)}")
    return settings, keymap, problems


def parse_keymap(value: Any, where: str) -> tuple[dict[str, str], str | None]:
    if not isinstance(value, Mapping):
        return {}, f'keymap {where} must be a table of binding id = "key" lines'
    bad = [key for key, keys in value.items() if not isinstance(key, str) or not isinstance(keys, str)]
    if bad:
        return {}, f'keymap {where}: {bad[0]!r} must map to a key string such as "ctrl+r"'
    return dict(value), None
