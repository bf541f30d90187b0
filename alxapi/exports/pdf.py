"""A report as a PDF (SPEC §8.7), written with fpdf2 (a maintained, pure-Python PDF writer).

A4, the title, company and generation time on top, a table with alternating row shading whose
header repeats on every page, page numbers in the footer, and for reports with a chart (``trends``)
a bar chart drawn before the table. Text is set in DejaVu Sans when the system has it (any
script); without it, in the PDF core font Helvetica, which holds Latin-1 only: other characters
then print as ``?`` (Debian/Ubuntu: ``apt-get install fonts-dejavu-core``).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

UNICODE_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
)
ROWS_PER_TABLE = 400  # fpdf2 lays a table out when it closes: in pieces, memory stays flat
SHADE = (235, 240, 248)
HEADER_FILL = (52, 84, 122)


def unicode_font() -> str | None:
    for path in UNICODE_FONTS:
        regular = Path(path)
        if regular.is_file() and regular.with_name("DejaVuSans-Bold.ttf").is_file():
            return str(regular)
    return None


def write_pdf(
    stream: IO[bytes],
    *,
    title: str,
    lines: Sequence[str],
    headings: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric: Sequence[bool],
    chart: tuple[str, list[str], list[tuple[str, list[int]]]] | None = None,
) -> int:
    """Write the PDF to ``stream``; return the number of table rows. ``rows`` are display strings;
    ``numeric`` right-aligns columns; ``chart`` is ``(caption, labels, [(series name, values), …])``."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    logging.getLogger("fontTools").setLevel(logging.WARNING)  # its subsetter logs every glyph at INFO

    font_file = unicode_font()

    class Document(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font(family, size=8)
            self.set_text_color(110)
            self.cell(0, 8, f"{title} · page {self.page_no()} of {{nb}}", align="C")

    landscape = len(headings) > 8
    pdf = Document(orientation="L" if landscape else "P", format="A4")
    if font_file:
        pdf.add_font("body", "", font_file)
        pdf.add_font("body", "B", str(Path(font_file).with_name("DejaVuSans-Bold.ttf")))
        family = "body"
    else:
        family = "Helvetica"

    def text(value: str) -> str:
        return value if font_file else value.encode("latin-1", "replace").decode("latin-1")

    pdf.set_title(text(title))
    pdf.set_creator("ALX Report")
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_page()
    pdf.set_font(family, "B", 15)
    pdf.cell(0, 9, text(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=9)
    pdf.set_text_color(80)
    for line in lines:
        pdf.cell(0, 5, text(line), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.ln(3)
    if chart:
        _bar_chart(pdf, family, *chart)

    size = 7 if landscape else 8
    pdf.set_font(family, size=size)
    pdf.set_fill_color(*SHADE)  # fpdf2's row shading draws with the current fill colour
    rows = iter(rows)
    sample = list(itertools.islice(rows, 200))
    widths = _widths(pdf, [[text(h) for h in headings], *([text(v) for v in r] for r in sample)])
    heading = FontFace(emphasis="BOLD", color=255, fill_color=HEADER_FILL)
    count = 0
    batch: list[Sequence[str]] = []

    def flush() -> None:
        with pdf.table(
            col_widths=widths,
            headings_style=heading,
            cell_fill_color=SHADE,
            cell_fill_mode="ROWS",
            repeat_headings=1,
            line_height=size * 0.55,
            text_align=["RIGHT" if n else "LEFT" for n in numeric],
            borders_layout="HORIZONTAL_LINES",
        ) as table:
            table.row([text(h) for h in headings])
            for values in batch:
                table.row([text(v) for v in values])
        batch.clear()

    for values in itertools.chain(sample, rows):
        batch.append(values)
        count += 1
        if len(batch) == ROWS_PER_TABLE:
            flush()
    if batch or not count:
        flush()
    stream.write(pdf.output())
    return count


def _widths(pdf, lines: list[list[str]]) -> list[float]:
    """Column widths from the headings' longest words (headings wrap at spaces) and the sampled
    values, capped at 60 mm, then scaled to the page's width."""
    padding = 2.5
    natural = []
    for i in range(len(lines[0])):
        words = max((pdf.get_string_width(w) for w in lines[0][i].split()), default=0.0)
        values = max((pdf.get_string_width(line[i]) for line in lines[1:]), default=0.0)
        natural.append(min(max(words * 1.1, values), 60.0) + padding)
    scale = pdf.epw / sum(natural)
    return [w * scale for w in natural]


def _bar_chart(
    pdf, family: str, caption: str, labels: list[str], series: list[tuple[str, list[int]]]
) -> None:
    """Grouped bars, one group per label, with a legend and the largest value on the axis."""
    colours = [(52, 84, 122), (230, 145, 56), (90, 160, 90)]
    height, left = 55.0, pdf.l_margin + 8
    width = pdf.epw - 8
    top = pdf.get_y() + 6
    pdf.set_font(family, "B", 10)
    pdf.cell(0, 6, caption, new_x="LMARGIN", new_y="NEXT")
    peak = max([1, *(v for _, values in series for v in values)])
    slot = width / max(len(labels), 1)
    bar = slot * 0.8 / max(len(series), 1)
    base = top + height
    pdf.set_draw_color(150)
    pdf.line(left, base, left + width, base)
    pdf.set_font(family, size=7)
    pdf.set_xy(pdf.l_margin, top - 2)
    pdf.cell(8, 4, str(peak))
    for i, label in enumerate(labels):
        for j, (_name, values) in enumerate(series):
            h = height * values[i] / peak
            pdf.set_fill_color(*colours[j % len(colours)])
            if h > 0:
                pdf.rect(left + i * slot + slot * 0.1 + j * bar, base - h, bar, h, style="F")
        pdf.set_xy(left + i * slot, base + 1)
        pdf.cell(slot, 4, label, align="C")
    pdf.set_xy(left, base + 6)
    for j, (name, _values) in enumerate(series):
        pdf.set_fill_color(*colours[j % len(colours)])
        pdf.rect(pdf.get_x(), pdf.get_y() + 1, 3, 3, style="F")
        pdf.set_x(pdf.get_x() + 4)
        pdf.cell(30, 5, name)
    pdf.set_y(base + 14)
