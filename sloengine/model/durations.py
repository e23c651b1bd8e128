"""Durations as Prometheus writes them (``1h30m``, ``28d``, ``2w``) and as seconds.

Windows are whole seconds everywhere in the model so that arithmetic on them is
exact; only latency thresholds need sub-second values (``250ms``), which is why
:func:`parse_seconds_float` exists beside :func:`parse_duration`.
"""

from __future__ import annotations

import re
from functools import lru_cache

_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "y": 365 * 86400,
}
#: Prometheus's own duration grammar (``model.ParseDuration``): whole numbers, each unit at most once, largest
#: first. ``1.5h``, ``5m1h`` and ``1h1h`` are refused, as PromQL refuses them in a range or a ``for``.
_ORDER = ("y", "w", "d", "h", "m", "s", "ms")
_GRAMMAR = re.compile("^" + "".join(rf"(?:(\d+){unit})?" for unit in _ORDER) + "$")

DURATION_HINT = ("write a Prometheus duration such as 5m, 1h30m, 28d or 2w: whole numbers, units y, w, d, h, m, s, ms "
                 "each at most once, largest first")


class DurationError(ValueError):
    """A duration string that Prometheus would not accept."""


def parse_seconds_float(text: str) -> float:
    """Parse a duration into (possibly fractional) seconds."""
    if not isinstance(text, str):
        raise DurationError(f"expected a duration string, got {type(text).__name__} {text!r}")
    return _parse_text(text)


@lru_cache(maxsize=4096)
def _parse_text(text: str) -> float:
    cleaned = text.strip()
    found = _GRAMMAR.match(cleaned) if cleaned else None
    if found is None:
        raise DurationError(f"{text!r} is not a Prometheus duration (whole numbers, each unit once, largest first, "
                            "as in 1h30m)")
    total = 0.0
    for number, unit in zip(found.groups(), _ORDER):
        if number is not None:
            total += int(number) * _UNITS[unit]
    if total <= 0:
        raise DurationError(f"{text!r} is zero; a window must be longer than nothing")
    return total


def parse_duration(text: str) -> int:
    """Parse a duration into whole seconds, refusing fractions of a second."""
    seconds = parse_seconds_float(text)
    if abs(seconds - round(seconds)) > 1e-9:
        raise DurationError(f"{text!r} is not a whole number of seconds; windows are counted in seconds")
    return int(round(seconds))


@lru_cache(maxsize=4096)
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
