"""Managed tokens with today's use against their daily limit, counted exactly as the API counts it.

The API's rate limit (``api.pipeline.Pipeline.check_rate_limit``) counts a token's requests in the request
log since the start of the local day (``access.ratelimit.requests_since``), against
the company's ``rate_limit`` or the global one (``settings.effective_rate_limit``); this reuses those.
"""

from __future__ import annotations

from ..timefmt import local_day_start
from . import settings as company_settings
from .ratelimit import requests_since
from .tokens import list_tokens


def token_ref(token_id: int) -> str:
    """How the request log names a managed token (``Principal.token_ref``)."""
    return f"m:{int(token_id)}"


def list_tokens_with_usage(config, now: int) -> list[dict]:
    """``list_tokens`` rows plus ``used_today`` and ``limit`` (0 = unlimited)."""
    day_start = local_day_start(now, config.timezone)
    limits: dict[int, int] = {}
    rows = list_tokens(now)
    for row in rows:
        cid = row["companyid"]
        if cid not in limits:
            limits[cid] = company_settings.effective_rate_limit(company_settings.load(cid), config)
        row["limit"] = limits[cid]
        row["used_today"] = requests_since(token_ref(row["id"]), day_start)
    return rows
