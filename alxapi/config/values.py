"""Turning a raw value (TOML, environment, flag) into a valid setting value, or a clear error."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from .registry import BOOL, ENUM, FALSE_WORDS, FLOAT, INT, LIST, PATH, STR, TRUE_WORDS, ConfigError, Setting


@dataclass(frozen=True)
class Origin:
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


def coerce(setting: Setting, raw: Any, origin: Origin, *, text_ok: bool) -> Any:
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
    problem = problem_with(setting, value)
    if problem:
        raise ConfigError(f"{setting.name} {problem}, got {_shown(setting, value)} (from {origin.label})")
    return value


def problem_with(setting: Setting, value: Any) -> str | None:
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
