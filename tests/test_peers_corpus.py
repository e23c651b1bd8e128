"""Every example file of the peers imports, or is rejected with a precise reason; none crashes or is skipped.

And every file that validates goes the whole way a user's would: generate, ``promtool check rules``,
``promtool test rules`` on the generated alert tests, ``amtool check-config``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import PEERS

from sloengine.compiler.generate import render
from sloengine.model import conventions as c
from sloengine.specs.loader import load


def _peer_files() -> list[Path]:
    if not PEERS.is_dir():
        return []
    return sorted(p for p in PEERS.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


FILES = _peer_files()

#: Files that are not SLO specs we read, and the words their rejection must use ("": any placed reason with a fix).
NOT_SPECS = {
    "sloth/examples/_gen/": "not an SLO spec",
    "sloth/examples/windows/": "AlertWindows",
    "sloth/integration-testdata/windows/": "AlertWindows",
    "pyrra/generated/": "not an SLO spec",
    "pyrra/config/crd/": "CustomResourceDefinition",
    "pyrra/docker-compose/prometheus/": "Prometheus server configuration",
    # v2alpha objects; one file labels them openslo/v1, and is then rejected for v2alpha's keys.
    "openslo/historical-sdk/v2alpha/": "",
}


def _expected_rejection(path: Path) -> str | None:
    relative = path.relative_to(PEERS).as_posix()
    return next((words for prefix, words in NOT_SPECS.items() if relative.startswith(prefix)), None)


@pytest.mark.skipif(not FILES, reason="../shared/peers is not present beside this clone")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(PEERS).as_posix())
def test_peer_file_imports_or_is_rejected_with_a_placed_reason(path):
    result = load([path])
    for diagnostic in result.diagnostics:
        assert diagnostic.position.file == str(path)
        assert diagnostic.message
    for error in result.errors:
        assert error.hint, f"rejection without a fix: {error.render()}"
        assert error.position.line >= 1, error.render()
    expected = _expected_rejection(path)
    if expected is not None:
        assert result.errors, "a file that is not an SLO spec must be rejected"
        assert all(expected in e.render() for e in result.errors), [e.render() for e in result.errors]
    else:
        assert result.errors or result.formats, "a spec must be read by one of the readers, or say why not"


@pytest.mark.skipif(not FILES, reason="../shared/peers is not present beside this clone")
def test_the_whole_peer_corpus_loads_in_one_run(peers_dir):
    result = load([peers_dir])
    assert len(result.catalog.slos) >= 30
    formats = {s.source_format.value for s in result.catalog.slos}
    # No openslo/v1 SLO: the corpus's only candidate, historical-sdk/v1/examples/slos.yaml, puts op on a ratio
    # objective, which OpenSLO's validator refuses (test_import_openslo reads it without the op).
    assert {"sloth prometheus/v1", "sloth PrometheusServiceLevel", "openslo/v1alpha",
            "pyrra ServiceLevelObjective"} <= formats
    assert "openslo/v1" in {f.value for _, f in result.formats}


# ---- every accepted file, end to end -------------------------------------------------------------


PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")


@dataclass(frozen=True)
class EndToEnd:
    """What each step said for one accepted file: generated files, ``promtool check rules``, ``promtool test
    rules`` on the generated tests, ``amtool check-config`` on the generated Alertmanager configuration."""

    slos: int
    files: tuple[str, ...]
    check: subprocess.CompletedProcess | None
    test: subprocess.CompletedProcess | None
    alertmanager: subprocess.CompletedProcess | None


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=900)


def _end_to_end(slos: int, out: Path, files: dict[str, str]) -> EndToEnd:
    for relative, text in files.items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_text(text, encoding="utf-8")
    rules = sorted(str(out / p) for p in files if p.startswith(c.RULES_DIR + "/"))
    tests = sorted(str(out / p) for p in files if p.startswith(c.TESTS_DIR + "/"))
    config = out / c.ALERTMANAGER_CONFIG_FILE
    return EndToEnd(slos, tuple(sorted(files)), _run(PROMTOOL, "check", "rules", *rules) if rules else None,
                    _run(PROMTOOL, "test", "rules", *tests) if tests else None,
                    _run(AMTOOL, "check-config", str(config)) if AMTOOL and config.exists() else None)


#: The files ``validate`` accepts (errors-free), found at collection so each is its own test.
ACCEPTED = [p for p in FILES if _expected_rejection(p) is None and load([p]).ok]


@pytest.fixture(scope="module")
def end_to_end(tmp_path_factory) -> dict[Path, EndToEnd]:
    """Every peer file that validates, generated the way ``sloengine generate`` does and checked by the real
    tools, several files at once. Files whose generated output is byte-identical to another's (the peers'
    duplicate-detection fixtures) are checked once: the tools' verdict depends only on those bytes."""
    if PROMTOOL is None:
        pytest.skip("promtool is not installed")
    root = tmp_path_factory.mktemp("peers-end-to-end")
    jobs: dict[str, tuple[int, Path, dict[str, str]]] = {}
    digest_of: dict[Path, str] = {}
    for index, path in enumerate(ACCEPTED):
        result = load([path])
        assert result.ok, [e.render() for e in result.errors]
        files = render(result.catalog, dashboards=False)
        digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
        digest_of[path] = digest
        jobs.setdefault(digest, (len(result.catalog.slos), root / f"{index:03d}", files))
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        done = dict(zip(jobs, pool.map(lambda job: _end_to_end(*job), jobs.values())))
    return {path: done[digest] for path, digest in digest_of.items()}


@pytest.mark.skipif(not FILES, reason="../shared/peers is not present beside this clone")
@pytest.mark.parametrize("path", ACCEPTED, ids=lambda p: p.relative_to(PEERS).as_posix())
def test_every_peer_file_that_validates_generates_rules_promtool_accepts_and_tests_that_pass(end_to_end, path):
    run = end_to_end[path]
    # A file of OpenSLO objects without an SLO (data sources, alert policies) validates and generates nothing.
    assert any(f.startswith(c.RULES_DIR + "/") for f in run.files) == (run.slos > 0)
    if run.check is not None:
        assert run.check.returncode == 0, run.check.stdout + run.check.stderr
    if run.test is not None:
        assert run.test.returncode == 0, run.test.stdout[-4000:] + run.test.stderr[-2000:]
    if run.alertmanager is not None:
        assert run.alertmanager.returncode == 0, run.alertmanager.stdout + run.alertmanager.stderr


@pytest.mark.skipif(not FILES, reason="../shared/peers is not present beside this clone")
def test_sloths_getting_started_example_gets_alert_tests_that_pass(end_to_end):
    """The file every Sloth user starts from (its page labelled ``severity: pageteam``) gets alert tests."""
    run = end_to_end[PEERS / "sloth" / "examples" / "getting-started.yml"]
    assert run.test is not None and run.test.returncode == 0 and "SUCCESS" in run.test.stdout
