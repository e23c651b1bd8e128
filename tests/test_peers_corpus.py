"""Every example file of the peers imports, or is rejected with a precise reason; none crashes or is skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloengine.loader import load

from conftest import PEERS


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
