"""User text in alert labels and annotations: literal by default, checked like Prometheus when templated.

The checker is compared with the real promtool 2.42 on a corpus of valid and broken templates: whatever it
accepts, promtool accepts (it may refuse more: a field the alert does not have, a dangling ``|``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from sloengine.compiler.generate import render
from sloengine.model import conventions as c
from sloengine.model.templates import expand_literal, literal, template_problem
from sloengine.specs.loader import load

CORPUS = [
    "plain text", "{{ $value }}", "{{$value}}", "{{ $value | humanize }}", "{{ $labels.instance }}",
    "{{ .Labels.job }}", "{{ .Value }}", "{{ $labels.job", "{{ unbalanced", "x }} y", "x }} y {{", "{{ .Foo }}",
    "{{ foo }}", "{{ }}", "{{ if gt $value 1.0 }}high{{ end }}", "{{ if gt $value 1.0 }}high", "{{ end }}",
    "{{ else }}", "{{ if $value }}a{{ else }}b{{ end }}", "{{ if $value }}a{{ else if $labels }}b{{ end }}",
    '{{ range query "up" }}{{ .Labels.instance }} {{ .Value }}{{ end }}', '{{ printf "%.2f" $value }}',
    '{{ printf "%.2f }}" $value }}', '{{ "unterminated }}', "{{ $x := 1 }}{{ $x }}", "{{ $x }}", "{{ $x = 1 }}",
    "{{/* a comment */}}", "{{/* open comment }}", "{{- $value -}}", "{{-$value}}", "{{ $value | }}",
    "{{ | humanize }}", "{{ (humanize $value) }}", "{{ (humanize $value }}", "{{ humanize $value) }}",
    "{{ with $labels.job }}{{ . }}{{ end }}", '{{ template "x" }}', '{{ define "x" }}a{{ end }}', "{{ break }}",
    "{{ range $i, $v := $labels }}{{ $i }}={{ $v }}{{ end }}", "{{ range $i, $v := $labels }}{{ break }}{{ end }}",
    "{{ 'a' }}", "{{ `raw }} string` }}", "{{ 1.5e3 }}", "{{ -1 }}", "{{ nil }}", "{{ true }}",
    '{{ index $labels "job" }}', "{{ $labels.job | toUpper | title }}", "{{ $externalURL }}", "{{ .ExternalURL }}",
    "{{ $ }}", "{{ . }}", '{{ reReplaceAll "a" "b" $labels.job }}', "Uses {{ $value }} and {{ unbalanced",
    "{{ $labels.job }}}", "{{{ $labels.job }}", '{{ "{{" }}', 'a {{ "{{" }} b }} c', "{{ $labels.job @ }}",
    "{{ $labels.job ; }}", "{{ if }}{{ end }}", "{{ else }}{{ end }}", "{{ end x }}",
    '{{ $value | printf "%s" | len }}', "{{ $1 }}", "{{ $labels.1x }}", "{{ .Labels.foo.bar }}", "{{ and 1 2 }}",
    "{{ call }}", "{{ x := 1 }}", "{{ $x, $y := 1 }}", "{{\n$value\n}}", '{{ "a\nb" }}', "{{ (humanize $value).X }}",
    "{{", "}}", "{{}}", "{{ $labels.job }}{{ end }}", "{{ if 1 }}{{ range $labels }}{{ end }}",
]


def _rule_file(path: Path, annotation: str, label: str | None = None) -> Path:
    rule = {"alert": "A", "expr": "up", "annotations": {"a": annotation}}
    if label is not None:
        rule["labels"] = {"l": label}
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [rule]}]}))
    return path


def _promtool_accepts(paths: list[Path]) -> dict[Path, bool]:
    """One promtool run over many files; a file it names in an error line is refused."""
    done = subprocess.run(["promtool", "check", "rules", *map(str, paths)], capture_output=True, text=True,
                          timeout=120)
    output = done.stdout + done.stderr
    return {p: f"{p}: " not in output.replace(f"Checking {p}", "") for p in paths}


def test_whatever_the_checker_accepts_promtool_accepts(tmp_path):
    files = [_rule_file(tmp_path / f"t{i}.yml", t, t) for i, t in enumerate(CORPUS)]
    verdict = _promtool_accepts(files)
    accepted_by_us_refused_by_promtool = [t for t, f in zip(CORPUS, files)
                                          if template_problem(t) is None and not verdict[f]]
    assert not accepted_by_us_refused_by_promtool
    # And the checker is not vacuous: it refuses every template promtool refuses, and accepts most it accepts.
    promtool_ok = [t for t, f in zip(CORPUS, files) if verdict[f]]
    assert sum(template_problem(t) is None for t in promtool_ok) >= len(promtool_ok) - 4
    assert len(promtool_ok) < len(CORPUS) - 15


def test_literal_text_passes_promtool_and_prints_itself(tmp_path):
    files = [_rule_file(tmp_path / f"l{i}.yml", literal(t), literal(t)) for i, t in enumerate(CORPUS)]
    verdict = _promtool_accepts(files)
    assert all(verdict.values()), [t for t, f in zip(CORPUS, files) if not verdict[f]]
    for text in CORPUS:
        assert expand_literal(literal(text)) == text
        assert template_problem(literal(text)) is None


def test_text_without_braces_is_left_alone():
    assert literal("Checkout: 99.9% over 28d } {") == "Checkout: 99.9% over 28d } {"


def test_a_real_template_is_not_taken_for_literal_text():
    assert expand_literal("{{ $value }}") is None
    assert expand_literal('a {{ "{{" }} b') == "a {{ b"


@pytest.mark.parametrize(("template", "words"), [
    ("{{ $labels.job", "not closed"),
    ("{{ humanise $value }}", "function 'humanise' is not defined"),
    ("{{ if $value }}x", "no matching {{ end }}"),
    ("{{ $vlaue }}", "undefined variable $vlaue"),
    ("{{ .Lables.job }}", "no field 'Lables'"),
])
def test_a_broken_template_is_explained(template, words):
    assert words in (template_problem(template) or "")


SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {{name: api, team: core}}
slos:
  - name: a
    objective: 99.9
    description: "Uses {{{{ $value }}}} and {{{{ unbalanced"
    alerting:
      templates: {templates}
      labels: {{oops: "{{{{ $labels.job"}}
      annotations: {{runbook: "{{{{ .Foo }}}}", summary: "x }}}} y {{{{"}}
    sli: {{ratio: {{bad: 'x_total{{code="5"}}', total: x_total}}}}
"""


def test_braces_in_spec_text_make_rules_promtool_loads_that_print_the_text(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(templates="false"))
    result = load([spec])
    assert result.ok, [d.render() for d in result.errors]
    rules = tmp_path / "api.rules.yml"
    rules.write_text(render(result.catalog)[c.rules_file("api")])
    done = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    burn = next(r for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"]
                if r.get("alert") == c.ALERT_BURN)
    assert expand_literal(burn["annotations"]["summary"]) == "x }} y {{"
    assert expand_literal(burn["labels"]["oops"]) == "{{ $labels.job"
    assert expand_literal(burn["annotations"]["description"]).startswith("Uses {{ $value }} and {{ unbalanced")


def test_opted_in_templates_are_checked_at_validate(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(templates="true"))
    errors = [d.render() for d in load([spec]).errors]
    assert any("alerting.labels.oops" in e and "not closed" in e for e in errors), errors
    assert any("alerting.annotations.runbook" in e and "no field 'Foo'" in e for e in errors), errors


def test_opted_in_templates_that_parse_are_written_as_templates(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(templates="true").replace('"{{ $labels.job"', '"{{ $labels.job }}"')
                    .replace("{{ .Foo }}", "{{ $value | humanize }}").replace('"x }} y {{"', '"{{ $labels.slo }}"'))
    result = load([spec])
    assert result.ok, [d.render() for d in result.errors]
    burn = next(r for g in yaml.safe_load(render(result.catalog)[c.rules_file("api")])["groups"] for r in g["rules"]
                if r.get("alert") == c.ALERT_BURN)
    assert burn["labels"]["oops"] == "{{ $labels.job }}" and burn["annotations"]["summary"] == "{{ $labels.slo }}"


def test_alert_tests_expect_the_literal_text_and_promtool_agrees(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(templates="false"))
    result = load([spec])
    files = render(result.catalog)
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    test_file = tmp_path / c.tests_file("api")
    expected = yaml.safe_load(test_file.read_text())
    annotations = [a["exp_annotations"] for t in expected["tests"] for case in t["alert_rule_test"]
                   for a in case["exp_alerts"] if "exp_annotations" in a]
    assert annotations and all(a["summary"] == "x }} y {{" for a in annotations), "the page was not tested"
    done = subprocess.run(["promtool", "test", "rules", str(test_file)], capture_output=True, text=True,
                          timeout=300, cwd=test_file.parent)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
