"""REST v1's reports (SPEC §8.8), free of HTTP: the list a token may run, and one report's page for
the token's company in the §4.2 envelope, keyset-paged by the report's key columns.

A cursor holds the key values of the page's last row (``k``) and the report's name (``r``): the next
page is the rows after it in the report's order, so following ``next`` yields every row once even
when the data changes between pages. A forged cursor only moves within the caller's own company.
Saved SQL reports shared with the API (``--api``; they bind ``:companyid`` to the token's company)
have no key columns: their cursors hold a position (``o``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping

from ..analytics.reports import DATE, FLOAT, INT, LIST, TEXT, Report, ReportError, after
from ..analytics.service import listing, run_report
from ..safetext import guard_formula
from ..savedsql.runner import Stopped
from .cursors import decode_cursor, encode_cursor
from .errors import ApiError
from .pipeline import Page

RESERVED = frozenset({"limit", "cursor", "format", "api_key", "csv_guard"})


def catalogue(generated_at: str, config) -> bytes:
    """The built-in reports and the saved ones shared with the API (``alx report add --api``)."""
    reports = [
        {
            "name": r.name,
            "title": r.title,
            "description": r.description,
            "columns": r.columns,
            "parameters": r.parameters,
            "saved": r.saved,
        }
        for r in listing(api_only=True, config=config)
    ]
    return json.dumps(
        {"data": reports, "meta": {"total": len(reports), "generated_at": generated_at}}
    ).encode()


_KEY_TYPES = {INT: (int,), FLOAT: (int, float), TEXT: (str,), DATE: (str,)}


def _cursor_key(report: Report, text: str) -> list:
    """The key values a cursor carries, each of its column's type (else comparing would fail)."""
    state = decode_cursor(text, required=("k", "r"))
    key = state["k"]
    kinds = {c.name: c.type for c in report.columns}
    if (
        state["r"] != report.name
        or not isinstance(key, list)
        or len(key) != len(report.key)
        or not all(type(v) in _KEY_TYPES[kinds[n]] for n, v in zip(report.key, key, strict=True))
    ):
        raise ApiError("invalidparameter", "malformed cursor")
    return key


def report_page(
    name: str,
    companyid: int,
    query: Mapping[str, str],
    *,
    limit: int,
    cursor: str | None,
    fmt: str,
    guard: bool,
    now: int,
    config,
    generated_at: str,
    actor: str,
) -> Page:
    """One page of report ``name`` for ``companyid`` (the token's company, never another)."""
    params = {k: v for k, v in query.items() if k not in RESERVED}
    try:
        result = run_report(name, companyid, params, now=now, config=config, actor=actor, api_only=True)
    except ReportError as exc:
        code = "unknownreport" if str(exc).startswith("no report named") else "invalidparameter"
        raise ApiError(code, str(exc)) from None
    except Stopped as exc:
        raise ApiError("invalidparameter", str(exc)) from None
    report, rows = result.report, result.rows
    total = len(rows)
    if report.key:  # keyed by the report's own order: exact while the data changes
        rest = after(report, rows, _cursor_key(report, cursor) if cursor else None)
        page = rest[:limit]
        more = len(rest) > limit
        state: dict[str, object] = {"r": report.name, "k": report.key_of(page[-1])} if page else {}
    else:  # a saved report's rows by position
        start = _cursor_offset(report, cursor) if cursor else 0
        page = rows[start : start + limit]
        more = start + limit < total
        state = {"r": report.name, "o": start + len(page)}
    next_cursor = encode_cursor(state) if more else None
    headers = {"X-Next-Cursor": next_cursor} if next_cursor else {}
    names = report.column_names
    if fmt == "csv":
        return Page(_csv(report, page, guard), "text/csv; charset=utf-8", len(page), False, headers)
    meta = {
        "report": report.name,
        "companyid": companyid,
        "total": total,
        "limit": limit,
        "next": next_cursor,
        "generated_at": generated_at,
    }
    if result.cut:
        meta["cut"] = True
    body = {"data": [dict(zip(names, row, strict=True)) for row in page], "meta": meta}
    return Page(
        json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode(),
        "application/json",
        len(page),
        False,
        headers,
    )


def _cursor_offset(report: Report, text: str) -> int:
    state = decode_cursor(text, required=("o", "r"))
    offset = state["o"]
    if state["r"] != report.name or type(offset) is not int or offset < 0:
        raise ApiError("invalidparameter", "malformed cursor")
    return offset


def _csv(report: Report, rows: list[tuple], guard: bool) -> bytes:
    """Values as in JSON (epoch seconds, true/false), lists comma-joined; guarded on request."""
    kinds = [c.type for c in report.columns]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(report.column_names)
    for row in rows:
        values = []
        for kind, v in zip(kinds, row, strict=True):
            if kind == LIST:
                v = ",".join(v)
            elif isinstance(v, bool):
                v = "true" if v else "false"
            elif v is None:
                v = ""
            if guard and isinstance(v, str):
                v = guard_formula(v)
            values.append(v)
        writer.writerow(values)
    return out.getvalue().encode()
