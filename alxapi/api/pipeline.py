"""The request pipeline behind both APIs (SPEC §4.3), free of HTTP: auth → throttle → rate limit →
company settings → pinned pass → cache → query → field/course filter → rendered body.

The HTTP layer (``alxapi.http``) parses requests, calls this, writes the response and the log row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import peewee

from ..access import ratelimit, tokens
from ..access import settings as company_settings
from ..config import Config
from ..timefmt import DateFormatter
from . import feed, render
from .cache import ResponseCache
from .cursors import decode_cursor, encode_cursor
from .errors import ApiError

# REST v1's CSV with values a spreadsheet would evaluate prefixed by ' (``csv_guard=1``).
CSV_GUARDED = "csv_guarded"


@dataclass
class Page:
    body: bytes
    content_type: str
    records: int
    cache_hit: bool = False
    headers: dict | None = None


class Pipeline:
    def __init__(self, config: Config, db: peewee.Database, cache: ResponseCache | None = None):
        self.config = config
        self.db = db
        self.cache = cache or ResponseCache(config.cache_max_entries, config.cache_max_mb << 20)
        self.dates = DateFormatter(config.timezone)
        self.budgets = ratelimit.DailyBudgets()  # written by the app's background writer

    # -- who is calling ---------------------------------------------------------------------
    def identify(
        self, token: str | None, ip: str, now: int
    ) -> tuple[tokens.Principal, company_settings.CompanySettings]:
        """The token's principal and its company's settings (with the data version and cache epoch).
        For a managed token both come from one round trip; a Moodle token's settings from a second."""
        prefetched: dict[str, tuple | None] = {}

        def read_managed(token_hash: str):
            row, prefetched["state"] = feed.token_with_state(token_hash)
            return row

        principal = self.authenticate(token, ip, now, read_managed)
        state = prefetched.get("state") if principal.kind == "managed" else None
        if state is None:
            return principal, self.settings_for(principal)
        return principal, feed.settings_of_state(principal.companyid, state)

    def authenticate(self, token: str | None, ip: str, now: int, read_managed=None) -> tokens.Principal:
        """The token's principal. The token is checked first and only failures are throttled: a valid
        token keeps working behind an address (a NAT, a BI cloud's egress) that others fail from."""
        if not token:
            failure = ApiError("invalidtoken", "no token given")
        else:
            try:
                return tokens.authenticate(token, ip, now, read_managed=read_managed)
            except tokens.AuthError as exc:
                failure = ApiError(exc.code, exc.debuginfo)
        window = self.config.failed_auth_window_minutes * 60
        refused = ratelimit.failed_authentication(ip, now, self.config.failed_auth_limit, window)
        if refused is not None:
            raise ApiError(
                "toomanyfailures",
                f"more than {refused.limit} failed authentications from {ratelimit.address_block(ip)} "
                f"in {window // 60} minutes",
                retry_after=refused.retry_after,
            )
        raise failure

    def settings_for(self, principal: tokens.Principal) -> company_settings.CompanySettings:
        """The company's settings with its data version and the cache epoch (one round trip)."""
        return feed.company_state(principal.companyid)

    def check_rate_limit(self, principal: tokens.Principal, settings, now: int) -> None:
        limit = company_settings.effective_rate_limit(settings, self.config)
        refused = self.budgets.take(principal.token_ref, limit, now, self.config.timezone)
        if refused is not None:
            raise ApiError(
                "ratelimitexceeded",
                f"Daily rate limit exceeded. You have made {refused.used} requests "
                f"today. Limit is {refused.limit} requests per day. Try again tomorrow.",
                retry_after=refused.retry_after,
            )

    def check_limit(self, limit: int, settings) -> None:
        maximum = company_settings.effective_max_records(settings, self.config)
        if limit < 1:
            raise ApiError("invalidparameter", f"limit must be at least 1, got {limit}")
        if limit > maximum:
            raise ApiError(
                "limittoolarge",
                f"Requested limit ({limit}) exceeds maximum allowed ({maximum}) records per request.",
                max=maximum,
            )

    # -- Moodle-compatible endpoint ---------------------------------------------------------
    def moodle_page(
        self, principal: tokens.Principal, settings, limit: int, offset: int, fmt: str, now: int
    ) -> Page:
        self.check_limit(limit, settings)
        if offset < 0:
            raise ApiError("invalidparameter", f"offset must be 0 or more, got {offset}")
        passes = feed.Passes(
            principal.companyid,
            principal.token_hash,
            settings.sync_mode,
            settings.sync_window_hours,
            feed.scope_digest(settings.courses, settings.fields),
        )
        # The data version and the cache epoch (raised by "clear cache") in one query.
        version, epoch = feed.versions_of(settings)
        window, position = passes.page_plan(offset, now, version)
        key = (
            "moodle",
            principal.companyid,
            window,
            position,
            limit,
            settings.courses,
            settings.fields,
            fmt,
            version,
            epoch,
        )
        cached = self.cache.get(key)
        hit = cached is not None
        if not hit:
            try:
                rows = feed.read_page(
                    self.db, principal.companyid, list(settings.courses), window, position, limit
                )
            except peewee.DatabaseError as exc:
                passes.failed(str(exc).split("\n", 1)[0] or type(exc).__name__, now)  # the next pass is full
                raise
            last_key = (rows[-1][0], rows[-1][1]) if rows else None
            write = render.moodle_xml if fmt == "xml" else render.moodle_json
            body = write(self.dates, rows, settings.fields)
            cached = (body, len(rows), last_key)
            self.cache.put(key, cached, settings.cache_ttl_minutes * 60)
        body, count, last_key = cached
        passes.served(window, offset, count, limit, last_key, now)
        content_type = "application/xml; charset=utf-8" if fmt == "xml" else "application/json"
        return Page(body, content_type, count, hit)

    # -- REST v1 -----------------------------------------------------------------------------
    def _count(self, companyid: int, courses: list[int], window: feed.Window, changes: bool) -> int:
        return feed.count_rows(self.db, companyid, courses, window, include_deleted=changes)

    def v1_page(
        self,
        principal: tokens.Principal,
        settings,
        limit: int,
        cursor: str | None,
        since: str | None,
        fmt: str,
        now: int,
        generated_at: str,
    ) -> Page:
        self.check_limit(limit, settings)
        companyid = principal.companyid
        courses = list(settings.courses)
        state = decode_cursor(cursor, required=("u", "c", "h")) if cursor else {}
        since_seq = decode_cursor(since, required=("s",))["s"] if since else None
        if state and state.get("s") != since_seq:
            raise ApiError("invalidparameter", "cursor does not belong to this since value")
        version, epoch = feed.versions_of(settings)
        high = state["h"] if state else version
        changes = since_seq is not None
        window = feed.Window(feed.INCREMENTAL if changes else feed.FULL, since_seq or 0, high)
        after = (state["u"], state["c"]) if state else None
        fields = tuple(f for f in settings.fields if f not in ("userid", "courseid"))
        key = ("v1", companyid, window, after, limit, tuple(courses), fields, fmt, version, epoch)
        cached = self.cache.get(key)
        hit = cached is not None
        if not hit:
            rows = feed.read_page(
                self.db,
                companyid,
                courses,
                window,
                feed.Position(after=after),
                limit,
                include_deleted=changes,
            )
            # A read's total is counted on its first page (as of its start) and carried by its cursors:
            # counting a large company's rows costs more than reading a page. A cursor's total is the
            # client's word, so it is never cached: a forged one reaches no one but its sender.
            total = None if "t" in state else self._count(companyid, courses, window, changes)
            # The rows are serialized once and cached as bytes; only the envelope is built per request.
            if fmt == "json":
                encoded = render.v1_json(self.dates, rows, fields)
            else:
                encoded = render.v1_csv(self.dates, rows, fields, guard=fmt == CSV_GUARDED)
            last = (int(rows[-1][0]), int(rows[-1][1])) if rows else None
            cached = (encoded, len(rows), total, last)
            self.cache.put(key, cached, settings.cache_ttl_minutes * 60)
        encoded, count, total, last = cached
        if "t" in state:
            total = state["t"]
        elif total is None:  # an entry filled by a page whose cursor carried the total
            total = self._count(companyid, courses, window, changes)
        next_cursor = (
            encode_cursor({"u": last[0], "c": last[1], "s": since_seq, "h": high, "t": total})
            if last is not None and count == limit
            else None
        )
        next_since = encode_cursor({"s": high})
        headers = {"X-Next-Since": next_since}
        if next_cursor:
            headers["X-Next-Cursor"] = next_cursor
        if fmt != "json":
            return Page(encoded, "text/csv; charset=utf-8", count, hit, headers)
        meta = {
            "total": total,
            "limit": limit,
            "next": next_cursor,
            "next_since": next_since,
            "generated_at": generated_at,
        }
        body = b'{"data":' + encoded + b',"meta":' + json.dumps(meta, separators=(",", ":")).encode() + b"}"
        return Page(body, "application/json", count, hit, headers)
