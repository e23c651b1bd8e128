"""Text from outside (spec names, customer names, a server's error message) made safe inside Markdown.

A report in Markdown is pasted into tickets, wikis and pull requests, where the text is rendered: a ``|`` in a
customer's name splits a table cell, a newline ends the row, and ``*``, ``_``, backticks, brackets or angle
brackets turn a name into emphasis, code, a link or raw HTML. :func:`text` backslash-escapes every character
Markdown gives a meaning to inline (CommonMark lets any ASCII punctuation be escaped so) and writes control
characters as visible escapes (:func:`.terminal.printable`), so what is shown is what the spec or the server said.
"""

from __future__ import annotations

import re

from .terminal import printable

#: What CommonMark and GitHub's tables read as syntax inside a line of text.
_SPECIAL = re.compile(r"([\\|`*_<>\[\]!#~])")


def text(value: str) -> str:
    """``value`` for a Markdown table cell or line: inline syntax escaped, no control character left raw."""
    return printable(_SPECIAL.sub(r"\\\1", value))
