"""``generate --format mimir|thanos|vmalert|vmrule|gmp``: each ruler's files for the examples are valid for that
ruler (a minimal schema written from its published loader or CRD, cited below), and hold exactly the groups of the
plain rule files of the same run, which promtool checks (and whose promtool tests cover them).

Also: no recorded series keeps a replica label when the raw series carry one (HA pairs behind Thanos or Mimir)."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from sloengine.cli import main
from sloengine.compiler.generate import OutputFormat, render
from sloengine.compiler.rulers import PartialResponse, RulerOptions, vmalert_stages
from sloengine.compiler.rules import RecordingRule, RuleGroup
from sloengine.model import conventions as c
from sloengine.specs.loader import load

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (make test installs it)")

# ---- minimal schemas ------------------------------------------------------------------------------------------

#: A Prometheus rule and rule group, as https://prometheus.io/docs/prometheus/latest/configuration/recording_rules/
#: documents them (and as every format below embeds them).
PROM_RULE = {
    "type": "object",
    "properties": {"record": {"type": "string", "minLength": 1}, "alert": {"type": "string", "minLength": 1},
                   "expr": {"type": "string", "minLength": 1}, "for": {"type": "string"},
                   "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                   "annotations": {"type": "object", "additionalProperties": {"type": "string"}}},
    "required": ["expr"],
    "oneOf": [{"required": ["record"]}, {"required": ["alert"]}],
    "additionalProperties": False,
}


def group_schema(extra: dict[str, Any] | None = None, required: tuple[str, ...] = ("name", "rules"),
                 rule: dict[str, Any] = PROM_RULE) -> dict[str, Any]:
    return {"type": "object",
            "properties": {"name": {"type": "string", "minLength": 1}, "interval": {"type": "string"},
                           "rules": {"type": "array", "minItems": 1, "items": rule}, **(extra or {})},
            "required": list(required), "additionalProperties": False}


#: mimirtool reads one namespace per YAML document with KnownFields(true): `namespace` and `groups` of Prometheus
#: groups (Mimir adds a few optional group keys). https://github.com/grafana/mimir/blob/main/pkg/mimirtool/rules/parser.go
#: and pkg/mimirtool/rules/rwrulefmt; `rules sync --rule-dirs` reads *.yml/*.yaml
#: (https://github.com/grafana/mimir/blob/main/pkg/mimirtool/commands/rules.go).
MIMIR = {"type": "object",
         "properties": {"namespace": {"type": "string", "minLength": 1},
                        "groups": {"type": "array", "minItems": 1, "items": group_schema({
                            "source_tenants": {"type": "array"}, "evaluation_delay": {"type": "string"},
                            "query_offset": {"type": "string"}, "limit": {"type": "integer"}})}},
         "required": ["namespace", "groups"], "additionalProperties": False}

#: Thanos Ruler: Prometheus groups plus `partial_response_strategy: warn|abort`
#: (https://thanos.io/tip/components/rule.md/#partial-response, https://github.com/thanos-io/thanos/pull/970).
THANOS = {"type": "object",
          "properties": {"groups": {"type": "array", "minItems": 1, "items": group_schema(
              {"partial_response_strategy": {"enum": ["warn", "abort"]}},
              required=("name", "rules", "partial_response_strategy"))}},
          "required": ["groups"], "additionalProperties": False}

#: vmalert's group and rule keys; unknown keys are errors (checkOverflow).
#: https://github.com/VictoriaMetrics/VictoriaMetrics/blob/master/app/vmalert/config/config.go and
#: https://docs.victoriametrics.com/victoriametrics/vmalert/#groups
VM_RULE = {**PROM_RULE, "properties": {**PROM_RULE["properties"], "keep_firing_for": {"type": "string"},
                                       "debug": {"type": "boolean"}, "update_entries_limit": {"type": "integer"}}}
VM_GROUP = group_schema({key: {} for key in ("type", "eval_offset", "eval_delay", "limit", "concurrency", "labels",
                                             "params", "headers", "notifier_headers", "eval_alignment")},
                        rule=VM_RULE)
VMALERT = {"type": "object", "properties": {"groups": {"type": "array", "minItems": 1, "items": VM_GROUP}},
           "required": ["groups"], "additionalProperties": False}

#: The VMRule CRD (operator.victoriametrics.com/v1beta1): spec.groups[] with name and rules required.
#: https://github.com/VictoriaMetrics/operator/blob/master/config/crd/bases/operator.victoriametrics.com_vmrules.yaml
VMRULE = {"type": "object",
          "properties": {"apiVersion": {"const": "operator.victoriametrics.com/v1beta1"}, "kind": {"const": "VMRule"},
                         "metadata": {"type": "object", "required": ["name"]},
                         "spec": {"type": "object", "required": ["groups"],
                                  "properties": {"groups": {"type": "array", "minItems": 1, "items": VM_GROUP}},
                                  "additionalProperties": False}},
          "required": ["apiVersion", "kind", "metadata", "spec"]}

#: GMP's Rules CRD (monitoring.googleapis.com/v1, namespaced): spec.groups[] require interval, name and rules; each
#: rule requires expr. https://github.com/GoogleCloudPlatform/prometheus-engine/blob/main/charts/operator/crds/monitoring.googleapis.com_rules.yaml
GMP = {"type": "object",
       "properties": {"apiVersion": {"const": "monitoring.googleapis.com/v1"}, "kind": {"const": "Rules"},
                      "metadata": {"type": "object", "required": ["name"], "not": {"required": ["namespace"]}},
                      "spec": {"type": "object", "required": ["groups"], "additionalProperties": False,
                               "properties": {"groups": {"type": "array", "minItems": 1, "items": group_schema(
                                   required=("interval", "name", "rules"))}}}},
       "required": ["apiVersion", "kind", "metadata", "spec"]}

#: Per format: its directory, its schema, and where the Prometheus groups are in its documents.
FORMATS: dict[OutputFormat, tuple[str, dict[str, Any]]] = {
    OutputFormat.MIMIR: (c.MIMIR_DIR, MIMIR),
    OutputFormat.THANOS: (c.THANOS_DIR, THANOS),
    OutputFormat.VMALERT: (c.VMALERT_DIR, VMALERT),
    OutputFormat.VMRULE: (c.VMRULE_DIR, VMRULE),
    OutputFormat.GMP: (c.GMP_DIR, GMP),
}
#: Keys a format adds to a Prometheus group.
FORMAT_KEYS = {"partial_response_strategy", "eval_offset"}
STAGE = re.compile(r":stage(\d+)\Z")


def groups_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    return document["spec"]["groups"] if "spec" in document else document["groups"]


def vmalert_rules(document: dict[str, Any]) -> None:
    """vmalert's loader checks beyond the schema (config.go Validate/parse): unique group names in a file,
    ``eval_offset`` within ``interval`` and never with ``eval_delay``."""
    names = [g["name"] for g in groups_of(document)]
    assert len(names) == len(set(names)), "group names repeat"
    for group in groups_of(document):
        if "eval_offset" in group:
            assert "interval" in group and "eval_delay" not in group
            assert seconds(group["eval_offset"]) < seconds(group["interval"])


def seconds(text: str) -> int:
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([dhms])", text))


def validate(fmt: OutputFormat, document: dict[str, Any]) -> None:
    jsonschema.validate(document, FORMATS[fmt][1])
    if fmt in (OutputFormat.VMALERT, OutputFormat.VMRULE):
        vmalert_rules(document)


@pytest.fixture(scope="module")
def catalog():
    return load([EXAMPLES]).catalog


@pytest.fixture(scope="module", params=list(FORMATS), ids=lambda f: f.value)
def rendered(request, catalog) -> tuple[OutputFormat, dict[str, str]]:
    return request.param, render(catalog, request.param, dashboards=False, rulers=RulerOptions(tenant="acme"))


def ruler_documents(fmt: OutputFormat, files: dict[str, str]) -> dict[str, dict[str, Any]]:
    folder = FORMATS[fmt][0]
    return {path: yaml.safe_load(text) for path, text in files.items() if path.startswith(folder + "/")}


def plain_groups(files: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    return {Path(path).name.removesuffix(".rules.yml"): yaml.safe_load(text)["groups"]
            for path, text in files.items() if path.startswith(c.RULES_DIR + "/") and path.endswith(".rules.yml")}


def stem_of(path: str) -> str:
    name = Path(path).name
    for suffix in (".vmrule.yml", ".rules.yml", ".yml"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    raise AssertionError(path)


def as_prometheus(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The groups without the format's keys, vmalert's stages joined back into their group (in stage order)."""
    out: dict[str, dict[str, Any]] = {}
    for group in groups:
        name = STAGE.sub("", group["name"])
        plain = {k: v for k, v in group.items() if k not in FORMAT_KEYS and k != "rules"}
        plain["name"] = name
        joined = out.setdefault(name, {**plain, "rules": []})
        joined["rules"].extend(group["rules"])
    return list(out.values())


# ---- (a), (b): every example, every format, valid for its ruler ------------------------------------------------


def test_every_rules_file_has_its_ruler_file_and_each_is_valid(rendered):
    fmt, files = rendered
    documents = ruler_documents(fmt, files)
    assert {stem_of(p) for p in documents} == set(plain_groups(files)), "a rules file without its ruler file"
    for path, document in documents.items():
        assert files[path].startswith("# Generated by sloengine"), path  # a later generate recognises it as ours
        validate(fmt, document)


def test_the_validators_reject_broken_files(rendered):
    """The schemas bite: a missing namespace, a wrong apiVersion or kind, an unknown group key fail."""
    fmt, files = rendered
    document = next(iter(ruler_documents(fmt, files).values()))
    breakages = {
        OutputFormat.MIMIR: [lambda d: d.pop("namespace"), lambda d: d["groups"][0].update(bogus=1)],
        OutputFormat.THANOS: [lambda d: d["groups"][0].pop("partial_response_strategy"),
                              lambda d: d["groups"][0].update(partial_response_strategy="maybe")],
        OutputFormat.VMALERT: [lambda d: d["groups"][0].update(partial_response_strategy="abort"),
                               lambda d: d["groups"][0].update(eval_delay="30s", eval_offset="0s")],
        OutputFormat.VMRULE: [lambda d: d.update(apiVersion="monitoring.coreos.com/v1"),
                              lambda d: d.update(kind="PrometheusRule")],
        OutputFormat.GMP: [lambda d: d.update(apiVersion="monitoring.googleapis.com/v1alpha1"),
                           lambda d: d["spec"]["groups"][0].pop("interval")],
    }[fmt]
    for breaking in breakages:
        broken = copy.deepcopy(document)
        breaking(broken)
        with pytest.raises((jsonschema.ValidationError, AssertionError)):
            validate(fmt, broken)


# ---- (c): the same groups as the plain rule files ---------------------------------------------------------------


def test_the_groups_are_those_of_the_plain_rule_files(rendered):
    fmt, files = rendered
    plain = plain_groups(files)
    for path, document in ruler_documents(fmt, files).items():
        mine = as_prometheus(groups_of(document))
        theirs = plain[stem_of(path)]
        assert [g["name"] for g in mine] == [g["name"] for g in theirs], path
        for group, original in zip(mine, theirs):
            assert group["interval"] == original["interval"]
            if fmt in (OutputFormat.VMALERT, OutputFormat.VMRULE):
                # Stages regroup a group's rules; each stage keeps their order.
                key = json.dumps
                assert sorted(map(key, group["rules"])) == sorted(map(key, original["rules"])), (path, group["name"])
            else:
                assert group == original, (path, group["name"])


def test_one_namespace_or_object_per_service_and_the_calendars_and_agreements_their_own(rendered, catalog):
    fmt, files = rendered
    names = set()
    for document in ruler_documents(fmt, files).values():
        if fmt is OutputFormat.MIMIR:
            names.add(document["namespace"])
        elif "metadata" in document:
            names.add(document["metadata"]["name"])
    if fmt in (OutputFormat.MIMIR, OutputFormat.VMRULE, OutputFormat.GMP):
        services = {slo.service for slo in catalog.slos}
        shared = {c.OBJECT_PREFIX + "calendars", c.OBJECT_PREFIX + "agreements"}
        assert catalog.agreements, "the examples carry agreements, whose rules have a namespace of their own"
        assert names == {c.OBJECT_PREFIX + s for s in services} | shared


def test_mimir_files_record_the_tenant_and_the_sync_command(catalog):
    files = render(catalog, OutputFormat.MIMIR, dashboards=False, rulers=RulerOptions(tenant="acme"))
    text = files[f"{c.MIMIR_DIR}/checkout-api.yml"]
    assert "of tenant acme" in text and "mimirtool rules sync --address URL --id acme --rule-dirs mimir" in text


def test_thanos_partial_response_is_a_choice(tmp_path):
    out = tmp_path / "out"
    done = CliRunner().invoke(main, ["generate", str(EXAMPLES), "--out", str(out), "--no-dashboards",
                                     "--format", "thanos", "--partial-response", "warn"])
    assert done.exit_code == 0, done.output
    for path in (out / c.THANOS_DIR).glob("*.yml"):
        assert {g["partial_response_strategy"] for g in yaml.safe_load(path.read_text())["groups"]} == {"warn"}
    assert PartialResponse("abort") is RulerOptions().partial_response


# ---- vmalert: stages ---------------------------------------------------------------------------------------------


def test_vmalert_stages_put_every_reader_after_what_it_reads(catalog):
    from sloengine.compiler.generate import compile_service
    from sloengine.compiler.rulers import _reads

    for service in {slo.service for slo in catalog.slos}:
        slos = tuple(s for s in catalog.slos if s.service == service)
        compiled = compile_service(catalog.service(service), slos, self_contained=True)
        for group in (g for _, pair in compiled for g in pair):
            stages = vmalert_stages(group)
            stage_of = {id(r): i for i, s in enumerate(stages) for r in s.group.rules}
            offsets = [s.offset_seconds for s in stages]
            assert offsets == sorted(set(offsets)) and offsets[-1] < group.interval_seconds
            for index, rule in enumerate(group.rules):
                for earlier in group.rules[:index]:
                    if isinstance(earlier, RecordingRule) and _reads(rule.expr, earlier.record):
                        assert stage_of[id(rule)] > stage_of[id(earlier)], (group.name, rule)
            # The tiles and the bad events read no series recorded in their own stage.
            first = stages[0].group.rules
            recorded = {r.record for r in first if isinstance(r, RecordingRule)}
            for rule in first:
                later = [m for m in recorded if _reads(rule.expr, m) and m != c.METRIC_TILE_END]
                assert later == [], (group.name, rule)


def test_self_contained_groups_differ_only_in_bad_events_read_from_raw_totals(catalog):
    from sloengine.compiler.generate import compile_service

    for service in {slo.service for slo in catalog.slos}:
        slos = tuple(s for s in catalog.slos if s.service == service)
        plain = compile_service(catalog.service(service), slos)
        contained = compile_service(catalog.service(service), slos, self_contained=True)
        for (_, a), (_, b) in zip(plain, contained):
            for group_a, group_b in zip(a, b):
                assert isinstance(group_a, RuleGroup) and [type(r) for r in group_a.rules] == [
                    type(r) for r in group_b.rules]
                for rule_a, rule_b in zip(group_a.rules, group_b.rules):
                    if rule_a != rule_b:
                        assert isinstance(rule_a, RecordingRule) and rule_a.record in (
                            c.METRIC_BAD, c.METRIC_TILE_BAD), rule_a


# ---- (d): promtool on the groups inside ---------------------------------------------------------------------------


@needs_promtool
def test_promtool_accepts_the_groups_inside(rendered, tmp_path):
    fmt, files = rendered
    paths = []
    for path, document in ruler_documents(fmt, files).items():
        target = tmp_path / (stem_of(path) + ".rules.yml")
        groups = [{k: v for k, v in g.items() if k not in FORMAT_KEYS} for g in groups_of(document)]
        target.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        paths.append(str(target))
    done = subprocess.run(["promtool", "check", "rules", *paths], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


# ---- replicas ----------------------------------------------------------------------------------------------------


def with_label(series: str, name: str, value: str) -> str:
    if series.endswith("}"):
        inner = series[series.index("{") + 1:-1]
        return series[:-1] + ("," if inner.strip() else "") + f'{name}="{value}"}}'
    return series + f'{{{name}="{value}"}}'


#: The replica labels of HA pairs: Thanos's convention and prometheus-operator's.
REPLICA_LABELS = ("replica", "prometheus_replica")


@needs_promtool
def test_no_recorded_series_keeps_a_replica_label(catalog, tmp_path):
    """Every raw series twice, from replicas a and b (both labels at once): an hour on, every recorded series still
    has neither label (the rules aggregate to the SLI's groups), so an HA pair's copies never make two series of
    one recorded series."""
    files = render(catalog, dashboards=False)
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    tests = []
    replicated = ",".join(f'{label}!=""' for label in REPLICA_LABELS)
    for path, text in files.items():
        if not path.startswith(c.TESTS_DIR + "/"):
            continue
        document = yaml.safe_load(text)
        for case in document["tests"]:
            series = []
            for s in case["input_series"]:
                for r in ("a", "b"):
                    labelled = s["series"]
                    for label in REPLICA_LABELS:
                        labelled = with_label(labelled, label, r)
                    series.append({**s, "series": labelled})
            case["input_series"] = series
            case.pop("alert_rule_test", None)
            # An hour: every rule has run (each long window is recorded from the first evaluation on).
            case["promql_expr_test"] = [
                {"expr": f'count({{__name__=~"slo:.+",{replicated}}}) or vector(0)', "eval_time": "1h",
                 "exp_samples": [{"labels": "{}", "value": 0}]},
                *({"expr": f'count({{__name__=~"slo:.+",{label}!=""}}) or vector(0)', "eval_time": "1h",
                   "exp_samples": [{"labels": "{}", "value": 0}]} for label in REPLICA_LABELS),
                {"expr": 'count({__name__=~"slo:.+"}) > bool 0', "eval_time": "1h",
                 "exp_samples": [{"labels": "{}", "value": 1}]},
            ]
        document["tests"] = document["tests"][:1]
        target = tmp_path / c.TESTS_DIR / ("replica-" + Path(path).name)
        target.write_text(yaml.safe_dump(document, sort_keys=False))
        tests.append(str(target))
    assert tests
    done = subprocess.run(["promtool", "test", "rules", *tests], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]


@needs_promtool
def test_the_self_contained_rules_of_a_vmalert_run_pass_their_alert_tests(catalog, tmp_path):
    """vmalert's bad events count their totals from the raw counters: the rules/ of that run, with those
    expressions, pass the generated lifecycle tests (1x burn never pages, an outage pages, recovery clears)."""
    files = render(catalog, OutputFormat.VMALERT, dashboards=False)
    assert files[f"{c.RULES_DIR}/checkout-api.rules.yml"] != render(catalog, dashboards=False)[
        f"{c.RULES_DIR}/checkout-api.rules.yml"]
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    tests = sorted(str(p) for p in (tmp_path / c.TESTS_DIR).glob("*.test.yml"))
    done = subprocess.run(["promtool", "test", "rules", *tests], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
