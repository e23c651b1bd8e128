"""The same rule groups in the files other rulers load: Mimir/Cortex, Thanos Ruler, vmalert (and its VMRule
resource) and Google Managed Prometheus's ``Rules``.

Every format carries the groups of the plain Prometheus rule files (``rules/``) and nothing else, so that
``promtool check rules`` and the generated ``promtool`` tests on the plain files cover what each ruler runs.
Only vmalert needs more than a wrapper: it writes recorded samples asynchronously, so a rule cannot count on
reading what the rule before it recorded in the same evaluation; :func:`vmalert_stages` splits each group into
stages chained with ``eval_offset`` (see the README's "Rulers" section for why).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model import conventions as c
from ..model.durations import format_duration
from .rulefiles import HEADER, dump, group_document
from .rules import RecordingRule, RuleGroup


class PartialResponse(enum.Enum):
    """Thanos Ruler's ``partial_response_strategy`` of a group: what a rule does when a store does not answer.

    ``abort`` (Thanos's default, and ours) fails the evaluation, so a missing store never reads as zero bad
    events (a page that does not fire) or zero total events (an SLO without data); ``warn`` evaluates on
    what answered."""

    ABORT = "abort"
    WARN = "warn"


@dataclass(frozen=True)
class RulerOptions:
    """What the ruler formats need beyond the rule groups."""

    #: Mimir/Cortex tenant (``mimirtool --id``); only recorded in the files' comments, the ruler's API takes it.
    tenant: str | None = None
    partial_response: PartialResponse = PartialResponse.ABORT


def object_name(stem: str) -> str:
    """The ruler namespace or Kubernetes object of a rules file: ``sloengine-<service>``, ``sloengine-calendars``."""
    return c.OBJECT_PREFIX + stem.strip("_").replace("_", "-")


def _stem(path: str) -> str:
    return Path(path).name.removesuffix(".rules.yml")


def _head(*comments: str) -> str:
    """Our header (first, so a later ``generate`` recognises the file as ours) and the format's comments."""
    return HEADER + "".join(f"# {line}\n" for line in comments)


# ---- Mimir / Cortex ------------------------------------------------------------------------------


def mimir_file(path: str, groups: tuple[RuleGroup, ...], options: RulerOptions) -> tuple[str, str]:
    """One ruler namespace per rules file, as ``mimirtool rules load``/``sync --rule-dirs`` read it: a YAML
    document with ``namespace`` and ``groups`` (Mimir's rule groups are Prometheus's)."""
    stem = _stem(path)
    tenant = options.tenant or "TENANT"
    head = _head(f"Mimir/Cortex ruler namespace {object_name(stem)}"
                 + (f" of tenant {options.tenant}" if options.tenant else "") + ". Load the directory with:",
                 f"mimirtool rules sync --address URL --id {tenant} --rule-dirs {c.MIMIR_DIR}"
                 " --namespaces NAMESPACES (ours: sloengine-*)")
    document = {"namespace": object_name(stem), "groups": [group_document(g) for g in groups]}
    return f"{c.MIMIR_DIR}/{stem}.yml", head + dump(document)


# ---- Thanos Ruler --------------------------------------------------------------------------------


def thanos_file(path: str, groups: tuple[RuleGroup, ...], options: RulerOptions) -> tuple[str, str]:
    """A Prometheus rule file whose groups set Thanos's ``partial_response_strategy``."""
    stem = _stem(path)
    strategy = options.partial_response.value
    head = _head(f"Thanos Ruler rule file (partial_response_strategy: {strategy}); load with "
                 f"thanos rule --rule-file={c.THANOS_DIR}/*.rules.yml")
    document = {"groups": [group_document(g, partial_response_strategy=strategy) for g in groups]}
    return f"{c.THANOS_DIR}/{stem}.rules.yml", head + dump(document)


# ---- vmalert / VMRule ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """A part of a rule group that vmalert evaluates at ``offset_seconds`` into each interval: every rule in it
    reads only what earlier stages recorded (or what the group recorded an interval before)."""

    group: RuleGroup
    offset_seconds: int


_NAME_END = r"(?![A-Za-z0-9_:])"


def _reads(expr: str, metric: str) -> bool:
    return re.search(r"(?<![A-Za-z0-9_:])" + re.escape(metric) + _NAME_END, expr) is not None


def vmalert_stages(group: RuleGroup) -> tuple[Stage, ...]:
    """The group split by dependency depth, the stages spread evenly over its interval.

    Prometheus evaluates a group's rules one after another, each seeing what the earlier ones recorded at
    the same instant. vmalert evaluates them in order too, but sends the recorded samples to storage
    asynchronously, so a rule may read the previous interval's value of the rule before it (its docs: "user
    shouldn't rely on chaining of recording rules"). A rule that reads a series an earlier rule of the group
    records (or that alert's ``ALERTS``, as an escalation does) goes one stage later than that rule; each stage is
    a group of its own, evaluated ``eval_offset`` into the interval, as vmalert documents for chaining groups.
    A rule reading what a later rule records (a tile reading where the previous tile ended) keeps reading
    the previous interval's value, as in Prometheus. A group without such chains stays one stage."""
    depth: list[int] = []
    for index, rule in enumerate(group.rules):
        level = 0
        for before, earlier in zip(depth, group.rules[:index]):
            if isinstance(earlier, RecordingRule):
                read = _reads(rule.expr, earlier.record)
            else:
                read = _reads(rule.expr, "ALERTS") and f'alertname="{earlier.alert}"' in rule.expr
            if read:
                level = max(level, before + 1)
        depth.append(level)
    count = max(depth, default=0) + 1
    if count == 1:
        return (Stage(group, 0),)
    gap = group.interval_seconds // count
    return tuple(
        Stage(RuleGroup(f"{group.name}:stage{level}", group.interval_seconds,
                        tuple(r for r, d in zip(group.rules, depth) if d == level)), level * gap)
        for level in range(count)
    )


def _vmalert_groups(groups: tuple[RuleGroup, ...]) -> list[dict[str, Any]]:
    out = []
    for group in groups:
        stages = vmalert_stages(group)
        for stage in stages:
            offset = format_duration(stage.offset_seconds) if stage.offset_seconds else "0s"
            extra = {"eval_offset": offset} if len(stages) > 1 else {}
            out.append(group_document(stage.group, **extra))
    return out


def vmalert_file(path: str, groups: tuple[RuleGroup, ...]) -> tuple[str, str]:
    """A vmalert rules file (``-rule=``): the groups split into stages chained with ``eval_offset``."""
    stem = _stem(path)
    head = _head(f"vmalert rules (v1.113 or later: eval_offset chains the stages); load with "
                 f"vmalert -rule='{c.VMALERT_DIR}/*.rules.yml' -remoteWrite.url=... -remoteRead.url=...")
    return f"{c.VMALERT_DIR}/{stem}.rules.yml", head + dump({"groups": _vmalert_groups(groups)})


def vmrule_file(path: str, groups: tuple[RuleGroup, ...]) -> tuple[str, str]:
    """The VictoriaMetrics operator's ``VMRule`` resource holding the vmalert groups."""
    stem = _stem(path)
    document = {
        "apiVersion": "operator.victoriametrics.com/v1beta1",
        "kind": "VMRule",
        "metadata": {"name": object_name(stem), "labels": {"app.kubernetes.io/managed-by": "sloengine"}},
        "spec": {"groups": _vmalert_groups(groups)},
    }
    return f"{c.VMRULE_DIR}/{stem}.vmrule.yml", _head(f"kubectl apply -f {c.VMRULE_DIR}/") + dump(document)


# ---- Google Managed Prometheus -------------------------------------------------------------------


def gmp_file(path: str, groups: tuple[RuleGroup, ...]) -> tuple[str, str]:
    """Google Managed Prometheus's namespaced ``Rules`` resource (its ``spec.groups`` are Prometheus's).

    Its rules only read series of the resource's namespace (and its cluster and project), so every object,
    the calendars' included, goes into the namespace the SLOs' metrics are in; ``ClusterRules`` (the same
    spec, cluster-wide) is the kind for metrics of several namespaces (README, "Rulers")."""
    stem = _stem(path)
    document = {
        "apiVersion": "monitoring.googleapis.com/v1",
        "kind": "Rules",
        "metadata": {"name": object_name(stem), "labels": {"app.kubernetes.io/managed-by": "sloengine"}},
        "spec": {"groups": [group_document(g) for g in groups]},
    }
    return f"{c.GMP_DIR}/{stem}.rules.yml", _head(f"kubectl apply -n NAMESPACE -f {c.GMP_DIR}/") + dump(document)
