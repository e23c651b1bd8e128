"""Text from outside (a server's error message, a label value, a spec's name) made safe to print.

A terminal obeys the control characters it is sent: an escape sequence in a
Prometheus error message or a label value can recolour the rest of a report,
move the cursor to overwrite a row, retitle the window or, on some terminals,
answer back with keystrokes; a carriage return or newline inside a table cell
can fake a row. So every human-readable rendering passes such text through
:func:`printable`, which writes each control character as a visible ``\\u00XX``
escape. The escapes are JSON's own, so a JSON document's text can be passed
through as well and stays valid JSON meaning the same thing.
"""

from __future__ import annotations

import re

#: C0 and C1 controls, DEL, and the Unicode marks that reorder the text around them (bidirectional
#: overrides and isolates, which can make a line read differently from what it holds).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def printable(text: str, keep: str = "") -> str:
    """``text`` with every control character (but those in ``keep``, such as ``"\\n"`` for a multi-line
    block) written as a ``\\u00XX`` escape; text without one is returned as it is."""
    if not _CONTROL.search(text):
        return text
    if not keep:
        return _CONTROL.sub(_escape, text)
    return _CONTROL.sub(lambda m: m.group() if m.group() in keep else _escape(m), text)
