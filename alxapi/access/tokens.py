"""API tokens: the ones this product manages, and the Moodle-issued ones existing clients still use.

Managed tokens (SPEC §4.4) are 32 lowercase hex characters from a CSPRNG, shown once at creation
and stored only as their SHA-256 (``local_alx_api_tokens.token_hash``). Moodle tokens live in
Moodle's ``external_tokens`` (read-only to us) and are accepted for the services
``alx_report_api_custom`` and ``alx_report_api`` (SPEC §4.1).

``authenticate`` turns a presented token into a :class:`Principal` or raises :class:`AuthError`
carrying Moodle's error code. Nothing here ever logs or stores a token in clear; callers identify a
token by ``Principal.token_ref`` (``m:<id>`` managed, ``w:<id>`` Moodle) or its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import peewee

from models.db import Prepared, database
from models.iomad import Company, CompanyUser
from models.moodle import ExternalService, ExternalServiceUser, ExternalToken, User
from models.plugin import ApiToken

from .. import audit
from .settings import company_name

ACCEPTED_SERVICES = ("alx_report_api_custom", "alx_report_api")
LASTUSED_INTERVAL = 60  # seconds: lastused is written at most this often per token
MAX_EXPIRES_DAYS = 36_500
_IPRESTRICTION_MAX = 255  # column width

_MANAGED_RE = re.compile(r"[0-9a-f]{32}")
# What a Moodle token can look like (Moodle generates 32 hex characters; the column holds 128).
_MOODLE_RE = re.compile(r"[A-Za-z0-9]{1,128}")


class TokenError(ValueError):
    """A token operation the operator asked for cannot be done; the message says why and what to do."""


class AuthError(Exception):
    """Authentication refused, with Moodle's error triple (the HTTP layer renders it).

    ``errorcode`` is ``invalidtoken``, ``accessexception`` or ``nocompanyassociation``;
    ``debuginfo`` explains the reason (shown to clients only in debug mode; never holds the token).
    """

    EXCEPTIONS = {
        "invalidtoken": ("moodle_exception", "Invalid token - token not found"),
        "accessexception": ("webservice_access_exception", "Access control exception"),
        "nocompanyassociation": ("moodle_exception", "User is not associated with any company"),
    }

    def __init__(self, errorcode: str, debuginfo: str = ""):
        self.errorcode = errorcode
        self.exception, self.message = self.EXCEPTIONS.get(errorcode, ("moodle_exception", errorcode))
        self.debuginfo = debuginfo
        super().__init__(f"{errorcode}: {debuginfo}" if debuginfo else errorcode)

    @property
    def code(self) -> str:
        """Alias of ``errorcode``."""
        return self.errorcode


@dataclass(frozen=True)
class Principal:
    """Who is calling: the company whose rows it may see, and how to name the token in logs."""

    kind: str  # "managed" | "moodle"
    token_ref: str  # "m:<id>" or "w:<id>": for logs and rate limits, never the token itself
    token_hash: str  # SHA-256 hex of the token (per-token sync state)
    companyid: int
    userid: int
    name: str
    company_shortname: str = ""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


# --- IP restrictions ----------------------------------------------------------------------------


def parse_ip_restriction(text: str | None) -> str:
    """Validate a comma-separated list of IP addresses / CIDR networks; return it normalised.

    ``"10.0.0.5/24, 192.0.2.7"`` -> ``"10.0.0.0/24,192.0.2.7"``. Empty means no restriction.
    """
    if text is None:
        return ""
    items = [item.strip() for item in text.split(",") if item.strip()]
    normalised, bad = [], []
    for item in items:
        try:
            if "/" in item:
                normalised.append(str(ipaddress.ip_network(item, strict=False)))
            else:
                normalised.append(str(ipaddress.ip_address(item)))
        except ValueError:
            bad.append(item)
    if bad:
        raise TokenError(
            f"not an IP address or CIDR network: {', '.join(bad)}. Give a comma-separated list "
            "such as 192.0.2.10,10.0.0.0/8,2001:db8::/32"
        )
    result = ",".join(normalised)
    if len(result) > _IPRESTRICTION_MAX:
        raise TokenError(
            f"IP restriction too long ({len(result)} characters, at most {_IPRESTRICTION_MAX}); "
            "use wider CIDR networks"
        )
    return result


def _client_address(ip: str | None):
    if not ip:
        return None
    text = ip.strip().strip("[]").split("%", 1)[0]  # [v6] and zone ids
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _item_matches(address, item: str) -> bool:
    """One entry of a Moodle subnet list (``address_in_subnet``): CIDR, exact, range or prefix."""
    try:
        if "/" in item:
            network = ipaddress.ip_network(item, strict=False)
            return address.version == network.version and address in network
        if "-" in item:  # 192.0.2.10-20 or 192.0.2.10-192.0.2.20
            start_text, end_text = (part.strip() for part in item.split("-", 1))
            start = ipaddress.ip_address(start_text)
            if address.version != start.version:
                return False
            if end_text.isdigit() and start.version == 4:
                head = start_text.rsplit(".", 1)[0]
                end = ipaddress.ip_address(f"{head}.{end_text}")
            else:
                end = ipaddress.ip_address(end_text)
            return start <= address <= end
        try:
            return address == ipaddress.ip_address(item)
        except ValueError:
            pass
        # A partial address: "192.168" or "192.168." matches 192.168.*.*
        if address.version == 4:
            parts = item.rstrip(".").split(".")
            if all(p.isdigit() for p in parts) and len(parts) < 4:
                return str(address).split(".")[: len(parts)] == [str(int(p)) for p in parts]
        else:
            parts = item.rstrip(":").split(":")
            if all(re.fullmatch(r"[0-9a-fA-F]{1,4}", p) for p in parts) and len(parts) < 8:
                groups = address.exploded.split(":")[: len(parts)]
                return [int(g, 16) for g in groups] == [int(p, 16) for p in parts]
    except ValueError:
        return False
    return False


def ip_allowed(ip: str | None, restriction: str | None) -> bool:
    """Whether ``ip`` is in the comma-separated subnet list; an empty list allows every address."""
    items = [item.strip() for item in (restriction or "").split(",") if item.strip()]
    if not items:
        return True
    address = _client_address(ip)
    if address is None:
        return False
    return any(_item_matches(address, item) for item in items)


# --- managed tokens -----------------------------------------------------------------------------


def _require_company(companyid: int) -> str:
    name = company_name(companyid)
    if name is None:
        raise TokenError(
            f"no company with id {companyid} in the IOMAD company table; `alx company show ID` checks an id"
        )
    return name


def create_token(
    companyid: int,
    *,
    userid: int = 0,
    name: str = "",
    expires_days: int | None = None,
    ip: str | None = None,
    actor: str,
    now: int,
) -> tuple[str, ApiToken]:
    """Create a managed token bound to ``companyid``; return (the token, its row).

    The token itself is returned once and never stored: only its SHA-256 is.
    """
    _require_company(companyid)
    userid = int(userid or 0)
    if userid < 0:
        raise TokenError("--user must be a Moodle user id (a positive number)")
    if userid:
        user = User.select(User.id, User.deleted).where(User.id == userid).first()
        if user is None or user.deleted:
            raise TokenError(
                f"no Moodle user with id {userid} (or the user is deleted); "
                "omit --user to bind the token to the company only"
            )
    name = (name or "").strip()
    if len(name) > 255:
        raise TokenError(f"token name too long ({len(name)} characters, at most 255)")
    expires_at = 0
    if expires_days is not None:
        if not 0 < int(expires_days) <= MAX_EXPIRES_DAYS:
            raise TokenError(
                f"--expires-days must be between 1 and {MAX_EXPIRES_DAYS} "
                "(omit it for a token that does not expire)"
            )
        expires_at = int(now) + int(expires_days) * 86_400
    iprestriction = parse_ip_restriction(ip)

    token = secrets.token_hex(16)
    with database.atomic():
        row = ApiToken.create(
            token_hash=hash_token(token),
            name=name,
            companyid=int(companyid),
            userid=userid,
            iprestriction=iprestriction,
            expires_at=expires_at,
            timecreated=int(now),
            lastused=0,
            revoked_at=0,
            created_by=(actor or "")[:100],
        )
        audit.record(
            actor,
            "token.create",
            f"token:{row.id}",
            {
                "companyid": int(companyid),
                "userid": userid,
                "name": name,
                "expires_at": expires_at,
                "iprestriction": iprestriction,
            },
            now,
        )
    return token, row


def token_status(row: ApiToken, now: int) -> str:
    if row.revoked_at:
        return "revoked"
    if row.expires_at and row.expires_at < now:
        return "expired"
    return "active"


def list_tokens(now: int) -> list[dict]:
    """Every managed token (never the token itself), oldest first."""
    rows = list(ApiToken.select().order_by(ApiToken.id))
    ids = {r.companyid for r in rows}
    names = (
        {c.id: c.name for c in Company.select(Company.id, Company.name).where(Company.id.in_(list(ids)))}
        if ids
        else {}
    )
    return [
        {
            "id": r.id,
            "name": r.name,
            "companyid": r.companyid,
            "company": names.get(r.companyid, ""),
            "userid": r.userid,
            "created": r.timecreated,
            "lastused": r.lastused or None,
            "expires": r.expires_at or None,
            "revoked": r.revoked_at or None,
            "status": token_status(r, now),
            "iprestriction": r.iprestriction,
            "created_by": r.created_by,
        }
        for r in rows
    ]


def revoke_token(token_id: int, actor: str, now: int) -> tuple[ApiToken, bool]:
    """Revoke a managed token; return (its row, whether this call revoked it).

    Revoking an already revoked token changes nothing (and is not audited again).
    """
    with database.atomic():
        row = ApiToken.get_or_none(ApiToken.id == token_id)
        if row is None:
            raise TokenError(f"no managed token with id {token_id}; `alx token list` shows the ids")
        if row.revoked_at:
            return row, False
        ApiToken.update(revoked_at=int(now)).where(ApiToken.id == row.id, ApiToken.revoked_at == 0).execute()
        row.revoked_at = int(now)
        audit.record(
            actor, "token.revoke", f"token:{row.id}", {"companyid": row.companyid, "name": row.name}, now
        )
    return row, True


# --- authentication -----------------------------------------------------------------------------

_optional_tables: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _has_table(table_name: str) -> bool:
    """Whether an optional Moodle table exists (cached per database connection object)."""
    db = database.obj
    known = _optional_tables.setdefault(db, {})
    if table_name not in known:
        known[table_name] = db.table_exists(table_name)
    return known[table_name]


def authenticate(
    token: str,
    ip: str,
    now: int,
    services: tuple[str, ...] = ACCEPTED_SERVICES,
    *,
    read_managed: Callable[[str], SimpleNamespace | None] | None = None,
) -> Principal:
    """Who presents ``token`` from ``ip`` at ``now``; raises :class:`AuthError` (SPEC §4.1).

    - not found, malformed, or not a permanent token of an enabled accepted service: ``invalidtoken``;
    - expired, revoked, IP not allowed, owner deleted/suspended/unconfirmed/nologin, or refused by
      the service's user list (``external_services_users``): ``accessexception``;
    - a Moodle token whose owner has no active company membership (or a managed token whose
      company no longer exists): ``nocompanyassociation``.

    ``read_managed(token_hash)`` reads a managed token's row (``MANAGED_FIELDS``), for
    a caller that reads more in the same round trip (the API: the company's state).
    """
    if not isinstance(token, str):
        raise AuthError("invalidtoken", "Invalid token - token not found")
    token = token.strip(" \t\r\n")
    if not token.isascii() or not _MOODLE_RE.fullmatch(token):
        # Never reaches the database: empty, too long, non-ASCII or odd characters.
        raise AuthError("invalidtoken", "Invalid token - token not found")
    token_hash = hash_token(token)
    if _MANAGED_RE.fullmatch(token):
        row = (read_managed or _managed_row)(token_hash)
        if row is not None and hmac.compare_digest(row.token_hash, token_hash):
            return _managed_principal(row, token_hash, ip, now)
    return _moodle_principal(token, token_hash, ip, now, services)


# What authentication reads of a managed token: its own columns, its company (None: deleted) and
# its owner's state, by these names.
MANAGED_FIELDS = (
    "id",
    "token_hash",
    "name",
    "companyid",
    "userid",
    "iprestriction",
    "expires_at",
    "lastused",
    "revoked_at",
    "company_id",
    "company_shortname",
    "owner_id",
    "owner_deleted",
    "owner_suspended",
)


def managed_token_query(token_hash, *leading) -> peewee.Select:
    """The SELECT of a managed token's MANAGED_FIELDS (after the ``leading`` columns) by its hash:
    one indexed read. The API unions the company's state onto it (``alxapi.api.feed``)."""
    return (
        ApiToken.select(
            *leading,
            *(getattr(ApiToken, name) for name in MANAGED_FIELDS[:9]),
            Company.id.alias("company_id"),
            Company.shortname.alias("company_shortname"),
            User.id.alias("owner_id"),
            User.deleted.alias("owner_deleted"),
            User.suspended.alias("owner_suspended"),
        )
        .join(Company, peewee.JOIN.LEFT_OUTER, on=(Company.id == ApiToken.companyid))
        .join_from(ApiToken, User, peewee.JOIN.LEFT_OUTER, on=(User.id == ApiToken.userid))
        .where(ApiToken.token_hash == token_hash)
    )


# Compiled once: every API request with a Moodle-style token that is not a managed one makes it.
_MANAGED_ROW = Prepared(managed_token_query, "sample-token-hash")


def _managed_row(token_hash: str) -> SimpleNamespace | None:
    rows = _MANAGED_ROW.dicts(token_hash)
    return SimpleNamespace(**rows[0]) if rows else None


def _managed_principal(row: SimpleNamespace, token_hash: str, ip: str, now: int) -> Principal:
    if row.revoked_at:
        raise AuthError("accessexception", "Invalid token - token revoked")
    if row.expires_at and row.expires_at < now:
        raise AuthError("accessexception", "Invalid token - token expired")
    if not ip_allowed(ip, row.iprestriction):
        raise AuthError("accessexception", f"Invalid service - IP:{ip} is not supported")
    if row.company_id is None:
        raise AuthError("nocompanyassociation", f"the token's company {row.companyid} no longer exists")
    if row.userid:
        # A token made for a user (`alx token create --user`) dies with that user's access, as Moodle's do.
        if row.owner_id is None or row.owner_deleted:
            raise AuthError("accessexception", "wsaccessuserdeleted: the token's owner is deleted")
        if row.owner_suspended:
            raise AuthError("accessexception", "wsaccessusersuspended: the token's owner is suspended")
    if row.lastused <= now - LASTUSED_INTERVAL:
        # Conditional, so concurrent API processes write it once per interval at most.
        (
            ApiToken.update(lastused=int(now))
            .where(ApiToken.id == row.id, ApiToken.lastused <= now - LASTUSED_INTERVAL)
            .execute()
        )
    return Principal(
        kind="managed",
        token_ref=f"m:{row.id}",
        token_hash=token_hash,
        companyid=int(row.companyid),
        userid=int(row.userid),
        name=row.name or "",
        company_shortname=row.company_shortname or "",
    )


def _moodle_principal(token: str, token_hash: str, ip: str, now: int, services: tuple[str, ...]) -> Principal:
    rows = list(
        ExternalToken.select(
            ExternalToken.id,
            ExternalToken.token,
            ExternalToken.userid,
            ExternalToken.externalserviceid,
            ExternalToken.iprestriction,
            ExternalToken.validuntil,
            ExternalToken.name,
            ExternalService.restrictedusers,
        )
        .join(ExternalService, on=(ExternalService.id == ExternalToken.externalserviceid))
        .where(
            ExternalToken.token == token,
            ExternalToken.tokentype == 0,
            ExternalService.enabled == 1,
            ExternalService.shortname.in_(list(services)),
        )
        .order_by(ExternalToken.id)
        .objects()
    )
    # MariaDB compares case-insensitively and ignores trailing spaces: insist on the exact token.
    found = next((r for r in rows if hmac.compare_digest(r.token.encode(), token.encode())), None)
    if found is None:
        raise AuthError("invalidtoken", "Invalid token - token not found")
    if found.validuntil and found.validuntil < now:
        raise AuthError(
            "accessexception", "Invalid token - token expired - check validuntil time for the token"
        )
    if not ip_allowed(ip, found.iprestriction):
        raise AuthError("accessexception", f"Invalid service - IP:{ip} is not supported")
    _check_service_user(found, ip, now)
    user = (
        User.select(User.id, User.deleted, User.suspended, User.confirmed, User.auth, User.username)
        .where(User.id == found.userid)
        .first()
    )
    if user is None or user.deleted:
        raise AuthError("accessexception", "wsaccessuserdeleted: the token's owner is deleted")
    if user.suspended:
        raise AuthError("accessexception", "wsaccessusersuspended: the token's owner is suspended")
    if not user.confirmed:
        raise AuthError("accessexception", "wsaccessuserunconfirmed: the token's owner is not confirmed")
    if user.auth == "nologin":
        raise AuthError("accessexception", "wsaccessusernologin: the token's owner may not log in")
    membership = (
        CompanyUser.select(CompanyUser.companyid, Company.shortname)
        .join(Company, on=(Company.id == CompanyUser.companyid))
        .where(CompanyUser.userid == found.userid, CompanyUser.suspended == 0)
        .order_by(CompanyUser.companyid)
        .limit(1)
        .tuples()
        .first()
    )
    if membership is None:
        raise AuthError("nocompanyassociation", f"user {found.userid} has no active company membership")
    companyid, shortname = membership
    return Principal(
        kind="moodle",
        token_ref=f"w:{found.id}",
        token_hash=token_hash,
        companyid=int(companyid),
        userid=int(found.userid),
        name=found.name or "",
        company_shortname=shortname or "",
    )


def _check_service_user(found, ip: str, now: int) -> None:
    """Honour ``external_services_users`` (optional table): required for restricted services."""
    table = ExternalServiceUser._meta.table_name
    if not _has_table(table):
        return
    entry = (
        ExternalServiceUser.select()
        .where(
            ExternalServiceUser.externalserviceid == found.externalserviceid,
            ExternalServiceUser.userid == found.userid,
        )
        .order_by(ExternalServiceUser.id)
        .first()
    )
    if entry is None:
        if found.restrictedusers:
            raise AuthError("accessexception", "the token's owner is not an authorised user of this service")
        return
    if entry.validuntil and entry.validuntil < now:
        raise AuthError("accessexception", "the owner's access to this service has expired")
    if not ip_allowed(ip, entry.iprestriction):
        raise AuthError("accessexception", f"Invalid service - IP:{ip} is not supported")
