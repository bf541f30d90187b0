"""Names typed by a Moodle site's users reach the operator's screen as text, never as markup or
terminal control sequences: `[/]` must not crash a screen, `[link=…]` must not plant a link, and
ESC/OSC sequences (clipboard writes, window titles, screen clears) must not reach the terminal."""

from __future__ import annotations

from textual.widgets import DataTable

from alxapi.access import tokens as token_service
from models.db import quote
from models.plugin import Alert, Reporting

from .support.tui_helpers import CONSOLE_NOW, build_console_site
from .support.tui_pilot import open_screen, plain, settle

OSC52 = "\x1b]52;c;aGVsbG8=\x07"  # "write 'hello' to the clipboard"
HOSTILE_COMPANY = f"Evil [/] Co {OSC52}"
HOSTILE_USER = "[link=http://evil.example]Ann[/link]"
HOSTILE_COURSE = "Safety \x1b[2J\x1b]0;pwned\x07 [b]101"


def poison(site) -> None:
    db = site.db
    p = db.param
    with db.connection_context():
        db.execute_sql(f"UPDATE {quote('mdl_company', db)} SET name = {p} WHERE id = 1", [HOSTILE_COMPANY])
        first = Reporting.select().where(Reporting.companyid == 1).order_by(Reporting.id).first()
        db.execute_sql(
            f"UPDATE {quote('mdl_course', db)} SET fullname = {p} WHERE id = {p}",
            [HOSTILE_COURSE, first.courseid],
        )
        Reporting.update(firstname=HOSTILE_USER, coursename=HOSTILE_COURSE).where(
            Reporting.id == first.id
        ).execute()
        Alert.insert(
            alert_type="sync_failed",
            severity="high",
            message=f"sync failed: {HOSTILE_COURSE} [/]",
            timecreated=CONSOLE_NOW - 60,
            timelastseen=CONSOLE_NOW - 60,
            subject="sync",
        ).execute()
        token_service.create_token(1, name=f"bi {OSC52}[/]", actor="setup", now=CONSOLE_NOW)


def table_text(app) -> str:
    out = []
    for table in app.screen.query(DataTable):
        for row in table.ordered_rows:
            out.extend(plain(v) for v in table.get_row(row.key))
    return "\n".join(out)


async def test_hostile_names_are_shown_as_plain_text_on_every_screen(db_url):
    site = build_console_site(db_url)
    poison(site)
    app = site.app()
    shown = []
    async with app.run_test(size=(120, 40)) as pilot:
        for key in "1234567":
            await open_screen(pilot, key)
            shown.append(table_text(app))
            shown.append(app.export_screenshot())
        await open_screen(pilot, "2")
        await pilot.press("enter")  # the company's detail: its title and course switches
        await settle(pilot)
        shown.append(app.export_screenshot())
    everything = "\n".join(shown)
    assert "\x1b" not in everything and "\x07" not in everything and "\x9b" not in everything
    assert (
        "evil.example" not in everything.split("[link=")[0]
        or "[link=http://evil.example]Ann[/link]" in everything
    )
    assert "Evil [/] Co" in everything  # the name, verbatim, as text
    assert "[link=http://evil.example]Ann[/link]" in everything  # not a link: the characters themselves
    assert 'href="http://evil.example' not in everything
