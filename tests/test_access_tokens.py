"""Tokens (SPEC §4.1, §4.4): managed tokens hashed at rest, Moodle tokens of the ALX services, and every
outcome of ``authenticate`` (invalidtoken / accessexception / nocompanyassociation), on every backend.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re

import pytest

from alxapi import audit
from alxapi.access.tokens import (
    AuthError,
    Principal,
    TokenError,
    authenticate,
    create_token,
    hash_token,
    ip_allowed,
    list_tokens,
    parse_ip_restriction,
    revoke_token,
)
from models.db import database, quote
from models.iomad import Company
from models.plugin import ApiToken, Audit

from .support.moodle_builder import MoodleBuilder

NOW = 1_700_000_000
IP = "192.0.2.10"
# external_services rows: id -> (shortname, enabled, restrictedusers)
SERVICES = {
    1: ("alx_report_api_custom", 1, 0),
    2: ("alx_report_api", 1, 0),
    3: ("moodle_mobile_app", 1, 0),
    4: ("alx_report_api", 0, 0),
    5: ("alx_report_api_custom", 1, 1),
}


def moodle_token(
    b: MoodleBuilder,
    tid: int,
    userid: int,
    *,
    service: int = 1,
    tokentype: int = 0,
    validuntil: int | None = None,
    iprestriction: str | None = None,
    name: str | None = None,
) -> str:
    token = hashlib.md5(f"token{tid}".encode()).hexdigest()  # what Moodle generates: 32 lowercase hex
    b.insert(
        "external_tokens",
        [
            dict(
                id=tid,
                token=token,
                tokentype=tokentype,
                userid=userid,
                externalserviceid=service,
                contextid=1,
                creatorid=2,
                iprestriction=iprestriction,
                validuntil=validuntil,
                timecreated=NOW - 1000,
                name=name,
            )
        ],
    )
    return token


@pytest.fixture
def b(moodle):
    builder = moodle
    builder.now = NOW
    for cid in (1, 2, 3):
        builder.company(cid)
    builder.insert(
        "external_services",
        [
            dict(
                id=sid,
                name=f"Service {sid}",
                shortname=short,
                enabled=enabled,
                restrictedusers=restricted,
                timecreated=NOW - 5000,
            )
            for sid, (short, enabled, restricted) in SERVICES.items()
        ],
    )
    builder.user(100)
    builder.member(1, 100)
    yield builder


def managed(companyid: int = 1, **kw) -> tuple[str, ApiToken]:
    return create_token(companyid, actor="tester", now=NOW, **kw)


def refused(code: str, token, ip: str = IP, now: int = NOW) -> AuthError:
    with pytest.raises(AuthError) as info:
        authenticate(token, ip, now)
    assert info.value.errorcode == code, f"{info.value!r} ({info.value.debuginfo})"
    return info.value


# --- managed tokens -------------------------------------------------------------------------------


def test_managed_token_authenticates_and_only_its_hash_is_stored(b):
    token, row = managed(1, userid=100, name="Power BI")
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    principal = authenticate(token, IP, NOW)
    assert principal == Principal(
        kind="managed",
        token_ref=f"m:{row.id}",
        token_hash=row.token_hash,
        companyid=1,
        userid=100,
        name="Power BI",
        company_shortname=Company.get_by_id(1).shortname,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        principal.companyid = 2  # type: ignore[misc]
    # Hash at rest: the token is in no column of any table (audit details included).
    for table in b.db.get_tables():
        for record in b.db.execute_sql(f"SELECT * FROM {quote(table, b.db)}").fetchall():
            assert token not in repr(record) and token.upper() not in repr(record).upper(), table


def test_two_tokens_differ_and_each_names_its_company(b):
    first, _ = managed(1)
    second, _ = managed(2)
    assert first != second
    assert authenticate(first, IP, NOW).companyid == 1
    assert authenticate(second, IP, NOW).companyid == 2


def test_create_is_audited_without_the_token(b):
    token, row = managed(2, name="finance", expires_days=30, ip="10.0.0.0/8")
    entry = Audit.get(Audit.action == "token.create")
    assert (entry.actor, entry.target, entry.timecreated) == ("tester", f"token:{row.id}", NOW)
    details = json.loads(entry.details)
    assert details == {
        "companyid": 2,
        "userid": 0,
        "name": "finance",
        "expires_at": NOW + 30 * 86_400,
        "iprestriction": "10.0.0.0/8",
    }
    assert token not in entry.details
    assert row.created_by == "tester"


def test_create_refuses_bad_input_and_saves_nothing(b):
    for companyid, kwargs, words in [
        (99, {}, ["no company", "99"]),
        (1, dict(expires_days=0), ["--expires-days"]),
        (1, dict(expires_days=-3), ["--expires-days"]),
        (1, dict(ip="10.0.0.300"), ["10.0.0.300", "CIDR"]),
        (1, dict(ip="10.0.0.0/33, 10.1.0.0/16"), ["10.0.0.0/33"]),
        (1, dict(userid=4242), ["4242"]),
        (1, dict(name="x" * 256), ["too long"]),
    ]:
        with pytest.raises(TokenError) as info:
            create_token(companyid, actor="tester", now=NOW, **kwargs)
        for word in words:
            assert word in str(info.value), (kwargs, str(info.value))
    assert ApiToken.select().count() == 0 and Audit.select().count() == 0


def test_expired_managed_token_is_an_access_exception(b):
    token, _ = managed(1, expires_days=1)
    assert authenticate(token, IP, NOW + 86_400).companyid == 1  # the last second is still valid
    error = refused("accessexception", token, now=NOW + 86_401)
    assert error.message == "Access control exception" and error.exception == "webservice_access_exception"
    assert error.code == error.errorcode == "accessexception"
    assert token not in error.debuginfo


def test_revoked_token_is_refused_and_revoke_is_idempotent(b):
    token, row = managed(1)
    revoked, changed = revoke_token(row.id, "alice", NOW + 5)
    assert changed and revoked.revoked_at == NOW + 5
    refused("accessexception", token, now=NOW + 10)
    again, changed = revoke_token(row.id, "alice", NOW + 20)
    assert not changed and again.revoked_at == NOW + 5
    entries = list(Audit.select().where(Audit.action == "token.revoke"))
    assert [(e.actor, e.target, e.timecreated) for e in entries] == [("alice", f"token:{row.id}", NOW + 5)]
    with pytest.raises(TokenError, match="no managed token with id 999.*alx token list"):
        revoke_token(999, "alice", NOW)


def test_list_shows_status_company_and_never_the_token(b):
    active, a = managed(1, name="a")
    _, e = managed(2, name="e", expires_days=1)
    _, r = managed(3, name="r", ip="192.0.2.0/24")
    revoke_token(r.id, "tester", NOW)
    authenticate(active, IP, NOW)
    listed = list_tokens(NOW + 2 * 86_400)
    assert [(t["id"], t["status"], t["companyid"], t["company"]) for t in listed] == [
        (a.id, "active", 1, "Company 1"),
        (e.id, "expired", 2, "Company 2"),
        (r.id, "revoked", 3, "Company 3"),
    ]
    assert listed[0]["lastused"] == NOW and listed[1]["lastused"] is None
    assert listed[1]["expires"] == NOW + 86_400 and listed[0]["expires"] is None
    assert listed[2]["iprestriction"] == "192.0.2.0/24"
    assert active not in json.dumps(listed) and a.token_hash not in json.dumps(listed)


def test_lastused_is_written_at_most_once_a_minute(b):
    token, row = managed(1)

    def lastused() -> int:
        return ApiToken.get_by_id(row.id).lastused

    assert lastused() == 0
    authenticate(token, IP, NOW)
    assert lastused() == NOW
    authenticate(token, IP, NOW + 59)
    assert lastused() == NOW
    authenticate(token, IP, NOW + 60)
    assert lastused() == NOW + 60


def test_managed_token_of_a_company_that_vanished(b):
    token, _ = managed(3)
    b.execute("DELETE FROM {t:company} WHERE id = 3")
    refused("nocompanyassociation", token)


def test_managed_token_made_for_a_user_dies_with_the_users_access(b):
    b.user(101)
    b.user(102)
    token, _ = managed(1, userid=101)
    other, _ = managed(1, userid=102)
    assert authenticate(token, IP, NOW).userid == 101
    b.execute("UPDATE {t:user} SET suspended = 1 WHERE id = 101")
    assert "suspended" in refused("accessexception", token).debuginfo
    b.execute("UPDATE {t:user} SET deleted = 1 WHERE id = 102")
    assert "deleted" in refused("accessexception", other).debuginfo
    b.execute("DELETE FROM {t:user} WHERE id = 102")
    assert "deleted" in refused("accessexception", other).debuginfo
    anyone, _ = managed(1)  # a token made for no user stays valid
    assert authenticate(anyone, IP, NOW).companyid == 1


# --- Moodle tokens --------------------------------------------------------------------------------


def test_moodle_tokens_of_both_alx_services_are_accepted(b):
    custom = moodle_token(b, 11, 100, service=1, name="bi")
    plain = moodle_token(b, 12, 100, service=2)
    assert authenticate(custom, IP, NOW) == Principal(
        kind="moodle",
        token_ref="w:11",
        token_hash=hash_token(custom),
        companyid=1,
        userid=100,
        name="bi",
        company_shortname="c1",
    )
    assert authenticate(plain, IP, NOW).token_ref == "w:12"
    assert authenticate(f"  {plain}\n", IP, NOW).token_ref == "w:12"  # Moodle trims wstoken
    with pytest.raises(AuthError):  # the accepted services are a parameter
        authenticate(plain, IP, NOW, services=("alx_report_api_custom",))


def test_moodle_tokens_that_are_not_permanent_tokens_of_an_enabled_alx_service(b):
    other_service = moodle_token(b, 21, 100, service=3)
    disabled_service = moodle_token(b, 22, 100, service=4)
    embedded = moodle_token(b, 23, 100, service=1, tokentype=1)
    emulated_session = moodle_token(b, 24, 100, service=1, tokentype=2)
    for token in (other_service, disabled_service, embedded, emulated_session):
        error = refused("invalidtoken", token)
        assert error.message == "Invalid token - token not found" and error.exception == "moodle_exception"
    refused("invalidtoken", hashlib.md5(b"never issued").hexdigest())


def test_moodle_token_expiry(b):
    expired = moodle_token(b, 31, 100, validuntil=NOW - 1)
    last_second = moodle_token(b, 32, 100, validuntil=NOW)
    zero = moodle_token(b, 33, 100, validuntil=0)
    error = refused("accessexception", expired)
    assert "expired" in error.debuginfo
    assert authenticate(last_second, IP, NOW).token_ref == "w:32"
    assert authenticate(zero, IP, NOW).token_ref == "w:33"  # 0 = never expires


def test_moodle_token_is_never_written(b):
    token = moodle_token(b, 34, 100)
    table = quote("mdl_external_tokens", b.db)
    before = b.db.execute_sql(f"SELECT * FROM {table}").fetchall()
    authenticate(token, IP, NOW)
    refused(
        "accessexception", moodle_token(b, 35, 100, validuntil=NOW - 10)
    )  # Moodle deletes these; we never do
    assert b.db.execute_sql(f"SELECT * FROM {table} WHERE id = 34").fetchall() == before


def test_match_is_exact_on_every_backend(b):
    token = moodle_token(b, 36, 100)
    managed_token, _ = managed(1)
    # MariaDB's collation ignores case and trailing spaces: neither may let a variant in.
    refused("invalidtoken", token.upper())
    refused("invalidtoken", managed_token.upper())
    refused("invalidtoken", token[:-1])


def test_ip_restrictions_managed_and_moodle(b):
    cidr, _ = managed(1, ip="10.1.0.0/16, 192.0.2.7")
    v6, _ = managed(1, ip="2001:db8::/32")
    moodle_cidr = moodle_token(b, 41, 100, iprestriction="198.51.100.0/24")
    moodle_partial = moodle_token(b, 42, 100, iprestriction="203.0.113., 10.9.8.1-20")
    for token, allowed, denied in [
        (cidr, ["10.1.2.3", "192.0.2.7", "::ffff:10.1.9.9"], ["10.2.0.1", "192.0.2.8", "", "unknown"]),
        (v6, ["2001:db8::1", "[2001:db8:0:1::5]"], ["2001:db9::1", "10.1.2.3"]),
        (moodle_cidr, ["198.51.100.1", "198.51.100.254"], ["198.51.101.1"]),
        (moodle_partial, ["203.0.113.77", "10.9.8.1", "10.9.8.20"], ["203.0.114.1", "10.9.8.21", "10.9.8.0"]),
    ]:
        for ip in allowed:
            authenticate(token, ip, NOW)
        for ip in denied:
            error = refused("accessexception", token, ip=ip)
            assert "IP" in error.debuginfo


def test_owner_company_resolution(b):
    b.user(101)  # no company at all
    b.user(102)
    b.member(2, 102, suspended=1)  # only a suspended membership
    b.user(103)
    b.member(3, 103)
    b.member(2, 103)  # two companies, the higher inserted first: the lowest id wins
    b.member(1, 103, suspended=1)  # ... among unsuspended memberships
    b.member(2, 103, departmentid=999)  # several departments in one company
    refused("nocompanyassociation", moodle_token(b, 51, 101))
    refused("nocompanyassociation", moodle_token(b, 52, 102))
    assert authenticate(moodle_token(b, 53, 103), IP, NOW).companyid == 2


def test_owners_moodle_refuses_are_refused(b):
    for uid, (flags, reason) in enumerate(
        [
            (dict(suspended=1), "suspended"),
            (dict(deleted=1), "deleted"),
            (dict(confirmed=0), "unconfirmed"),
            (dict(auth="nologin"), "nologin"),
        ],
        start=110,
    ):
        b.user(uid)
        b.member(1, uid)
        token = moodle_token(b, uid, uid)
        assert authenticate(token, IP, NOW).userid == uid
        b.execute(
            "UPDATE {t:user} SET " + ", ".join(f"{k} = ?" for k in flags) + " WHERE id = ?",
            [*flags.values(), uid],
        )
        error = refused("accessexception", token)
        assert reason in error.debuginfo


def test_service_users_list(b):
    b.user(105)
    b.member(1, 105)
    listed = moodle_token(b, 61, 100, service=5)  # restricted service
    unlisted = moodle_token(b, 62, 105, service=5)
    b.insert(
        "external_services_users",
        [
            dict(
                id=1,
                externalserviceid=5,
                userid=100,
                iprestriction="192.0.2.0/24",
                validuntil=NOW + 100,
                timecreated=NOW,
            )
        ],
    )
    assert authenticate(listed, IP, NOW).userid == 100
    refused("accessexception", unlisted)  # restricted service, user not in its list
    refused("accessexception", listed, ip="10.0.0.1")  # the service user's IP restriction
    refused("accessexception", listed, now=NOW + 101)  # the service user's validuntil
    # A row for an unrestricted service is honoured too.
    open_service = moodle_token(b, 63, 105, service=1)
    b.insert(
        "external_services_users",
        [dict(id=2, externalserviceid=1, userid=105, validuntil=NOW - 1, timecreated=NOW)],
    )
    refused("accessexception", open_service)


# --- malformed input ------------------------------------------------------------------------------

MALFORMED = [
    "",
    "   ",
    None,
    "a" * 129,
    "é" * 32,
    "0123456789abcdef0123456789abcdeé",
    "' OR '1'='1",
    "x' OR 1=1 --",
    "abc;DROP TABLE mdl_user",
    "%",
    "*",
    "deadbeef\x00" * 3,
    "ab cd",
    "a\u200b" * 16,
]


def test_malformed_tokens_are_refused_without_a_query(b, monkeypatch):
    def no_sql(*args, **kwargs):
        raise AssertionError("reached the database")

    monkeypatch.setattr(database.obj, "execute_sql", no_sql)
    for token in MALFORMED:
        error = refused("invalidtoken", token)
        assert error.message == "Invalid token - token not found"
    with pytest.raises(AssertionError, match="reached the database"):  # the guard works
        authenticate("a" * 32, IP, NOW)


def test_sql_looking_tokens_change_nothing(b):
    token, _ = managed(1)
    for attempt in ("' OR '1'='1", f"{token}' --", "1 OR 1=1"):
        refused("invalidtoken", attempt)
    assert authenticate(token, IP, NOW).companyid == 1


# --- pure helpers (no database) -------------------------------------------------------------------


def test_parse_ip_restriction_normalises():
    assert (
        parse_ip_restriction(" 10.0.0.5/24 , 192.0.2.7,2001:DB8::/32 ")
        == "10.0.0.0/24,192.0.2.7,2001:db8::/32"
    )
    assert parse_ip_restriction("") == "" and parse_ip_restriction(None) == ""
    with pytest.raises(TokenError, match="192.0.2"):
        parse_ip_restriction("192.0.2")  # Moodle's partial form is accepted on Moodle tokens only


def test_ip_allowed_rules():
    assert ip_allowed("anything", "") and ip_allowed("1.2.3.4", " , ")
    assert ip_allowed("10.0.0.1", "10.0.0.0/8") and not ip_allowed("11.0.0.1", "10.0.0.0/8")
    assert ip_allowed("10.0.0.7", "10.0.0.5-10") and not ip_allowed("10.0.0.11", "10.0.0.5-10")
    assert ip_allowed("10.0.0.7", "10.0.0.5-10.0.0.9")
    assert ip_allowed("172.16.4.4", "172.16") and not ip_allowed("172.160.4.4", "172.16")
    assert ip_allowed("2001:db8::1", "2001:db8") and not ip_allowed("2001:db9::1", "2001:db8")
    assert not ip_allowed(None, "10.0.0.0/8") and not ip_allowed("10.0.0.1", "garbage")


def test_current_actor(monkeypatch):
    monkeypatch.setenv("SUDO_USER", "alice")
    assert audit.current_actor() == "alice"
    monkeypatch.delenv("SUDO_USER")
    actor = audit.current_actor()
    assert actor and actor != "alice"
    monkeypatch.setattr(audit.pwd, "getpwuid", lambda uid: (_ for _ in ()).throw(KeyError(uid)))
    assert re.fullmatch(r"uid:\d+", audit.current_actor())
