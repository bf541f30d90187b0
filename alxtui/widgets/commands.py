"""A command palette provider listing the current screen's key bindings (ctrl+p), so every action
shown in the footer can also be found and run by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class ScreenBindingsProvider(Provider):
    """The active, enabled bindings of the screen the palette was opened on (footer order)."""

    def _commands(self) -> list[tuple[str, str, object]]:
        screen = self.screen
        seen: set[str] = set()
        commands = []
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.description or not active.enabled or binding.system:
                continue
            title = binding.description
            if title in seen:
                continue
            seen.add(title)
            shown = binding.key_display or self.app.get_key_display(binding)
            help_text = f"key {shown}" + (f" · {binding.id}" if binding.id else "")
            commands.append((title, help_text, partial(self.app.run_action, binding.action, active.node)))
        return commands

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
