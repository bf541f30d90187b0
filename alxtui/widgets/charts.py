"""Small bar charts drawn with block characters, sized to the widget (fits 80×24).

``BarChart`` draws one vertical bar per value with eighth-block tops, an optional label row under
the bars and a scale note on the first line. Bars are coloured through component classes
(``-ok``, ``-warning``, ``-error`` levels) so the theme, and NO_COLOR, decide the colours.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget

EIGHTHS = " ▁▂▃▄▅▆▇█"
LEVELS = ("ok", "warning", "error", "none")


class BarChart(Widget):
    """``chart.set_data(values, labels, levels=..., scale="max 120 ms")``; ``None`` values have no bar."""

    COMPONENT_CLASSES = {
        "barchart--ok",
        "barchart--warning",
        "barchart--error",
        "barchart--none",
        "barchart--label",
        "barchart--scale",
    }
    DEFAULT_CSS = """
    BarChart { height: 6; padding: 0 1; }
    BarChart > .barchart--ok { color: $success; }
    BarChart > .barchart--warning { color: $warning; }
    BarChart > .barchart--error { color: $error; }
    BarChart > .barchart--none { color: $text-muted; }
    BarChart > .barchart--label { color: $text-muted; }
    BarChart > .barchart--scale { color: $text-muted; text-style: italic; }
    """

    def __init__(self, *, max_value: float | None = None, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.max_value = max_value
        self.values: list[float | None] = []
        self.labels: list[str] = []
        self.levels: list[str] = []
        self.scale = ""

    def set_data(
        self,
        values: Sequence[float | None],
        labels: Sequence[str] = (),
        *,
        levels: Sequence[str] | None = None,
        scale: str = "",
    ) -> None:
        self.values = list(values)
        self.labels = list(labels)
        self.levels = list(levels) if levels is not None else ["ok"] * len(self.values)
        self.scale = scale
        self.refresh()

    def render(self) -> Text:
        width, height = self.content_size.width, self.content_size.height
        n = len(self.values)
        out = Text(no_wrap=True, overflow="crop")
        if not n or width < n or height < 2:
            out.append(self.scale or "no data", style=self.get_component_rich_style("barchart--scale"))
            return out
        has_labels = any(self.labels)
        bar_rows = height - 1 - (1 if has_labels else 0)  # first line: the scale note
        slot = max(1, width // n)
        bar_width = max(1, slot - 1) if slot > 2 else 1
        pad = slot - bar_width
        top = self.max_value if self.max_value is not None else max((v for v in self.values if v), default=0)
        top = top or 1
        out.append(self.scale[:width], style=self.get_component_rich_style("barchart--scale"))
        heights = [None if v is None else max(0.0, min(1.0, v / top)) * bar_rows * 8 for v in self.values]
        for row in range(bar_rows - 1, -1, -1):
            out.append("\n")
            for i, h in enumerate(heights):
                level = self.levels[i] if i < len(self.levels) else "ok"
                style = self.get_component_rich_style(f"barchart--{level if level in LEVELS else 'ok'}")
                if h is None:
                    cell = " "
                else:
                    eighths = int(round(h)) - row * 8
                    # A value above zero always shows at least a sliver on the bottom row.
                    if row == 0 and eighths <= 0 and h > 0:
                        eighths = 1
                    cell = EIGHTHS[max(0, min(8, eighths))]
                out.append(" " * pad)
                out.append(cell * bar_width, style=style)
        if has_labels:
            out.append("\n")
            label_style = self.get_component_rich_style("barchart--label")
            line = ""
            for i, label in enumerate(self.labels[:n]):
                start = i * slot + pad
                if label and len(line) <= start:
                    line = line.ljust(start) + label
            out.append(line[:width], style=label_style)
        return out
