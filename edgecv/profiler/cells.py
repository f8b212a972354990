"""Text from rows made safe for each report format. Model names, file names and error messages come from files
and folders anyone could have made, so every report writes them through one of these, never raw.

- ``csv_cell``: a spreadsheet runs a cell that starts with ``= + - @``, a tab or a carriage return as a formula
  (CSV injection): such text gets a leading ``'``, as OWASP advises. Numbers are left as numbers.
- ``md_cell``: one line of Markdown table cell: HTML-escaped (a renderer would run ``<img onerror>``), ``|``
  escaped, newlines and other control characters made spaces.
- ``xml_text``: characters XML 1.0 cannot hold (most C0 controls) replaced, so a JUnit file stays well-formed.
- ``report_link``: a link in report.html only when it is a relative path to a page edgecv writes under the report
  folder (``layers/NAME.html``); ``javascript:``, ``data:``, absolute and ``..`` links are dropped.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import quote

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAKS = re.compile(r"[\r\n\x85\u2028\u2029]+")
_LAYERS_PAGE = re.compile(r"layers/[^/\\\x00-\x1f\x7f]+\.html")


def csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def md_cell(value: Any) -> str:
    text = _CONTROL.sub(" ", _LINE_BREAKS.sub(" ", str(value)))
    return html.escape(text, quote=False).replace("|", "\\|")


def xml_text(value: Any) -> str:
    text = _CONTROL.sub("\ufffd", str(value))
    return "".join(c if c not in "\ufffe\uffff" and not 0xD800 <= ord(c) <= 0xDFFF else "\ufffd" for c in text)


def report_link(value: Any) -> str | None:
    """The href for a link a row carries, or None when it is not one edgecv writes."""
    if not isinstance(value, str) or not _LAYERS_PAGE.fullmatch(value) or ".." in value.split("/"):
        return None
    return quote(value, safe="/")


__all__ = ["csv_cell", "md_cell", "report_link", "xml_text"]
