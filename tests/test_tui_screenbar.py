"""Every screen and its key are visible on every screen at 80×24 (the footer alone was cut after
"2"), the current screen is marked, and a remapped key shows as remapped."""

from __future__ import annotations

import pytest

from alxtui.app import SCREENS, SHORT_LABELS
from alxtui.widgets.screenbar import ScreenBar

from .support.tui_helpers import build_console_site
from .support.tui_pilot import open_screen


@pytest.fixture
def site(tmp_path):
    # What is drawn does not depend on the database: SQLite only.
    return build_console_site(f"sqlite:///{tmp_path / 'console.sqlite3'}", history=False)


def bar_of(app):
    return app.screen.query_one(ScreenBar).content


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_every_screen_key_is_on_screen_and_the_current_one_is_marked(site, size):
    app = site.app()
    async with app.run_test(size=size) as pilot:
        for name, _screen, key, label in SCREENS:
            await open_screen(pilot, key)
            bar = bar_of(app)
            # At 120 columns every label in full; at 80 the others short, so that nine fit.
            for _n, _s, k, text in SCREENS:
                shown = text if size[0] >= 120 or k == key else SHORT_LABELS.get(text, text)
                assert f" {k} {shown} " in bar.plain + " ", (bar.plain, shown)
            assert bar.cell_len <= size[0]  # fits: nothing cut off at 80 columns
            marked = [
                bar.plain[span.start : span.end].strip() for span in bar.spans if "reverse" in str(span.style)
            ]
            assert marked == [f"{key} {label}"], (name, marked)


async def test_a_remapped_screen_key_is_shown_as_remapped(site):
    site.config = site.config.replace(keymap={"screen.diagnostics": "f7"})
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "f7")
        bar = bar_of(app)
        assert " f7 Diagnostics " in bar.plain + " "
        assert [bar.plain[s.start : s.end].strip() for s in bar.spans if "reverse" in str(s.style)] == [
            "f7 Diagnostics"
        ]
