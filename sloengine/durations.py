"""Durations as Prometheus writes them (``1h30m``, ``28d``, ``2w``) and as seconds.

Windows are whole seconds everywhere in the model so that arithmetic on them is
exact; only latency thresholds need sub-second values (``250ms``), which is why
:func:`parse_seconds_float` exists beside :func:`parse_duration`.
"""

from __future__ import annotations

import re

_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "y": 365 * 86400,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y))+$")

DURATION_HINT = "write a Prometheus duration such as 5m, 1h30m, 28d or 2w (units ms, s, m, h, d, w, y)"


class DurationError(ValueError):
    """A duration string that Prometheus would not accept."""


def parse_seconds_float(text: str) -> float:
    """Parse a duration into (possibly fractional) seconds."""
    if not isinstance(text, str):
        raise DurationError(f"expected a duration string, got {type(text).__name__} {text!r}")
    cleaned = text.strip()
    if not cleaned or not _WHOLE.match(cleaned):
        raise DurationError(f"{text!r} is not a duration")
    total = 0.0
    for number, unit in _PART.findall(cleaned):
        total += float(number) * _UNITS[unit]
    if total <= 0:
        raise DurationError(f"{text!r} is zero; a window must be longer than nothing")
    return total


def parse_duration(text: str) -> int:
    """Parse a duration into whole seconds, refusing fractions of a second."""
    seconds = parse_seconds_float(text)
    if abs(seconds - round(seconds)) > 1e-9:
        raise DurationError(f"{text!r} is not a whole number of seconds; windows are counted in seconds")
    return int(round(seconds))


def format_duration(seconds: int) -> str:
    """Render seconds the way Prometheus prints them: largest units first (``1d2h``).

    Weeks and years are not used so that a window reads the same in rule names
    (``28d`` rather than ``4w``), which keeps generated names predictable.
    """
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)
