"""The product's own tables (prefix + the original plugin's names, plus what a correct product needs).

Times are integer epoch seconds like Moodle's. Every table here is created and upgraded by
``models.schema``; nothing else writes DDL.
"""

from __future__ import annotations

from peewee import (
    BigAutoField,
    BigIntegerField,
    CharField,
    CompositeKey,
    DecimalField,
    IntegerField,
    IntegrityError,
    TextField,
)

from .base import BaseModel
from .db import prefixed


class Reporting(BaseModel):
    """One row per (company, user, course): the pre-built reporting table (SPEC §3.2).

    ``change_seq`` grows with every committed change (insert, value change, tombstone, revival):
    clients page by it, because second-resolution timestamps lose changes at window edges.
    """

    id = BigAutoField()
    companyid = BigIntegerField()
    userid = BigIntegerField()
    courseid = BigIntegerField()
    firstname = CharField(max_length=100, default="")
    lastname = CharField(max_length=100, default="")
    email = CharField(max_length=100, default="")
    username = CharField(max_length=100, default="")
    coursename = CharField(max_length=1333, default="")
    timecompleted = BigIntegerField(default=0)
    timestarted = BigIntegerField(default=0)
    percentage = DecimalField(max_digits=5, decimal_places=2, default=0, auto_round=True)
    status = CharField(max_length=20, default="not_started")
    is_deleted = IntegerField(default=0)
    change_seq = BigIntegerField(default=0)
    last_updated = BigIntegerField(default=0)
    timecreated = BigIntegerField(default=0)
    timemodified = BigIntegerField(default=0)

    class Meta:
        table_function = prefixed("local_alx_api_reporting")
        # Few indexes on purpose: each one costs on every write of a sync.
        indexes = (
            (("companyid", "userid", "courseid"), True),  # the key; API pages by company
            # a sync's course and (user, course) scopes; is_deleted lets it count live rows from the index
            (("courseid", "userid", "is_deleted"), False),
            (("companyid", "change_seq"), False),  # change feeds and the company data version
        )


# The values the sync engine compares: a row whose values equal these is never rewritten.
REPORTING_VALUE_FIELDS = (
    "firstname",
    "lastname",
    "email",
    "username",
    "coursename",
    "timecompleted",
    "timestarted",
    "percentage",
    "status",
)


class Setting(BaseModel):
    """Per-company settings (field_*, course_*, sync_mode, ...). Values up to 10^12 fit (BIGINT)."""

    id = BigAutoField()
    companyid = BigIntegerField()
    setting_name = CharField(max_length=100)
    setting_value = BigIntegerField()
    timecreated = BigIntegerField(default=0)
    timemodified = BigIntegerField(default=0)

    class Meta:
        table_function = prefixed("local_alx_api_settings")
        indexes = ((("companyid", "setting_name"), True),)


class SyncStatus(BaseModel):
    """Per-token sync state of the Moodle-compatible endpoint (one row per company + token hash)."""

    id = BigAutoField()
    companyid = BigIntegerField()
    token_hash = CharField(max_length=64)
    last_sync_timestamp = BigIntegerField(default=0)
    sync_mode = CharField(max_length=20, default="auto")
    sync_window_hours = IntegerField(default=24)
    last_sync_records = BigIntegerField(default=0)
    last_sync_status = CharField(max_length=20, default="success")
    last_sync_error = TextField(null=True)
    total_syncs = BigIntegerField(default=0)
    timecreated = BigIntegerField(default=0)
    timemodified = BigIntegerField(default=0)
    # The pass in progress (schema step 2): mode and change window pinned at offset 0, and where
    # the client is, so any API process continues it with a keyset read instead of an OFFSET.
    pass_mode = CharField(max_length=20, default="")
    pass_since_seq = BigIntegerField(default=0)
    pass_start_seq = BigIntegerField(default=0)
    pass_started_at = BigIntegerField(default=0)
    pass_offset = BigIntegerField(default=0)
    pass_last_userid = BigIntegerField(default=0)
    pass_last_courseid = BigIntegerField(default=0)
    pass_scope = CharField(max_length=40, default="")  # digest of the enabled courses and fields
    # The last completed pass: its start is the next incremental pass's window start.
    done_start_seq = BigIntegerField(default=0)
    done_at = BigIntegerField(default=0)
    done_scope = CharField(max_length=40, default="")

    class Meta:
        table_function = prefixed("local_alx_api_sync_status")
        indexes = ((("companyid", "token_hash"), True),)


class Cache(BaseModel):
    id = BigAutoField()
    cache_key = CharField(max_length=255)
    companyid = BigIntegerField()
    cache_data = TextField()
    timecreated = BigIntegerField(default=0)
    expires_at = BigIntegerField(default=0)
    hit_count = BigIntegerField(default=0)
    timeaccessed = BigIntegerField(default=0)

    class Meta:
        table_function = prefixed("local_alx_api_cache")
        indexes = ((("cache_key", "companyid"), True), (("expires_at",), False))


class ApiLog(BaseModel):
    """One row per API request. Never holds a token or a query string."""

    id = BigAutoField()
    userid = BigIntegerField(default=0)
    companyid = BigIntegerField(default=0)
    company_shortname = CharField(max_length=100, default="")
    endpoint = CharField(max_length=100, default="")
    record_count = BigIntegerField(default=0)
    error_message = TextField(null=True)
    response_time_ms = DecimalField(max_digits=10, decimal_places=2, default=0)
    timecreated = BigIntegerField(default=0)
    ip_address = CharField(max_length=45, default="")
    user_agent = CharField(max_length=255, default="")
    additional_data = TextField(null=True)
    # Schema step 2: which token (a reference such as "m:12", never the token), the error code,
    # the HTTP status and whether the cache answered — for rate limits, throttling and monitoring.
    token_ref = CharField(max_length=32, default="")
    error_code = CharField(max_length=50, default="")
    http_status = IntegerField(default=200)
    cache_hit = IntegerField(default=0)

    class Meta:
        table_function = prefixed("local_alx_api_logs")
        # (timecreated, ...) covers the monitoring panes' window aggregates (schema step 4): a 24-hour
        # window is read from the index alone. It replaces the plain (timecreated) index of step 1.
        indexes = (
            (
                ("timecreated", "companyid", "error_code", "cache_hit", "record_count", "response_time_ms"),
                False,
            ),
            (("companyid", "timecreated"), False),
            # Covering the rate-limit and failed-authentication counts: read from the index alone.
            (("token_ref", "timecreated", "error_code"), False),
            (("ip_address", "error_code", "timecreated"), False),
        )


class Alert(BaseModel):
    id = BigAutoField()
    alert_type = CharField(max_length=50)
    severity = CharField(max_length=20)
    message = TextField()
    alert_data = TextField(null=True)
    hostname = CharField(max_length=255, default="")
    timecreated = BigIntegerField(default=0)
    resolved = IntegerField(default=0)
    # Beyond the original plugin: what the alert is about (the cooldown key is (alert_type, subject)),
    # how often the condition was seen while open, how it was resolved, and delivery bookkeeping so
    # each alert reaches each channel once and a failed delivery is retried, not lost.
    subject = CharField(max_length=255, default="")
    occurrences = IntegerField(default=1)
    timelastseen = BigIntegerField(default=0)
    timeresolved = BigIntegerField(default=0)
    resolved_by = CharField(max_length=100, default="")
    delivery_status = CharField(max_length=20, default="pending")  # pending|delivered|failed|skipped
    delivered_channels = CharField(max_length=100, default="")  # comma-separated: email,webhook
    delivery_attempts = IntegerField(default=0)
    next_delivery_at = BigIntegerField(default=0)
    delivery_error = TextField(null=True)

    class Meta:
        table_function = prefixed("local_alx_api_alerts")
        indexes = (
            (("alert_type", "timecreated"), False),
            (("resolved",), False),
            (("alert_type", "subject", "timecreated"), False),
            (("delivery_status", "next_delivery_at"), False),
        )


class SyncRun(BaseModel):
    """History of sync runs: the monitoring panes' 7-day trend and the alert rules read it."""

    id = BigAutoField()
    mode = CharField(max_length=20)  # full | incremental
    companyid = BigIntegerField(default=0)  # 0 = all companies
    status = CharField(max_length=20)  # running | success | partial | failed
    timestarted = BigIntegerField()
    timefinished = BigIntegerField(default=0)
    created = BigIntegerField(default=0)
    updated = BigIntegerField(default=0)
    deleted = BigIntegerField(default=0)
    unchanged = BigIntegerField(default=0)
    duration_ms = BigIntegerField(default=0)
    error = TextField(null=True)
    host = CharField(max_length=255, default="")
    pid = BigIntegerField(default=0)

    class Meta:
        table_function = prefixed("local_alx_api_sync_runs")
        indexes = ((("timestarted",), False), (("status", "timestarted"), False))


class ApiToken(BaseModel):
    """Tokens managed by ALX: only the SHA-256 of the token is stored."""

    id = BigAutoField()
    token_hash = CharField(max_length=64, unique=True)
    name = CharField(max_length=255, default="")
    companyid = BigIntegerField()
    userid = BigIntegerField(default=0)
    iprestriction = CharField(max_length=255, default="")
    expires_at = BigIntegerField(default=0)  # 0 = never
    timecreated = BigIntegerField(default=0)
    lastused = BigIntegerField(default=0)
    revoked_at = BigIntegerField(default=0)
    created_by = CharField(max_length=100, default="")

    class Meta:
        table_function = prefixed("local_alx_api_tokens")


class Audit(BaseModel):
    """Admin audit trail: who changed what, from the console or the CLI."""

    id = BigAutoField()
    timecreated = BigIntegerField()
    actor = CharField(max_length=100)
    action = CharField(max_length=100)
    target = CharField(max_length=255, default="")
    details = TextField(null=True)

    class Meta:
        table_function = prefixed("local_alx_api_audit")
        indexes = ((("timecreated",), False),)


class Heartbeat(BaseModel):
    """Liveness of long-running processes (worker, API), one row per component and host."""

    id = BigAutoField()
    component = CharField(max_length=50)
    hostname = CharField(max_length=255)
    pid = BigIntegerField(default=0)
    timebeat = BigIntegerField(default=0)
    info = TextField(null=True)

    class Meta:
        table_function = prefixed("local_alx_api_heartbeat")
        indexes = ((("component", "hostname"), True),)


class State(BaseModel):
    """Small named values: schema version, the change-sequence counter, the sync lock, watermarks."""

    id = BigAutoField()
    name = CharField(max_length=100, unique=True)
    value_int = BigIntegerField(default=0)
    value_text = TextField(null=True)
    timemodified = BigIntegerField(default=0)

    class Meta:
        table_function = prefixed("local_alx_api_state")

    @classmethod
    def put(cls, name: str, *, value_int: int = 0, value_text: str | None = None, now: int = 0) -> None:
        """Set a named value, creating the row if needed; a concurrent creator's insert wins."""
        fields = {"value_int": value_int, "value_text": value_text, "timemodified": now}
        if cls.update(**fields).where(cls.name == name).execute():
            return
        try:
            with cls._meta.database.atomic():  # a savepoint inside the caller's transaction
                cls.insert(name=name, **fields).execute()
        except IntegrityError:
            cls.update(**fields).where(cls.name == name).execute()


class SyncFingerprint(BaseModel):
    """Per-partition fingerprints of the source tables, to find what changed without timestamps.

    ``kind`` names the source (e.g. ``course``, ``enrol``, ``ue_count``), ``partition`` its key
    (a course id, a company id, or 0 for a whole table).
    """

    id = BigAutoField()
    kind = CharField(max_length=30)
    partition = BigIntegerField()
    fingerprint = CharField(max_length=255)

    class Meta:
        table_function = prefixed("local_alx_api_sync_fp")
        indexes = ((("kind", "partition"), True),)


class SyncQueue(BaseModel):
    """Work found by change detection and not yet applied: survives crashes and time budgets.

    ``kind`` is ``course`` (every row of course ``a``), ``user`` (every row of user ``a``) or
    ``pair`` (user ``a`` in course ``b``).
    """

    id = BigAutoField()
    kind = CharField(max_length=10)
    a = BigIntegerField()
    b = BigIntegerField(default=0)

    class Meta:
        table_function = prefixed("local_alx_api_sync_queue")
        indexes = ((("kind", "a", "b"), True),)


class SyncMember(BaseModel):
    """Snapshot of who counts as a member of which company at the last change detection.

    (company, user) pairs with an unsuspended ``company_users`` row and an active Moodle user.
    Joining or leaving a company and (un)suspending leave no timestamp in Moodle/IOMAD; diffing
    this snapshot against the live tables finds exactly those users.
    """

    companyid = BigIntegerField()
    userid = BigIntegerField()

    class Meta:
        table_function = prefixed("local_alx_api_sync_member")
        primary_key = CompositeKey("companyid", "userid")


class RequestCounter(BaseModel):
    """Counters taken before answering (schema step 6), each raised in one conditional statement so
    concurrent requests in any number of API processes never overshoot, and a request log write that
    fails loses no count: a token's requests per local day (``token_ref`` "m:12", ``day_start`` the
    local midnight), and an address block's failed authentications per window (``token_ref`` "auth:<address
    or /64>", ``day_start`` the window's start)."""

    token_ref = CharField(max_length=64)
    day_start = BigIntegerField()  # epoch second the counted period began
    count = IntegerField(default=0)

    class Meta:
        table_function = prefixed("local_alx_api_counters")
        primary_key = CompositeKey("token_ref", "day_start")


ALL_TABLES = [
    State,
    Reporting,
    Setting,
    SyncStatus,
    Cache,
    ApiLog,
    Alert,
    SyncRun,
    ApiToken,
    Audit,
    Heartbeat,
    SyncFingerprint,
    SyncQueue,
    SyncMember,
    RequestCounter,
]
