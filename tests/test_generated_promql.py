"""Every expression the compiler writes parses, for the examples and for a varied catalogue.

The compiler does not re-parse its own output (that was most of the cost of compiling thousands of SLOs):
these tests do, with the parser sloengine reads user queries with and with promtool, and check that the
two processes of a large ``generate`` write exactly what one process writes.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sloengine.compiler import generate
from sloengine.compiler.dashboards import SAMPLE_VARIABLES, substitute
from sloengine.compiler.generate import render, write_catalog
from sloengine.model import conventions as c
from sloengine.model.promql import parse
from sloengine.model.slo import Catalog
from sloengine.specs.loader import load

REPO = Path(__file__).resolve().parents[1]
PROMTOOL = shutil.which("promtool")


@pytest.fixture(scope="module")
def varied(tmp_path_factory: pytest.TempPathFactory, write_catalogue) -> tuple[Catalog, dict[str, str]]:
    """150 SLOs of the benchmark's varied catalogue (own metric names per service, every SLI kind, rolling and
    calendar windows, alert options, agreements) and everything ``generate`` writes for them."""
    specs = tmp_path_factory.mktemp("varied")
    write_catalogue(150, specs, seed=7)
    result = load([specs])
    assert result.ok, [d.render() for d in result.errors[:5]]
    return result.catalog, render(result.catalog)


def _expressions(files: dict[str, str]) -> list[tuple[str, str]]:
    found = []
    for path, text in sorted(files.items()):
        if path.startswith(f"{c.RULES_DIR}/"):
            for group in yaml.safe_load(text)["groups"]:
                found += [(f"{path}: {rule.get('record') or rule.get('alert')}", rule["expr"])
                          for rule in group["rules"]]
    return found


def _queries(files: dict[str, str]) -> list[tuple[str, str]]:
    found = []
    for path, text in sorted(files.items()):
        if path.startswith(f"{c.DASHBOARDS_DIR}/") and path.endswith(".json"):
            stack = [yaml.safe_load(text)]
            while stack:
                node = stack.pop()
                if isinstance(node, dict):
                    if isinstance(node.get("expr"), str) and node["expr"]:
                        found.append((path, node["expr"]))
                    stack.extend(node.values())
                elif isinstance(node, list):
                    stack.extend(node)
    return found


def _unparsed(items: list[tuple[str, str]]) -> list[str]:
    failed = []
    for where, expr in items:
        try:
            parse(expr)
        except ValueError as exc:
            failed.append(f"{where}: {exc}")
    return failed


def test_every_rule_expression_of_the_examples_parses() -> None:
    files = render(load([REPO / "examples"]).catalog)
    expressions = _expressions(files)
    assert len(expressions) > 100
    assert _unparsed(expressions) == []


def test_every_rule_and_dashboard_query_of_a_varied_catalogue_parses(varied: tuple[Catalog, dict[str, str]]) -> None:
    _, files = varied
    expressions, queries = _expressions(files), _queries(files)
    assert len(expressions) > 3000 and len(queries) > 1000
    assert _unparsed(expressions) == []
    assert _unparsed([(where, substitute(expr, SAMPLE_VARIABLES)) for where, expr in queries]) == []


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_promtool_accepts_every_rules_file_of_a_varied_catalogue(varied: tuple[Catalog, dict[str, str]],
                                                                  tmp_path: Path) -> None:
    _, files = varied
    rules = sorted(p for p in files if p.startswith(f"{c.RULES_DIR}/"))
    for path in rules:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(files[path], encoding="utf-8")
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, "check", "rules", *(str(tmp_path / p) for p in rules)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_two_processes_write_what_one_writes(varied: tuple[Catalog, dict[str, str]], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A large catalogue is compiled in two processes (the worker stages its own files on disk): the output
    directory holds the same bytes as a serial run, and no staging file is left behind."""
    catalog, serial = varied
    monkeypatch.setattr(generate, "PARALLEL_SLOS", 10)
    monkeypatch.setenv("SLOENGINE_WORKERS", "2")
    out = tmp_path / "out"
    written = write_catalog(out, catalog).written
    on_disk = {p.relative_to(out).as_posix(): p.read_text(encoding="utf-8") for p in out.rglob("*") if p.is_file()}
    assert on_disk == serial
    assert sorted(p.relative_to(out).as_posix() for p in written) == sorted(serial)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "a staging directory was left behind"
