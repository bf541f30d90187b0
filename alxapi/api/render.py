"""Rows as bytes on the wire: the Moodle endpoint's JSON and XML, REST v1's JSON and CSV.

The Moodle endpoint writes what Moodle's own REST server writes (PHP's ``json_encode``, Moodle's
XML writer); REST v1 writes plain UTF-8 JSON. Rows come from :data:`alxapi.api.feed.ROW_COLUMNS`.
"""

from __future__ import annotations

import csv
import io
import json
from xml.sax.saxutils import escape, quoteattr

from ..safetext import guard_formula, xml_text
from ..timefmt import DateFormatter
from . import feed

# A str as a JSON string literal, non-ASCII kept: what json.dumps(ensure_ascii=False) writes (C speed-up).
_json_string = json.encoder.encode_basestring

_QUOT = {'"': "&quot;"}  # with escape(): PHP's htmlspecialchars(ENT_COMPAT), as Moodle's XML writer uses it
V1_FIELDS_ALL = len(feed.FIELDS) - 2  # every field but the key (userid, courseid), which v1 always sends


def php_str(value) -> str:
    """A value as PHP's string conversion writes it in Moodle's XML: 50.0 is "50", 33.33 is "33.33"."""
    return format(value, ".14G") if isinstance(value, float) else str(value)


def php_json(data) -> bytes:
    """JSON as PHP's json_encode writes it (Moodle's REST server): ASCII only, '/' escaped."""
    return json.dumps(data, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


def row_values(dates: DateFormatter, row: tuple) -> dict:
    """A reporting row (``feed.ROW_COLUMNS``) as the Moodle endpoint's values, every field, in API order.

    Shared by the API and the exports (``alxapi.exports``), so both format a row the same way.
    """
    userid, courseid, first, last, email, username, course, tcompleted, tstarted, pct, status = row[:11]
    return {
        "userid": int(userid), "firstname": first, "lastname": last, "email": email, "username": username,
        "courseid": int(courseid), "coursename": course,
        "timecompleted": dates.format(tcompleted), "timecompleted_unix": int(tcompleted or 0),
        "timestarted": dates.format(tstarted), "timestarted_unix": int(tstarted or 0),
        "percentage": round(float(pct or 0), 2), "status": status,
    }  # fmt: skip


# --- the Moodle endpoint ---------------------------------------------------------------------------


def moodle_rows(dates: DateFormatter, rows: list[tuple], fields: tuple[str, ...]) -> list[dict]:
    out = []
    for row in rows:
        values = row_values(dates, row)
        out.append({f: values[f] for f in fields})
    return out


def moodle_json(dates: DateFormatter, rows: list[tuple], fields: tuple[str, ...]) -> bytes:
    return php_json(moodle_rows(dates, rows, fields))


def xml_value(value) -> str:
    """A value as the text of an XML element: PHP's string form, escaped, without what XML 1.0 forbids
    (one learner named with a control character must not make a company's page unparseable)."""
    return escape(xml_text(php_str(value)), _QUOT)


def moodle_xml(dates: DateFormatter, rows: list[tuple], fields: tuple[str, ...]) -> bytes:
    parts = ['<?xml version="1.0" encoding="UTF-8" ?>\n<RESPONSE>\n<MULTIPLE>\n']
    for values in moodle_rows(dates, rows, fields):
        parts.append("<SINGLE>\n")
        for name, value in values.items():
            parts.append(f"<KEY name={quoteattr(name)}><VALUE>{xml_value(value)}</VALUE>\n</KEY>\n")
        parts.append("</SINGLE>\n")
    parts.append("</MULTIPLE>\n</RESPONSE>\n")
    return "".join(parts).encode()


# --- REST v1 ---------------------------------------------------------------------------------------


def v1_json_all_fields(dates: DateFormatter, rows: list[tuple]) -> bytes:
    """The JSON array ``json.dumps(v1_rows(dates, rows, <every field>))`` would give, byte for byte,
    in two thirds of the time (no dict per row): a page of 1000 rows is written in ~3 ms."""
    date, enc = dates.format, _json_string
    parts: list[str] = []
    append = parts.append
    for (
        userid,
        courseid,
        first,
        last,
        email,
        username,
        course,
        tcompleted,
        tstarted,
        pct,
        status,
        _seq,
        deleted,
    ) in rows:
        if deleted:
            append(f'{{"userid":{int(userid)},"courseid":{int(courseid)},"deleted":true}}')
            continue
        tcompleted, tstarted = int(tcompleted or 0), int(tstarted or 0)
        append(
            f'{{"userid":{int(userid)},"courseid":{int(courseid)},"firstname":{enc(first)},'
            f'"lastname":{enc(last)},"email":{enc(email)},"username":{enc(username)},'
            f'"coursename":{enc(course)},"timecompleted":{enc(date(tcompleted))},'
            f'"timecompleted_unix":{tcompleted},"timestarted":{enc(date(tstarted))},'
            f'"timestarted_unix":{tstarted},"percentage":{round(float(pct or 0), 2)!r},'
            f'"status":{enc(status)}}}'
        )
    return ("[" + ",".join(parts) + "]").encode()


def v1_rows(dates: DateFormatter, rows: list[tuple], fields: tuple[str, ...]) -> list[dict]:
    """REST v1 rows: the key, then the enabled fields in API order; removals as key + deleted."""
    date = dates.format
    every = len(fields) == V1_FIELDS_ALL
    data: list[dict] = []
    append = data.append
    for (
        userid,
        courseid,
        first,
        last,
        email,
        username,
        course,
        tcompleted,
        tstarted,
        pct,
        status,
        _seq,
        deleted,
    ) in rows:
        if deleted:  # tombstone: only the key and the removal
            append({"userid": int(userid), "courseid": int(courseid), "deleted": True})
            continue
        item = {
            "userid": int(userid),
            "courseid": int(courseid),
            "firstname": first,
            "lastname": last,
            "email": email,
            "username": username,
            "coursename": course,
            "timecompleted": date(tcompleted),
            "timecompleted_unix": int(tcompleted or 0),
            "timestarted": date(tstarted),
            "timestarted_unix": int(tstarted or 0),
            "percentage": round(float(pct or 0), 2),
            "status": status,
        }
        if not every:
            item = {"userid": item["userid"], "courseid": item["courseid"], **{f: item[f] for f in fields}}
        append(item)
    return data


def v1_json(dates: DateFormatter, rows: list[tuple], fields: tuple[str, ...]) -> bytes:
    if len(fields) == V1_FIELDS_ALL:
        return v1_json_all_fields(dates, rows)  # every field on (the usual case): written directly
    return json.dumps(v1_rows(dates, rows, fields), ensure_ascii=False, separators=(",", ":")).encode()


def v1_csv(dates: DateFormatter, rows: list[tuple], fields: tuple[str, ...], guard: bool = False) -> bytes:
    """REST v1's CSV. Values are sent as stored (BI tools read them as data); ``guard`` (``csv_guard=1``)
    prefixes values a spreadsheet would evaluate with ``'``, for CSV opened by people."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = ["userid", "courseid", *fields, "deleted"]
    writer.writerow(columns)
    for item in v1_rows(dates, rows, fields):
        values = [item.get(c, "") if c != "deleted" else int(bool(item.get("deleted"))) for c in columns]
        writer.writerow([guard_formula(v) if isinstance(v, str) else v for v in values] if guard else values)
    return out.getvalue().encode()
