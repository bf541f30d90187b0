"""Reading the reporting table for API clients: passes, sync modes and pages (SPEC §4.1, §4.2).

A *pass* is the run of pages a client reads from offset 0 until a page shorter than its limit.
Its mode (full or incremental) and change window are pinned when it starts and kept in the
database (``SyncStatus``), so any API process can serve any page. Pages are read by key
(userid, courseid) after the last row served, not by OFFSET: rows that appear or vanish while
a client pages cannot shift later pages, so every row that exists for the whole pass is
delivered, and every change committed before the pass started is in it or an earlier one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from dataclasses import dataclass
from types import SimpleNamespace

import peewee

from models.db import Prepared, dialect, quote
from models.iomad import CompanyCourse
from models.plugin import ApiToken, Reporting, Setting, State, SyncStatus

from ..access import settings as company_settings
from ..access import tokens

FULL, INCREMENTAL = "full", "incremental"
# Company setting sync_mode.
AUTO, ALWAYS_INCREMENTAL, ALWAYS_FULL, DISABLED = 0, 1, 2, 3
# The Moodle endpoint's fields, in order (each switchable per company).
FIELDS = (
    "userid",
    "firstname",
    "lastname",
    "email",
    "username",
    "courseid",
    "coursename",
    "timecompleted",
    "timecompleted_unix",
    "timestarted",
    "timestarted_unix",
    "percentage",
    "status",
)
ROW_COLUMNS = (
    "userid",
    "courseid",
    "firstname",
    "lastname",
    "email",
    "username",
    "coursename",
    "timecompleted",
    "timestarted",
    "percentage",
    "status",
    "change_seq",
    "is_deleted",
)


@dataclass(frozen=True)
class Window:
    """What a pass serves: every live row (full) or the rows changed after ``since_seq``."""

    mode: str
    since_seq: int = 0
    start_seq: int = 0


@dataclass(frozen=True)
class Position:
    """Where the next page starts: after a key (keyset) or, for a jump, at an offset."""

    after: tuple[int, int] | None = None
    offset: int = 0


def data_version(companyid: int) -> int:
    """The company's highest change sequence: any committed change to its rows raises it.

    Asked on every API request (it is part of every cache key): plain SQL, read from the
    (companyid, change_seq) index, without the cost of building a peewee query.
    """
    db = Reporting._meta.database
    sql = f"SELECT MAX(change_seq) FROM {quote(Reporting._meta.table_name)} WHERE companyid = {db.param}"
    value = db.execute_sql(sql, [companyid]).fetchone()[0]
    return int(value or 0)


CACHE_EPOCH = "cache_epoch"  # State row raised by alxapi.api.cache.clear_all ("clear cache" in the console)


# The JSON aggregates of each dialect: (rows as an object, rows as an array). PostgreSQL's are json
# values, cast to text as the others return them (the state is a cache key: it must be hashable).
_JSON_AGGREGATES = {
    "sqlite": ("json_group_object", "json_group_array"),
    "mysql": ("JSON_OBJECTAGG", "JSON_ARRAYAGG"),
    "postgresql": ("json_object_agg", "json_agg"),
}


def _json_aggregate(shape: int, *args):
    """The rows as one JSON text, an object of ``key, value`` (shape 0) or an array of ``value``
    (shape 1); NULL when there are none."""
    kind = dialect()
    call = getattr(peewee.fn, _JSON_AGGREGATES[kind][shape])(*args)
    return peewee.Cast(call, "text") if kind == "postgresql" else call


def _state_columns(settings_of, courses_of, rows_of, epoch_name) -> list:
    """The company's settings (a JSON object), IOMAD courses (a JSON array), data version and the
    cache epoch, as four scalar subqueries: one row whatever the number of settings and courses.
    On SQLite each row fetched releases the GIL, a thread switch under load; on every backend a
    row costs decoding: a company with 200 courses was 200 rows per request."""
    return [
        Setting.select(_json_aggregate(0, Setting.setting_name, Setting.setting_value))
        .where(Setting.companyid == settings_of)
        .alias("settings"),
        CompanyCourse.select(_json_aggregate(1, CompanyCourse.courseid))
        .where(CompanyCourse.companyid == courses_of)
        .alias("courses"),
        Reporting.select(peewee.fn.MAX(Reporting.change_seq))
        .where(Reporting.companyid == rows_of)
        .alias("version"),
        State.select(State.value_int).where(State.name == epoch_name).alias("epoch"),
    ]


# Every API request needs the company's settings, its IOMAD courses, its data version and the cache
# epoch: one round trip, one row, compiled once.
_COMPANY_STATE = Prepared(
    # No FROM, so no model to say which database's SQL to write: bound to the models' database.
    lambda *samples: peewee.Select(columns=_state_columns(*samples)).bind(Setting._meta.database),
    7_000_000_001,
    7_000_000_002,
    7_000_000_003,
    "sample-state-name",
)


# The company state above, then the managed token's MANAGED_FIELDS (``tokens.managed_token_query``),
# keyed by the token's hash: a cached page's only round trip. The subqueries name the token's company
# (correlated): each server still answers MAX(change_seq) from the index's end, as for a constant
# (MariaDB's plan says "Select tables optimized away").
def _token_and_state(epoch_name, token_hash):
    company = ApiToken.companyid
    return tokens.managed_token_query(token_hash, *_state_columns(company, company, company, epoch_name))


_TOKEN_AND_STATE = Prepared(_token_and_state, "sample-name", "sample-hash")
_STATE_WIDTH = 4


def token_with_state(token_hash: str) -> tuple[SimpleNamespace | None, tuple | None]:
    """The managed token of ``token_hash`` (None: no such token) and its company's state, for
    :func:`settings_of_state`, in one round trip."""
    rows = _TOKEN_AND_STATE.tuples(CACHE_EPOCH, token_hash)
    if not rows:
        return None, None
    row = rows[0]
    token = SimpleNamespace(**dict(zip(tokens.MANAGED_FIELDS, row[_STATE_WIDTH:], strict=True)))
    return token, tuple(row[:_STATE_WIDTH])


def company_state(companyid: int) -> company_settings.CompanySettings:
    """The company's effective settings carrying its data version and the cache epoch, in one round
    trip. Both versions are part of every cache key, so a sync that changes the company's rows or an
    operator's "clear cache" makes every API process stop serving the entries cached before."""
    (state,) = _COMPANY_STATE.tuples(companyid, companyid, companyid, CACHE_EPOCH)
    return settings_of_state(companyid, tuple(state))


@functools.lru_cache(maxsize=1024)
def settings_of_state(companyid: int, state: tuple) -> company_settings.CompanySettings:
    """The settings the state of :func:`company_state` makes, built once per distinct state: it is
    read on every request, but building the settings from it took as long as reading it."""
    settings, courses, version, epoch = state
    stored = {str(name): int(value) for name, value in _json(settings, {}).items()}
    course_ids = sorted({int(c) for c in _json(courses, [])})
    return company_settings.from_rows(
        companyid, stored, lambda: course_ids, data_version=int(version or 0), cache_epoch=int(epoch or 0)
    )


def _json(text, empty):
    """A JSON aggregate's text (bytes from some drivers); NULL (no rows) is ``empty``."""
    return empty if text is None else json.loads(text)


def versions_of(settings: company_settings.CompanySettings) -> tuple[int, int]:
    """(data version, cache epoch) as :func:`company_state` read them with ``settings``."""
    if settings.data_version is None or settings.cache_epoch is None:
        raise ValueError("these settings carry no versions: read them with company_state()")
    return settings.data_version, settings.cache_epoch


def removed_since(companyid: int, seq: int) -> bool:
    """Were any of the company's rows tombstoned after change ``seq``?"""
    return (
        Reporting.select(Reporting.id)
        .where(
            (Reporting.companyid == companyid) & (Reporting.change_seq > seq) & (Reporting.is_deleted == 1)
        )
        .exists()
    )


@functools.lru_cache(maxsize=1024)  # every Moodle-endpoint request asks, for few distinct scopes
def scope_digest(courses: tuple[int, ...], fields: tuple[str, ...]) -> str:
    """What a client was given access to: a newly enabled course or field has no new change
    sequence, so a pass under a different scope than the last completed one must be full."""
    text = ",".join(map(str, sorted(courses))) + "|" + ",".join(fields)
    return hashlib.sha1(text.encode()).hexdigest()


def choose_window(
    state: SyncStatus | None,
    sync_mode: int,
    window_hours: int,
    companyid: int,
    now: int,
    scope: str,
    start: int,
) -> Window:
    """The mode and window of a new pass (SPEC §4.1 sync modes) up to the data version ``start``."""
    if sync_mode in (ALWAYS_FULL, DISABLED):
        return Window(FULL, 0, start)
    if state is None or state.done_at <= 0:  # no completed pass yet
        return Window(INCREMENTAL if sync_mode == ALWAYS_INCREMENTAL else FULL, 0, start)
    if state.done_scope != scope:
        return Window(FULL, 0, start)  # the enabled courses or fields changed since the last pass
    if sync_mode == ALWAYS_INCREMENTAL:
        return Window(INCREMENTAL, state.done_start_seq, start)
    if (
        state.last_sync_status != "success"
        or now - state.done_at > window_hours * 3600
        or removed_since(companyid, state.done_start_seq)
    ):
        return Window(FULL, 0, start)
    return Window(INCREMENTAL, state.done_start_seq, start)


# The token's pass state: read by every Moodle-endpoint page, so compiled once.
_SYNC_STATUS = Prepared(
    lambda companyid, token_hash: SyncStatus.select().where(
        (SyncStatus.companyid == companyid) & (SyncStatus.token_hash == token_hash)
    ),
    7_000_000_001,
    "sample-token-hash",
)


class Passes:
    """Pass bookkeeping for one (company, token) in ``SyncStatus``.

    A page writes the pass state once, after it was read, and only when the pass moves: a first page
    pins the pass and records its position (or completes it) in one statement; a page that moves
    nothing (a retried page of a pass already past it) writes nothing."""

    def __init__(self, companyid: int, token_hash: str, sync_mode: int, window_hours: int, scope: str = ""):
        self.companyid = companyid
        self.scope = scope
        self.token_hash = token_hash
        self.sync_mode = sync_mode
        self.window_hours = window_hours
        self.tracking = sync_mode != DISABLED  # False: this page belongs to no pass (see page_plan)
        self._state: SyncStatus | None = None  # as read by page_plan
        self._pinning = False  # this page starts a pass

    def _where(self):
        return (SyncStatus.companyid == self.companyid) & (SyncStatus.token_hash == self.token_hash)

    def page_plan(self, offset: int, now: int, version: int) -> tuple[Window, Position]:
        """Pin a new pass at offset 0 (up to the company's data ``version``); otherwise continue the
        pinned one from where it is.

        A page at another offset with no pass under way (a retried last page, a client that does not
        start at 0) is served from the window a new pass would get, but starts and completes nothing:
        completing a pass would take changes the client never saw as delivered.
        """
        if not self.tracking:  # sync_mode 3: every page is a page of the full table, nothing to read
            return Window(FULL, 0, version), Position(offset=offset)
        found = _SYNC_STATUS.dicts(self.companyid, self.token_hash)
        state = self._state = SyncStatus(**found[0]) if found else None
        if offset == 0 or state is None or state.pass_mode not in (FULL, INCREMENTAL):
            window = choose_window(
                state, self.sync_mode, self.window_hours, self.companyid, now, self.scope, version
            )
            self._pinning = offset == 0 and self.tracking
            self.tracking = self._pinning
            return window, Position(offset=offset)
        window = Window(state.pass_mode, state.pass_since_seq, state.pass_start_seq)
        if offset == state.pass_offset and offset > 0:
            return window, Position(after=(state.pass_last_userid, state.pass_last_courseid))
        return window, Position(offset=offset)  # a jump: honour it with an OFFSET read

    def served(
        self, window: Window, offset: int, rows: int, limit: int, last_key: tuple[int, int] | None, now: int
    ) -> None:
        """Record a page: move the position, or complete the pass with a short page."""
        if not self.tracking:
            return
        values: dict = {}
        if self._pinning:
            values.update(
                pass_mode=window.mode,
                pass_since_seq=window.since_seq,
                pass_start_seq=window.start_seq,
                pass_started_at=now,
                pass_offset=0,
                pass_last_userid=0,
                pass_last_courseid=0,
                pass_scope=self.scope,
                sync_mode=window.mode,
            )
        if rows < limit:
            values.update(
                pass_mode="",
                done_start_seq=window.start_seq,
                done_at=now,
                done_scope=self.scope if self._pinning else SyncStatus.pass_scope,
                last_sync_timestamp=now,
                last_sync_records=offset + rows,
                last_sync_status="success",
                last_sync_error=None,
                total_syncs=SyncStatus.total_syncs + 1,
            )
        elif last_key is not None:
            position = (offset + rows, last_key[0], last_key[1])
            state = self._state
            if (
                not self._pinning
                and state is not None
                and position
                == (
                    state.pass_offset,
                    state.pass_last_userid,
                    state.pass_last_courseid,
                )
            ):
                return  # nothing moved
            values.update(
                pass_offset=position[0], pass_last_userid=position[1], pass_last_courseid=position[2]
            )
        if not values:
            return
        values["timemodified"] = now
        if self._pinning and self._state is None and self._insert(values, now):
            return
        SyncStatus.update(**values).where(self._where()).execute()

    def _insert(self, values: dict, now: int) -> bool:
        """The token's first pass: create its row (False when another process created it first)."""
        row = {k: v for k, v in values.items() if not isinstance(v, peewee.Node)}
        if "total_syncs" in values:
            row["total_syncs"] = 1
        try:
            with SyncStatus._meta.database.atomic():
                SyncStatus.insert(
                    companyid=self.companyid,
                    token_hash=self.token_hash,
                    timecreated=now,
                    sync_window_hours=self.window_hours,
                    **row,
                ).execute()
            return True
        except peewee.IntegrityError:
            return False  # update the row the other process made

    def failed(self, error: str, now: int) -> None:
        """A page could not be served: the next pass will be full. Best effort: the database may be down."""
        if self.sync_mode == DISABLED:
            return
        # If the database is unreachable the pass stays unfinished: the client starts again from offset 0.
        with contextlib.suppress(peewee.DatabaseError):
            (
                SyncStatus.update(
                    pass_mode="", last_sync_status="failed", last_sync_error=error[:1000], timemodified=now
                )
                .where(self._where())
                .execute()
            )


def read_page(
    db: peewee.Database,
    companyid: int,
    courses: list[int],
    window: Window,
    position: Position,
    limit: int,
    *,
    include_deleted: bool = False,
) -> list[tuple]:
    """Rows (ROW_COLUMNS) of one page in (userid, courseid) order."""
    if not courses:
        return []
    p = db.param
    table = quote(Reporting._meta.table_name, db)
    where = [f"companyid = {p}", f"courseid IN ({', '.join([p] * len(courses))})"]
    params: list = [companyid, *courses]
    if not include_deleted:
        where.append("is_deleted = 0")
    if window.mode == INCREMENTAL or include_deleted:
        where.append(f"change_seq > {p}")
        params.append(window.since_seq)
    if position.after is not None:
        where.append(f"(userid > {p} OR (userid = {p} AND courseid > {p}))")
        params += [position.after[0], position.after[0], position.after[1]]
    sql = (
        f"SELECT {', '.join(ROW_COLUMNS)} FROM {table} WHERE {' AND '.join(where)} "
        f"ORDER BY userid, courseid LIMIT {int(limit)}"
    )
    if position.after is None and position.offset:
        sql += f" OFFSET {int(position.offset)}"
    return db.execute_sql(sql, params).fetchall()


def count_rows(
    db: peewee.Database, companyid: int, courses: list[int], window: Window, include_deleted: bool = False
) -> int:
    if not courses:
        return 0
    p = db.param
    table = quote(Reporting._meta.table_name, db)
    sql = f"SELECT COUNT(*) FROM {table} WHERE companyid = {p} AND courseid IN ({', '.join([p] * len(courses))})"
    params: list = [companyid, *courses]
    if not include_deleted:
        sql += " AND is_deleted = 0"
    if window.mode == INCREMENTAL or include_deleted:
        sql += f" AND change_seq > {p}"
        params.append(window.since_seq)
    return int(db.execute_sql(sql, params).fetchone()[0])
