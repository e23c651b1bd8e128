"""Reader for the native ``sloengine/v1`` format: pydantic validation, errors placed in the file.

Pydantic reports a location as a path through the *schema* (with union member
tags such as ``str`` or ``CalendarSpec`` mixed in); we walk that path through
the *data* to find the YAML node, and through the models to list the keys that
were allowed there, for "did you mean".
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from ...model import conventions
from ...model.diagnostics import Position
from ...model.slo import SLO, Service, SourceFormat, labels
from ..agreement_spec import problems, to_agreement
from ..spec import (
    ServiceLevelsSpec,
    merge_alerting,
    merge_escalation,
    to_escalation,
    to_policy,
    to_receiver,
    to_sli,
    to_window,
)
from ..yamlsource import KeyPath
from .base import Context, ImportResult

FORMATS = (SourceFormat.NATIVE,)


def detect(data: object) -> bool:
    return isinstance(data, dict) and str(data.get("apiVersion", "")).startswith("sloengine/")


def read(contexts: list[Context]) -> ImportResult:
    services: list[Service] = []
    slos: list[SLO] = []
    for ctx in contexts:
        result = _read_one(ctx)
        if result is not None:
            services.append(result[0])
            slos.extend(result[1])
    return ImportResult(tuple(services), tuple(slos))


def _read_one(ctx: Context) -> tuple[Service, tuple[SLO, ...]] | None:
    data = ctx.doc.data
    if data.get("apiVersion") != conventions.API_VERSION:
        ctx.error(("apiVersion",), f"unsupported version {data.get('apiVersion')!r}",
                  f"this sloengine reads apiVersion: {conventions.API_VERSION}")
        return None
    if data.get("kind") not in (conventions.KIND_SERVICE_LEVELS,):
        ctx.error(("kind",), f"unknown kind {data.get('kind')!r}", f"use kind: {conventions.KIND_SERVICE_LEVELS}")
        return None
    try:
        spec = ServiceLevelsSpec.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            _report(ctx, error)
        return None
    found = problems(spec.agreements, spec.tiers)
    for path, message, fix in found:
        ctx.error(path, message, fix)
    if found:
        return None
    return to_model(spec, ctx.position)


def to_model(spec: ServiceLevelsSpec,
             position_of: Callable[[KeyPath], Position]) -> tuple[Service, tuple[SLO, ...]]:
    """Convert a validated document; ``position_of(path)`` locates each SLO in its file."""
    svc = spec.service
    receivers = tuple(to_receiver(name, r, position_of(("receivers", name)))
                      for name, r in sorted(spec.receivers.items()))
    agreements = tuple(to_agreement(a, svc.name, spec.tiers, position_of(("agreements", i)))
                       for i, a in enumerate(spec.agreements))
    service = Service(svc.name, svc.team, svc.owner, svc.description, labels(svc.labels), position_of(("service",)),
                      receivers, agreements)
    slos = []
    for i, s in enumerate(spec.slos):
        window = to_window(s.window if s.window is not None else spec.defaults.window)
        alerting = merge_alerting(spec.defaults.alerting, s.alerting)
        slos.append(
            SLO(
                service=svc.name,
                name=s.name,
                objective=float(s.objective),
                window=window,
                sli=to_sli(s.sli, position_of(("slos", i, "sli", "latency", "threshold"))),
                alerting=_shared(to_policy(alerting, window.nominal_seconds)),
                description=s.description,
                labels=labels(s.labels),
                source=position_of(("slos", i)),
                source_format=SourceFormat.NATIVE,
                escalation=_shared(to_escalation(merge_escalation(spec.defaults.escalation, s.escalation), svc.name,
                                                 svc.team)),
            )
        )
    return service, tuple(slos)


#: Equal alert and escalation policies, kept as one object each: most SLOs of a service (and many services)
#: share them, so the model is smaller and a forked loader hands its half back several times faster (pickle
#: sends a shared object once).
_SHARED: dict[object, object] = {}
_SHARED_MAX = 65536

_T = TypeVar("_T")


def _shared(value: _T) -> _T:
    """The one kept object equal to ``value`` (frozen, so sharing it is safe)."""
    if len(_SHARED) >= _SHARED_MAX:
        _SHARED.clear()
    return _SHARED.setdefault(value, value)  # type: ignore[return-value]


def _report(ctx: Context, error: ErrorDetails) -> None:
    loc = tuple(error["loc"])
    if "[key]" in loc:  # a mapping key failed (a receiver's name): point at the key itself
        path = _data_path(ctx.doc.data, loc[:loc.index("[key]")])
        if error["type"] == "sloengine":
            context = error.get("ctx", {})
            ctx.error(path, context.get("message", error["msg"]), context.get("hint", ""), key=True)
        else:
            ctx.error(path, f"{path[-1]!r} is not a valid name" if path else error["msg"],
                      "start with a letter or digit; use letters, digits, '.', '_' and '-' (at most 128)", key=True)
        return
    path = _data_path(ctx.doc.data, loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        key = path[-1]
        model = _model_at(path[:-1])
        refused = getattr(model, "spellings", {}).get(key)
        if refused is not None:   # a spelling the format deliberately does not take, with the one it does
            ctx.error(path, *refused, key=True)
            return
        known = sorted(_allowed_keys(model))
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = (f"did you mean {close[0]!r}?" if close
                else f"allowed here: {', '.join(known)}" if known else "remove it")
        ctx.error(path, f"unknown key {key!r}", hint, key=True)
        return
    if kind == "missing":
        ctx.error(path[:-1], f"required key {path[-1]!r} is missing", f"add {path[-1]}: ...")
        return
    if kind == "sloengine":
        context = error.get("ctx", {})
        ctx.error(path, context.get("message", error["msg"]), context.get("hint", ""))
        return
    if kind in ("literal_error", "enum"):
        expected = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        close = difflib.get_close_matches(str(error["input"]), expected, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}?" if close else error["msg"].replace("Input should be", "use")
        ctx.error(path, f"{error['input']!r} is not allowed here", hint)
        return
    if kind == "string_pattern_mismatch" and path and path[-1] == "name":
        ctx.error(path, f"{error['input']!r} is not a valid name",
                  "start with a letter or digit; use letters, digits, '.', '_' and '-' (at most 128)")
        return
    if kind == "string_pattern_mismatch":
        ctx.error(path, f"{error['input']!r} is not a valid label name",
                  "use letters, digits and _, not starting with a digit")
        return
    message = error["msg"]
    shown = "input" in error and not isinstance(error["input"], (dict, list))
    ctx.error(path, f"{message} (got {error.get('input')!r})" if shown else message, _generic_hint(kind))


def _generic_hint(kind: str) -> str:
    return {
        "string_type": "quote the value as a string",
        "float_parsing": "give a number",
        "float_type": "give a number",
        "int_parsing": "give a whole number",
        "int_type": "give a whole number",
        "bool_parsing": "use true or false",
        "bool_type": "use true or false",
        "dict_type": "give a mapping (key: value lines)",
        "list_type": "give a list (lines starting with '- ')",
        "too_short": "add at least one entry",
        "greater_than": "give a larger value",
        "greater_than_equal": "give a larger value",
        "less_than_equal": "give a smaller value",
        "enum": "use one of the listed values",
        "model_type": "give a mapping (key: value lines)",
        "date_type": "give a date as YYYY-MM-DD",
        "date_parsing": "give a date as YYYY-MM-DD",
        "date_from_datetime_parsing": "give a date as YYYY-MM-DD",
        "date_from_datetime_inexact": "give a date as YYYY-MM-DD",
        "datetime_type": "give a date and time as YYYY-MM-DDTHH:MM with a time zone offset or Z",
        "datetime_parsing": "give a date and time as YYYY-MM-DDTHH:MM with a time zone offset or Z",
        "datetime_from_date_parsing": "give a date and time as YYYY-MM-DDTHH:MM with a time zone offset or Z",
        "timezone_aware": "add a time zone offset (+01:00) or Z",
        "string_too_long": "shorten the value",
        "string_too_short": "give a non-empty value",
        "too_long": "remove entries",
        "less_than": "give a smaller value",
        "finite_number": "give a finite number",
        "union_tag_invalid": "use one of the listed kinds",
        "union_tag_not_found": "say which kind this is",
    }.get(kind, "give a value of the documented type (see: sloengine schema)")


def _data_path(data: Any, loc: tuple) -> tuple:
    """Keep the parts of a pydantic location that exist in the data (drops union member tags)."""
    path: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and part == loc[-1]:
            path.append(part)
            node = None
    return tuple(path)


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional[...] down to the type inside."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation


def _model_at(path: tuple) -> Any:
    """The model whose keys are allowed at ``path`` (through lists, and mappings keyed by name)."""
    annotation: Any = ServiceLevelsSpec
    for part in path:
        annotation = _unwrap(annotation)
        origin = typing.get_origin(annotation)
        if isinstance(part, int):
            if origin is list:
                annotation = typing.get_args(annotation)[0]
            continue
        if origin is dict:
            annotation = typing.get_args(annotation)[1]
            continue
        model = _first_model(annotation)
        info = _alias_lookup(model, part) if model is not None else None
        if info is None:
            return None
        annotation = info.annotation
    return _first_model(_unwrap(annotation))


def _alias_lookup(model: type[BaseModel], key: str) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _first_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _allowed_keys(model: Any) -> list[str]:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return [info.alias or name for name, info in model.model_fields.items()]
