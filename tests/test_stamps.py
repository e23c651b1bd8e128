"""Services of one shape are compiled once and renamed; the result must equal compiling each one."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from sloengine import generate, loader
from sloengine.generate import _services, render, service_files
from sloengine.loader import load, load_or_raise
from sloengine.stamps import TOKEN_PREFIX, Unit, canonical

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {{name: '{name}', team: '{team}', description: '{description}'}}
defaults:
  escalation:
    levels:
      - {{level: L1, receiver: '{team}-oncall'}}
      - {{level: L2, receiver: '{team}-leads', after: 30m}}
slos:
  - name: availability
    objective: 99.9
    sli:
      ratio: {{bad: 'http_requests_total{{job="{job}",code=~"5.."}}', total: 'http_requests_total{{job="{job}"}}'}}
  - name: latency
    objective: 99
    sli: {{latency: {{histogram: 'http_request_duration_seconds{{job="{job}"}}', threshold: 300ms}}}}
  - name: probe
    objective: 99.5
    window: 7d
    sli: {{probe: {{metric: 'probe_success{{instance=~"{instance}"}}'}}}}
  - name: monthly
    objective: 99.95
    window: {{calendar: month, timezone: {tz}}}
    sli:
      ratio: {{good: 'jobs_total{{job="{job}",result="ok"}}', total: 'jobs_total{{job="{job}"}}', group_by: [queue]}}
"""


def write(tmp_path, name, *, team="payments", job=None, instance="probe-1", tz="Europe/Berlin",
          description="Checkout"):
    (tmp_path / f"{name}.yaml").write_text(SPEC.format(name=name, team=team, job=job or name, instance=instance,
                                                        tz=tz, description=description))


def one_by_one(catalog):
    """What generation writes per service without stamping: each service compiled under its own names."""
    out = {}
    for service, slos in _services(catalog):
        unit = Unit(dataclasses.replace(service, receivers=(), agreements=(), source=None), slos)
        out.update(service_files(unit))
    return out


def per_service_files(files):
    return {p: t for p, t in files.items() if not p.startswith(("alertmanager/", "rules/_calendars"))
            and "overview" not in p and "provisioning" not in p}


def test_services_of_one_shape_compile_once_and_equal_compiling_each(tmp_path, monkeypatch):
    for i, team in enumerate(["payments", "search", "payments", "identity"]):
        write(tmp_path, f"svc-{i}", team=team)
    catalog = load_or_raise([tmp_path])
    stamps = [canonical(s, slos, generate._plain_uid) for s, slos in _services(catalog)]
    assert len({s.unit for s in stamps}) == 1, "four services of one shape make one canonical service"
    assert all(TOKEN_PREFIX not in text for text in render(catalog).values())

    calls = []
    real = generate.service_files
    monkeypatch.setattr(generate, "service_files", lambda *a, **k: calls.append(a) or real(*a, **k))
    files = render(catalog)
    assert len(calls) == 1
    assert per_service_files(files) == one_by_one(catalog)


def test_a_name_that_also_appears_inside_another_string_is_left_as_it_is(tmp_path):
    # The probe's regular expression and the description both contain the service name: renaming it would
    # change what the regex matches, so the service keeps its own name and gets a shape of its own.
    write(tmp_path, "web", instance="web|web-canary", description="web")
    write(tmp_path, "api")
    catalog = load_or_raise([tmp_path])
    web = canonical(*[(s, slos) for s, slos in _services(catalog) if s.name == "web"][0])
    assert "web" not in dict((name, tok) for tok, name in web.names)
    assert per_service_files(render(catalog)) == one_by_one(catalog)


@pytest.mark.parametrize("name", ["true", "no", "x" * 40, "svc.dotted"])
def test_names_that_quoting_or_uids_would_change_are_not_tokenised(tmp_path, name):
    write(tmp_path, "other")
    (tmp_path / "odd.yaml").write_text(SPEC.format(name=name, team="on", job=name, instance="p",
                                                   tz="UTC", description="x"))
    catalog = load_or_raise([tmp_path])
    service, slos = [(s, slos) for s, slos in _services(catalog) if s.name == name][0]
    stamp = canonical(service, slos, generate._plain_uid)
    assert name not in {n for _, n in stamp.names} and "on" not in {n for _, n in stamp.names}
    assert per_service_files(render(catalog)) == one_by_one(catalog)


def test_generation_and_loading_in_two_processes_equal_one(tmp_path, monkeypatch):
    for i in range(6):
        write(tmp_path, f"svc-{i}", team=f"team{i % 2}", tz=["UTC", "Asia/Tokyo"][i % 2])
    (tmp_path / "broken.yaml").write_text("apiVersion: sloengine/v1\nkind: ServiceLevels\nservice: [\n")
    (tmp_path / "sloth.yaml").write_text(textwrap.dedent("""\
        version: prometheus/v1
        service: legacy
        slos:
          - name: availability
            objective: 99.9
            sli:
              events:
                error_query: sum(rate(http_requests_total{job="legacy",code=~"5.."}[{{.window}}]))
                total_query: sum(rate(http_requests_total{job="legacy"}[{{.window}}]))
            alerting: {name: LegacyErrors}
        """))
    monkeypatch.setenv("SLOENGINE_WORKERS", "1")
    serial_load = load([tmp_path])
    serial = render(load_or_raise([p for p in tmp_path.glob("svc-*.yaml")]))

    monkeypatch.setenv("SLOENGINE_WORKERS", "2")
    monkeypatch.setattr(loader, "PARALLEL_FILES", 2)
    monkeypatch.setattr(generate, "PARALLEL_SLOS", 2)
    parallel_load = load([tmp_path])
    assert parallel_load.catalog == serial_load.catalog
    assert parallel_load.diagnostics == serial_load.diagnostics
    assert any("broken.yaml" in str(d.position) for d in parallel_load.errors)
    assert any(slo.service == "legacy" for slo in parallel_load.catalog.slos)
    assert parallel_load.formats == serial_load.formats
    assert render(load_or_raise([p for p in tmp_path.glob("svc-*.yaml")])) == serial


def test_canonical_form_renames_names_and_leaves_queries_alone(tmp_path):
    write(tmp_path, "checkout", team="payments", job="checkout-job")
    (service, slos), = _services(load_or_raise([tmp_path]))
    stamp = canonical(service, slos)
    names = {name for _, name in stamp.names}
    assert names == {"checkout", "payments", "payments-oncall", "payments-leads", "checkout-job", "ok"}
    availability = stamp.unit.slos[0]
    assert availability.service.startswith(TOKEN_PREFIX) and availability.name == "availability"
    assert availability.sli.total.metric == "http_requests_total"
    assert [m.value for m in availability.sli.bad.matchers if m.label == "code"] == ["5.."]
    assert next(s for s in stamp.unit.slos if s.name == "monthly").window.timezone == "Europe/Berlin"
    assert stamp.restore(f"{availability.service}/{availability.name}") == "checkout/availability"


def test_a_stream_abandoned_midway_leaves_no_worker_behind(tmp_path, monkeypatch):
    import multiprocessing

    for i in range(3):
        write(tmp_path, f"svc-{i}")
    monkeypatch.setenv("SLOENGINE_WORKERS", "2")
    monkeypatch.setattr(generate, "PARALLEL_SLOS", 2)
    stream = generate.render_iter(load_or_raise([tmp_path]))
    next(stream)
    assert len(multiprocessing.active_children()) == 1
    stream.close()
    assert multiprocessing.active_children() == []
