"""The fast YAML layout writes exactly what PyYAML writes, for every document sloengine generates."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sloengine.compiler import rulefiles
from sloengine.compiler.rulefiles import (
    HEADER,
    UnsupportedLayout,
    dump,
    fresh_scalar_text,
    groups_document,
    render_prometheus_rule,
    render_rule_file,
    scalar_texts,
)
from sloengine.compiler.rules import AlertingRule, RecordingRule, RuleGroup, compile_catalog


def pyyaml(document):
    return yaml.dump(document, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False,
                     width=100000, allow_unicode=True, default_flow_style=False)


TRICKY = ["", "true", "yes", "no", "null", "~", "1", "1.5", "0x1F", "1_000", "2026-03-31", "- x", "#x", "a: b",
          "a #b", "'quoted'", '"double"', "back\\slash", "ünïcode ✓", "tab\there", "x" * 200, "{}", "[a]", "*ref",
          "&anchor", "!tag", "%", "@", "`", "job=~\"5..\"", "sum by (x) (rate(y[5m]))", " leading", "trailing ",
          "line\nbreak", "=", "?", "? x", ": x", ",", "|", ">"]


def test_every_generated_yaml_file_is_laid_out_as_pyyaml_would():
    """Rule files, alert tests and Alertmanager files are laid out directly (caches of how each string is
    written carry over between calls), so the check is on the files themselves: each is what PyYAML writes of
    what it holds, whatever was compiled before it in this process."""
    from sloengine.compiler.generate import render
    from sloengine.specs.loader import load_or_raise

    catalog = load_or_raise(["examples"])
    for _ in range(2):  # the second pass runs on warm caches
        files = render(catalog)
        yaml_files = {path: text for path, text in files.items() if path.endswith((".yml", ".yaml"))}
        assert any("tests" in path for path in yaml_files) and any("alertmanager" in path for path in yaml_files)
        for path, text in yaml_files.items():
            lines = text.splitlines(keepends=True)
            while lines and lines[0].startswith("#"):  # the header comments
                lines.pop(0)
            body = "".join(lines)
            assert body == pyyaml(yaml.safe_load(body)), path


def test_tricky_scalars_keys_and_nesting_match_pyyaml():
    document = {
        "plain": TRICKY,
        "as_keys": {s: s for s in TRICKY if s and len(s) < 100},
        "numbers": [0, -1, 10**20, 0.1, 1e-05, 1e300, float("inf"), True, False, None],
        "empty": {"dict": {}, "list": []},
        "nested": [[1, [2, []]], [{"a": [{"b": {"c": [1]}}]}], {"k": [[{}]]}],
        "x" * 130: "long key",
    }
    assert dump(document) == pyyaml(document)
    assert dump([]) == pyyaml([]) and dump({}) == pyyaml({}) and dump("x") == pyyaml("x")
    assert dump("\n") == pyyaml("\n") and dump("a\nb") == pyyaml("a\nb")  # found by hypothesis


words = st.one_of(st.from_regex(r"[A-Za-z_.~][A-Za-z0-9_./:= -]{0,6}", fullmatch=True),
                  st.sampled_from(["yes", "No", "ON", "off", "True", "null", "Null", "NULL", "y", "n", "~", "<<", "=",
                                   "_", ".inf", ".NaN", "a.b", "x/y", "a-1", "e1", "inf", "nan", "v1.2.3"]),
                  st.from_regex(r"[ -~]{0,5}: [ -~]{0,5}", fullmatch=True))
scalars = st.one_of(st.text(max_size=12), words, st.integers(), st.booleans(), st.none(),
                    st.floats(allow_nan=False, width=32))
documents = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                         max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_any_document_of_dicts_lists_and_scalars_matches_pyyaml(document):
    assert dump(document) == pyyaml(document)


def test_unquoted_values_are_exactly_those_pyyaml_leaves_unquoted():
    """Expressions are written without asking PyYAML when PyYAML would leave them plain: strings dense in YAML
    indicators (``: ``, `` #``, leading ``-``, ``---``, quotes, brackets) come out as PyYAML writes them."""
    import random

    rng = random.Random(13)
    alphabet = "ab:# -?,[]{}\"'!&*|>%@`=~.0123tn\t"
    prefixes = ("", "", "", "---", "...", "- ", "-", "? ", ":", "#", "'", '"', "%", "@", " ")
    for _ in range(20000):
        value = rng.choice(prefixes) + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        if not value:
            continue
        document = {"expr": value, "list": [value]}
        assert rulefiles.dump(document) == yaml.dump(document, Dumper=rulefiles._DUMPER, sort_keys=False,
                                                     width=100000, allow_unicode=True, default_flow_style=False)


def operator_document(name, groups, labels=None):
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "sloengine", **(labels or {})}},
            "spec": groups_document(groups)}


def test_rule_files_and_operator_objects_of_the_examples_are_laid_out_as_pyyaml_would():
    from sloengine.specs.loader import load_or_raise

    by_service = compile_catalog(load_or_raise(["examples"]))
    assert by_service
    for service, groups in by_service.items():
        assert render_rule_file(groups) == HEADER + pyyaml(groups_document(groups))
        assert render_prometheus_rule(f"sloengine-{service}", groups) == HEADER + pyyaml(
            operator_document(f"sloengine-{service}", groups))
    assert render_rule_file(()) == HEADER + pyyaml(groups_document(()))


texts = st.one_of(st.sampled_from(TRICKY), words, st.text(max_size=12))
label_sets = st.lists(st.tuples(st.one_of(words, st.sampled_from(["x" * 130, "a\nb", "k"])), texts),
                      max_size=4).map(tuple)
recording = st.builds(RecordingRule, texts, texts, label_sets)
alerting = st.builds(AlertingRule, texts, texts, st.sampled_from([0, 60, 90, 3600]), label_sets, label_sets)
rule_groups = st.lists(st.builds(RuleGroup, texts, st.sampled_from([30, 300, 86400]),
                                 st.lists(st.one_of(recording, alerting), max_size=4).map(tuple)),
                       max_size=3).map(tuple)


@settings(max_examples=300, deadline=None)
@given(rule_groups, st.one_of(st.none(), st.dictionaries(texts, texts, max_size=2)))
def test_any_rule_groups_are_laid_out_as_pyyaml_would(groups, labels):
    """Rule groups are written directly, not through dump: tricky names, expressions, repeated label names,
    long or multi-line keys and values (which PyYAML lays out) still come out as PyYAML writes them."""
    assert render_rule_file(groups) == HEADER + pyyaml(groups_document(groups))
    assert render_prometheus_rule("n", groups, labels) == HEADER + pyyaml(operator_document("n", groups, labels))


@settings(max_examples=300, deadline=None)
@given(st.lists(texts, max_size=6))
def test_scalars_quoted_together_are_quoted_as_one_by_one(values):
    def one(value):
        try:
            return fresh_scalar_text(value)
        except UnsupportedLayout:   # a line break: PyYAML lays out the document
            return None

    alone = [one(v) for v in values]
    if None in alone:
        with pytest.raises(UnsupportedLayout):
            scalar_texts(values)
    else:
        assert scalar_texts(values) == alone

