"""Mutated specs always end in a clean, placed error or a valid model: never a traceback."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloengine.cli import main
from sloengine.specs.loader import load

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))
BASES = [yaml.safe_load(p.read_text()) for p in EXAMPLES]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30), st.sampled_from(["5m", "0s", "-1d", "99.99", "{{.window}}", 'x{a="', "le", "service"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


@st.composite
def mutated_specs(draw):
    doc = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        action = draw(st.sampled_from(["replace", "delete", "rename", "add"]))
        if action == "replace":
            parent[key] = draw(values)
        elif action == "delete":
            del parent[key]
        elif action == "rename" and isinstance(parent, dict):
            parent[str(key)[:-1] + draw(st.text(max_size=2)) or "x"] = parent.pop(key)
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(values)
        else:
            parent.append(draw(values))
    return doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated_specs())
def test_mutated_spec_gives_placed_errors_with_fixes_or_a_model(tmp_path, doc):
    path = tmp_path / "mutated.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    result = load([path])
    for diagnostic in result.errors:
        assert diagnostic.position.file == str(path)
        assert diagnostic.position.line >= 1, diagnostic.render()
        assert diagnostic.message
        assert diagnostic.hint, f"error without a fix: {diagnostic.render()}"
    if result.ok:
        assert result.catalog.slos


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated_specs())
def test_validate_command_exits_zero_or_one_without_traceback(tmp_path, doc):
    path = tmp_path / "mutated.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    outcome = CliRunner().invoke(main, ["validate", str(path)])
    assert outcome.exit_code in (0, 1), outcome.output
    assert outcome.exception is None or isinstance(outcome.exception, SystemExit)
    assert "Traceback" not in outcome.output


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_loader(tmp_path, blob):
    path = tmp_path / "junk.yaml"
    path.write_bytes(blob)
    result = load([path])
    assert all(d.position.file == str(path) for d in result.diagnostics)
