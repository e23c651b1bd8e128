"""Calendar periods (week, month, quarter) in an IANA time zone, for Python and for PromQL.

PromQL's date functions work in UTC only. To find where the current month
began in Europe/Berlin we record the zone's UTC offset as a series built from
its transitions (``time() >= bool T`` steps), shift ``time()`` into local wall
time, cut it to the period start with ``day_of_month``/``hour``/``minute``, and
shift back with the offset that was in force *then*, so a DST change inside
the period does not move its start by an hour. Transitions are listed from
:data:`TRANSITIONS_FROM` to :data:`TRANSITIONS_UNTIL`; regenerate the rules
before the end of that span.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .slo import CalendarUnit

TRANSITIONS_FROM = datetime(2020, 1, 1, tzinfo=UTC)
TRANSITIONS_UNTIL = datetime(2040, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Transition:
    """At ``at`` (Unix seconds) the zone's UTC offset changes from ``before`` to ``after`` seconds."""

    at: int
    before: int
    after: int


def _offset(zone: ZoneInfo, unix: int) -> int:
    offset = datetime.fromtimestamp(unix, zone).utcoffset()
    assert offset is not None  # an aware datetime always has one
    return int(offset.total_seconds())


#: Longest time zone name taken (IANA names are at most about 30 characters; the operating system refuses
#: file names over 255).
MAX_ZONE_NAME = 64


def is_time_zone(name: object) -> bool:
    """Whether ``name`` is an IANA time zone this machine knows (``ZoneInfo`` raises four kinds of error for
    the names it refuses, among them ``OSError`` for a name too long to be a file)."""
    if not isinstance(name, str) or not name or len(name) > MAX_ZONE_NAME:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        return False
    return True


@cache
def transitions(tz: str) -> tuple[int, tuple[Transition, ...]]:
    """The offset at :data:`TRANSITIONS_FROM` and every change until :data:`TRANSITIONS_UNTIL`."""
    zone = ZoneInfo(tz)
    start = int(TRANSITIONS_FROM.timestamp())
    end = int(TRANSITIONS_UNTIL.timestamp())
    base = _offset(zone, start)
    found = []
    step = 6 * 3600
    previous_t, previous = start, base
    for t in range(start + step, end + step, step):
        current = _offset(zone, t)
        if current != previous:
            lo, hi = previous_t, t
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset(zone, mid) == previous:
                    lo = mid
                else:
                    hi = mid
            found.append(Transition(hi, previous, current))
        previous_t, previous = t, current
    return base, tuple(found)


def period_start(unit: CalendarUnit, tz: str, at: datetime) -> datetime:
    """Start of the calendar period containing ``at`` (aware), in ``tz``; weeks start on Monday."""
    local = at.astimezone(ZoneInfo(tz))
    if unit is CalendarUnit.WEEK:
        day = local.date() - timedelta(days=local.weekday())
    elif unit is CalendarUnit.MONTH:
        day = local.date().replace(day=1)
    else:
        day = local.date().replace(month=(local.month - 1) // 3 * 3 + 1, day=1)
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz))


def next_period_start(unit: CalendarUnit, tz: str, start: datetime) -> datetime:
    if unit is CalendarUnit.WEEK:
        naive = start.replace(tzinfo=None) + timedelta(days=7)
    else:
        months = 1 if unit is CalendarUnit.MONTH else 3
        year, month = divmod(start.month - 1 + months, 12)
        naive = start.replace(tzinfo=None, year=start.year + year, month=month + 1, day=1)
    return naive.replace(tzinfo=ZoneInfo(tz))


#: Longest a period can be, for the range that period-to-date sums look back over.
MAX_PERIOD_SECONDS = {CalendarUnit.WEEK: 7 * 86400, CalendarUnit.MONTH: 31 * 86400, CalendarUnit.QUARTER: 92 * 86400}


def offset_expr(tz: str, at: str, *, local: bool = False, within: tuple[int, int] | None = None) -> str:
    """PromQL for the zone's UTC offset at ``at`` (a scalar or vector expression of Unix seconds).

    With ``local=True``, ``at`` is a local wall time encoded as if it were UTC:
    a transition then happens at local time ``at + before``. Wall times in a
    skipped or repeated hour are never period starts, so this is exact where we
    use it. With ``within`` (Unix seconds, UTC; ``at`` is known to fall in it), only the offset in force at its
    start and the changes inside it: a backfill's day, not the zone's whole table.
    """
    base, changes = transitions(tz)
    if within is not None:
        lo, hi = within
        base = next((change.after for change in reversed(changes) if change.at <= lo), base)
        changes = tuple(change for change in changes if lo < change.at <= hi)
    terms = [str(base)]
    for change in changes:
        delta = change.after - change.before
        threshold = change.at + change.before if local else change.at
        terms.append(f"{'+' if delta >= 0 else '-'} ({at} >= bool {threshold}) * {abs(delta)}")
    return " ".join(terms)


def last_change_exprs(tz: str, at: str) -> tuple[str, str]:
    """PromQL for the zone's latest offset change at or before ``at`` (Unix seconds; 0 before the first) and
    the offset before it.

    Recorded beside the current offset, they let a rule evaluated at ``t`` find the offset at any instant
    since the change before the latest one from the samples at ``t`` alone, exactly: an agreement's tile
    reads its last hour, and no zone changes its offset twice within an hour.
    """
    base, changes = transitions(tz)
    when = ["0"]
    before = [str(base)]
    previous_at, previous_before = 0, base
    for change in changes:
        when.append(f"+ ({at} >= bool {change.at}) * {change.at - previous_at}")
        if change.before != previous_before:
            before.append(f"{'+' if change.before >= previous_before else '-'} ({at} >= bool {change.at}) * "
                          f"{abs(change.before - previous_before)}")
        previous_at, previous_before = change.at, change.before
    return " ".join(when), " ".join(before)
