"""The one place that makes Moodle text safe for spreadsheets, XML and terminals."""

from __future__ import annotations

import xml.dom.minidom
from xml.sax.saxutils import escape

from hypothesis import given
from hypothesis import strategies as st

from alxapi.safetext import guard_formula, terminal_text, xml_text


def test_values_a_spreadsheet_would_evaluate_get_a_quote():
    for value in ('=WEBSERVICE("http://x")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert guard_formula(value) == "'" + value
    for value in ("", "Ann", "x=1", "'=quoted", " =1"):
        assert guard_formula(value) == value


def test_xml_text_drops_only_what_xml_forbids():
    assert xml_text("=A\x01B\x0b\ufffe") == "=AB"
    assert xml_text("tab\tand\nnewline\r") == "tab\tand\nnewline\r"


@given(st.text())
def test_any_text_made_xml_safe_parses(value):
    document = f"<a>{escape(xml_text(value))}</a>"
    parsed = xml.dom.minidom.parseString(document.encode("utf-8", "surrogatepass"))
    assert parsed.documentElement.tagName == "a"


@given(st.text())
def test_terminal_text_holds_no_control_character(value):
    cleaned = terminal_text(value)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in cleaned)


def test_terminal_text_removes_escape_sequences_introducers():
    assert terminal_text("Ann\x1b]52;c;aGk=\x07 \x9b31m") == "Ann]52;c;aGk= 31m"
