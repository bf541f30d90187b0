"""Configuration: defaults < config file (TOML) < environment (``ALX_*``) < command-line flags.

See :mod:`alxapi.config.loading` for the rules; this package's names are the public interface.
"""

from .files import default_search_paths, find_config_file, read_config_file
from .loading import Config, load_config
from .registry import (
    BOOL,
    ENUM,
    ENV_PREFIX,
    FLOAT,
    INT,
    LIST,
    PATH,
    SETTINGS,
    SETTINGS_BY_NAME,
    STR,
    ConfigError,
    Setting,
    get_setting,
)
from .values import parse_bool, parse_list
from .zones import is_timezone, local_timezone_name

__all__ = [
    "BOOL",
    "ENUM",
    "ENV_PREFIX",
    "FLOAT",
    "INT",
    "LIST",
    "PATH",
    "SETTINGS",
    "SETTINGS_BY_NAME",
    "STR",
    "Config",
    "ConfigError",
    "Setting",
    "default_search_paths",
    "find_config_file",
    "get_setting",
    "is_timezone",
    "load_config",
    "local_timezone_name",
    "parse_bool",
    "parse_list",
    "read_config_file",
]
