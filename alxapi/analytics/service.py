"""Running a report for a front end: the company checked and named, the parameters parsed, the rows
read in the caller's connection. The CLI, the API, the console and the scheduler all come here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from models.iomad import Company

from .reports import Report, ReportError, RunContext, get_report

ALL_COMPANIES = "All companies"


@dataclass(frozen=True)
class ReportResult:
    report: Report
    rows: list[tuple]
    companyid: int | None
    company: str  # the company's name, or ALL_COMPANIES
    shortname: str  # for file names; "all" for every company
    now: int


def company_names(companyid: int) -> tuple[str, str]:
    row = Company.select(Company.name, Company.shortname).where(Company.id == companyid).first()
    if row is None:
        raise ReportError(
            f"no company with id {companyid} in the IOMAD company table (alx companies lists them)"
        )
    return row.name, row.shortname


def run_report(
    name: str | Report,
    companyid: int | None,
    params: Mapping[str, str] | None,
    *,
    now: int,
    config,
) -> ReportResult:
    """The report's rows for one company (``None``: every company, for operators only).
    Raises :class:`ReportError` for an unknown report, company or parameter."""
    report = name if isinstance(name, Report) else get_report(name)
    company, short = (ALL_COMPANIES, "all") if companyid is None else company_names(companyid)
    rows = report.run(RunContext(companyid, now, config), params or {})
    return ReportResult(report, rows, companyid, company, short, now)
