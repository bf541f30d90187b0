"""Companies: companies with counts; field and course toggles; sync and API settings.

The list shows every IOMAD company with its active users, IOMAD courses, live reporting rows and
active managed tokens. Opening one shows an editor: the sync mode and limits, a switch per response
field and per course (with the company's enrolled learners per course). Save sends every changed key
to ``access.settings.set_values`` at once — validated, all or nothing, audited with the operator's
name, exactly as ``alx company set`` does; a refused value shows the service's message and nothing is
saved. Revert discards the edits.
"""

from __future__ import annotations

import logging

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.widgets import Checkbox, ContentSwitcher, DataTable, Footer, Header, Input, Select, Static

from alxapi.access import companies
from alxapi.access import settings as company_settings

from ..actions import ActionDone, ActionRefused, Outcome
from ..dialogs import ConfirmDialog, form_row
from ..widgets import fmt
from ..widgets.screenbar import ScreenBar
from ..widgets.tables import current_key, ensure_columns, sync_rows
from .base import LiveScreen

log = logging.getLogger("alxtui")

LIST_COLUMNS = (
    ("id", "ID"),
    ("name", "Company"),
    ("shortname", "Short name"),
    ("users", "Users"),
    ("courses", "Courses"),
    ("rows", "Rows"),
    ("tokens", "Tokens"),
)
SYNC_MODE_OPTIONS = [(f"{mode} {label}", mode) for mode, label in company_settings.SYNC_MODES.items()]
# Inputs of the editor: setting name -> label.
SCALAR_INPUTS = {
    "sync_window_hours": "Sync window (hours)",
    "cache_ttl_minutes": "Cache TTL (minutes)",
    "rate_limit": "Rate limit per day",
    "max_records": "Max records a page",
}


def _num(value: int) -> Text:
    return Text(f"{value:,}", justify="right")


def short_error(text: str) -> str:
    """The service's refusal without its long list of valid keys (the CLI's --help has it)."""
    return text.split(" Valid keys:", 1)[0]


class CompaniesScreen(LiveScreen):
    TITLE = "Companies"

    BINDINGS = [
        Binding("o", "open_company", "Open", id="companies.open"),
        Binding("ctrl+s", "save", "Save", id="companies.save"),
        Binding("ctrl+r", "revert", "Revert", id="companies.revert"),
        Binding("escape", "back", "Back to list", id="companies.back"),
    ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.selected: int | None = None  # the company open in the editor (read by fetch's thread)
        self.detail: dict | None = None  # what the editor was filled from (the baseline of "changed")
        self.course_boxes: dict[int, Checkbox] = {}
        self.saving = False
        self.message = ""

    # --- layout ---------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield ScreenBar()
        with ContentSwitcher(initial="companies-list", id="companies-switcher"):
            with Vertical(id="companies-list"):
                yield Static("Companies", id="companies-summary", classes="section-title")
                yield DataTable(id="companies-table", cursor_type="row", zebra_stripes=True)
                yield Static("enter/o: open a company's field, course, sync and API settings", classes="hint")
            with VerticalScroll(id="companies-detail"):
                yield Static("", id="company-title", classes="section-title")
                yield Static("", id="company-message", classes="form-message")
                yield Static("Sync and API", classes="subsection-title")
                yield form_row(
                    "Sync mode",
                    Select(SYNC_MODE_OPTIONS, allow_blank=False, value=0, id="set-sync_mode", compact=True),
                )
                for name, label in SCALAR_INPUTS.items():
                    yield form_row(label, Input(id=f"set-{name}", compact=True))
                yield Static(
                    "Response fields (off: the API leaves the field out)", classes="subsection-title"
                )
                with Grid(id="company-fields"):
                    for field in company_settings.FIELDS:
                        yield Checkbox(field, True, id=f"field-{field}", compact=True)
                yield Static("Course access", classes="subsection-title")
                yield Static("", id="course-rule", classes="hint")
                yield Vertical(id="company-courses")
        yield Footer()

    def on_mount(self) -> None:
        ensure_columns(self.query_one("#companies-table", DataTable), LIST_COLUMNS)
        super().on_mount()

    @property
    def in_detail(self) -> bool:
        return self.query_one("#companies-switcher", ContentSwitcher).current == "companies-detail"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_company":
            return not self.in_detail
        if action in ("save", "revert", "back"):
            return self.in_detail
        return True

    # --- data -----------------------------------------------------------------------------------
    def fetch(self) -> dict:
        ctx = self.ctx
        selected = self.selected
        return {
            "companies": companies.company_overview(ctx.now()),
            "detail": companies.company_detail(selected, ctx.config) if selected is not None else None,
            "selected": selected,
        }

    def show(self, data: dict) -> None:
        rows = data["companies"]
        table = self.query_one("#companies-table", DataTable)
        sync_rows(
            table,
            [
                (
                    str(c["id"]),
                    (
                        str(c["id"]),
                        c["name"],
                        c["shortname"],
                        _num(c["users"]),
                        _num(c["courses"]),
                        _num(c["rows"]),
                        _num(c["tokens"]),
                    ),
                )
                for c in rows
            ],
        )
        self.query_one("#companies-summary", Static).update(
            f"Companies: {len(rows)}   users {sum(c['users'] for c in rows):,}   "
            f"reporting rows {sum(c['rows'] for c in rows):,}   active tokens {sum(c['tokens'] for c in rows):,}"
        )
        if data["selected"] is None or data["selected"] != self.selected:
            return
        detail = data["detail"]
        if detail is None:
            self.notify(f"company {self.selected} no longer exists", severity="warning")
            self._show_list()
            return
        same_company = self.detail is not None and self.detail["id"] == detail["id"]
        if same_company and self.assignments():
            return  # unsaved edits: never overwrite them (Revert reloads)
        self.populate(detail)

    # --- the editor -----------------------------------------------------------------------------
    def populate(self, detail: dict) -> None:
        """Fill the editor from ``detail`` (the new baseline); course switches are reused when the
        course list is unchanged, so focus and scroll position survive a refresh."""
        self.detail = detail
        s: company_settings.CompanySettings = detail["settings"]
        select = self.query_one("#set-sync_mode", Select)
        if select.value != s.sync_mode:
            select.value = s.sync_mode
        for name, text in self._baseline_scalars().items():
            box = self.query_one(f"#set-{name}", Input)
            if box.value != text:
                box.value = text
        self.query_one(
            "#set-rate_limit", Input
        ).placeholder = f"empty: global ({detail['global_rate_limit']}); 0 = unlimited"
        self.query_one(
            "#set-max_records", Input
        ).placeholder = f"empty: global ({detail['global_max_records']})"
        self.query_one("#set-sync_window_hours", Input).placeholder = "empty: default (24)"
        self.query_one("#set-cache_ttl_minutes", Input).placeholder = "empty: default (60)"
        for field in company_settings.FIELDS:
            box = self.query_one(f"#field-{field}", Checkbox)
            on_ = field in s.fields
            if box.value != on_:
                box.value = on_
        courses = detail["courses"]
        labels = {c["courseid"]: self._course_label(c) for c in courses}
        if list(self.course_boxes) == [c["courseid"] for c in courses]:
            for c in courses:
                box = self.course_boxes[c["courseid"]]
                box.label = labels[c["courseid"]]
                if box.value != c["enabled"]:
                    box.value = c["enabled"]
        else:
            container = self.query_one("#company-courses", Vertical)
            container.remove_children()
            self.course_boxes = {
                c["courseid"]: Checkbox(
                    fmt.plain(labels[c["courseid"]]),
                    c["enabled"],
                    compact=True,
                    classes="course-toggle",
                    name=str(c["courseid"]),
                )
                for c in courses
            }
            if self.course_boxes:
                container.mount_all(list(self.course_boxes.values()))
            else:
                container.mount(
                    Static(
                        "no courses: the company has no IOMAD courses and no reporting rows", classes="hint"
                    )
                )
        rule = (
            "course_<id> settings: only courses switched on are served"
            if s.course_rule == "settings"
            else "no course switches stored: the company's IOMAD courses are served (switching one stores all)"
        )
        self.query_one("#course-rule", Static).update(
            f"Rule: {rule}. Enrolled = the company's learners in the reporting table."
        )
        self._update_title()

    @staticmethod
    def _course_label(course: dict) -> str:
        notes = []
        if not course["exists"]:
            notes.append("deleted")
        elif not course["visible"]:
            notes.append("hidden")
        if not course["in_company_course"]:
            notes.append("not an IOMAD course of the company")
        extra = f" ({', '.join(notes)})" if notes else ""
        return f"{course['fullname']} [id {course['courseid']}] · {course['enrolled']:,} enrolled{extra}"

    def _baseline_scalars(self) -> dict[str, str]:
        s = self.detail["settings"]
        values = {}
        for name in SCALAR_INPUTS:
            value = getattr(s, name)
            stored = not s.is_default(name)
            # sync window and cache TTL always show their value; the limits show theirs only when set
            values[name] = (
                str(value)
                if (value is not None and (stored or name in ("sync_window_hours", "cache_ttl_minutes")))
                else ""
            )
        return values

    def assignments(self) -> dict[str, str]:
        """Every edited setting as the KEY=VALUE the service takes (``default`` removes an override)."""
        if self.detail is None:
            return {}
        s: company_settings.CompanySettings = self.detail["settings"]
        out: dict[str, str] = {}
        mode = self.query_one("#set-sync_mode", Select).value
        if isinstance(mode, int) and mode != s.sync_mode:
            out["sync_mode"] = str(mode)
        for name, before in self._baseline_scalars().items():
            text = self.query_one(f"#set-{name}", Input).value.strip()
            if text != before:
                out[name] = text if text else "default"
        for field in company_settings.FIELDS:
            on_ = self.query_one(f"#field-{field}", Checkbox).value
            if on_ != (field in s.fields):
                out[f"field_{field}"] = "1" if on_ else "0"
        before = {c["courseid"]: c["enabled"] for c in self.detail["courses"]}
        after = {cid: box.value for cid, box in self.course_boxes.items()}
        out.update(companies.course_switch_assignments(s.course_rule, before, after))
        return out

    def _update_title(self) -> None:
        if self.detail is None:
            return
        pending = len(self.assignments())
        title = fmt.plain(f"Company {self.detail['id']} · {self.detail['name']}")
        if pending:
            title.append(f"   {pending} unsaved change{'s' if pending != 1 else ''}", style="bold")
            title.append(" (ctrl+s saves)")
        self.query_one("#company-title", Static).update(title)

    def set_message(self, text: str, error: bool = False) -> None:
        self.message = text
        widget = self.query_one("#company-message", Static)
        widget.update(fmt.plain(text))
        widget.set_class(error, "-error")
        widget.set_class(bool(text), "-shown")

    @on(Checkbox.Changed)
    @on(Input.Changed)
    @on(Select.Changed)
    def _edited(self) -> None:
        self._update_title()

    # --- actions --------------------------------------------------------------------------------
    @on(DataTable.RowSelected, "#companies-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.open_company(int(event.row_key.value))

    def action_open_company(self) -> None:
        key = current_key(self.query_one("#companies-table", DataTable))
        if key is not None:
            self.open_company(int(key))

    def open_company(self, companyid: int) -> None:
        self.selected = companyid
        self.detail = None
        self.course_boxes = {}
        self.query_one("#company-courses", Vertical).remove_children()
        self.set_message("")
        self.query_one("#company-title", Static).update(f"Company {companyid} · loading…")
        self.query_one("#companies-switcher", ContentSwitcher).current = "companies-detail"
        self.query_one("#companies-detail", VerticalScroll).scroll_home(animate=False)
        self.query_one("#set-sync_mode", Select).focus()
        self.refresh_bindings()
        self.request_refresh()

    def action_back(self) -> None:
        if self.detail is not None and self.assignments():

            def answer(discard: bool | None) -> None:
                if discard:
                    self._show_list()

            self.app.push_screen(
                ConfirmDialog(
                    "Unsaved changes",
                    "Leave this company and discard the changes you have not saved?",
                    "Discard",
                ),
                answer,
            )
            return
        self._show_list()

    def _show_list(self) -> None:
        self.selected = None
        self.detail = None
        self.query_one("#companies-switcher", ContentSwitcher).current = "companies-list"
        self.query_one("#companies-table", DataTable).focus()
        self.refresh_bindings()

    def action_revert(self) -> None:
        if self.detail is None:
            return
        had = len(self.assignments())
        self.populate(self.detail)
        # Course switches were reused: put their values back explicitly.
        for c in self.detail["courses"]:
            box = self.course_boxes.get(c["courseid"])
            if box is not None:
                box.value = c["enabled"]
        self.set_message(
            f"Discarded {had} unsaved change{'s' if had != 1 else ''}." if had else "Nothing to revert."
        )
        self._update_title()

    def action_save(self) -> None:
        if self.detail is None or self.saving:
            return
        assignments = self.assignments()
        if not assignments:
            self.set_message("Nothing to save: no setting was changed.")
            return
        companyid = self.detail["id"]
        self.saving = True
        self.set_message(f"Saving {len(assignments)} change{'s' if len(assignments) != 1 else ''}…")
        self.start_action("save", lambda: self._save(companyid, assignments), failed="Not saved")

    def _save(self, companyid: int, assignments: dict[str, str]) -> Outcome:
        ctx = self.ctx
        try:
            changes = company_settings.set_values(companyid, assignments, ctx.actor, ctx.now())
        except company_settings.SettingError as exc:
            raise ActionRefused(f"Not saved: {short_error(str(exc))}") from None
        shown = ", ".join(
            f"{k} {'default' if o is None else o}→{'default' if n is None else n}" for k, o, n in changes
        )
        text = (
            f"Saved {len(changes)} change{'s' if len(changes) != 1 else ''}: {shown}"
            if changes
            else "Saved: nothing differed from the stored values."
        )
        return Outcome(text, data=companyid)

    def action_done(self, message: ActionDone) -> None:
        self.saving = False
        if not message.ok:
            self.set_message(message.text, error=True)
            self.notify(
                message.text.removeprefix("Not saved: "), title="Not saved", severity="error", timeout=10
            )
            return
        companyid = message.data
        self.set_message(message.text)
        self.notify(message.text, title=f"Company {companyid}", timeout=5)
        if self.detail is not None and self.detail["id"] == companyid:
            self.detail = None  # reload the baseline from the database
            self.selected = companyid
        self.request_refresh()
