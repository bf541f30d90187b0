"""Keeping secrets out of what is shown: database URLs, webhook URLs, any text that may hold one.

One redactor for messages, logs, ``alx config``, the console and API errors alike.
"""

from __future__ import annotations

import re

_URL_AUTHORITY = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<authority>[^/?#]*)(?P<rest>.*)$", re.S
)
_SECRET_QUERY_PARAM = re.compile(
    r"(?i)([?&](?:password|passwd|pwd|secret|token|wstoken|api_key|apikey|key)=)[^&#\s]*"
)


def redact_url(url: str) -> str:
    """``mysql://u:secret@h/db`` -> ``mysql://u:***@h/db``; password-like query parameters too
    (``?password=…``, ``&token=…``).

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


def redact_url_path(url: str) -> str:
    """``https://hooks.slack.com/services/T0/B0/xyz`` -> ``https://hooks.slack.com/***``.

    Webhook URLs carry their credential in the path, so only the scheme and host are kept, enough
    to tell which service is configured.
    """
    match = _URL_AUTHORITY.match(url)
    if not match:
        return "***"
    host = match["authority"].rpartition("@")[2]
    return f"{match['scheme']}{host}/***"
