"""Services that differ only in their names are compiled once and stamped out.

A catalogue of thousands of services is mostly a few shapes repeated: the same
SLOs, objectives, windows and alert policies, each copy with its own service
name, team, receivers and ``job`` label. Compiling rules, replaying the alert
tests and building a dashboard cost milliseconds per SLO; replacing names in
finished text costs microseconds. So each service is made *canonical*: every
string equal to one of its names is replaced by a token (``zqv00000qz``), in
order of first appearance, so that services of one shape become equal. Each
distinct canonical service is rendered once, and each real service gets that
text with the tokens replaced by its own names.

This is sound because the renderers treat names as opaque: they copy them
into PromQL string literals, YAML and JSON scalars, group and file names, and
compare them only for equality. A name is tokenised only when escaping leaves
both it and its token unchanged in all of those (letters, digits, ``_``, ``-``
after a letter; nothing YAML would read as another type), when it appears in
no other string of the service (a regular expression, a description or a time
zone that embeds it stays correct only if the name stays), and, for the
service name, when Grafana accepts it in a dashboard uid. A name that does not
qualify stays literal, so its service simply gets a shape of its own.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import yaml

from .model import SLO, EscalationPolicy, Service, sli_selectors
from .promql import MatchOp

TOKEN_PREFIX = "zqv"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*[A-Za-z0-9_]\Z")
#: Fields whose strings are interpreted, never copied: they are never tokenised (and a name inside one
#: is not tokenised anywhere, see :func:`canonical`).
_INTERPRETED = frozenset({"timezone"})
#: Fields that only position diagnostics; they do not reach generated files.
_IGNORED = frozenset({"source", "source_format", "threshold_source", "threshold_text"})


def token(index: int) -> str:
    return f"{TOKEN_PREFIX}{index:05d}qz"


@dataclass(frozen=True)
class Unit:
    """One service and its SLOs: what the per-service renderers read (receivers and agreements are global)."""

    service: Service
    slos: tuple[SLO, ...]


@dataclass(frozen=True)
class Stamp:
    """A service in canonical form, and the names its tokens stand for."""

    unit: Unit
    names: tuple[tuple[str, str], ...]
    #: Short texts restored before (label values repeat across a service's alerts).
    _seen: dict[str, str] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def restore(self, text: str) -> str:
        if TOKEN_PREFIX not in text:
            return text
        short = len(text) < 256
        if short and text in self._seen:
            return self._seen[text]
        restored = text
        for tok, name in self.names:
            restored = restored.replace(tok, name)
        if short:
            self._seen[text] = restored
        return restored


_RESOLVER = yaml.resolver.Resolver()


def _yaml_plain(value: str) -> bool:
    """YAML reads the bare value back as this string (not a number, boolean, null or date)."""
    return _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == "tag:yaml.org,2002:str"


def _eligible(value: str) -> bool:
    return bool(_NAME.match(value)) and TOKEN_PREFIX not in value and _yaml_plain(value)


def _receivers(policy: EscalationPolicy | None) -> list[str]:
    if policy is None:
        return []
    return [level.receiver for level in policy.levels] + [policy.ticket_receiver]


def candidate_names(unit: Unit, service_ok: Callable[[str], bool]) -> list[str]:
    """The strings of a unit that are names: the service's, its team and owner, receivers, exact label values."""
    found = [unit.service.name, unit.service.team, unit.service.owner]
    for slo in unit.slos:
        found += _receivers(slo.escalation)
        found += [m.value for sel in sli_selectors(slo.sli) for m in sel.matchers if m.op is MatchOp.EQ]
    # A vetoed service name stays literal even where it is also, say, a label value.
    vetoed = None if service_ok(unit.service.name) else unit.service.name
    return list(dict.fromkeys(n for n in found if n and n != vetoed and _eligible(n)))


_FIELDS: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _stringless(hint: Any) -> bool:
    """A type whose values never hold a string: numbers, enums, and tuples or dataclasses of those."""
    if hint in (int, float, bool, type(None)) or (isinstance(hint, type) and issubclass(hint, enum.Enum)):
        return True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        return all(_stringless(a) for a in args if a is not Ellipsis)
    if origin in (typing.Union, types.UnionType):
        return all(_stringless(a) for a in args)
    if dataclasses.is_dataclass(hint):
        try:
            hints = typing.get_type_hints(hint)
        except NameError:
            return False
        return all(_stringless(hints[f.name]) for f in dataclasses.fields(hint) if f.name not in _IGNORED)
    return False


def _fields(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A dataclass's fields that may hold a string: (all of them, those that may be renamed).

    Fields typed as numbers, enums or structures of those (alert conditions, rolling windows) are skipped:
    walking them is most of the cost of canonicalising an SLO, and they cannot hold a name.
    """
    if cls not in _FIELDS:
        try:
            hints = typing.get_type_hints(cls)
        except NameError:  # a forward reference this module cannot resolve: walk every field
            hints = {}
        names = tuple(f.name for f in dataclasses.fields(cls)
                      if f.name not in _IGNORED and not (f.name in hints and _stringless(hints[f.name])))
        _FIELDS[cls] = (names, tuple(n for n in names if n not in _INTERPRETED))
    return _FIELDS[cls]


def _strings(value: Any, out: list[str]) -> None:
    """Every string reachable from a model value (all fields, interpreted ones included)."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, tuple):
        for item in value:
            _strings(item, out)
    elif hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        for name in _fields(type(value))[0]:
            _strings(getattr(value, name), out)


class _Renamer:
    """Replaces whole strings that are names by tokens, numbering tokens in order of first appearance."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = set(names)
        self.tokens: dict[str, str] = {}
        #: The strings left as they are, interpreted ones included: no name may hide inside one.
        self.literals: list[str] = []

    def string(self, value: str) -> str:
        if value not in self.names:
            self.literals.append(value)
            return value
        if value not in self.tokens:
            self.tokens[value] = token(len(self.tokens))
        return self.tokens[value]

    def value(self, value: Any) -> Any:
        kind = type(value)
        if kind is str:
            return self.string(value)
        if kind in _ATOMS or isinstance(value, enum.Enum):
            return value
        if kind is tuple:
            items = tuple(self.value(v) for v in value)
            return value if all(a is b for a, b in zip(items, value)) else items
        if not hasattr(value, "__dataclass_fields__") or isinstance(value, type):
            return value
        changes = {}
        every, renamed = _fields(kind)
        if len(every) != len(renamed):
            for name in every:
                if name in _INTERPRETED:
                    _strings(getattr(value, name), self.literals)
        for name in renamed:
            old = getattr(value, name)
            old_kind = type(old)
            if old_kind in _ATOMS or (old_kind is tuple and not old):
                continue
            new = self.string(old) if old_kind is str else self.value(old)
            if new is not old:
                changes[name] = new
        if not changes:
            return value
        copy = object.__new__(kind)
        copy.__dict__.update(value.__dict__)
        copy.__dict__.update(changes)
        return copy


_ATOMS = frozenset({type(None), int, float, bool})


def canonical(service: Service, slos: Iterable[SLO], service_ok: Callable[[str], bool] = lambda _: True) -> Stamp:
    """The service with its names replaced by tokens; ``service_ok`` vetoes tokenising the service name."""
    unit = Unit(dataclasses.replace(service, receivers=(), agreements=(), source=None), tuple(slos))
    names = candidate_names(unit, service_ok)
    while True:
        renamer = _Renamer(names)
        stamped = renamer.value(unit)
        if not renamer.tokens:
            return Stamp(unit, ())
        haystack = "\0".join(renamer.literals)
        embedded = [n for n in renamer.tokens if n in haystack]
        if not embedded:
            return Stamp(stamped, tuple((tok, name) for name, tok in renamer.tokens.items()))
        names = [n for n in names if n not in embedded]


def stamp_all(services: Iterable[tuple[Service, Sequence[SLO]]],
              service_ok: Callable[[str], bool] = lambda _: True) -> dict[str, Stamp]:
    """Each service's canonical form, by service name. Services of one shape share one unit *object*, so
    callers can key work by ``id(stamp.unit)`` instead of hashing whole SLOs again and again."""
    units: dict[Unit, Unit] = {}
    stamps = {}
    for service, slos in services:
        stamp = canonical(service, slos, service_ok)
        unit = units.setdefault(stamp.unit, stamp.unit)
        stamps[service.name] = stamp if unit is stamp.unit else Stamp(unit, stamp.names)
    return stamps
