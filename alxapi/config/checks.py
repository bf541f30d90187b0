"""Checks beyond type and range: each gets a converted value and returns ``None`` when it is fine,
or a phrase starting with "must" that completes "<setting> must ..."."""

from __future__ import annotations

import ipaddress
import urllib.parse

from models.db import DatabaseURLError, is_loopback_host, split_scheme, valid_table_prefix

from ..alerts.kinds import ALERT_TYPES, SEVERITIES
from .zones import is_timezone

DATABASE_SCHEMES = ("sqlite", "sqlite3", "mysql", "mariadb", "postgresql", "postgres", "pgsql")


def check_table_prefix(prefix: str) -> str | None:
    if valid_table_prefix(prefix):
        return None
    return "must be lower-case letters, digits or '_' (at most 20 characters)"


def check_timezone(name: str) -> str | None:
    return None if is_timezone(name) else "must be an IANA time zone name such as 'Europe/Paris' or 'UTC'"


def check_database_url(url: str) -> str | None:
    scheme, sep, _ = url.partition("://")
    try:
        kind = split_scheme(scheme)[0]
    except DatabaseURLError as exc:
        return f"must be a database URL ({exc})"
    if sep and kind in DATABASE_SCHEMES:
        return None
    return "must be a database URL: sqlite:///path, mysql://user:password@host/db or postgresql://…"


def check_networks(items: tuple[str, ...]) -> str | None:
    for item in items:
        try:
            ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            return f"must be addresses or networks such as 127.0.0.1 or 10.0.0.0/8 ({item!r} is not one)"
    return None


def check_emails(addresses: tuple[str, ...]) -> str | None:
    for address in addresses:
        local, at, domain = address.partition("@")
        if not (at and local and domain) or any(c.isspace() for c in address):
            return f"must be e-mail addresses such as user@example.com ({address!r} is not one)"
    return None


def check_alert_severities(items: tuple[str, ...]) -> str | None:
    for item in items:
        kind, eq, severity = item.partition("=")
        if not eq or kind.strip() not in ALERT_TYPES or severity.strip() not in SEVERITIES:
            return (
                f"must be alert_type=severity pairs such as error_rate=high ({item!r} is not one); "
                f"types: {', '.join(ALERT_TYPES)}; severities: {', '.join(SEVERITIES)}"
            )
    return None


def check_webhook_url(url: str) -> str | None:
    """https only: the URL's path is the webhook's secret (http is accepted to this host only)."""
    if url == "" or url.startswith("https://"):
        return None
    if url.startswith("http://"):
        if is_loopback_host(urllib.parse.urlsplit(url).hostname or ""):
            return None
        return "must be an https:// URL (plain http:// only to this host: the path is the webhook's secret)"
    return "must be an https:// URL"
