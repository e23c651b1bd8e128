"""The library's three calls (``sloengine.load``, ``compile``, ``evaluate``) are the command line's pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

import sloengine
from sloengine.compiler.generate import render
from sloengine.model.results import Status
from sloengine.specs import loader

REPO = Path(__file__).resolve().parents[1]


def test_load_and_compile_give_what_generate_writes() -> None:
    catalog = sloengine.load(REPO / "examples")
    assert len(catalog.slos) == 5
    files = sloengine.compile(catalog)
    assert files == render(catalog)
    assert "rules/checkout-api.rules.yml" in files and "alertmanager/alertmanager.yml" in files


def test_load_raises_with_every_problem_placed(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("apiVersion: sloengine/v1\nkind: ServiceLevels\nservice: {name: api}\n"
                    "slos:\n  - {name: a, objective: 120, sli: {probe: {metric: up}}}\n", encoding="utf-8")
    with pytest.raises(sloengine.SpecError) as raised:
        sloengine.load(spec)
    assert f"{spec}:5:" in str(raised.value)


def test_evaluate_fails_closed_without_prometheus() -> None:
    catalog = sloengine.load(REPO / "examples")
    config = sloengine.ConnectionConfig(url="http://127.0.0.1:9", timeout_seconds=2, retries=0)
    report = sloengine.evaluate(catalog, config)
    assert {r.status for r in report.results} == {Status.ERROR}
    assert all(r.sli is None and r.budget_remaining is None for r in report.results)


def test_loading_in_two_processes_gives_the_same_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    serial = sloengine.load(REPO / "examples")
    monkeypatch.setattr(loader, "PARALLEL_FILES", 2)
    monkeypatch.setenv("SLOENGINE_WORKERS", "2")
    assert sloengine.load(REPO / "examples") == serial
