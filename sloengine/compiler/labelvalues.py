"""Label values that satisfy a selector's matchers: the input series of the generated alert tests.

A test series must be selected by the SLI's selectors (``code=~"5.."`` needs a
value such as ``500``) and, where two selectors must be told apart (the bad
requests among all requests), by one and not the other. Values for regular
expressions come from a small reader of the RE2 syntax Prometheus accepts
(literals, escapes, classes, ``.``, groups, alternation, repetition): it lists
short strings the pattern matches, and every one is confirmed with Python's
:func:`re.fullmatch` before use, so a pattern the reader misjudges yields no
value rather than a wrong one.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from itertools import chain, product

from ..model.promql import Matcher, MatchOp, Selector

#: Characters tried for ``.`` and negated classes, in order.
_POOL = "0a1bxz9AZ_-.:/"
#: Strings kept per sub-pattern while sampling (shortest first).
_KEEP = 16

_ESCAPES = {"d": "0123456789", "w": "abcxyzABC019_", "s": " \t", "n": "\n", "t": "\t"}
_NEGATED_ESCAPES = {"D": r"\d", "W": r"\w", "S": r"\s"}
_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ", "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\s",
    "upper": "A-Z", "word": "\\w", "xdigit": "0-9A-Fa-f",
}
_POSIX = re.compile(r"\[:(\^?)([a-z]+):\]")


class _Unreadable(Exception):
    pass


def _shortest(strings: Sequence[str] | set[str]) -> list[str]:
    return sorted(set(strings), key=lambda s: (len(s), s))[:_KEEP]


class _Reader:
    """Recursive descent over a pattern; each ``read_*`` returns sample strings of what it consumed."""

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.at = 0

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def take(self) -> str:
        ch = self.peek()
        if not ch:
            raise _Unreadable("unexpected end")
        self.at += 1
        return ch

    def alternation(self) -> list[str]:
        options = self.sequence()
        while self.peek() == "|":
            self.at += 1
            options = options + self.sequence()
        return _shortest(options)

    def sequence(self) -> list[str]:
        out = [""]
        while self.peek() and self.peek() not in "|)":
            atom = self.repeated(self.atom())
            out = _shortest([a + b for a in out for b in atom])
            if not out:
                return []
        return out

    def repeated(self, unit: list[str]) -> list[str]:
        ch = self.peek()
        if ch in ("?", "*", "+"):
            self.at += 1
            low, high = {"?": (0, 1), "*": (0, 2), "+": (1, 2)}[ch]
        elif ch == "{" and re.match(r"\{\d+(,\d*)?\}", self.text[self.at:]):
            body = re.match(r"\{(\d+)(,(\d*))?\}", self.text[self.at:])
            assert body is not None
            self.at += body.end()
            low = int(body.group(1))
            high = low if body.group(2) is None else (int(body.group(3)) if body.group(3) else low + 2)
            if low > 1000 or high < low:
                raise _Unreadable("repeat count")
        else:
            return unit
        if self.peek() in ("?", "+"):  # lazy or possessive: the same strings
            self.at += 1
        out: list[str] = []
        for count in range(low, min(high, low + 2) + 1):
            repeated = [""]
            for _ in range(count):
                repeated = _shortest([a + b for a in repeated for b in unit])
            out += repeated
        return _shortest(out)

    def atom(self) -> list[str]:
        ch = self.take()
        if ch == "(":
            if self.text.startswith("?:", self.at):
                self.at += 2
            elif self.text.startswith("?P<", self.at) or self.text.startswith("?<", self.at):
                self.at = self.text.index(">", self.at) + 1
            elif self.peek() == "?":
                raise _Unreadable("group flags")
            inner = self.alternation()
            if self.take() != ")":
                raise _Unreadable("unbalanced group")
            return inner
        if ch == "[":
            return self.char_class()
        if ch == ".":
            return list(_POOL[:4])
        if ch in "^$":
            return [""]
        if ch == "\\":
            return self.escape()
        if ch in "*+?{)":
            raise _Unreadable(f"unexpected {ch!r}")
        return [ch]

    def escape(self) -> list[str]:
        ch = self.take()
        if ch in _ESCAPES:
            return list(_ESCAPES[ch][:4])
        if ch in _NEGATED_ESCAPES:
            return [c for c in _POOL if not re.fullmatch(_NEGATED_ESCAPES[ch], c)][:4]
        if ch in "bBAz":
            return [""]
        if ch.isalnum():
            raise _Unreadable(f"escape \\{ch}")
        return [ch]

    def char_class(self) -> list[str]:
        end = self.at + (1 if self.text.startswith("^", self.at) else 0)
        end += 1 if self.text.startswith("]", end) else 0
        while end < len(self.text) and self.text[end] != "]":
            if self.text[end] == "\\":
                end += 2
            elif self.text.startswith("[:", end) and ":]" in self.text[end:]:
                end = self.text.index(":]", end) + 2
            else:
                end += 1
        if end >= len(self.text):
            raise _Unreadable("unbalanced class")
        body = self.text[self.at:end]
        self.at = end + 1
        members = re.compile("[" + body + "]")
        tried = dict.fromkeys([*body, *_POOL, *_ALPHABET])
        return [ch for ch in tried if members.fullmatch(ch)][:4]


_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ !#%&*+,;<=>@~"


def _python_pattern(pattern: str) -> str:
    """``pattern`` with RE2's ``[:alpha:]`` classes spelled out for Python."""
    def posix(m: re.Match[str]) -> str:
        if m.group(1) or m.group(2) not in _POSIX_CLASSES:
            raise _Unreadable(m.group(0))
        return _POSIX_CLASSES[m.group(2)]
    return _POSIX.sub(posix, pattern)


@lru_cache(maxsize=4096)
def compile_regex(pattern: str) -> re.Pattern[str] | None:
    """``pattern`` compiled by Python (RE2 classes spelled out); None if Python cannot read it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile(_python_pattern(pattern))
    except (re.error, _Unreadable, RecursionError, OverflowError):
        return None


@lru_cache(maxsize=4096)
def regex_samples(pattern: str) -> tuple[str, ...]:
    """Strings ``pattern`` matches in full (as a Prometheus matcher does), shortest first; empty if none found."""
    compiled = compile_regex(pattern)
    if compiled is None:
        return ()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = _Reader(_python_pattern(pattern))
            candidates = reader.alternation()
            if reader.at != len(reader.text):
                return ()
    except (_Unreadable, re.error, RecursionError, ValueError):
        return ()
    return tuple(s for s in candidates if compiled.fullmatch(s))


def shortest_match(pattern: str) -> str | None:
    samples = regex_samples(pattern)
    return samples[0] if samples else None


def matcher_holds(m: Matcher, value: str) -> bool:
    if m.op is MatchOp.EQ:
        return value == m.value
    if m.op is MatchOp.NE:
        return value != m.value
    compiled = compile_regex(m.value)
    if compiled is None:
        raise ValueError(f"cannot evaluate the regular expression {m.value!r} in Python")
    found = compiled.fullmatch(value) is not None
    return found if m.op is MatchOp.RE else not found


def selector_matches(selector: Selector, metric: str, labels: Mapping[str, str]) -> bool:
    """Whether a series is selected (a missing label reads as the empty string, as in Prometheus)."""
    if metric != selector.metric:
        return False
    for m in selector.matchers:
        # Equality first, without a call: it is most matchers (every solved series is checked this way).
        if m.op is MatchOp.EQ:
            if labels.get(m.label, "") != m.value:
                return False
        elif not matcher_holds(m, labels.get(m.label, "")):
            return False
    return True


_NEGATED = {MatchOp.EQ: MatchOp.NE, MatchOp.NE: MatchOp.EQ, MatchOp.RE: MatchOp.NRE, MatchOp.NRE: MatchOp.RE}
#: Matchers that compare values (the others read regular expressions). A tuple: looking an enum member up in
#: a set hashes it in Python, a tuple compares identities.
_PLAIN_OPS = (MatchOp.EQ, MatchOp.NE)
#: Label values tried first for a label that must merely avoid a value ("200" for ``code!~"5.."``).
PLAIN_VALUES = ("200", "ok", "0", "x", "a", "1", "b", "500", "true", "none")


def label_value(constraints: Sequence[Matcher], prefer: Sequence[str] = ()) -> str | None:
    """A value satisfying every matcher (all on one label); ``""`` (label absent) only as a last resort."""
    if len(constraints) == 1 and constraints[0].op is MatchOp.EQ:
        return constraints[0].value  # most labels of a selector: what the general case below would find
    equal = next((m.value for m in constraints if m.op is MatchOp.EQ), None)
    if equal is not None and all(m.op is MatchOp.EQ and m.value == equal for m in constraints):
        return equal  # the same label of two selectors alike (bad and total events): as below, sooner
    if equal is not None and all(m.op in _PLAIN_OPS or compile_regex(m.value) is not None for m in constraints):
        # Only the equality's value can satisfy every matcher, and every matcher can be evaluated (none
        # raises on a value the search below would try first): the search would end there or find nothing.
        return equal if all(matcher_holds(m, equal) for m in constraints) else None
    tried: set[str] = set()
    for value in chain(_candidates(constraints, prefer), (v + "x" for v in _candidates(constraints, prefer)), ("",)):
        if value in tried:
            continue
        tried.add(value)
        if all(matcher_holds(m, value) for m in constraints):
            return value
    return None


def _candidates(constraints: Sequence[Matcher], prefer: Sequence[str]) -> Iterator[str]:
    """The values :func:`label_value` tries first, in order (made as they are tried: most labels take the
    first, and a regex's samples are only drawn when reached)."""
    yield from prefer
    for m in constraints:
        if m.op is MatchOp.EQ:
            yield m.value
        elif m.op is MatchOp.RE:
            yield from regex_samples(m.value)
    yield from PLAIN_VALUES
    for m in constraints:
        yield from (m.value + "x", "x" + m.value, m.value + "0")


def _assign(constraints: Sequence[Matcher], fixed: Mapping[str, str]) -> dict[str, str] | None:
    by_label: dict[str, list[Matcher]] = {}
    for m in constraints:
        by_label.setdefault(m.label, []).append(m)
    labels = {k: v for k, v in fixed.items() if v}
    for label, ms in sorted(by_label.items()):
        if label in fixed:
            if not all(matcher_holds(m, fixed[label]) for m in ms):
                return None
            continue
        value = label_value(ms)
        if value is None:
            return None
        if value:
            labels[label] = value
    return labels


def solve_labels(metric: str, include: Sequence[Selector], exclude: Sequence[Selector] = (),
                 fixed: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """Labels of a ``metric`` series selected by every ``include`` selector and by no ``exclude`` one."""
    fixed = dict(fixed or {})
    if any(s.metric != metric for s in include):
        return None
    base = [m for s in include for m in s.matchers]
    rivals = [s for s in exclude if s.metric == metric]
    options = [[Matcher(m.label, _NEGATED[m.op], m.value) for m in s.matchers] for s in rivals]
    for choice in product(*options):
        labels = _assign(base + list(choice), fixed)
        if labels is None:
            continue
        if all(selector_matches(s, metric, labels) for s in include) and not any(
                selector_matches(s, metric, labels) for s in exclude):
            return labels
    return None
