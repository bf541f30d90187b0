"""Running a report for a front end: the company checked and named, the parameters parsed, the rows
read in the caller's connection. The CLI, the API, the console and the scheduler all come here, for
built-in reports (``reports.REPORTS``) and operators' saved SQL reports (``alxapi.savedsql``) alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models.iomad import Company

from .. import audit
from .reports import FLOAT, INT, REPORTS, REPORTS_BY_NAME, TEXT, Column, Report, ReportError, RunContext

ALL_COMPANIES = "All companies"


@dataclass(frozen=True)
class ReportResult:
    report: Report
    rows: list[tuple]
    companyid: int | None
    company: str  # the company's name, or ALL_COMPANIES
    shortname: str  # for file names; "all" for every company
    now: int
    cut: bool = False  # a saved report stopped at report_max_rows


@dataclass(frozen=True)
class Listed:
    """A report as the lists show it (saved ones have no fixed columns before they run)."""

    name: str
    title: str
    description: str
    columns: list[dict]
    parameters: list[dict]
    saved: bool
    api: bool


def company_names(companyid: int) -> tuple[str, str]:
    row = Company.select(Company.name, Company.shortname).where(Company.id == companyid).first()
    if row is None:
        raise ReportError(
            f"no company with id {companyid} in the IOMAD company table (alx companies lists them)"
        )
    return row.name, row.shortname


def listing(*, api_only: bool = False, config=None) -> list[Listed]:
    """The built-in reports, then the saved ones (only those shared with --api when ``api_only``)."""
    from ..savedsql import store
    from ..savedsql.validator import Refused, check

    found = [
        Listed(
            r.name,
            r.title,
            r.description,
            [{"name": c.name, "type": c.type, "title": c.title} for c in r.columns],
            [{"name": p.name, "type": p.type, "description": p.help} for p in r.params],
            saved=False,
            api=True,
        )
        for r in REPORTS
    ]
    for row in store.all_saved(api_only=api_only):
        try:
            names = check(row.sql, store.backend(), config.report_allowed_tables).parameters if config else ()
        except Refused:
            names = ()
        hidden = {"companyid"} if api_only else set()
        parameters = [
            {"name": n, "type": "text", "description": "saved report parameter"}
            for n in names
            if n not in hidden
        ]
        found.append(
            Listed(
                row.name,
                row.title,
                f"saved SQL report (by {row.createdby})",
                [],
                parameters,
                saved=True,
                api=bool(row.api),
            )
        )
    return found


def _typed(columns: list[str], rows: list[tuple]) -> tuple[Column, ...]:
    """Column types of a saved report from its values (numbers right-aligned, typed in XLSX)."""
    typed = []
    for index, name in enumerate(columns):
        values = [row[index] for row in rows if row[index] is not None]
        kind = TEXT
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            kind = INT
        elif values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            kind = FLOAT
        typed.append(Column(name, kind, name))
    return tuple(typed)


def _run_saved(name: str, companyid: int | None, params: Mapping[str, str], config, api_only: bool):
    from ..savedsql import runner, store
    from ..savedsql.validator import Refused

    row = store.get(name)
    if row is None or (api_only and not row.api):
        known = ", ".join(REPORTS_BY_NAME)
        raise ReportError(f"no report named {name!r}: choose {known} or a saved report (alx report list)")
    try:
        result = runner.run_sql(row.sql, params, companyid, config)
    except Refused as exc:
        raise ReportError(str(exc)) from None
    rows = result.rows
    report = Report(
        row.name,
        row.title,
        f"saved SQL report (by {row.createdby})",
        _typed(result.columns, rows),
        key=(),
        produce=lambda _ctx, _params: rows,
        builtin=False,
    )
    return report, rows, result.cut


def run_report(
    name: str | Report,
    companyid: int | None,
    params: Mapping[str, str] | None,
    *,
    now: int,
    config,
    actor: str | None = None,
    api_only: bool = False,
) -> ReportResult:
    """The report's rows for one company (``None``: every company, for operators only). Saved reports
    run read-only under the time limit and are audited (``actor``: who ran it). Raises
    :class:`ReportError` for an unknown report, company or parameter, ``savedsql.runner.Stopped`` when
    a saved report ran out of time."""
    company, short = (ALL_COMPANIES, "all") if companyid is None else company_names(companyid)
    if isinstance(name, Report) or name in REPORTS_BY_NAME:
        report = name if isinstance(name, Report) else REPORTS_BY_NAME[name]
        rows = report.run(RunContext(companyid, now, config), params or {})
        return ReportResult(report, rows, companyid, company, short, now)
    report, rows, cut = _run_saved(name, companyid, params or {}, config, api_only)
    details: dict[str, Any] = {"company": companyid, "rows": len(rows), "cut": cut}
    audit.record(actor or audit.current_actor(), "report.run", report.name, details, now)
    return ReportResult(report, rows, companyid, company, short, now, cut)
