"""What every spec reader shares: a diagnostics sink tied to one document, and its result.

Readers never raise for a user's mistake; they report through :class:`Context`
with the key path of the offending field, and the context turns that path into
a file position. A reader may skip one bad SLO and keep reading the rest, so a
file with three mistakes reports all three at once.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...model.diagnostics import Diagnostic, Level, Position, field_path
from ...model.promql import LABEL_NAME
from ...model.slo import SLO, Service
from ..yamlsource import Document, KeyPath


@dataclass(frozen=True)
class ImportResult:
    services: tuple[Service, ...] = ()
    slos: tuple[SLO, ...] = ()


@dataclass
class Context:
    """Collects diagnostics for one document; ``prefix`` locates a sub-document."""

    doc: Document
    diagnostics: list[Diagnostic] = field(default_factory=list)
    prefix: KeyPath = ()

    def _add(self, level: Level, path: KeyPath, message: str, hint: str, key: bool) -> None:
        full = self.prefix + tuple(path)
        self.diagnostics.append(
            Diagnostic(level, self.doc.position(full, key=key), field_path(full), message, hint)
        )

    def error(self, path: KeyPath, message: str, hint: str = "", *, key: bool = False) -> None:
        self._add(Level.ERROR, path, message, hint, key)

    def warn(self, path: KeyPath, message: str, hint: str = "", *, key: bool = False) -> None:
        self._add(Level.WARNING, path, message, hint, key)

    def position(self, path: KeyPath = ()) -> Position:
        return self.doc.position(self.prefix + tuple(path))

    @property
    def has_errors(self) -> bool:
        return any(d.level is Level.ERROR for d in self.diagnostics)

    @property
    def error_count(self) -> int:
        """Errors so far; readers compare it before and after an object to know whether to skip it."""
        return sum(1 for d in self.diagnostics if d.level is Level.ERROR)

    def unknown_keys(self, path: KeyPath, mapping: object, known: Iterable[str], *, warn: bool = False) -> None:
        """Report keys of ``mapping`` not in ``known``, suggesting the closest known key."""
        if not isinstance(mapping, dict):
            return
        known = sorted(known)
        for key in mapping:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
            report = self.warn if warn else self.error
            report(tuple(path) + (key,), f"unknown key {key!r}", hint, key=True)


#: Fields of a Kubernetes object's metadata (ObjectMeta) as they appear in YAML.
K8S_METADATA_KEYS: frozenset[str] = frozenset({
    "name", "namespace", "labels", "annotations", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generateName",
    "selfLink", "ownerReferences", "finalizers", "managedFields",
})


# ---- field readers shared by the peer formats' readers ----


def required_string(ctx: Context, path: KeyPath, mapping: Mapping[str, Any], key: str, hint: str) -> str | None:
    value = mapping.get(key)
    if key not in mapping or value is None:
        ctx.error(path, f"{key} is required", hint)
        return None
    if not isinstance(value, str) or not value.strip():
        ctx.error(path, f"{key} must be a non-empty string, got {value!r}", hint)
        return None
    return value


def optional_string(ctx: Context, path: KeyPath, value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    ctx.error(path, f"expected a string, got {type(value).__name__} {value!r}", "quote the value")
    return None


def yaml_scalar_text(value: object) -> str | None:
    """How a YAML scalar reads as a string (``true``, ``0.2``), or None for mappings and lists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def string_map(ctx: Context, path: KeyPath, value: object, what: str) -> dict[str, str] | None:
    """A mapping of Prometheus label (or annotation) names to string values; None after reporting a problem."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        ctx.error(path, f"{what}s must be a mapping of names to values", f"write one {what} per line as name: value")
        return None
    out: dict[str, str] = {}
    ok = True
    for key, raw in value.items():
        if not LABEL_NAME.match(key):
            ctx.error(path + (key,), f"{key!r} is not a valid Prometheus {what} name",
                      "use letters, digits and _, not starting with a digit", key=True)
            ok = False
            continue
        text = yaml_scalar_text(raw)
        if text is None:
            ctx.error(path + (key,), f"{what} {key!r} has no plain value",
                      'give a string value (quote an empty one as "")')
            ok = False
            continue
        out[key] = text
    return out if ok else None


def objective_percent(ctx: Context, path: KeyPath, value: object, *, present: bool,
                      field: str = "objective") -> float | None:
    """Check an objective given as a percentage; reports and returns None when unusable."""
    example = "e.g. 99.9 for 99.9% of events good"
    if not present or value is None:
        ctx.error(path, f"{field} is required", f"give the target percentage, {example}")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ctx.error(path, f"{field} must be a number, got {value!r}", f"give a percentage, {example}")
        return None
    number = float(value)
    return percent_in_range(ctx, path, number, field)


def percent_in_range(ctx: Context, path: KeyPath, number: float, field: str) -> float | None:
    if not math.isfinite(number) or number <= 0 or number > 100:
        ctx.error(path, f"{field} {number:g} is out of range: it is a percentage above 0 and below 100",
                  "give a percentage strictly between 0 and 100, e.g. 99.9")
        return None
    if number == 100:
        ctx.error(path, f"{field} 100 leaves no error budget, so every failure would break the SLO",
                  "give a percentage below 100, e.g. 99.99")
        return None
    if number <= 1:
        ctx.warn(path, f"{field} {number:g} is read as {number:g}%, not as a fraction",
                 f"if you meant {number * 100:g}%, write {number * 100:g}")
    return number
