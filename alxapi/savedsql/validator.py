"""The saved-report SQL validator (SPEC §8.5), built on sqlglot's parser (not on regular expressions).

A report is accepted only when its text parses, in the database's dialect, to exactly one query (a
SELECT, a WITH … SELECT, or a UNION/INTERSECT/EXCEPT of them) in which:

- every table is written as Moodle writes it, ``{user}``, and is in ``report_allowed_tables``
  (names defined by the query's own WITH clauses are not tables);
- nothing writes, defines, locks or sets anything, anywhere in the tree (no INSERT/UPDATE/DELETE,
  even inside a WITH; no DDL; no SELECT … INTO; no FOR UPDATE/SHARE; no SET/PRAGMA/CALL);
- every function is in :data:`ALLOWED_FUNCTIONS`, ordinary scalar, aggregate and window functions
  (so no sleep/benchmark/pg_sleep, no file, network, sequence or lock functions);
- parameters are named, ``:name``; no session variables.

Whatever is refused raises :class:`Refused` with one line naming the reason. A validated query is
turned into the SQL that runs by :func:`compile_query`: the prefix added to the tables, the
parameters replaced by the driver's markers, their values passed separately (never pasted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

DIALECTS = {"sqlite": "sqlite", "mysql": "mysql", "postgresql": "postgres"}
_TABLE_MARK = "alxt__"
_PARAM_MARK = "alxp__"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

from ..config.registry import DEFAULT_ALLOWED_TABLES  # noqa: E402,F401  (one list: the setting's default)

# By the names sqlglot gives them (its canonical names, or the name as written when it does not
# know the function). Anything else is refused: an allow-list, so a new server function is refused
# until someone decides it is harmless.
ALLOWED_FUNCTIONS = frozenset(
    [
        "COUNT",
        "SUM",
        "AVG",
        "MIN",
        "MAX",
        "COALESCE",
        "IFNULL",
        "NULLIF",
        "CASE",
        "IF",
        "CAST",
        "TRY_CAST",
        "ROUND",
        "ABS",
        "FLOOR",
        "CEIL",
        "GREATEST",
        "LEAST",
        "MOD",
        "LOWER",
        "UPPER",
        "LENGTH",
        "SUBSTRING",
        "TRIM",
        "CONCAT",
        "CONCAT_WS",
        "REPLACE",
        "LEFT",
        "RIGHT",
        "DATE",
        "TIME",
        "STRFTIME",
        "UNIX_TO_TIME",
        "TIME_TO_STR",
        "TIME_STR_TO_UNIX",
        "STR_TO_TIME",
        "DATE_TRUNC",
        "TIMESTAMP_TRUNC",
        "TS_OR_DS_TO_DATE",
        "DATE_FORMAT",
        "FROM_UNIXTIME",
        "TO_TIMESTAMP",
        "TO_CHAR",
        "EXTRACT",
        "DATE_ADD",
        "DATE_SUB",
        "ROW_NUMBER",
        "RANK",
        "DENSE_RANK",
        "NTILE",
        "PERCENT_RANK",
        "CUME_DIST",
        "LAG",
        "LEAD",
        "FIRST_VALUE",
        "LAST_VALUE",
        "GROUP_CONCAT",
        "STRING_AGG",
        "COUNT_IF",
        "DIV",
        "POW",
        "SQRT",
    ]
)

# Nodes that write, define, lock or set anything: refused wherever they appear in the tree.
_FORBIDDEN = tuple(
    getattr(exp, name)
    for name in (
        "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "AlterTable", "TruncateTable",
        "Command", "Set", "Pragma", "Transaction", "Commit", "Rollback", "Use", "Grant", "Into", "Lock",
        "LoadData", "Copy", "Cache", "Uncache", "Refresh", "Attach", "Detach", "Describe", "Summarize",
    )
    if hasattr(exp, name)
)  # fmt: skip
_QUERY_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except)
_VARIABLES = tuple(getattr(exp, n) for n in ("Parameter", "SessionParameter", "RawString") if hasattr(exp, n))


class Refused(ValueError):
    """The SQL may not be stored or run; ``str()`` is one line naming why."""


@dataclass(frozen=True)
class Checked:
    tree: exp.Expression
    tables: tuple[str, ...]  # Moodle names, without prefix
    parameters: tuple[str, ...]  # :names, in order of first use


def _kind(node) -> str:
    return type(node).__name__.upper()


def check(sql: str, backend: str, allowed_tables: tuple[str, ...] | list[str]) -> Checked:
    """Validate ``sql`` for ``backend`` (``sqlite``, ``mysql`` or ``postgresql``); raise :class:`Refused`."""
    if not sql or not sql.strip():
        raise Refused("the SQL is empty")
    if _TABLE_MARK in sql.lower() or _PARAM_MARK in sql.lower():
        raise Refused(f"the names {_TABLE_MARK}… and {_PARAM_MARK}… are reserved")
    marked = _PLACEHOLDER.sub(lambda m: _TABLE_MARK + m.group(1).lower(), sql)
    try:
        statements = [s for s in sqlglot.parse(marked, read=DIALECTS[backend]) if s is not None]
    except (ParseError, TokenError) as exc:
        raise Refused(f"the SQL does not parse: {str(exc).splitlines()[0][:200]}") from None
    if len(statements) != 1:
        raise Refused(f"exactly one statement is allowed, found {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, _QUERY_ROOTS):
        raise Refused(f"only a query (SELECT, WITH … SELECT, UNION) is allowed, not {_kind(tree)}")
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN):
            raise Refused(f"{_kind(node)} is not allowed in a report")
        if isinstance(node, exp.Select) and (node.args.get("into") or node.args.get("locks")):
            raise Refused("SELECT … INTO and locking clauses (FOR UPDATE/SHARE) are not allowed")
        if isinstance(node, _VARIABLES):
            raise Refused(f"session variables are not allowed ({node.sql()[:40]})")
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    tables: list[str] = []
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        if table.args.get("db") or table.args.get("catalog"):
            raise Refused(f"table {table.sql()} is outside the allowed tables")
        if not name:
            raise Refused(f"only tables may be read from, not {table.sql()[:60]}")
        if name in ctes:
            continue
        if not name.startswith(_TABLE_MARK):
            raise Refused(f"write tables as Moodle does, in braces: {{{name}}}")
        moodle = name[len(_TABLE_MARK) :]
        if moodle not in {t.lower() for t in allowed_tables}:
            raise Refused(f"table {{{moodle}}} is not in report_allowed_tables")
        tables.append(moodle)
    for func in tree.find_all(exp.Func):
        if isinstance(
            func, exp.Connector | exp.SubqueryPredicate
        ):  # AND, OR, EXISTS: operators to sqlglot too
            continue
        name = func.name.upper() if isinstance(func, exp.Anonymous) else func.sql_name().upper()
        if name not in ALLOWED_FUNCTIONS:
            raise Refused(f"function {name} is not allowed in a report")
    parameters: list[str] = []
    for holder in tree.find_all(exp.Placeholder):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", holder.name or ""):
            raise Refused("parameters are named, :name (not ?)")
        if holder.name.lower() not in parameters:
            parameters.append(holder.name.lower())
    return Checked(tree, tuple(dict.fromkeys(tables)), tuple(parameters))


def compile_query(checked: Checked, backend: str, prefix: str, marker: str) -> tuple[str, list[str]]:
    """The SQL to run: tables prefixed, each ``:name`` a driver ``marker``; and the parameter names in
    the order of the markers (their values are bound by the driver, never pasted into the text)."""
    tree = checked.tree.copy()
    for table in tree.find_all(exp.Table):
        if table.name.lower().startswith(_TABLE_MARK):
            table.set("this", exp.to_identifier(prefix + table.name[len(_TABLE_MARK) :].lower(), quoted=True))
    names: list[str] = []
    for holder in list(tree.find_all(exp.Placeholder)):
        holder.replace(exp.column(f"{_PARAM_MARK}{len(names)}"))
        names.append(holder.name.lower())
    text = tree.sql(dialect=DIALECTS[backend])
    if names and marker == "%s":
        text = text.replace("%", "%%")  # the MariaDB drivers and psycopg2 read % as a marker's start
    order: list[str] = []  # the markers' names in the order they appear in the text (tree walks differ)

    def to_marker(match: re.Match) -> str:
        order.append(names[int(match.group(1))])
        return marker

    text = re.sub(rf"{_PARAM_MARK}(\d+)", to_marker, text)
    return text, order
