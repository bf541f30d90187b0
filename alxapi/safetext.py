"""Text from Moodle made safe for the place it is written to: a spreadsheet, an XML document, a terminal.

Learner, course and company names are typed by users of the Moodle site, so the product treats them as
hostile wherever they leave it. One definition per destination, used by every writer:

- ``guard_formula`` - CSV and spreadsheet cells: a value that a spreadsheet would read as a formula
  (``=``, ``+``, ``-``, ``@``, tab, carriage return first) gets a leading ``'`` (OWASP's advice).
- ``xml_text`` - characters XML 1.0 forbids are dropped: the Moodle endpoint's XML, and XLSX cells
  (XLSX is XML), so one name never aborts a whole export or makes a page unparseable.
- ``terminal_text`` - C0/C1 control characters (ESC, OSC, BEL...) removed before text reaches an
  operator's terminal; newlines and tabs become spaces.
"""

from __future__ import annotations

import re

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# XML 1.0 allows #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# C0 controls, DEL and the C1 range (U+0080-U+009F, where 8-bit CSI and OSC live).
_TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_TERMINAL_SPACES = re.compile("[\t\n]")


def guard_formula(value: str) -> str:
    """``value`` with a leading ``'`` when a spreadsheet would otherwise evaluate it."""
    if value and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def xml_text(value: str) -> str:
    """``value`` without the characters XML 1.0 forbids (escaping is the writer's job)."""
    return _XML_FORBIDDEN.sub("", value)


def terminal_text(value: str) -> str:
    """``value`` with nothing a terminal would interpret: controls removed, tabs/newlines as spaces."""
    return _TERMINAL_CONTROLS.sub("", _TERMINAL_SPACES.sub(" ", value))
