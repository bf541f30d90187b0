"""Insights: one company at a glance (SPEC §8.8) — learners, at-risk count, average engagement and
time spent; learners at risk with their reasons; the engagement distribution; completions over 12
months; time spent by course. Read by ``analytics.insights.company_insights`` in a thread worker."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Label, Select, Static

from alxapi.access import companies
from alxapi.analytics.insights import BUCKETS, Insights, company_insights

from ..widgets import fmt
from ..widgets.cards import Card
from ..widgets.charts import BarChart
from ..widgets.screenbar import ScreenBar
from ..widgets.tables import ensure_columns, sync_rows
from .base import LiveScreen

AT_RISK_SHOWN = 200
RISK_COLUMNS = [
    ("name", "Learner"),
    ("risk", "Risk"),
    ("eng", "Eng."),
    ("reasons", "Reasons"),
    ("course", "Course"),
]
COURSE_COLUMNS = [("course", "Course"), ("hours", "Hours"), ("learners", "Learners"), ("eng", "Avg eng.")]


def hours(seconds: int) -> str:
    return f"{seconds / 3600:,.1f}"


class InsightsScreen(LiveScreen):
    TITLE = "Insights"
    LIVE = False  # engagement is recomputed on demand: r refreshes

    BINDINGS = [Binding("c", "choose_company", "Company", id="insights.company")]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.companyid: int | None = None
        self.company_names: dict[int, str] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield ScreenBar()
        with Horizontal(id="insights-bar", classes="choice-bar"):
            yield Label("Company")
            yield Select([], prompt="loading…", id="insights-company", compact=True)
        with Grid(id="insights-cards", classes="cards"):
            yield Card("Learners", id="in-learners")
            yield Card("At risk", id="in-risk")
            yield Card("Engagement", id="in-engagement")
            yield Card("Time spent", id="in-time")
        with Horizontal(id="insights-body"):
            with Vertical(id="insights-left"):
                yield Static("Learners at risk", classes="section-title", id="insights-risk-title")
                yield DataTable(id="insights-risk", cursor_type="row", zebra_stripes=True)
            with Vertical(id="insights-right"):
                yield Static("Engagement distribution", classes="section-title")
                yield BarChart(id="insights-distribution")
                yield Static("Completions, 12 months", classes="section-title")
                yield BarChart(id="insights-trends")
                yield Static("Time spent by course", classes="section-title")
                yield DataTable(id="insights-courses", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def fetch(self) -> dict:
        choices = companies.company_choices()
        ids = [cid for cid, _ in choices]
        cid = self.companyid if self.companyid in ids else (ids[0] if ids else None)
        data = None if cid is None else company_insights(cid, now=self.ctx.now(), config=self.ctx.config)
        return {"choices": choices, "companyid": cid, "insights": data}

    def show(self, data: dict) -> None:
        names = dict(data["choices"])
        select = self.query_one("#insights-company", Select)
        if names != self.company_names:
            self.company_names = names
            select.set_options([(fmt.plain(f"{i}  {n}"), i) for i, n in data["choices"]])
            select.prompt = "choose a company"
        self.companyid = data["companyid"]
        if self.companyid is not None and select.value != self.companyid:
            select.value = self.companyid
        insights: Insights | None = data["insights"]
        if insights is None:
            self.query_one("#insights-risk-title", Static).update("No companies in the IOMAD company table.")
            return
        self._cards(insights)
        self._charts(insights)
        self._tables(insights)

    def _cards(self, i: Insights) -> None:
        share = i.at_risk_count / i.learners * 100 if i.learners else 0.0
        self.query_one("#in-learners", Card).set(fmt.count(i.learners), "live rows")
        self.query_one("#in-risk", Card).set(
            fmt.count(i.at_risk_count), f"{share:.0f} % of rows", state="warning" if i.at_risk_count else "ok"
        )
        self.query_one("#in-engagement", Card).set(f"{i.avg_engagement:.1f}", "out of 100")
        self.query_one("#in-time", Card).set(f"{hours(i.time_spent)} h", f"last {i.window_days} days")

    def _charts(self, i: Insights) -> None:
        levels = ["error", "warning", "ok", "ok", "ok"]
        self.query_one("#insights-distribution", BarChart).set_data(
            i.distribution,
            list(BUCKETS),
            levels=levels,
            scale=f"rows per score band, max {max(i.distribution, default=0)}",
        )
        completed = [c for _m, _s, c in i.trends]
        self.query_one("#insights-trends", BarChart).set_data(
            completed,
            [m[5:] if n % 3 == 0 else "" for n, (m, _s, _c) in enumerate(i.trends)],  # room for every third
            scale=f"completed per month, max {max(completed, default=0)}",
        )

    def _tables(self, i: Insights) -> None:
        risk = self.query_one("#insights-risk", DataTable)
        ensure_columns(risk, RISK_COLUMNS)
        sync_rows(
            risk,
            [
                (
                    f"{r.userid}-{r.courseid}",
                    (
                        f"{r.firstname} {r.lastname}",
                        Text(str(r.score.risk_score), justify="right"),
                        Text(f"{r.score.engagement:.1f}", justify="right"),
                        ", ".join(r.score.reasons),
                        r.coursename,
                    ),
                )
                for r in i.at_risk[:AT_RISK_SHOWN]
            ],
        )
        more = f", first {AT_RISK_SHOWN} shown (Reports: at-risk)" if i.at_risk_count > AT_RISK_SHOWN else ""
        self.query_one("#insights-risk-title", Static).update(f"Learners at risk ({i.at_risk_count:,}{more})")
        courses = self.query_one("#insights-courses", DataTable)
        ensure_columns(courses, COURSE_COLUMNS)
        sync_rows(
            courses,
            [
                (
                    str(c.courseid),
                    (
                        c.coursename,
                        Text(hours(c.time_spent), justify="right"),
                        Text(str(c.learners), justify="right"),
                        Text(f"{c.avg_engagement:.1f}", justify="right"),
                    ),
                )
                for c in i.courses
            ],
        )

    @on(Select.Changed, "#insights-company")
    def _company_changed(self, event: Select.Changed) -> None:
        if not isinstance(event.value, int) or event.value == self.companyid:
            return
        self.companyid = int(event.value)
        self.request_refresh()

    def action_choose_company(self) -> None:
        select = self.query_one("#insights-company", Select)
        select.focus()
        select.action_show_overlay()
