"""Errors and warnings about a user's spec, each tied to a place in a file.

A user's mistake is never a traceback: loaders collect :class:`Diagnostic`
values and the CLI prints them as ``file:line:col: error: field: message (fix)``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from .terminal import printable


class Level(enum.Enum):
    """How serious a diagnostic is; errors make ``validate`` exit non-zero."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Position:
    """A place in a source file (1-based line and column, as editors count)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file


@dataclass(frozen=True)
class Diagnostic:
    """One finding: where, which field, what is wrong and how to fix it."""

    level: Level
    position: Position
    field: str
    message: str
    hint: str = ""

    def render(self) -> str:
        """One line for a terminal: control characters escaped, an echoed value of any length elided."""
        where = f"{self.position}: {self.level.value}"
        field = f" {_short(self.field, 200)}:" if self.field else ""
        hint = f" (fix: {_short(self.hint, 400)})" if self.hint else ""
        return printable(f"{where}:{field} {_short(self.message, 600)}{hint}")

    def sort_key(self) -> tuple:
        return (self.position.file, self.position.line, self.position.column, self.field, self.message)


class SpecError(Exception):
    """Raised when a spec cannot be turned into a model; carries every diagnostic found."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = tuple(sorted(diagnostics, key=Diagnostic.sort_key))
        super().__init__("\n".join(d.render() for d in self.diagnostics))

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Crosses process boundaries (parallel loading) with its diagnostics, not just their text.
        return (SpecError, (self.diagnostics,))


def _short(text: str, limit: int) -> str:
    """``text`` at most about ``limit`` characters: a long echoed value keeps its start and end."""
    if len(text) <= limit:
        return text
    keep = limit // 2
    return f"{text[:keep]}...({len(text) - 2 * keep:,} characters)...{text[-keep:]}"


def field_path(path: Iterable[object]) -> str:
    """Render a key path as ``slos[0].sli.ratio.total``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
