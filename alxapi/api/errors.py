"""The API's errors, in one table: Moodle's (exception, message) and the REST v1 HTTP status.

Both front ends raise :class:`ApiError` with a code; the Moodle endpoint renders it exactly as
Moodle does (HTTP 200, ``exception``/``errorcode``/``message``), REST v1 as problem+json.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorKind:
    exception: str  # Moodle's exception class
    message: str  # Moodle's message (lang string)
    status: int  # HTTP status for REST v1
    title: str  # problem+json title


KINDS: dict[str, ErrorKind] = {
    "invalidtoken": ErrorKind("moodle_exception", "Invalid token - token not found", 401, "Invalid token"),
    "accessexception": ErrorKind(
        "webservice_access_exception", "Access control exception", 403, "Access denied"
    ),
    "invalidrecord": ErrorKind(
        "dml_missing_record_exception",
        "Can't find data record in database table external_functions.",
        404,
        "Unknown function",
    ),
    "invalidparameter": ErrorKind(
        "invalid_parameter_exception", "Invalid parameter value detected", 400, "Invalid parameter"
    ),
    "limittoolarge": ErrorKind(
        "moodle_exception",
        "Requested limit is too large. Maximum allowed records per request is {max}. "
        "Please reduce your limit parameter and try again.",
        400,
        "Limit too large",
    ),
    "ratelimitexceeded": ErrorKind(
        "moodle_exception", "Daily rate limit exceeded", 429, "Rate limit exceeded"
    ),
    "nocompanyassociation": ErrorKind(
        "moodle_exception", "User is not associated with any company", 403, "No company"
    ),
    "invalidrequestmethod": ErrorKind(
        "moodle_exception", "Only POST method is allowed for security reasons", 405, "Method not allowed"
    ),
    "servicetemporarilyunavailable": ErrorKind(
        "moodle_exception",
        "Service temporarily unavailable, please try again later",
        503,
        "Service unavailable",
    ),
    "toomanyfailures": ErrorKind(
        "moodle_exception",
        "Too many failed authentications from your address",
        429,
        "Too many failed authentications",
    ),
    "unknownreport": ErrorKind("moodle_exception", "Unknown report", 404, "Unknown report"),
    "requesttoolarge": ErrorKind("moodle_exception", "Request too large", 413, "Request too large"),
    "unexpectederror": ErrorKind("moodle_exception", "Unexpected error", 500, "Internal error"),
}

# debuginfo of the accessexception for a token in the URL's query string while url_tokens is off
URL_TOKEN_REFUSED = "a token in the URL is refused (url_tokens is off): send it in {where}"


class ApiError(Exception):
    def __init__(self, code: str, debuginfo: str = "", retry_after: int | None = None, **message_args):
        self.code = code
        self.kind = KINDS[code]
        self.debuginfo = debuginfo
        self.retry_after = retry_after
        self.message = self.kind.message.format(**message_args) if message_args else self.kind.message
        super().__init__(f"{code}: {self.message}")
