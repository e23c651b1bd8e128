"""Hostile and malformed YAML (specs and connection files): a placed error and exit 1, never a traceback,
a hang or a memory blow-up. Each case is a reproducer of a class the fuzzing in issue 14 found."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sloengine.specs.loader import load
from sloengine.specs.yamlsource import MAX_DEPTH, MAX_FILE_BYTES, load_text

NATIVE = "apiVersion: sloengine/v1\nkind: ServiceLevels\nservice: {name: api}\n"
SLO = "slos:\n  - name: a\n    objective: {objective}\n    window: {window}\n    sli: {{probe: {{metric: up}}}}\n"
SLOTH = ('version: "prometheus/v1"\nservice: api\nslos:\n  - name: a\n    objective: {objective}\n    sli:\n'
         '      events:\n        error_query: sum(rate(x_total{{code="5"}}[{{{{.window}}}}]))\n'
         '        total_query: sum(rate(x_total[{{{{.window}}}}]))\n    alerting: {{name: A}}\n')

ALIAS_BOMB = ("a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
              "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
              "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
              "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
              "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]\n")

# (name, file text, words the one error must contain, line)
CASES = [
    ("alias bomb", NATIVE + ALIAS_BOMB, "alias", None),
    ("nesting 500 deep in flow style", NATIVE + "x: " + "[" * 500 + "]" * 500 + "\n", f"deeper than {MAX_DEPTH}", 4),
    ("nesting 100 deep in block style", NATIVE + "".join("  " * i + f"k{i}:\n" for i in range(100)) + "  " * 100
     + "v\n", f"deeper than {MAX_DEPTH}", None),
    ("alias into itself", NATIVE + "x: &x\n  y: *x\n", "contains it", 4),
    ("!!int tag on a word", NATIVE + SLO.format(objective="!!int x", window="28d"), "not a valid !!int", 6),
    ("!!bool tag on maybe", NATIVE + "slos: !!bool maybe\n", "not a valid !!bool", 4),
    ("!!binary", NATIVE + "slos: !!binary aGVsbG8=\n", "!!binary is not supported", 4),
    ("!!set", NATIVE + "slos: !!set {a, b}\n", "!!set is not supported", 4),
    ("a custom tag", NATIVE + "slos: !python/object:os.system echo\n", "not supported", 4),
    ("400-digit objective (native)", NATIVE + SLO.format(objective="9" * 400, window="28d"), "too large", 6),
    ("400-digit objective (Sloth)", SLOTH.format(objective="9" * 400), "too large", 5),
    ("infinite objective", NATIVE + SLO.format(objective=".inf", window="28d"), "not a finite number", 6),
    ("NaN objective (Sloth)", SLOTH.format(objective=".nan"), "not a finite number", 5),
    ("300-character time zone", NATIVE + SLO.format(objective="99.9", window="{calendar: month, timezone: "
                                                    + "A" * 300 + "}"), "not an IANA time zone", 7),
    ("time zone that walks the file system", NATIVE + SLO.format(objective="99.9", window="{calendar: month, "
                                                                 "timezone: ../../../etc/passwd}"),
     "not an IANA time zone", 7),
    ("!!timestamp on a word", NATIVE + "slos: !!timestamp yesterday\n", "not a valid !!timestamp", 4),
    ("a NUL character", NATIVE + "slos: [a\x00b]\n", "U+0000 is not allowed", 4),
    ("an annotation name Prometheus refuses", NATIVE + SLO.format(objective="99.9", window="28d")
     + "    alerting: {annotations: {'su|mmary': x}}\n", "not a valid annotation name", 5),
    ("a 100,000-character description", NATIVE + "slos:\n  - name: a\n    description: " + "d" * 100_000 + "\n",
     "characters long", 6),
]


@pytest.mark.parametrize(("text", "words", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_spec_is_one_placed_error_quickly(tmp_path, text, words, line):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    started = time.monotonic()
    result = load([spec])
    assert time.monotonic() - started < 10
    rendered = [d.render() for d in result.errors]
    assert rendered, "accepted"
    assert any(words in r for r in rendered), rendered
    first = next(d for d in result.errors if words in d.render())
    assert first.position.file == str(spec) and first.hint
    if line is not None:
        assert first.position.line == line, rendered


def test_an_oversized_spec_file_is_refused_before_it_is_parsed(tmp_path):
    spec = tmp_path / "big.yaml"
    with spec.open("w") as handle:
        handle.write(NATIVE + "x: '")
        handle.write("a" * (MAX_FILE_BYTES + 10))
        handle.write("'\n")
    rendered = [d.render() for d in load([spec]).errors]
    assert any("larger than" in r for r in rendered), rendered


def test_merge_keys_with_repeated_aliases_do_not_explode():
    text = NATIVE + "defaults: {}\nx0: &a0 {k: 1}\n" + "".join(
        f"x{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}]}}\n" for i in range(1, 40))
    started = time.monotonic()
    documents = load_text(text, "merge.yaml")
    assert time.monotonic() - started < 5
    assert documents[0].data["x39"] == {"k": 1}


def test_dates_and_plain_scalars_still_load():
    data = load_text("a: 2024-01-01\nb: 1.5\nc: true\nd: ~\ne: 12\nf: !!str 12\n", "ok.yaml")[0].data
    assert str(data["a"]) == "2024-01-01" and data["b"] == 1.5 and data["c"] is True and data["d"] is None
    assert data["e"] == 12 and data["f"] == "12"


def _sloengine(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    exe = shutil.which("sloengine", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    command = [exe] if exe else [sys.executable, "-m", "sloengine.cli"]
    return subprocess.run(command + list(args), capture_output=True, text=True, timeout=timeout)


def test_validate_of_an_alias_bomb_exits_one_without_traceback(tmp_path):
    spec = tmp_path / "bomb.yaml"
    spec.write_text(NATIVE + ALIAS_BOMB)
    done = _sloengine("validate", str(spec))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert f"{spec}:" in done.stdout + done.stderr


@pytest.mark.parametrize("text", [ALIAS_BOMB, "url: " + "[" * 500 + "]" * 500, "url: !!int x\n",
                                  "timeout_seconds: " + "9" * 400 + "\n"],
                         ids=["alias bomb", "deep nesting", "bad tag", "400-digit timeout"])
def test_a_hostile_connection_file_is_a_placed_error(tmp_path, text):
    connection = tmp_path / "connection.yaml"
    connection.write_text(text)
    done = _sloengine("report", str(Path(__file__).resolve().parents[1] / "examples"), "--connection-file",
                      str(connection))
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    assert f"{connection}:" in done.stderr + done.stdout
