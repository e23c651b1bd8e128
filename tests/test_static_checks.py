"""ruff and mypy run with the suite, so the one test command (``make test``, what CI runs) fails on a lint finding
or a type error, with the tool's own report as the failure. Both are configured in pyproject.toml and installed by
the ``[test]`` extra; they run from this interpreter's environment, never from whatever is on PATH."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: What ruff checks: the package, the tests, the benchmarks and the deployable workload script.
LINTED = ("sloengine", "tests", "bench", "exporters")


def _passes(tool: str, *args: str) -> None:
    """Run ``python -m TOOL ARGS`` from the checkout; fail with its report unless it exits 0."""
    done = subprocess.run([sys.executable, "-m", tool, *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    if f"No module named {tool}" in done.stderr:
        pytest.fail(f"{tool} is not installed in {sys.prefix}: run `make venv` (it is in the [test] extra)")
    if done.returncode != 0:
        pytest.fail(f"{tool} {' '.join(args)}:\n{done.stdout}{done.stderr}", pytrace=False)


def test_ruff_finds_nothing_in_the_package_tests_and_benchmarks() -> None:
    _passes("ruff", "check", "--no-cache", "--output-format", "concise", *LINTED)


def test_mypy_finds_no_type_error_in_the_package(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    # The pytest cache keeps mypy's between local runs (a few seconds saved); a fresh clone, like CI's, starts cold.
    pytest_cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    cache = pytest_cache.mkdir("mypy") if pytest_cache is not None else tmp_path
    _passes("mypy", "--cache-dir", str(cache), "sloengine")
