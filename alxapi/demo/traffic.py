"""Demo activity for the monitoring panes: a deterministic past, and live calls to the running API.

``seed_history(now)`` writes a week of sync runs (a few failures) and API request-log rows (several
companies and tokens, cache hits, a few errors, a rate-limit breach, failed authentications from a
couple of addresses) ending at ``now``: the same ``now``, seed and database give the same rows, so
the console's snapshot tests show real figures. ``run_traffic(base_url, token, stop)`` makes real
HTTP calls to a running API until ``stop`` is set, for `make demo`.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import urllib.error
import urllib.parse
import urllib.request

import peewee

from models.iomad import Company, CompanyUser
from models.moodle import ExternalToken
from models.plugin import ApiLog, ApiToken, SyncRun

from ..timefmt import local_day_start

log = logging.getLogger("alx.demo")

HOUR = 3600
DAY = 86_400
MOODLE_ENDPOINT = "get_course_progress"
V1_ENDPOINT = "v1_course_progress"
MOODLE_PATH = "/webservice/rest/server.php"
V1_PATH = "/api/v1/course-progress"
FUNCTION = "local_alx_report_api_get_course_progress"
USER_AGENTS = (
    "Microsoft.Data.Mashup (https://go.microsoft.com/fwlink/?LinkID=304225)",
    "Tableau/2024.1",
    "python-requests/2.32",
    "curl/8.5.0",
)
# Documentation addresses (RFC 5737): one scanner well over the throttle limit, one clumsy client.
SCANNER_IP = "203.0.113.45"
CLUMSY_IP = "198.51.100.7"


def _token_refs() -> dict[int, str]:
    """company id -> the token its client uses: a managed one if any, else the Moodle token of a
    company member, else a made-up managed reference."""
    refs: dict[int, str] = {}
    for token_id, userid in (
        ExternalToken.select(ExternalToken.id, ExternalToken.userid)
        .where(ExternalToken.tokentype == 0)
        .order_by(ExternalToken.id)
        .tuples()
    ):
        company = (
            CompanyUser.select(peewee.fn.MIN(CompanyUser.companyid))
            .where(CompanyUser.userid == userid)
            .scalar()
        )
        if company is not None:
            refs.setdefault(int(company), f"w:{token_id}")
    for token_id, companyid in (
        ApiToken.select(ApiToken.id, ApiToken.companyid)
        .where(ApiToken.revoked_at == 0)
        .order_by(ApiToken.id.desc())
        .tuples()
    ):
        refs[int(companyid)] = f"m:{token_id}"
    return refs


def _sync_runs(rng: random.Random, now: int, days: int) -> list[dict]:
    runs = []
    first = (now // HOUR) * HOUR - days * DAY
    failing = {rng.randrange(days * 24) for _ in range(max(1, days // 2))}
    streak = rng.randrange(24, days * 24 - 3)  # three failures in a row (the alert case)
    failing |= {streak, streak + 1, streak + 2}
    for i in range(days * 24):
        start = first + i * HOUR + rng.randint(0, 40)
        if start >= now - HOUR:
            break
        full = (start // HOUR) % 24 == 2
        failed = i in failing
        duration = rng.randint(400, 2500) if not full else rng.randint(8000, 20000)
        created = 0 if failed else rng.choice((0, 0, 1, 2, 3, 5, 8))
        updated = 0 if failed else rng.randint(0, 30)
        runs.append(
            {
                "mode": "full" if full else "incremental",
                "companyid": 0,
                "status": "failed" if failed else "success",
                "timestarted": start,
                "timefinished": start + duration // 1000 + 1,
                "created": created,
                "updated": updated,
                "deleted": 0 if failed else rng.choice((0, 0, 0, 1)),
                "unchanged": 0,
                "duration_ms": duration,
                "error": "OperationalError: lost connection to the database server" if failed else None,
                "host": "demo",
                "pid": 0,
            }
        )
    return runs


def _call(rng: random.Random, when: int, companyid: int, ref: str, ip: str, **extra) -> dict:
    endpoint = MOODLE_ENDPOINT if rng.random() < 0.7 else V1_ENDPOINT
    hit = rng.random() < 0.78
    ms = rng.uniform(2, 9) if hit else rng.lognormvariate(4.3, 0.55)
    row = {
        "timecreated": when,
        "companyid": companyid,
        "token_ref": ref,
        "endpoint": endpoint,
        "ip_address": ip,
        "user_agent": rng.choice(USER_AGENTS),
        "record_count": rng.choice((100, 100, 100, 57, 12, 0)),
        "cache_hit": int(hit),
        "response_time_ms": round(ms, 2),
        "error_code": "",
        "http_status": 200,
        "error_message": None,
    }
    row.update(extra)
    return row


def _api_log(rng: random.Random, now: int, days: int, tz: str, refs: dict[int, str]) -> list[dict]:
    rows: list[dict] = []
    companies = sorted(refs)
    if not companies:
        return rows
    breach = companies[1] if len(companies) > 1 else companies[0]  # the company that overruns its limit
    today = local_day_start(now, tz)
    day_starts = [today - d * DAY for d in range(days - 1, -1, -1)]
    for day_start in day_starts:
        day_end = min(day_start + DAY, now)
        for position, cid in enumerate(companies):
            ip = f"10.20.{cid % 256}.{15 + position}"
            over = cid == breach and day_start in (day_starts[-1], day_starts[max(0, len(day_starts) - 4)])
            wanted = 112 if over else rng.randint(25, 85)
            if day_start == today and not over:  # so far today (the breach came in the morning)
                wanted = int(wanted * (now - day_start) / DAY)
            times = sorted(rng.randint(day_start, day_end - 1) for _ in range(wanted))
            for n, when in enumerate(times):
                if n >= 100:  # the default daily limit: the rest are refused and do not count
                    rows.append(
                        _call(
                            rng,
                            when,
                            cid,
                            refs[cid],
                            ip,
                            error_code="ratelimitexceeded",
                            http_status=429,
                            record_count=0,
                            cache_hit=0,
                            response_time_ms=round(rng.uniform(1, 3), 2),
                            error_message="Daily rate limit exceeded",
                        )
                    )
                elif rng.random() < 0.015:
                    rows.append(
                        _call(
                            rng,
                            when,
                            cid,
                            refs[cid],
                            ip,
                            error_code="invalidparameter",
                            http_status=400,
                            record_count=0,
                            cache_hit=0,
                            error_message="Invalid parameter value detected",
                        )
                    )
                else:
                    rows.append(_call(rng, when, cid, refs[cid], ip))
    # A scanner trying tokens: a burst today (over the throttle limit, then throttled) and one earlier.
    for burst_start, tries in ((max(today, now - 5 * HOUR), 26), (today - 2 * DAY + 3 * HOUR, 9)):
        for n in range(tries):
            code = "invalidtoken" if n < 21 else "toomanyfailures"
            rows.append(
                {
                    "timecreated": burst_start + n * 13,
                    "companyid": 0,
                    "token_ref": "",
                    "endpoint": MOODLE_ENDPOINT,
                    "ip_address": SCANNER_IP,
                    "user_agent": "python-requests/2.32",
                    "record_count": 0,
                    "cache_hit": 0,
                    "response_time_ms": round(rng.uniform(1, 4), 2),
                    "error_code": code,
                    "http_status": 401 if code == "invalidtoken" else 429,
                    "error_message": "Invalid token - token not found",
                }
            )
    # A client with an expired token now and then.
    for _ in range(6):
        when = rng.randint(now - 3 * DAY, now - 1)
        rows.append(
            {
                "timecreated": when,
                "companyid": 0,
                "token_ref": "",
                "endpoint": V1_ENDPOINT,
                "ip_address": CLUMSY_IP,
                "user_agent": "Tableau/2024.1",
                "record_count": 0,
                "cache_hit": 0,
                "response_time_ms": round(rng.uniform(1, 4), 2),
                "error_code": "accessexception",
                "http_status": 403,
                "error_message": "Access control exception",
            }
        )
    rows.sort(key=lambda r: (r["timecreated"], r["ip_address"]))
    return rows


def seed_history(now: int, *, days: int = 7, seed: int = 42, tz: str = "UTC") -> dict[str, int]:
    """Write ``days`` days of past sync runs and API calls ending before ``now`` (deterministic).

    Runs on the bound database (``models.db.database``); returns the number of rows written per table.
    """
    rng = random.Random(seed)
    refs = _token_refs()
    if not refs:
        refs = {int(cid): f"m:{cid}" for (cid,) in Company.select(Company.id).order_by(Company.id).tuples()}
    runs = _sync_runs(rng, int(now), days)
    calls = _api_log(rng, int(now), days, tz, refs)
    db = SyncRun._meta.database
    with db.atomic():
        for i in range(0, len(runs), 500):
            SyncRun.insert_many(runs[i : i + 500]).execute()
        for i in range(0, len(calls), 500):
            ApiLog.insert_many(calls[i : i + 500]).execute()
    return {"sync_runs": len(runs), "api_logs": len(calls)}


# --- live traffic ------------------------------------------------------------------------------------


def _request(url: str, *, data: bytes | None = None, headers: dict | None = None, timeout: float = 10) -> int:
    req = urllib.request.Request(
        url, data=data, headers={"User-Agent": "alx-demo-traffic/1", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (the demo's own API)
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code


def _moodle(base: str, token: str, limit: int, offset: int) -> tuple[int, int]:
    body = urllib.parse.urlencode(
        {
            "wstoken": token,
            "wsfunction": FUNCTION,
            "moodlewsrestformat": "json",
            "limit": limit,
            "offset": offset,
        }
    ).encode()
    req = urllib.request.Request(
        base + MOODLE_PATH,
        data=body,
        headers={
            "User-Agent": "Microsoft.Data.Mashup (alx demo)",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        data = json.loads(resp.read() or b"[]")
    return 200, len(data) if isinstance(data, list) else -1


def run_traffic(
    base_url: str, token: str, stop: threading.Event, *, interval: float = 3.0, seed: int = 7
) -> int:
    """Call the API at ``base_url`` every ``interval`` seconds until ``stop`` is set; return the
    number of calls made. A mix of Moodle-endpoint passes, REST v1 pages and CSV reads, and now and
    then a wrong token. Errors (the API not up yet, a refused call) are logged and the loop goes on."""
    rng = random.Random(seed)
    base = base_url.rstrip("/")
    calls, offset = 0, 0
    while not stop.is_set():
        roll = rng.random()
        try:
            if roll < 0.55:
                _status, got = _moodle(base, token, 50, offset)
                offset = 0 if got < 50 else offset + got  # a short page ends the pass
            elif roll < 0.85:
                query = urllib.parse.urlencode({"limit": rng.choice((10, 100, 500))})
                _request(f"{base}{V1_PATH}?{query}", headers={"Authorization": f"Bearer {token}"})
            elif roll < 0.93:
                _request(f"{base}{V1_PATH}?format=csv&limit=100", headers={"X-API-Key": token})
            else:
                wrong = f"{rng.getrandbits(128):032x}"
                _request(f"{base}{V1_PATH}?limit=10", headers={"Authorization": f"Bearer {wrong}"})
        except (OSError, ValueError) as exc:  # URLError is an OSError; ValueError: a body that is not JSON
            log.info("demo traffic: %s", exc)
        calls += 1
        stop.wait(interval * rng.uniform(0.5, 1.5))
    return calls
