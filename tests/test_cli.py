"""The installed ``sloengine`` command: help everywhere, exit codes, and no traceback for a user's mistake."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def sloengine(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    exe = shutil.which("sloengine", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    command = [exe] if exe else [sys.executable, "-m", "sloengine.cli"]
    return subprocess.run(command + list(args), cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", [[], ["validate"], ["show"], ["schema"]])
def test_every_command_has_help(command):
    done = sloengine(*command, "--help")
    assert done.returncode == 0
    assert "Usage:" in done.stdout


def test_validate_examples_succeeds_and_counts_them():
    done = sloengine("validate", str(EXAMPLES))
    assert done.returncode == 0, done.stderr
    assert "0 errors, 0 warnings" in done.stdout


def test_validate_bad_file_exits_one_with_file_line_field_and_fix(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: sloengine/v1\nkind: ServiceLevels\nservice: {name: api}\nslos:\n"
                   "  - name: a\n    objective: 99.9\n    windw: 28d\n    sli: {probe: {metric: up}}\n")
    done = sloengine("validate", str(bad))
    assert done.returncode == 1
    assert f"{bad}:7:5: error: slos[0].windw: unknown key 'windw' (fix: did you mean 'window'?)" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_validate_json_output_is_machine_readable(tmp_path):
    done = sloengine("validate", "--format", "json", str(EXAMPLES))
    payload = json.loads(done.stdout)
    assert payload["ok"] is True
    assert {s["id"] for s in payload["slos"]} >= {"checkout-api/requests-availability", "search/route-availability"}


def test_missing_path_is_an_error_not_a_crash(tmp_path):
    done = sloengine("validate", str(tmp_path / "missing.yaml"))
    assert done.returncode == 1
    assert "no such file or directory" in done.stderr


def test_unknown_option_is_a_usage_error():
    done = sloengine("validate", "--nope", str(EXAMPLES))
    assert done.returncode == 2
    assert "No such option" in done.stderr


def test_strict_turns_warnings_into_failure(tmp_path):
    spec = tmp_path / "low.yaml"
    spec.write_text("apiVersion: sloengine/v1\nkind: ServiceLevels\nservice: {name: api}\nslos:\n"
                    "  - name: a\n    objective: 90\n    sli: {probe: {metric: up}}\n")
    assert sloengine("validate", str(spec)).returncode == 0
    strict = sloengine("validate", "--strict", str(spec))
    assert strict.returncode == 1 and "can never be reached" in strict.stderr


def test_show_prints_the_normalised_model():
    done = sloengine("show", "--format", "json", str(EXAMPLES / "homepage-probe.yaml"))
    (slo,) = json.loads(done.stdout)
    assert slo["window"] == "7d" and slo["sli"] == "probe"
    assert [a["burn_factor"] for a in slo["alerts"]] == [14.4, 6.0, 3.0, 1.0]
