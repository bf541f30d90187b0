"""`/webservice/rest/server.php`: Moodle's REST protocol, for existing BI clients (SPEC §4.1).

Errors are answered exactly as Moodle does: HTTP 200 and a body with only ``exception``,
``errorcode`` and ``message`` (plus ``debuginfo`` when debugging is on), in JSON or Moodle's XML.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl
from xml.sax.saxutils import quoteattr

import falcon
import peewee

from models.db import DB_ERRORS

from ..api.errors import URL_TOKEN_REFUSED, ApiError
from ..api.render import php_json, xml_value
from ..api.requestlog import LogEntry
from .context import AppContext

log = logging.getLogger("alx.api")
FUNCTION = "local_alx_report_api_get_course_progress"
ENDPOINT = "get_course_progress"
_INT = re.compile(r"-?[0-9]+")
MAX_INT = 2**63 - 1
# What Moodle's server.php sends with every answer (its no-cache headers and open CORS).
MOODLE_HEADERS = (
    ("Cache-Control", "private, must-revalidate, pre-check=0, post-check=0, max-age=0"),
    ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ("Pragma", "no-cache"),
    ("Accept-Ranges", "none"),
    ("Access-Control-Allow-Origin", "*"),
)


def moodle_int(params: dict, name: str, default: int) -> int:
    """PARAM_INT as Moodle cleans it: the text must be exactly an integer ("1e3", "", " 5" are not)."""
    if name not in params:
        return default
    text = params[name]
    try:
        valid = (
            bool(_INT.fullmatch(text)) and str(int(text)) == text.lstrip("+") and abs(int(text)) <= MAX_INT
        )
    except ValueError:  # more digits than int() converts
        valid = False
    if not valid:
        raise ApiError(
            "invalidparameter",
            f'Invalid external api parameter: the value is "{text[:50]}", '
            'the server was expecting "int" type',
        )
    return int(text)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a surrogate escape left by an undecodable byte
        return False
    return True


def error_body(err: ApiError, fmt: str, debug: bool) -> tuple[bytes, str]:
    if fmt == "json":
        body = {"exception": err.kind.exception, "errorcode": err.code, "message": err.message}
        if debug and err.debuginfo:
            body["debuginfo"] = err.debuginfo
        return php_json(body), "application/json"
    xml = (
        f'<?xml version="1.0" encoding="UTF-8" ?>\n<EXCEPTION class={quoteattr(err.kind.exception)}>\n'
        f"<ERRORCODE>{xml_value(err.code)}</ERRORCODE>\n<MESSAGE>{xml_value(err.message)}</MESSAGE>\n"
    )
    if debug and err.debuginfo:
        xml += f"<DEBUGINFO>{xml_value(err.debuginfo)}</DEBUGINFO>\n"
    return (xml + "</EXCEPTION>\n").encode(), "application/xml; charset=utf-8"


class MoodleRestResource:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    def on_get(self, req, resp):
        self._handle(req, resp)

    def on_post(self, req, resp):
        self._handle(req, resp)

    def _params(self, req) -> tuple[dict, ApiError | None]:
        """Query string and form body merged, the body winning on a clash (PHP's array_merge).

        A problem with the request (a body that is not a form, a token in the URL while url_tokens is
        off) is returned, not raised, and bytes that are not UTF-8 are kept as surrogate escapes:
        ``_handle`` refuses them once it knows the format the client asked for.
        """
        query = req.query_string
        params = (
            dict(parse_qsl(query, keep_blank_values=True, strict_parsing=False, errors="surrogateescape"))
            if query
            else {}  # a POST's usual case: nothing to parse
        )
        url_token = None
        if "wstoken" in params and not self.ctx.config.url_tokens:
            url_token = ApiError("accessexception", URL_TOKEN_REFUSED.format(where="the POST body"))
        if req.method == "POST" and not req.context.body_too_large:
            limit = req.context.max_body
            raw = req.bounded_stream.read(limit + 1)  # chunked bodies too: never more than the limit
            if len(raw) > limit:
                req.context.body_too_large = True
                return params, None
            if raw:
                ctype = (req.content_type or "").split(";")[0].strip().lower()
                if ctype not in ("", "application/x-www-form-urlencoded"):
                    return params, ApiError(
                        "invalidparameter",
                        f"unsupported content type {ctype[:100]}: send application/x-www-form-urlencoded",
                    )
                params.update(
                    parse_qsl(
                        raw.decode("utf-8", "surrogateescape"),
                        keep_blank_values=True,
                        errors="surrogateescape",
                    )
                )
        return params, url_token

    def _handle(self, req, resp):
        ctx, now = self.ctx, self.ctx.clock()
        entry = LogEntry(
            endpoint=ENDPOINT,
            timecreated=now,
            ip_address=ctx.client_ip(req),
            user_agent=req.user_agent or "",
            extra={"request_method": req.method},
        )
        fmt = "xml"
        try:
            try:
                params, problem = self._params(req)
            except (UnicodeDecodeError, ValueError) as exc:  # only parsing: deeper code's errors are bugs
                raise ApiError("invalidparameter", f"undecodable parameters: {exc}") from None
            fmt = "json" if params.get("moodlewsrestformat") == "json" else "xml"
            if problem is not None:
                raise problem
            if not _is_utf8("".join(params) + "".join(params.values())):
                raise ApiError("invalidparameter", "the parameters are not valid UTF-8")
            if req.context.body_too_large:
                raise ApiError("requesttoolarge", "request body too large")
            if getattr(req.context, "db_down", False):
                raise ApiError("servicetemporarilyunavailable", "the database is unreachable")
            principal, settings = ctx.pipeline.identify(params.get("wstoken"), entry.ip_address, now)
            entry.identify(principal)
            function = params.get("wsfunction", "")
            if not function:
                raise ApiError("invalidparameter", "Missing function name")
            if function != FUNCTION:
                raise ApiError("invalidrecord", f"unknown function {function[:100]}")
            if req.method == "GET" and not ctx.config.allow_get_method:
                raise ApiError("invalidrequestmethod", "GET is disabled (allow_get_method)")
            ctx.pipeline.check_rate_limit(principal, settings, now)
            limit = moodle_int(params, "limit", 100)
            offset = moodle_int(params, "offset", 0)
            entry.extra.update(limit=limit, offset=offset)
            page = ctx.pipeline.moodle_page(principal, settings, limit, offset, fmt, now)
            entry.record_count, entry.cache_hit = page.records, page.cache_hit
            resp.data, resp.content_type = page.body, page.content_type
        except ApiError as err:
            self._error(resp, entry, err, fmt)
        except DB_ERRORS as exc:
            req.context.db_down = isinstance(exc, (peewee.OperationalError, peewee.InterfaceError))
            self._error(resp, entry, ApiError("servicetemporarilyunavailable", "database error"), fmt)
        except Exception:  # a bug: logged with its traceback, answered in Moodle's format, never leaked
            log.exception("unexpected error on the Moodle endpoint")
            self._error(resp, entry, ApiError("unexpectederror", "the error was logged on the server"), fmt)
        finally:
            resp.status = falcon.HTTP_200  # Moodle answers every error with HTTP 200
            resp.set_headers(MOODLE_HEADERS)
            ctx.finish(req, ENDPOINT, entry)

    def _error(self, resp, entry: LogEntry, err: ApiError, fmt: str) -> None:
        entry.fail(err)
        entry.http_status = 200  # Moodle answers every error with HTTP 200
        resp.data, resp.content_type = error_body(err, fmt, self.ctx.config.api_debug)
