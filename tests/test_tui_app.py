"""The console shell: every screen opens by its number key, pause/refresh work, keys can be remapped."""

from __future__ import annotations

import pytest

from alxapi.config import load_config
from alxtui.app import SCREENS
from alxtui.screens.base import LiveScreen

from .support.tui_helpers import build_console_site


@pytest.fixture
def site(db_url):
    return build_console_site(db_url)


async def test_number_keys_open_every_screen(site):
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        assert type(app.screen).__name__ == "ControlCenterScreen"
        for _name, screen_class, key, _label in SCREENS:
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, screen_class)


async def test_pause_stops_and_resumes_the_refresh_timer(site):
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, LiveScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen._timer is not None
        await pilot.press("p")
        assert app.paused and screen._timer is None
        await pilot.press("p")
        assert not app.paused and screen._timer is not None


async def test_keymap_from_config_remaps_a_binding(db_url, tmp_path):
    site = build_console_site(db_url)
    config_file = tmp_path / "alx.toml"
    config_file.write_text('[keymap]\n"screen.tokens" = "f3"\n')
    site.config = load_config(flags={"database_url": db_url}, env={}, config_path=config_file)
    app = site.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        assert type(app.screen).__name__ == "TokensScreen"
