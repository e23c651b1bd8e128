"""The README says what the code does: its spec examples validate, and every key it documents for receivers
and recurring hours is one the format takes (and the other way round)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from sloengine.specs.loader import load
from sloengine.specs.spec import MaintenanceSpec, ReceiverSpec, SupportHoursSpec

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def section(title: str, text: str = README) -> str:
    """The text under a heading, up to the next heading of the same or a higher level (a ``# comment`` line in
    a code block is not a heading)."""
    prose = re.sub(r"^```.*?^```", lambda m: re.sub(r"[^\n]", " ", m.group()), text, flags=re.S | re.M)
    match = re.search(rf"^(#+) {re.escape(title)}\n", prose, re.M)
    assert match, f"no section {title!r}"
    level = len(match.group(1))
    end = re.search(rf"^#{{1,{level}}} ", prose[match.end():], re.M)
    return text[match.end(): match.end() + end.start() if end else len(text)]


def yaml_blocks(text: str) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", text, re.S | re.M)


def merged(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


#: The spec reference's complete example, which its fragments (receivers, agreements) extend.
BASE = yaml.safe_load(yaml_blocks(section("The spec: `apiVersion: sloengine/v1`"))[0])


def keys_in_backticks(text: str) -> set[str]:
    return set(re.findall(r"`([a-z_]+)`", text))


def aliases(model) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


def load_document(tmp_path: Path, document: dict):
    path = tmp_path / "readme.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load([path])


def test_the_spec_example_is_a_complete_file_that_validates_cleanly(tmp_path):
    assert BASE["apiVersion"] == "sloengine/v1"
    assert load_document(tmp_path, BASE).diagnostics == ()


def test_the_receivers_and_escalation_example_validates_with_the_spec_example(tmp_path):
    (fragment,) = [yaml.safe_load(b) for b in yaml_blocks(section("Receivers and escalation"))]
    assert set(fragment) == {"receivers", "defaults"}
    result = load_document(tmp_path, merged(BASE, fragment))
    assert result.diagnostics == (), [d.render() for d in result.diagnostics]
    (slo,) = result.catalog.slos
    assert [lv.receiver for lv in slo.escalation.levels] == ["payments-oncall", "payments-leads"]
    assert {r.name for r in result.catalog.receivers} == set(fragment["receivers"]) | set(BASE["receivers"])
    assert slo.escalation.support_hours.weekdays == ("monday:friday",)


def test_the_agreements_example_validates_with_the_spec_example(tmp_path):
    (fragment,) = [yaml.safe_load(b) for b in yaml_blocks(section("Agreements: SLAs, OLAs and underpinning contracts"))]
    (sla,) = fragment["agreements"]
    # The OLA and UC it depends on, so that the example stands as written.
    backing = [{"name": name, "kind": kind, "provider": "payments", "objective": 99.99,
                "covers": [{"slo": "requests-availability"}]}
               for name, kind in (("payments-ola", "ola"), ("psp-uc", "uc"))]
    result = load_document(tmp_path, merged(BASE, {"tiers": fragment["tiers"], "agreements": [sla, *backing]}))
    assert result.errors == (), [d.render() for d in result.errors]
    acme = next(a for a in result.catalog.agreements if a.name == "acme-checkout")
    assert acme.support_hours.weekday_numbers == frozenset(range(5)) and len(acme.support_hours.holidays) == 1
    assert [e.name for e in acme.exclusions] == ["db-upgrade", "patching"]


def test_every_receiver_key_is_documented_in_the_spec_section():
    documented = keys_in_backticks(section("Receivers and escalation"))
    for field, info in ReceiverSpec.model_fields.items():
        assert field in documented, field
        integration = info.annotation.__args__[0]   # list[WebhookSpec] -> WebhookSpec
        missing = aliases(integration) - documented
        assert not missing, f"{field}: {sorted(missing)} are not in the README's receiver table"


def test_every_recurring_hours_key_is_documented_once_for_both_blocks():
    text = section("Recurring hours")
    documented = keys_in_backticks(text)
    assert aliases(SupportHoursSpec) | aliases(MaintenanceSpec) <= documented
    for block in ("support_hours", "maintenance", "exclusions"):
        assert f"`{block}`" in text
    # The syntax is spelled out in that one place; the other sections point at it.
    for other in ("Dashboards and escalation", "Agreements: SLAs, OLAs and underpinning contracts"):
        assert "[Recurring hours](#recurring-hours)" in section(other)
    assert "monday-friday" not in README.replace("`monday-friday` (write", "")
    assert not re.search(r"\bdays: \[", README)


def _properties(schema: dict, node: dict, seen: set[str]):
    """(path, property schema) for every property reachable from ``node``."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return
        seen.add(name)
        yield from _properties(schema, schema["$defs"][name], seen)
        return
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from _properties(schema, node[key], seen)
    for value in node.get("patternProperties", {}).values():
        yield from _properties(schema, value, seen)
    for option in node.get("anyOf", []):
        yield from _properties(schema, option, seen)
    for name, prop in node.get("properties", {}).items():
        yield name, prop
        yield from _properties(schema, prop, seen)


@pytest.mark.parametrize("section_key", ["receivers"])
def test_the_schema_describes_every_receiver_key_for_editors(section_key):
    schema = json.loads((REPO / "schema" / "sloengine-v1.schema.json").read_text())
    top = schema["properties"][section_key]
    assert "description" in top and "escalation" in top["description"]
    undescribed = sorted({name for name, prop in _properties(schema, top, set()) if "description" not in prop})
    assert undescribed == []
    for name in ("ReceiverSpec", "WebhookSpec", "EmailSpec", "PagerDutySpec", "SlackSpec"):
        assert schema["$defs"][name].get("description"), name


QUICKSTART = section("Quickstart: your own SLOs")


def test_the_quickstart_spec_is_one_file_that_validates_without_a_warning(tmp_path):
    """Its run against promtool, amtool and a real Prometheus: tests/integration/test_readme_quickstart.py."""
    (spec,) = [b for b in yaml_blocks(QUICKSTART) if b.startswith("# slos/")]
    path = tmp_path / spec.splitlines()[0].removeprefix("# ")
    path.parent.mkdir(parents=True)
    path.write_text(spec)
    result = load([path.parent])
    assert result.diagnostics == (), [d.render() for d in result.diagnostics]
    (slo,) = result.catalog.slos
    assert slo.alerting is not None


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but ``-`` dropped, spaces as ``-``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(text: str) -> set[str]:
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return {_slug(h) for h in re.findall(r"^#+ (.*)$", prose, re.M)}


@pytest.mark.parametrize("doc", ["README.md", "bench/README.md"])
def test_every_link_within_the_docs_leads_to_a_heading_or_a_file(doc):
    text = (REPO / doc).read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links
    for link in links:
        target, _, anchor = link.partition("#")
        path = (REPO / doc).parent / target if target else REPO / doc
        assert path.exists(), f"{doc}: {link} leads to no file"
        if anchor:
            assert anchor in _anchors(path.read_text()), f"{doc}: {link} leads to no heading"


def test_every_module_and_top_level_directory_is_in_the_layout_table():
    layout = section("Layout")
    listed = set(re.findall(r"`([\w./]+)`", layout))
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "sloengine").rglob("*.py") if p.name != "__init__.py"}
    modules |= {f"{p.parent.relative_to(REPO).as_posix()}/" for p in (REPO / "sloengine").rglob("*/__init__.py")}
    assert sorted(modules - listed) == []
    untracked = {"build", "out", "__pycache__"}   # what builds and runs leave in a clone (.gitignore)
    directories = {p.name for p in REPO.iterdir() if p.is_dir() and not p.name.startswith(".")
                   and p.name not in untracked and not p.name.endswith(".egg-info")}
    assert sorted(d for d in directories if not any(path.startswith(f"{d}/") for path in listed)) == []
