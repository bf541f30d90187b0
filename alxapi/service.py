"""The request pipeline behind both APIs (SPEC §4.3), free of HTTP: auth → throttle → rate limit →
company settings → pinned pass → cache → query → field/course filter → rendered body.

The HTTP layer (``alxapi.http``) parses requests, calls this, writes the response and the log row.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import peewee

from . import feed
from .access import settings as company_settings
from .access import tokens
from .cache import ResponseCache
from .config import Config
from .errors import ApiError
from .requestlog import auth_failures_since, local_day_start, requests_since
from .timefmt import DateFormatter


@dataclass
class Page:
    body: bytes
    content_type: str
    records: int
    cache_hit: bool = False
    headers: dict | None = None


def _php_json(data) -> bytes:
    """JSON as PHP's json_encode writes it (Moodle's REST server): ASCII only, '/' escaped."""
    return json.dumps(data, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


class ReportService:
    def __init__(self, config: Config, db: peewee.Database, cache: ResponseCache | None = None):
        self.config = config
        self.db = db
        self.cache = cache or ResponseCache(config.cache_max_entries)
        self.dates = DateFormatter(config.timezone)

    # -- who is calling ---------------------------------------------------------------------
    def authenticate(self, token: str | None, ip: str, now: int) -> tokens.Principal:
        window = self.config.failed_auth_window_minutes * 60
        if auth_failures_since(ip, now - window) >= self.config.failed_auth_limit:
            raise ApiError("toomanyfailures", f"more than {self.config.failed_auth_limit} failed "
                           f"authentications from {ip} in {window // 60} minutes", retry_after=window)
        if not token:
            raise ApiError("invalidtoken", "no token given")
        try:
            return tokens.authenticate(token, ip, now)
        except tokens.AuthError as exc:
            raise ApiError(exc.code, exc.debuginfo) from None

    def settings_for(self, principal: tokens.Principal) -> company_settings.CompanySettings:
        return company_settings.load(principal.companyid)

    def check_rate_limit(self, principal: tokens.Principal, settings, now: int) -> None:
        limit = company_settings.effective_rate_limit(settings, self.config)
        if limit <= 0:
            return  # 0 means unlimited
        day_start = local_day_start(now, self.config.timezone)
        used = requests_since(principal.token_ref, day_start)
        if used >= limit:
            raise ApiError("ratelimitexceeded", f"Daily rate limit exceeded. You have made {used} requests today. "
                           f"Limit is {limit} requests per day. Try again tomorrow.",
                           retry_after=max(day_start + 86_400 - now, 1))

    def check_limit(self, limit: int, settings) -> None:
        maximum = company_settings.effective_max_records(settings, self.config)
        if limit < 1:
            raise ApiError("invalidparameter", f"limit must be at least 1, got {limit}")
        if limit > maximum:
            raise ApiError("limittoolarge", f"Requested limit ({limit}) exceeds maximum allowed ({maximum}) "
                           "records per request.", max=maximum)

    # -- Moodle-compatible endpoint ---------------------------------------------------------
    def moodle_page(self, principal: tokens.Principal, settings, limit: int, offset: int, fmt: str,
                    now: int) -> Page:
        self.check_limit(limit, settings)
        if offset < 0:
            raise ApiError("invalidparameter", f"offset must be 0 or more, got {offset}")
        courses = list(settings.courses)
        passes = feed.Passes(principal.companyid, principal.token_hash, settings.sync_mode,
                             settings.sync_window_hours)
        window, position = passes.page_plan(offset, now)
        key = ("moodle", principal.companyid, window, position, limit, tuple(courses), settings.fields, fmt,
               feed.data_version(principal.companyid))
        cached = self.cache.get(key)
        hit = cached is not None
        if not hit:
            rows = feed.read_page(self.db, principal.companyid, courses, window, position, limit)
            last_key = (rows[-1][0], rows[-1][1]) if rows else None
            body = (self._moodle_xml(rows, settings.fields) if fmt == "xml"
                    else _php_json(self._moodle_rows(rows, settings.fields)))
            cached = (body, len(rows), last_key)
            self.cache.put(key, cached, settings.cache_ttl_minutes * 60)
        body, count, last_key = cached
        passes.served(window, offset, count, limit, last_key, now)
        content_type = "application/xml; charset=utf-8" if fmt == "xml" else "application/json"
        return Page(body, content_type, count, hit)

    def _row_values(self, row: tuple) -> dict:
        userid, courseid, first, last, email, username, course, tcompleted, tstarted, pct, status = row[:11]
        return {
            "userid": int(userid), "firstname": first, "lastname": last, "email": email, "username": username,
            "courseid": int(courseid), "coursename": course,
            "timecompleted": self.dates.format(tcompleted), "timecompleted_unix": int(tcompleted or 0),
            "timestarted": self.dates.format(tstarted), "timestarted_unix": int(tstarted or 0),
            "percentage": round(float(pct or 0), 2), "status": status,
        }

    def _moodle_rows(self, rows: list[tuple], fields: tuple[str, ...]) -> list[dict]:
        out = []
        for row in rows:
            values = self._row_values(row)
            out.append({f: values[f] for f in fields})
        return out

    def _moodle_xml(self, rows: list[tuple], fields: tuple[str, ...]) -> bytes:
        parts = ['<?xml version="1.0" encoding="UTF-8" ?>\n<RESPONSE>\n<MULTIPLE>\n']
        for values in self._moodle_rows(rows, fields):
            parts.append("<SINGLE>\n")
            for name, value in values.items():
                parts.append(f"<KEY name={quoteattr(name)}><VALUE>{escape(str(value))}</VALUE>\n</KEY>\n")
            parts.append("</SINGLE>\n")
        parts.append("</MULTIPLE>\n</RESPONSE>\n")
        return "".join(parts).encode()

    # -- REST v1 -----------------------------------------------------------------------------
    def v1_page(self, principal: tokens.Principal, settings, limit: int, cursor: str | None, since: str | None,
                fmt: str, now: int, generated_at: str) -> Page:
        self.check_limit(limit, settings)
        companyid = principal.companyid
        courses = list(settings.courses)
        state = decode_cursor(cursor) if cursor else {}
        since_seq = decode_cursor(since, required=("s",))["s"] if since else None
        if state and state.get("s") != since_seq:
            raise ApiError("invalidparameter", "cursor does not belong to this since value")
        high = state.get("h", feed.data_version(companyid))
        changes = since_seq is not None
        window = feed.Window(feed.INCREMENTAL if changes else feed.FULL, since_seq or 0, high)
        after = (state["u"], state["c"]) if "u" in state else None
        fields = tuple(f for f in settings.fields if f not in ("userid", "courseid"))
        key = ("v1", companyid, window, after, limit, tuple(courses), fields, fmt, feed.data_version(companyid))
        cached = self.cache.get(key)
        hit = cached is not None
        if not hit:
            rows = feed.read_page(self.db, companyid, courses, window, feed.Position(after=after), limit,
                                  include_deleted=changes)
            total = feed.count_rows(self.db, companyid, courses, window, include_deleted=changes)
            data = []
            for row in rows:
                if row[12]:  # tombstone: only the key and the removal
                    data.append({"userid": int(row[0]), "courseid": int(row[1]), "deleted": True})
                    continue
                values = self._row_values(row)
                data.append({"userid": values["userid"], "courseid": values["courseid"],
                             **{f: values[f] for f in fields}})
            last = (int(rows[-1][0]), int(rows[-1][1])) if rows else None
            cached = (data, total, last)
            self.cache.put(key, cached, settings.cache_ttl_minutes * 60)
        data, total, last = cached
        next_cursor = (encode_cursor({"u": last[0], "c": last[1], "s": since_seq, "h": high})
                       if last is not None and len(data) == limit else None)
        next_since = encode_cursor({"s": high})
        headers = {"X-Next-Since": next_since}
        if next_cursor:
            headers["X-Next-Cursor"] = next_cursor
        if fmt == "csv":
            return Page(self._csv(data, fields), "text/csv; charset=utf-8", len(data), hit, headers)
        meta = {"total": total, "limit": limit, "next": next_cursor, "next_since": next_since,
                "generated_at": generated_at}
        body = json.dumps({"data": data, "meta": meta}, ensure_ascii=False, separators=(",", ":")).encode()
        return Page(body, "application/json", len(data), hit, headers)

    @staticmethod
    def _csv(data: list[dict], fields: tuple[str, ...]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        columns = ["userid", "courseid", *fields, "deleted"]
        writer.writerow(columns)
        for item in data:
            writer.writerow([item.get(c, "") if c != "deleted" else int(bool(item.get("deleted"))) for c in columns])
        return out.getvalue().encode()


def encode_cursor(state: dict) -> str:
    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, required: tuple[str, ...] = ()) -> dict:
    """An opaque cursor back to its state; anything malformed is an invalid parameter."""
    try:
        if len(text) > 512:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        state = json.loads(raw)
        if not isinstance(state, dict) or any(k not in state for k in required):
            raise ValueError("not a cursor")
        for k in ("u", "c", "h"):
            if k in state and (not isinstance(state[k], int) or state[k] < 0):
                raise ValueError(k)
        if state.get("s") is not None and (not isinstance(state["s"], int) or state["s"] < 0):
            raise ValueError("s")
        return state
    except (ValueError, UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError("invalidparameter", "malformed cursor") from None
