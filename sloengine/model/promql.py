"""PromQL built from structure and checked by a real parser.

Selectors are held as (metric, matchers) and rendered with label values
escaped, so a quote, backslash or newline in a value can never end the string
early and inject a query. User-written PromQL (the raw escape hatch and the
peers' queries) is parsed with ``promql-parser`` before we accept it.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

import promql_parser

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")

#: Placeholder for the range of a raw query. ``{{.window}}`` is Sloth's and OpenSLO's spelling.
WINDOW_PLACEHOLDERS = ("$window", "{{.window}}", "{{ .window }}")
#: Window substituted when a raw query is parsed to check it.
CHECK_WINDOW = "5m"


class PromQLError(ValueError):
    """A query or selector that Prometheus would reject, or that is not allowed here."""


class MatchOp(enum.Enum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True, order=True)
class Matcher:
    label: str
    op: MatchOp
    value: str

    def render(self) -> str:
        return f"{self.label}{self.op.value}{quote(self.value)}"


@dataclass(frozen=True)
class Selector:
    """An instant vector selector: a metric name and label matchers, nothing else."""

    metric: str
    matchers: tuple[Matcher, ...] = ()

    def __post_init__(self) -> None:
        if not METRIC_NAME.match(self.metric):
            raise PromQLError(f"{self.metric!r} is not a valid metric name")
        for m in self.matchers:
            if not LABEL_NAME.match(m.label) or m.label == "__name__":
                raise PromQLError(f"{m.label!r} is not a valid label name for a matcher")
            if m.op in (MatchOp.RE, MatchOp.NRE):
                _check_regex(m.value)

    def render(self, extra: tuple[Matcher, ...] = ()) -> str:
        if not extra:
            return self.text
        matchers = ",".join(m.render() for m in self.matchers + extra)
        return f"{self.metric}{{{matchers}}}" if matchers else self.metric

    @cached_property
    def text(self) -> str:
        """The selector as PromQL. Kept once made: compiling an SLO writes its selectors into dozens of
        expressions (a property cache lives in the instance's ``__dict__``, beside the frozen fields)."""
        matchers = ",".join(m.render() for m in self.matchers)
        return f"{self.metric}{{{matchers}}}" if matchers else self.metric

    def with_metric(self, metric: str) -> Selector:
        return Selector(metric, self.matchers)

    def with_matchers(self, *extra: Matcher) -> Selector:
        return Selector(self.metric, self.matchers + tuple(extra))

    def __str__(self) -> str:
        return self.render()


_PLAIN = re.compile(r'[^\\"\x00-\x1f\x7f]*')


@lru_cache(maxsize=65536)
def quote(value: str) -> str:
    """A PromQL double-quoted string literal for any text (escapes \\, ", newlines)."""
    if _PLAIN.fullmatch(value):
        return '"' + value + '"'
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def le_spellings(threshold: float) -> tuple[str, ...]:
    """Ways client libraries write a bucket boundary in the ``le`` label (Go: ``1``, Python: ``1.0``)."""
    value = float(threshold)
    spellings = {repr(value), f"{value:g}"}
    if value.is_integer():
        spellings |= {str(int(value)), f"{int(value)}.0"}
    if abs(value) >= 1e6 or abs(value) < 1e-4:
        mantissa, exponent = f"{value:e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        sign, digits = exponent[0], exponent[1:].lstrip("0").rjust(2, "0")
        decimal = mantissa if "." in mantissa else mantissa + ".0"
        spellings |= {f"{mantissa}e{sign}{digits}", f"{decimal}e{sign}{digits}"}
    return tuple(sorted(spellings))


@lru_cache(maxsize=1024)
def le_matcher(threshold: float) -> Matcher:
    alternatives = "|".join(re.escape(s) for s in le_spellings(threshold))
    return Matcher("le", MatchOp.RE, alternatives)


def with_labels(expr: str, labels: tuple[tuple[str, str], ...]) -> str:
    """``expr`` with each label set to a constant (nested ``label_replace``), values escaped.

    Lets one rule carry what would otherwise be each rule's own ``labels:``, so
    many rules' outputs can be joined with ``or`` into one.
    """
    for name, value in labels:
        # The replacement is a template: ``$`` must be doubled to stay literal.
        expr = f'label_replace({expr}, {quote(name)}, {quote(value.replace("$", "$$"))}, "", "")'
    return expr


def _check_regex(pattern: str) -> None:
    """Check a regex with the PromQL parser's RE2-style engine, not Python's ``re``."""
    problem = _regex_problem(pattern)
    if problem is not None:
        raise PromQLError(problem)


@lru_cache(maxsize=4096)
def _regex_problem(pattern: str) -> str | None:
    try:
        promql_parser.parse(f"x{{l=~{quote(pattern)}}}")
    except (ValueError, TypeError) as exc:
        return f"regular expression {pattern!r} does not compile: {str(exc).strip()}"
    return None


def parse(query: str) -> object:
    """Parse PromQL or raise :class:`PromQLError` with the parser's message."""
    if not isinstance(query, str) or not query.strip():
        raise PromQLError("the query is empty")
    try:
        return promql_parser.parse(query)
    except (ValueError, TypeError) as exc:
        raise PromQLError(f"PromQL does not parse: {str(exc).strip()}") from None


@lru_cache(maxsize=4096)
def parse_selector(text: str) -> Selector:
    """Parse ``metric{label="value",...}`` into a :class:`Selector`.

    Anything but a bare vector selector (functions, ranges, offsets, ``@``) is
    refused: we build the functions around it ourselves. Cached (selectors are immutable): a spec's selector
    is parsed when its field is checked and again when the model is built from it.
    """
    expr = parse(text)
    if not isinstance(expr, promql_parser.VectorSelector):
        raise PromQLError(
            f"{text.strip()!r} is not a plain series selector; give only metric{{label=\"value\"}}, "
            "without rate(), sum() or a [range]"
        )
    if expr.offset is not None or expr.at is not None:
        raise PromQLError(f"{text.strip()!r} has an offset or @ modifier, which an SLI selector cannot use")
    if getattr(expr.matchers, "or_matchers", None):
        raise PromQLError(f"{text.strip()!r} uses 'or' inside braces; give one set of matchers")
    try:
        return selector_from_node(expr)
    except PromQLError as exc:
        raise PromQLError(f"{text.strip()!r}: {exc}; write metric_name{{label=\"value\"}}") from None


# The parser's enum is not hashable, so it is matched by its name.
_PARSER_OPS = {"Equal": MatchOp.EQ, "NotEqual": MatchOp.NE, "Re": MatchOp.RE, "NotRe": MatchOp.NRE}


def selector_from_node(node: promql_parser.VectorSelector) -> Selector:
    """Turn an already-parsed vector selector node into a :class:`Selector`.

    Built from the node's fields, never from its printed form: the parser's
    printer drops escapes (``a="x\\"y"`` prints as ``a="x"y"``).
    """
    if getattr(node.matchers, "or_matchers", None) or node.offset is not None or node.at is not None:
        raise PromQLError("selector has 'or' matchers, an offset or an @ modifier")
    metric = node.name
    matchers = []
    for m in node.matchers.matchers:
        op = _PARSER_OPS[str(m.op).rsplit(".", 1)[-1]]
        if m.name == "__name__" and op is MatchOp.EQ and not metric:
            metric = m.value
        elif m.name == "__name__":
            raise PromQLError("selector matches __name__ other than by equality")
        else:
            matchers.append(Matcher(m.name, op, m.value))
    if not metric:
        raise PromQLError("selector names no metric")
    return Selector(metric, tuple(matchers))


def unparen(node: object) -> object:
    while isinstance(node, promql_parser.ParenExpr):
        node = node.expr
    return node


def _sum_of(node: object) -> tuple[object, tuple[str, ...]] | None:
    """Strip ``sum [by (...)] (...)``; ``None`` for any other aggregation."""
    node = unparen(node)
    if not isinstance(node, promql_parser.AggregateExpr):
        return node, ()
    if str(node.op) != "sum" or node.param is not None:
        return None
    group_by: tuple[str, ...] = ()
    if node.modifier is not None:
        if str(node.modifier.type).rsplit(".", 1)[-1] != "By":
            return None
        group_by = tuple(sorted(node.modifier.labels))
    return unparen(node.expr), group_by


def instant_counter_selector(query: str) -> tuple[Selector, tuple[str, ...]] | None:
    """Recognise ``selector`` or ``sum [by (l...)] (selector)``: a counter read at one instant (OpenSLO's shape).

    Raises :class:`PromQLError` when the query does not parse.
    """
    stripped = _sum_of(parse(query))
    if stripped is None or not isinstance(stripped[0], promql_parser.VectorSelector):
        return None
    return selector_from_node(stripped[0]), stripped[1]


def counter_selector(query: str) -> tuple[Selector, tuple[str, ...]] | None:
    """Recognise ``sum [by (l...)] (rate|increase(metric{...}[$window]))`` in a raw query.

    Peers write event counts as such queries; when one has this shape we can
    rebuild it from the selector (and then record it cheaply and exactly).
    Returns the selector and the ``by`` labels, or ``None`` for any other shape.
    """
    try:
        stripped = _sum_of(parse(substitute_window(query, CHECK_WINDOW)))
    except PromQLError:
        return None
    if stripped is None:
        return None
    node, group_by = stripped
    if not isinstance(node, promql_parser.Call) or node.func.name not in ("rate", "increase"):
        return None
    if len(node.args) != 1 or not isinstance(node.args[0], promql_parser.MatrixSelector):
        return None
    try:
        return selector_from_node(node.args[0].vector_selector), group_by
    except PromQLError:
        return None


def substitute_window(query: str, window: str) -> str:
    """Replace every window placeholder in a raw query by a duration."""
    for placeholder in WINDOW_PLACEHOLDERS:
        query = query.replace(placeholder, window)
    return query


def has_window_placeholder(query: str) -> bool:
    return any(p in query for p in WINDOW_PLACEHOLDERS)


def check_raw_query(query: str) -> None:
    """Check a raw query with a window placeholder: it must contain one and parse."""
    if not isinstance(query, str) or not query.strip():
        raise PromQLError("the query is empty")
    if not has_window_placeholder(query):
        raise PromQLError(
            "the query has no window placeholder; write the range as [$window] so each alert window can use it"
        )
    parse(substitute_window(query, CHECK_WINDOW))
