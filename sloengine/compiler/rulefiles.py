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


def groups_document(groups: tuple[RuleGroup, ...]) -> dict[str, Any]:
    return {
        "groups": [
            {"name": g.name, "interval": format_duration(g.interval_seconds), "rules": [_rule(r) for r in g.rules]}
            for g in groups
        ]
    }


#: libyaml's emitter when PyYAML was built with it (ten times faster; same output for these documents).
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml_dump(document: Any) -> str:
    return yaml.dump(document, Dumper=_DUMPER, sort_keys=False, width=100000, allow_unicode=True,
                     default_flow_style=False)


class _Unsupported(Exception):
    """A document :func:`dump` does not lay out itself; PyYAML does it."""


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*\Z")
_PRINTABLE = re.compile(r"[\x20-\x7e]*\Z")
_RESOLVER = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"


@lru_cache(maxsize=1 << 16)
def _scalar(value: str) -> str:
    """How PyYAML writes one string, as a one-line string (quoting and escaping included).

    A word without spaces, colons or indicators that YAML reads back as a string is written as it is;
    asking PyYAML about each of the many distinct names of a large catalogue would cost more than the rest.
    """
    plain = _PLAIN.match(value) or _block_plain(value)
    if plain and _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR:
        return value
    if ": " in value and _PRINTABLE.match(value):
        # ": " rules out a plain scalar; printable ASCII on one line is then single-quoted.
        return "'" + value.replace("'", "''") + "'"
    return _one_line(value)


_FIRST_INDICATORS = frozenset("#,[]{}&*!|>'\"%@`")


def _block_plain(value: str) -> bool:
    """Whether PyYAML writes ``value`` (printable ASCII) unquoted as a block value: PyYAML's own test (no
    indicator first, no ``": "``, ``" #"`` or trailing colon, no surrounding spaces), so that the many
    distinct expressions of a rules file need not each be asked of PyYAML."""
    if not value or not _PRINTABLE.match(value) or value[0] == " " or value[-1] in " :" \
            or value.startswith(("---", "...")):
        return False
    first = value[0]
    if first in _FIRST_INDICATORS or (first in "?:-" and (len(value) == 1 or value[1] == " ")):
        return False
    return ": " not in value and " #" not in value


def _one_line(value: str | float) -> str:
    text = _yaml_dump(value)
    text = text[:-5] if text.endswith("\n...\n") else text.rstrip("\n")
    if "\n" in text:
        raise _Unsupported(value)
    return text


@lru_cache(maxsize=1 << 12)
def _key(key: Any) -> str:
    # PyYAML writes a key of 128 characters or more, or one with a line break, as an explicit "? key".
    if type(key) is not str or len(key) >= 128 or not key.isprintable():
        raise _Unsupported(key)
    return _scalar(key)


def _atom(value: Any) -> str | None:
    """A scalar's text; None for a non-empty mapping or sequence."""
    if isinstance(value, str):
        return _scalar(value)
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
    raise _Unsupported(value)


def _block(value: Any, indent: str, out: list[str], first: str) -> None:
    """Write a non-empty mapping or sequence; ``first`` prefixes its first line (a list item's dash)."""
    lead = first
    scalar, append = _scalar, out.append
    if type(value) is dict:
        deeper = indent + "  "
        for key, item in value.items():
            key_text = _key(key)
            atom = scalar(item) if type(item) is str else _atom(item)
            if atom is not None:
                append(f"{lead}{key_text}: {atom}\n")
            else:
                append(f"{lead}{key_text}:\n")
                if type(item) is dict:
                    _block(item, deeper, out, deeper)
                else:
                    _block(item, indent, out, indent)
            lead = indent
    else:
        deeper = indent + "  "
        for item in value:
            atom = scalar(item) if type(item) is str else _atom(item)
            if atom is not None:
                append(f"{lead}- {atom}\n")
            else:
                _block(item, deeper, out, lead + "- ")
            lead = indent


def dump(document: Any) -> str:
    """The document in block style, exactly as PyYAML writes it, several times faster.

    Generated files are large (tens of megabytes for thousands of SLOs) and PyYAML's representer runs in
    Python even with libyaml. Documents of dicts, lists and scalars are laid out here, each distinct
    scalar quoted once by PyYAML itself; anything else (a multi-line string, a long key) goes to PyYAML.
    """
    atom = _atom(document) if type(document) not in (dict, list) else None
    if atom is not None or not document:
        return _yaml_dump(document)
    out: list[str] = []
    try:
        _block(document, "", out, "")
    except _Unsupported:
        return _yaml_dump(document)
    return "".join(out)


HEADER = "# Generated by sloengine from the SLO specs; do not edit: change the specs and regenerate.\n"


def render_rule_file(groups: tuple[RuleGroup, ...]) -> str:
    return HEADER + dump(groups_document(groups))


def render_prometheus_rule(name: str, groups: tuple[RuleGroup, ...], labels: dict[str, str] | None = None) -> str:
    """A prometheus-operator ``PrometheusRule`` object holding the same groups."""
    return render_prometheus_rule_document(name, groups_document(groups), labels)


def render_prometheus_rule_document(name: str, groups: dict[str, Any], labels: dict[str, str] | None = None) -> str:
    """:func:`render_prometheus_rule` for a rule file's document (``{"groups": [...]}``) as read back from YAML."""
    document = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "sloengine", **(labels or {})}},
        "spec": groups,
    }
    return HEADER + dump(document)
