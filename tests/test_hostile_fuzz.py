"""A seeded fuzzer over every spec format and the connection file: each of 10,000 mutated inputs ends in placed,
fixable errors, or in output every consumer accepts (promtool for rules and alert tests' rule files, amtool for
the Alertmanager configuration, the Grafana SDK model for dashboards, a template check for labels and
annotations).

The mutations are the classes of hostile input found in issue 14 (alias bombs, deep nesting, YAML tags, huge
numbers, long strings and time zones, template braces, control characters, names with quotes and newlines), on
top of structural ones (a value replaced, a key dropped, renamed or added) and raw text damage (a truncated
file, a stray byte, a broken indent). ``SLOENGINE_FUZZ_SEED`` and ``SLOENGINE_FUZZ_CASES`` replay or widen a run;
the failing input is printed so it can become a regression case.
"""

from __future__ import annotations

import copy
import hashlib
import os
import random
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from sloengine.compiler.dashboards import DASHBOARD_TAG, decode, encode
from sloengine.compiler.generate import render
from sloengine.engine.connection import ConfigError, config_from_file
from sloengine.model import conventions as c
from sloengine.model.templates import template_problem
from sloengine.specs.loader import load

REPO = Path(__file__).resolve().parents[1]
PEERS = REPO.parent / "shared" / "peers"
SEED = int(os.environ.get("SLOENGINE_FUZZ_SEED", "20261207"))
CASES = int(os.environ.get("SLOENGINE_FUZZ_CASES", "10000"))

SLOTH = """\
version: prometheus/v1
service: shop
labels: {owner: team-a}
slos:
  - name: requests-availability
    objective: 99.9
    description: Requests without server errors.
    sli:
      events:
        error_query: sum(rate(http_requests_total{job="shop",code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total{job="shop"}[{{.window}}]))
    alerting:
      name: ShopAvailability
      annotations: {summary: High error rate}
      page_alert: {labels: {severity: page}}
      ticket_alert: {labels: {severity: ticket}}
"""

OPENSLO = """\
apiVersion: openslo/v1
kind: SLO
metadata: {name: checkout-availability, displayName: Checkout}
spec:
  description: Checkout requests succeed
  service: checkout
  indicator:
    metadata: {name: ok-requests}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: prometheus, spec: {query: 'http_requests_total{job="checkout",code!~"5.."}'}}}
        total: {metricSource: {type: prometheus, spec: {query: 'http_requests_total{job="checkout"}'}}}
  timeWindow: [{duration: 4w, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{displayName: Available, targetPercent: 99.95}]
"""

PYRRA = """\
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: api-errors, namespace: monitoring, labels: {prometheus: k8s}}
spec:
  target: '99.0'
  window: 7d
  description: API requests without errors
  indicator:
    ratio:
      errors: {metric: 'http_requests_total{handler=~"/api.*",code=~"5.."}'}
      total: {metric: 'http_requests_total{handler=~"/api.*"}'}
      grouping: [handler]
"""

CONNECTION = """\
prometheus:
  url: http://127.0.0.1:9090
  timeout_seconds: 5
  retries: 1
  headers: {X-Scope-OrgID: team-a}
"""

HOSTILE_TEXT = [
    "{{ $value }}", "{{", "}}", "{{ .Foo", "{{/* x", "{{ range $labels }}", "\x1b[31mred\x1b[0m", "\x00", "\u202e",
    "a\nb", 'quote"inside', "back\\slash", "x{a=\"", "'", "  padded  ", "", "#", "- item", ": colon", "*alias",
    "&anchor", "!!int", "%TAG", "{{.window}}", "$window", "<script>alert(1)</script>", "a" * 3000,
    "Europe/Berlin" * 30, "../../../../etc/passwd", "UTC", "99.9", "1e308", "-0", "0x1F", "5m", "1h1h", "28d",
    "severity", "service", "le", "__name__", "team", "owner", "ünïcödé", "名前", "😀",
]
HOSTILE_VALUES: list[Any] = [
    *HOSTILE_TEXT, None, True, False, 0, -1, 1, 99.9, 100, 1e308, -1e308, 10**20, 2**53 + 1, 0.5, [], {}, [1, 2],
    {"a": "b"}, {"{{": "}}"}, ["{{ $labels.x }}"],
]
TEXT_DAMAGE = ["truncate", "byte", "indent", "tab", "duplicate-line", "bom", "crlf"]
YAML_ATTACKS = ["alias-bomb", "deep-flow", "deep-block", "tag", "big-int", "long-string", "self-alias", "merge-bomb"]


def _bases() -> list[tuple[str, str]]:
    """(name, text) of every format: the bundled examples, small specs of each peer format, and the peers'
    own public example files when ``../shared`` is there."""
    bases = [(p.name, p.read_text()) for p in sorted((REPO / "examples").glob("*.yaml"))]
    bases += [("sloth.yaml", SLOTH), ("openslo.yaml", OPENSLO), ("pyrra.yaml", PYRRA)]
    if PEERS.is_dir():
        for pattern in ("sloth/examples/*.yml", "pyrra/*.yaml", "openslo/*/*.yaml"):
            bases += [(p.name, p.read_text()) for p in sorted(PEERS.glob(pattern))[:6]]
    return bases


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, prefix + (i,))
    return out


def _mutate_data(rng: random.Random, text: str) -> str:
    documents = [d for d in yaml.safe_load_all(text) if d is not None]
    if not documents:
        return text
    doc = copy.deepcopy(rng.choice(documents))
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = rng.choice(paths)
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        action = rng.choice(["replace", "replace", "replace", "delete", "rename", "add", "nest"])
        if action == "replace":
            parent[key] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
        elif action == "delete":
            del parent[key]
        elif action == "rename" and isinstance(parent, dict):
            parent[rng.choice(HOSTILE_TEXT)[:40] or "x"] = parent.pop(key)
        elif action == "nest":
            parent[key] = {"x": parent[key]} if rng.random() < 0.5 else [parent[key]]
        elif isinstance(parent, dict):
            parent[rng.choice(HOSTILE_TEXT)[:40] or "y"] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
        else:
            parent.append(copy.deepcopy(rng.choice(HOSTILE_VALUES)))
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=rng.random() < 0.5, width=rng.choice([80, 10**6]))


def _attack(rng: random.Random, text: str) -> str:
    kind = rng.choice(YAML_ATTACKS)
    lines = text.splitlines(keepends=True)
    at = rng.randrange(len(lines) + 1)
    if kind == "alias-bomb":
        bomb = "z0: &z0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"z{i}: &z{i} [{', '.join([f'*z{i - 1}'] * 10)}]\n" for i in range(1, 9))
        return text + bomb
    if kind == "deep-flow":
        depth = rng.choice([65, 300, 999, 5000])
        return text + "deep: " + "[" * depth + "]" * depth + "\n"
    if kind == "deep-block":
        depth = rng.choice([65, 200])
        return text + "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "v\n"
    if kind == "tag":
        tag = rng.choice(["!!int", "!!bool", "!!float", "!!binary", "!!set", "!!omap", "!foo", "!!timestamp",
                          "!!python/name:os.system", "!!null", "!!str", "!!seq", "!!map"])
        out = [line.replace(": ", f": {tag} ", 1) if i == at and ": " in line else line for i, line in enumerate(lines)]
        return "".join(out)
    if kind == "big-int":
        return text.replace("99.9", "9" * rng.choice([20, 400, 5000]), 1)
    if kind == "long-string":
        return text.replace("description: ", "description: " + "d" * rng.choice([70_000, 200_000]), 1)
    if kind == "self-alias":
        return text + "loop: &loop\n  again: *loop\n"
    return text + "m0: &m0 {k: 1}\n" + "".join(f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}]}}\n" for i in range(1, 30))


def _damage(rng: random.Random, text: str) -> str:
    kind = rng.choice(TEXT_DAMAGE)
    if kind == "truncate":
        return text[: rng.randrange(len(text) + 1)]
    if kind == "byte":
        at = rng.randrange(len(text) + 1)
        return text[:at] + rng.choice(["\x00", "\x1b", "\t", "{", "}", "[", "&", "*", "!", "%", "@", "`", "|", ">",
                                       "'", '"', "\ufeff", "\x85", "\u2028"]) + text[at:]
    if kind == "indent":
        lines = text.splitlines(keepends=True)
        i = rng.randrange(len(lines))
        lines[i] = " " * rng.randint(1, 3) + lines[i]
        return "".join(lines)
    if kind == "tab":
        return text.replace("  ", "\t", 1)
    if kind == "duplicate-line":
        lines = text.splitlines(keepends=True)
        i = rng.randrange(len(lines))
        return "".join(lines[: i + 1] + lines[i:])
    if kind == "bom":
        return "\ufeff" + text
    return text.replace("\n", "\r\n")


def _case(rng: random.Random, bases: list[tuple[str, str]]) -> tuple[str, str]:
    name, text = rng.choice(bases)
    roll = rng.random()
    if roll < 0.6:
        return name, _mutate_data(rng, text)
    if roll < 0.8:
        return name, _attack(rng, text)
    return name, _damage(rng, text)


class Outputs:
    """Distinct generated files of accepted cases, checked by the real consumers in a few batched runs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.rules: dict[str, Path] = {}
        self.alertmanager: dict[str, Path] = {}

    def keep(self, kind: str, text: str) -> None:
        table = self.rules if kind == "rules" else self.alertmanager
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        if digest not in table:
            path = self.root / kind / f"{digest}.yml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            table[digest] = path


def _check_generated(files: dict[str, str], outputs: Outputs, where: str) -> None:
    for path, text in files.items():
        if path.startswith(f"{c.RULES_DIR}/"):
            document = yaml.safe_load(text)
            for group in document["groups"]:
                for rule in group["rules"]:
                    for value in [*rule.get("labels", {}).values(), *rule.get("annotations", {}).values()]:
                        if "alert" in rule:
                            problem = template_problem(value)
                            assert problem is None, f"{where}: {path}: {rule['alert']}: {problem}: {value!r}"
            outputs.keep("rules", text)
        elif path == c.ALERTMANAGER_CONFIG_FILE:
            outputs.keep("alertmanager", text)
        elif path.endswith(".json") and path.startswith(f"{c.DASHBOARDS_DIR}/"):
            board = decode(text)  # the Grafana SDK's own model reads it back
            assert DASHBOARD_TAG in (board.tags or []), f"{where}: {path}"
            assert encode(board) == text, f"{where}: {path} does not survive the SDK model unchanged"


def _placed(result: Any, spec: Path, where: str) -> None:
    for diagnostic in result.errors:
        assert diagnostic.position.file in (str(spec), "<unknown>") or diagnostic.position.file.startswith(
            str(spec.parent)), f"{where}: {diagnostic.render()}"
        assert diagnostic.message and diagnostic.hint, f"{where}: an error without a fix: {diagnostic.render()}"
        assert len(diagnostic.render()) < 2000, f"{where}: an unreadable error: {diagnostic.render()[:300]}"


@pytest.mark.skipif(not (shutil.which("promtool") and shutil.which("amtool")), reason="needs promtool and amtool")
def test_ten_thousand_hostile_inputs_end_in_a_placed_error_or_output_every_consumer_accepts(tmp_path):
    rng = random.Random(SEED)
    bases = _bases()
    spec = tmp_path / "case.yaml"
    connection = tmp_path / "connection.yaml"
    outputs = Outputs(tmp_path / "outputs")
    accepted = refused = 0
    seen: set[str] = set()
    for number in range(CASES):
        if number % 10 == 9:  # one case in ten is a connection file
            text = _case(rng, [("connection.yaml", CONNECTION)])[1]
            connection.write_text(text, encoding="utf-8", errors="surrogatepass")
            try:
                config_from_file(connection)
            except ConfigError:
                pass
            except Exception as exc:  # noqa: BLE001 - anything else is the bug this test looks for
                pytest.fail(f"connection case {number} (seed {SEED}): {type(exc).__name__}: {exc}\n{text[:2000]}")
            continue
        name, text = _case(rng, bases)
        where = f"case {number} (seed {SEED}, from {name})"
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        spec.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            result = load([spec])
            _placed(result, spec, where)
            if result.errors:
                refused += 1
                continue
            accepted += 1
            _check_generated(render(result.catalog), outputs, where)
        except AssertionError:
            raise
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"{where}: {type(exc).__name__}: {exc}\n--- input ---\n{text[:3000]}")
    assert accepted > 300 and refused > 3000, (accepted, refused)
    _consumers_accept(outputs)


def _consumers_accept(outputs: Outputs) -> None:
    rules = sorted(outputs.rules.values())
    for start in range(0, len(rules), 200):
        batch = rules[start:start + 200]
        done = subprocess.run(["promtool", "check", "rules", *map(str, batch)], capture_output=True, text=True,
                              timeout=600)
        refused = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("/")]
        assert done.returncode == 0, "\n".join(refused[:20])
    configs = sorted(outputs.alertmanager.values())
    for start in range(0, len(configs), 200):
        batch = configs[start:start + 200]
        done = subprocess.run(["amtool", "check-config", *map(str, batch)], capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, textwrap.shorten(done.stdout + done.stderr, 3000)
