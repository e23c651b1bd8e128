"""User text in alert labels and annotations, which Prometheus expands as Go templates.

Prometheus runs every label and annotation value of an alerting rule through Go's ``text/template`` with its
own functions. A description that happens to contain ``{{`` either breaks the rule file (``promtool check
rules`` refuses it, Prometheus will not load it) or, worse, runs as a template in every page. So user text is
literal by default: :func:`literal` turns it into a template that prints exactly that text. A spec that wants
templates (``alerting: {templates: true}``, for ``{{ $labels.instance }}`` or ``{{ $value | humanize }}``)
gets its values checked by :func:`template_problem`, which parses them the way Go's template parser does for
the constructs Prometheus accepts (actions, strings, pipelines, variables, control structures, the functions
Prometheus defines), so a mistake is a placed error at ``validate``, not a rule file Prometheus refuses.
"""

from __future__ import annotations

import re

OPEN, CLOSE = "{{", "}}"

#: What a template prints for the two characters ``{{``.
_OPEN_LITERAL = '{{ "{{" }}'

#: Functions a Prometheus 2.42 alert template may call: Go's builtins and Prometheus's own.
FUNCTIONS = frozenset({
    # text/template builtins
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt", "le", "gt", "ge",
    "html", "js", "urlquery", "call",
    # prometheus/template
    "query", "first", "label", "value", "strvalue", "args", "reReplaceAll", "safeHtml", "match", "title",
    "toUpper", "toLower", "graphLink", "tableLink", "sortByLabel", "humanize", "humanize1024",
    "humanizeDuration", "humanizePercentage", "humanizeTimestamp", "toTime", "pathPrefix", "externalURL",
    "parseDuration", "stripPort", "stripDomain",
})

#: Variables Prometheus defines for an alert's labels and annotations.
VARIABLES = frozenset({"$", "$labels", "$externalLabels", "$externalURL", "$value"})

_OPENERS = frozenset({"if", "range", "with", "define", "block"})
_KEYWORDS = _OPENERS | {"else", "end", "template", "break", "continue", "nil", "true", "false"}

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\\n]|\\.)+')
  | (?P<number>[+-]?(?:0[xX][0-9a-fA-F_]+|\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?))
  | (?P<declare>:=|=)
  | (?P<variable>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[|(),])
""", re.VERBOSE)


def literal(text: str) -> str:
    """A template that prints ``text`` exactly (``{{`` is the only sequence Go's templates treat specially)."""
    return text.replace(OPEN, _OPEN_LITERAL) if OPEN in text else text


def expand_literal(template: str) -> str | None:
    """What a template made by :func:`literal` (or holding no action) prints; None for any other template,
    whose output depends on the alert."""
    if OPEN not in template:
        return template
    rest = template.replace(_OPEN_LITERAL, "\0")
    if OPEN in rest:
        return None
    return rest.replace("\0", OPEN)


def template_problem(text: str) -> str | None:
    """Why Prometheus would refuse ``text`` as an alert label or annotation template, or None if it parses."""
    blocks: list[str] = []
    declared: set[str] = set(VARIABLES)
    position = 0
    while True:
        start = text.find(OPEN, position)
        if start < 0:
            break
        body_start = start + 2
        if text.startswith("-", body_start) and text[body_start + 1:body_start + 2].isspace():
            body_start += 1
        comment = text.startswith("/*", body_start) or text.startswith("/*", body_start + 1)
        if comment:
            opened = text.find("/*", body_start)
            shut = text.find("*/", opened + 2)
            if shut < 0:
                return "a comment {{/* ... */}} is not closed"
            end = text.find(CLOSE, shut + 2)
            if end < 0 or text[shut + 2:end].strip(" -"):
                return "a comment must end with */}}"
            position = end + 2
            continue
        end, problem = _action_end(text, body_start)
        if problem:
            return problem
        body = text[body_start:end]
        if body.endswith("-") and (len(body) == 1 or body[-2].isspace()):
            body = body[:-1]
        problem = _check_action(body, blocks, declared)
        if problem:
            return problem
        position = end + 2
    if blocks:
        return f"{{{{ {blocks[-1]} }}}} has no matching {{{{ end }}}}"
    return None


def _action_end(text: str, start: int) -> tuple[int, str | None]:
    """Where the action starting at ``start`` ends (the index of its ``}}``), skipping quoted text."""
    i = start
    while i < len(text):
        ch = text[i]
        if text.startswith(CLOSE, i):
            return i, None
        if ch in "\"'`":
            close = _quote_end(text, i)
            if close < 0:
                return -1, f"a quoted string in {{{{ {text[start:start + 30].strip()} ... is not closed"
            i = close + 1
            continue
        i += 1
    return -1, f"{{{{ {text[start:start + 30].strip()} ... is not closed with }}}}"


def _quote_end(text: str, start: int) -> int:
    quote = text[start]
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quote != "`":
            i += 2
            continue
        if ch == quote:
            return i
        if ch == "\n" and quote != "`":
            return -1
        i += 1
    return -1


#: The fields of the data an alert template sees (inside ``range`` and ``with`` the dot is something else).
ALERT_FIELDS = frozenset({"Labels", "ExternalLabels", "ExternalURL", "Value"})


def _check_action(body: str, blocks: list[str], declared: set[str]) -> str | None:
    alert_dot = not any(b in ("range", "with") for b in blocks)
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(body):
        found = _TOKEN.match(body, i)
        if found is None:
            return f"unexpected {body[i]!r} in {{{{{body}}}}}"
        kind = found.lastgroup or ""
        if kind == "field" and tokens and tokens[-1] == ("punct", ")") and body[i - 1] == ")":
            kind = "chained"  # (pipeline).Field: a field of the result, not of the alert
        if kind != "space":
            tokens.append((kind, found.group()))
        i = found.end()
    if not tokens:
        return "an empty action {{ }}"
    kind, word = tokens[0]
    if kind == "ident" and word in _KEYWORDS:
        if word == "end":
            if len(tokens) > 1:
                return "{{ end }} takes nothing after it"
            if not blocks:
                return "{{ end }} without an {{ if }}, {{ range }} or {{ with }} to close"
            blocks.pop()
            return None
        if word == "else":
            if not blocks or blocks[-1] not in ("if", "range", "with"):
                return "{{ else }} outside an {{ if }}, {{ range }} or {{ with }}"
            rest = tokens[1:]
            if rest and rest[0] == ("ident", "if"):
                rest = rest[1:]
                if not rest:
                    return "{{ else if }} needs a condition"
            return _check_pipeline(rest, declared, allow_empty=True, alert_dot=alert_dot)
        if word in ("define", "block", "template"):
            if len(tokens) < 2 or tokens[1][0] not in ("string", "raw"):
                return f"{{{{ {word} }}}} needs a quoted template name"
            if word != "template":
                blocks.append(word)
            return _check_pipeline(tokens[2:], declared, allow_empty=True)
        if word in ("break", "continue"):
            if "range" not in blocks:
                return f"{{{{ {word} }}}} outside a {{{{ range }}}}"
            return None if len(tokens) == 1 else f"{{{{ {word} }}}} takes nothing after it"
        if word in _OPENERS:
            blocks.append(word)
            if len(tokens) == 1:
                return f"{{{{ {word} }}}} needs a value"
            return _check_pipeline(tokens[1:], declared, ranging=word == "range", alert_dot=alert_dot)
    return _check_pipeline(tokens, declared, alert_dot=alert_dot)


def _check_pipeline(tokens: list[tuple[str, str]], declared: set[str], *, allow_empty: bool = False,
                    ranging: bool = False, alert_dot: bool = False) -> str | None:
    if not tokens:
        return None if allow_empty else "an action with nothing to print"
    # Declarations: `$x :=`, or in a range `$i, $v :=`, before the pipeline.
    for split in (1, 3) if ranging else (1,):
        if len(tokens) > split and tokens[split][0] == "declare":
            names = [value for kind, value in tokens[:split] if kind == "variable"]
            if len(names) != (split + 1) // 2 or (split == 3 and tokens[1] != ("punct", ",")):
                return "a variable declaration is malformed"
            if tokens[split][1] == "=" and any(name not in declared for name in names):
                return f"variable {names[0]} is assigned before it is declared"
            declared.update(names)
            tokens = tokens[split + 1:]
            if not tokens:
                return "a variable declaration without a value"
            break
    depth = 0
    expect_command = True
    for kind, value in tokens:
        if kind == "punct" and value == "(":
            depth += 1
            expect_command = True
            continue
        if kind == "punct" and value == ")":
            depth -= 1
            if depth < 0:
                return "a ')' without its '('"
            expect_command = False
            continue
        if kind == "punct" and value == "|":
            if expect_command:
                return "a '|' with nothing before it"
            expect_command = True
            continue
        if kind == "punct" and value == ",":
            return "a ',' outside a range declaration"
        if kind == "declare":
            return f"an unexpected {value!r}"
        if kind == "variable" and value.split(".")[0] not in declared:
            return f"undefined variable {value.split('.')[0]}"
        if kind == "field" and alert_dot and value != "." and value.split(".")[1] not in ALERT_FIELDS:
            return (f"an alert has no field {value.split('.')[1]!r} "
                    f"(it has {', '.join('.' + f for f in sorted(ALERT_FIELDS))})")
        if kind == "ident":
            if value in ("true", "false", "nil"):
                pass
            elif value in _KEYWORDS:
                return f"{value!r} can only start an action"
            elif value not in FUNCTIONS:
                return f"function {value!r} is not defined in Prometheus templates"
        expect_command = False
    if depth:
        return "a '(' without its ')'"
    if expect_command:
        return "a '|' with nothing after it"
    return None
