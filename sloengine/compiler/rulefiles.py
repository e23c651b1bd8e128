"""Rendering rule groups as Prometheus rule files and prometheus-operator ``PrometheusRule`` objects.

Output is deterministic: keys in Prometheus's documented order, groups and
rules in compile order (already sorted by SLO id), so generated files can be
committed and compared byte for byte.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import yaml

from ..model.durations import format_duration
from .rules import AlertingRule, RecordingRule, RuleGroup


def _rule(rule: RecordingRule | AlertingRule) -> dict[str, Any]:
    if isinstance(rule, RecordingRule):
        out: dict[str, Any] = {"record": rule.record, "expr": rule.expr}
        if rule.labels:
            out["labels"] = dict(rule.labels)
        return out
    out = {"alert": rule.alert, "expr": rule.expr}
    if rule.for_seconds:
        out["for"] = format_duration(rule.for_seconds)
    if rule.labels:
        out["labels"] = dict(rule.labels)
    if rule.annotations:
        out["annotations"] = dict(rule.annotations)
    return out


def group_document(group: RuleGroup, **extra: Any) -> dict[str, Any]:
    """One group as Prometheus reads it; ``extra`` keys (another ruler's, e.g. Thanos's
    ``partial_response_strategy``) go between ``interval`` and ``rules``."""
    return {"name": group.name, "interval": format_duration(group.interval_seconds), **extra,
            "rules": [_rule(r) for r in group.rules]}


def groups_document(groups: tuple[RuleGroup, ...]) -> dict[str, Any]:
    return {"groups": [group_document(g) for g in groups]}


#: libyaml's emitter when PyYAML was built with it (ten times faster; same output for these documents).
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml_dump(document: Any) -> str:
    return yaml.dump(document, Dumper=_DUMPER, sort_keys=False, width=100000, allow_unicode=True,
                     default_flow_style=False)


class UnsupportedLayout(Exception):
    """A document :func:`dump` does not lay out itself; PyYAML does it."""


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*\Z")
_PRINTABLE = re.compile(r"[\x20-\x7e]*\Z")
_RESOLVER = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"


def _reads_as_str(value: str) -> bool:
    """Whether YAML reads the plain scalar ``value`` back as a string: PyYAML's own resolution, without its
    call overhead. Its implicit resolvers are indexed by first character (digits, ``t``, ``n``, ``.`` ...),
    so a value starting with any other character, as most expressions do, is a string without running one."""
    implicit = _RESOLVER.yaml_implicit_resolvers
    if None in implicit or _RESOLVER.yaml_path_resolvers:
        return bool(_RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR)
    for tag, regexp in implicit.get(value[:1], ()):
        if regexp.match(value):
            return bool(tag == _STR)
    return True


def fresh_scalar_text(value: str) -> str:
    """How PyYAML writes one string, as a one-line string (quoting and escaping included).

    A word without spaces, colons or indicators that YAML reads back as a string is written as it is;
    asking PyYAML about each of the many distinct names of a large catalogue would cost more than the rest.
    Uncached, for strings seldom seen twice (expressions): caching them would only churn :func:`scalar_text`.
    """
    if not isinstance(value, str):
        raise UnsupportedLayout(value)
    if _PLAIN.match(value):
        if _reads_as_str(value):
            return value
    elif _PRINTABLE.match(value):
        if ": " in value:
            # ": " rules out a plain scalar; printable ASCII on one line is then single-quoted.
            return "'" + value.replace("'", "''") + "'"
        if _block_plain(value) and _reads_as_str(value):
            return value
    return _one_line(value)


#: :func:`fresh_scalar_text` for strings that recur (names, label values), cached.
scalar_text = lru_cache(maxsize=1 << 16)(fresh_scalar_text)


_FIRST_INDICATORS = frozenset("#,[]{}&*!|>'\"%@`")


def _block_plain(value: str) -> bool:
    """Whether PyYAML writes ``value`` (printable ASCII without ``": "``) unquoted as a block value: PyYAML's
    own test (no indicator first, no ``" #"`` or trailing colon, no surrounding spaces), so that the many
    distinct expressions of a rules file need not each be asked of PyYAML."""
    if not value or value[0] == " " or value[-1] in " :" or value.startswith(("---", "...")):
        return False
    first = value[0]
    if first in _FIRST_INDICATORS or (first in "?:-" and (len(value) == 1 or value[1] == " ")):
        return False
    return " #" not in value


#: Printable ASCII: deleting these from ASCII text leaves its control characters.
_PRINTABLE_BYTES = bytes(range(0x20, 0x7f))
#: First characters of a plain scalar, without the ones that need a closer look: an indicator or a space,
#: "?", ":" and "-" (an indicator when a space follows), "-" and "." (``---``, ``...``).
_PLAIN_FIRST = frozenset(map(chr, range(0x21, 0x7f))) - _FIRST_INDICATORS - set("?:-.")


def scalar_texts(values: list[str]) -> list[str]:
    """:func:`fresh_scalar_text` of each value, three times faster for the many distinct expressions and
    descriptions of a rules file: the scans for what rules out a plain scalar (a character that is not
    printable ASCII, ``" #"``, ``": "``) run once over all the values joined by a letter (which neither
    hides nor makes one), leaving only the ends of each value to look at. Any value that is not plainly
    plain or single-quoted is asked of :func:`fresh_scalar_text`."""
    try:
        joined = "x".join(values)
    except TypeError:
        raise UnsupportedLayout(values) from None
    # isascii costs nothing (Python keeps the flag); "#" is looked for with memchr first, being rare.
    if not joined.isascii() or ("#" in joined and " #" in joined) \
            or joined.encode().translate(None, _PRINTABLE_BYTES):
        return [fresh_scalar_text(value) for value in values]
    implicit = _RESOLVER.yaml_implicit_resolvers
    plain_first = _PLAIN_FIRST
    # As _reads_as_str: no resolver for the first character, a string (unless PyYAML's set-up is unusual).
    string_first = (plain_first - implicit.keys() if None not in implicit and not _RESOLVER.yaml_path_resolvers
                    else frozenset())
    colon = ": " in joined
    out: list[str] = []
    append = out.append
    for value in values:
        if colon and ": " in value:
            # Printable ASCII on one line: single-quoted, as fresh_scalar_text does.
            append("'" + value.replace("'", "''") + "'")
        elif value[:1] in string_first and value[-1] not in " :":
            append(value)
        elif value[:1] in plain_first and value[-1] not in " :" and _reads_as_str(value):
            append(value)
        else:
            append(fresh_scalar_text(value))
    return out


def _one_line(value: str | float) -> str:
    text = _yaml_dump(value)
    text = text[:-5] if text.endswith("\n...\n") else text.rstrip("\n")
    if "\n" in text:
        raise UnsupportedLayout(value)
    return text


@lru_cache(maxsize=1 << 12)
def key_text(key: Any) -> str:
    # PyYAML writes a key of 128 characters or more, or one with a line break, as an explicit "? key".
    if type(key) is not str or len(key) >= 128 or not key.isprintable():
        raise UnsupportedLayout(key)
    return scalar_text(key)


def _atom(value: Any) -> str | None:
    """A scalar's text; None for a non-empty mapping or sequence."""
    if isinstance(value, str):
        return scalar_text(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _one_line(value)  # not cached: 0.0 and -0.0 are equal keys
    if type(value) is dict:
        return None if value else "{}"
    if type(value) is list:
        return None if value else "[]"
    raise UnsupportedLayout(value)


def block_lines(value: Any, indent: str, out: list[str], first: str) -> None:
    """Write a non-empty mapping or sequence; ``first`` prefixes its first line (a list item's dash)."""
    lead = first
    scalar, append = scalar_text, out.append
    if type(value) is dict:
        deeper = indent + "  "
        for key, item in value.items():
            name = key_text(key)
            atom = scalar(item) if type(item) is str else _atom(item)
            if atom is not None:
                append(f"{lead}{name}: {atom}\n")
            else:
                append(f"{lead}{name}:\n")
                if type(item) is dict:
                    block_lines(item, deeper, out, deeper)
                else:
                    block_lines(item, indent, out, indent)
            lead = indent
    else:
        deeper = indent + "  "
        for item in value:
            atom = scalar(item) if type(item) is str else _atom(item)
            if atom is not None:
                append(f"{lead}- {atom}\n")
            else:
                block_lines(item, deeper, out, lead + "- ")
            lead = indent


def dump(document: Any) -> str:
    """The document in block style, exactly as PyYAML writes it, several times faster.

    Generated files are large (tens of megabytes for thousands of SLOs) and PyYAML's representer runs in
    Python even with libyaml. Documents of dicts, lists and scalars are laid out here, each distinct
    scalar quoted once by PyYAML itself; anything else (a multi-line string, a long key) goes to PyYAML.
    """
    if type(document) not in (dict, list) or not document:
        return _yaml_dump(document)  # a lone scalar or an empty container: PyYAML's own few lines
    out: list[str] = []
    try:
        block_lines(document, "", out, "")
    except UnsupportedLayout:
        return _yaml_dump(document)
    return "".join(out)


HEADER = "# Generated by sloengine from the SLO specs; do not edit: change the specs and regenerate.\n"


#: Rendered ``key: value`` lines of label pairs, by indentation then pair: a catalogue has few distinct
#: pairs (a service's name, a window, a severity) but repeats each on thousands of rules.
_PAIR_LINES: dict[str, dict[tuple[str, str], str]] = {}
#: Rendered label mappings, by indentation then labels: an SLO's recording rules share their labels.
_LABEL_BLOCKS: dict[str, dict[tuple[tuple[str, str], ...], str]] = {}
_CACHE_MAX = 1 << 15


def pair_lines(pairs: tuple[tuple[str, str], ...], pad: str, *, distinct: bool = False) -> str:
    """A mapping's lines as :func:`dump` writes ``dict(pairs)`` at indentation ``pad`` (non-empty ``pairs``
    of label names and values, which recur: each distinct pair is laid out once). ``distinct``: the names
    are known to differ (the items of a dict), so they are not checked."""
    return _pair_lines(pairs, pad, _pair_cache(pad), distinct)


def _pair_cache(pad: str) -> dict[tuple[str, str], str]:
    cache = _PAIR_LINES.get(pad)
    if cache is None or len(cache) > _CACHE_MAX:
        cache = _PAIR_LINES[pad] = {}
    return cache


def _pair_lines(pairs: tuple[tuple[str, str], ...], pad: str, cache: dict[tuple[str, str], str],
                distinct: bool = False) -> str:
    if not distinct and len(pairs) > 1 and len(dict(pairs)) != len(pairs):
        # A repeated name: dict() keeps its first place and last value.
        pairs = tuple(dict(pairs).items())
    try:
        return "".join(map(cache.__getitem__, pairs))
    except KeyError:
        for pair in pairs:
            if pair not in cache:
                key, value = pair
                cache[pair] = f"{pad}{key_text(key)}: {fresh_scalar_text(value)}\n"
        return "".join(map(cache.__getitem__, pairs))


def _label_blocks(pad: str) -> dict[tuple[tuple[str, str], ...], str]:
    """The cache of :func:`pair_lines` of whole label sets at ``pad`` (emptied when it grows large)."""
    blocks = _LABEL_BLOCKS.get(pad)
    if blocks is None or len(blocks) > _CACHE_MAX:
        blocks = _LABEL_BLOCKS[pad] = {}
    return blocks


@lru_cache(maxsize=256)
def _duration(seconds: int) -> str:
    return scalar_text(format_duration(seconds))


def _groups_lines(groups: tuple[RuleGroup, ...], pad: str, out: list[str]) -> None:
    """:func:`dump` of ``groups_document(groups)`` at indentation ``pad``, written directly for the fixed
    shape of rule groups: a rules file holds tens of thousands of rules, and laying out each through the
    generic :func:`block_lines` (and building its dict first) cost more than compiling it. The quoting of
    every scalar is :func:`fresh_scalar_text`'s, so the text is the same; raises :class:`UnsupportedLayout`
    where :func:`dump` would hand the document to PyYAML."""
    append, scalar = out.append, scalar_text
    if not groups:
        append(f"{pad}groups: []\n")
        return
    append(f"{pad}groups:\n")
    body = pad + "  "
    rule_first, rule_body = body + "- ", body + "  "
    expr_key, for_key = f"{rule_body}expr: ", f"{rule_body}for: "
    pairs_pad = rule_body + "  "
    labels_key, annotations_key = f"{rule_body}labels:\n", f"{rule_body}annotations:\n"
    blocks, pairs = _label_blocks(pairs_pad), _pair_cache(pairs_pad)
    note_keys: dict[str, str] = {}
    # Expressions, descriptions and summaries are seldom seen twice: quoted all at once, without caching.
    exprs = iter(scalar_texts([rule.expr for group in groups for rule in group.rules]))
    annotations = [dict(rule.annotations) for group in groups for rule in group.rules
                   if not isinstance(rule, RecordingRule) and rule.annotations]
    notes = iter(scalar_texts([value for mapping in annotations for value in mapping.values()]))
    mappings = iter(annotations)
    for group in groups:
        append(f"{pad}- name: {scalar(group.name)}\n{body}interval: {_duration(group.interval_seconds)}\n")
        if not group.rules:
            append(f"{body}rules: []\n")
            continue
        append(f"{body}rules:\n")
        for rule, expr in zip(group.rules, exprs):
            labels = rule.labels
            if isinstance(rule, RecordingRule):
                # An SLO's recording rules share their labels: laid out once per label set.
                if labels:
                    block = blocks.get(labels)
                    if block is None:
                        block = blocks[labels] = labels_key + _pair_lines(labels, pairs_pad, pairs)
                else:
                    block = ""
                append(f"{rule_first}record: {scalar(rule.record)}\n{expr_key}{expr}\n{block}")
                continue
            head = f"{rule_first}alert: {scalar(rule.alert)}\n{expr_key}{expr}\n"
            if rule.for_seconds:
                head = f"{head}{for_key}{_duration(rule.for_seconds)}\n"
            if labels:
                head = f"{head}{labels_key}{_pair_lines(labels, pairs_pad, pairs)}"
            if rule.annotations:
                texts = []
                for key in next(mappings):
                    lead = note_keys.get(key)
                    if lead is None:
                        lead = note_keys[key] = f"{pairs_pad}{key_text(key)}: "
                    texts.append(f"{lead}{next(notes)}\n")
                append(f"{head}{annotations_key}{''.join(texts)}")
            else:
                append(head)


def render_rule_file(groups: tuple[RuleGroup, ...]) -> str:
    out = [HEADER]
    try:
        _groups_lines(groups, "", out)
    except UnsupportedLayout:
        return HEADER + dump(groups_document(groups))
    return "".join(out)


def render_prometheus_rule(name: str, groups: tuple[RuleGroup, ...], labels: dict[str, str] | None = None) -> str:
    """A prometheus-operator ``PrometheusRule`` object holding the same groups."""
    head = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "sloengine", **(labels or {})}},
    }
    out = [HEADER]
    try:
        block_lines(head, "", out, "")
        out.append("spec:\n")
        _groups_lines(groups, "  ", out)
    except UnsupportedLayout:
        return render_prometheus_rule_document(name, groups_document(groups), labels)
    return "".join(out)


def render_prometheus_rule_document(name: str, groups: dict[str, Any], labels: dict[str, str] | None = None) -> str:
    """:func:`render_prometheus_rule` for a rule file's document (``{"groups": [...]}``) as read back from YAML."""
    document = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "sloengine", **(labels or {})}},
        "spec": groups,
    }
    return HEADER + dump(document)
