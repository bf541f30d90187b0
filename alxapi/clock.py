"""The one clock the product reads, so tests can fix time with ``ALX_NOW`` (epoch seconds)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

NOW_ENV = "ALX_NOW"


def now(env: Mapping[str, str] | None = None) -> int:
    """Current time in epoch seconds, or ``ALX_NOW`` when set (``env`` defaults to ``os.environ``)."""
    env = os.environ if env is None else env
    fixed = env.get(NOW_ENV, "").strip()
    if not fixed:  # unset or empty: the real clock
        return int(time.time())
    try:
        return int(fixed)
    except ValueError:
        raise ValueError(f"{NOW_ENV} must be an integer number of epoch seconds, got {fixed!r}") from None
