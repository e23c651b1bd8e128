"""Grafana dashboards: deterministic, valid for the SDK's model, every query parses, every SLO shown as it should be.

The queries are run against a real Prometheus in
``tests/integration/test_dashboard_queries.py``; here the structure is checked.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from sloengine.compiler.dashboards import (
    DATASOURCE_UID,
    OVERVIEW_UID,
    SAMPLE_VARIABLES,
    UID_MAX_LENGTH,
    VAR_DATASOURCE,
    budget_window,
    dashboard_path,
    decode,
    encode,
    render_dashboards,
    service_uid,
    substitute,
)
from sloengine.model import conventions as c
from sloengine.model.promql import parse
from sloengine.model.slo import SLO, CalendarUnit, CalendarWindow, Catalog, RawSLI, Service
from sloengine.specs.loader import load

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
COMMITTED = REPO / "dashboards"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load([EXAMPLES]).catalog


@pytest.fixture(scope="module")
def files(catalog) -> dict[str, str]:
    return render_dashboards(catalog)


def boards(files: dict[str, str]) -> dict[str, dict]:
    return {path: json.loads(text) for path, text in files.items() if path.endswith(".json")}


def panels(board: dict) -> list[dict]:
    out = []
    for panel in board["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def targets(board: dict) -> list[tuple[dict, dict]]:
    return [(panel, target) for panel in panels(board) for target in panel.get("targets", [])]


def service_board(files: dict[str, str], service: str) -> dict:
    return json.loads(files[dashboard_path(service_uid(service))])


def row_panels(board: dict, slo: str) -> list[dict]:
    """The panels under the row of ``slo``."""
    all_panels = panels(board)
    starts = [i for i, p in enumerate(all_panels) if p["type"] == "row"]
    first = next(i for i in starts if all_panels[i]["title"].startswith(f"{slo}:"))
    later = [i for i in starts if i > first]
    return all_panels[first + 1: later[0] if later else len(all_panels)]


# ---- files ----------------------------------------------------------------------------------


def test_committed_dashboards_for_the_examples_are_fresh(files):
    committed = {p.relative_to(REPO).as_posix(): p.read_text() for p in sorted(COMMITTED.rglob("*")) if p.is_file()}
    assert committed == files, "run `python -m sloengine.compiler.dashboards` to regenerate dashboards/ from examples/"


def test_output_is_deterministic(catalog, files):
    assert render_dashboards(catalog) == files
    reordered = dataclasses.replace(catalog, slos=tuple(reversed(catalog.slos)))
    assert render_dashboards(reordered).keys() == files.keys()


def test_one_overview_one_dashboard_per_service_and_the_provisioning_files(catalog, files):
    services = sorted({s.service for s in catalog.slos})
    assert sorted(files) == sorted(
        [dashboard_path(OVERVIEW_UID), "dashboards/provisioning/dashboards.yaml",
         "dashboards/provisioning/datasources.yaml"] + [dashboard_path(service_uid(s)) for s in services])


def test_every_dashboard_decodes_into_the_sdk_model_and_encodes_back_unchanged(files):
    for path, text in files.items():
        if path.endswith(".json"):
            model = decode(text)
            assert model.uid and model.title, path
            assert encode(model) == text, f"{path} holds something the SDK's model does not"


def test_uids_are_unique_stable_and_accepted_by_grafana():
    assert service_uid("checkout-api") == "sloengine-checkout-api"  # the examples' dashboard_url points here
    odd = ["a.b", "a-b", "x" * 60, "x" * 61, 'we"ird\\svc']
    uids = [service_uid(name) for name in odd]
    assert len(set(uids)) == len(odd)
    for uid in uids:
        assert len(uid) <= UID_MAX_LENGTH and all(ch.isalnum() or ch in "-_" for ch in uid), uid
    assert uids == [service_uid(name) for name in odd]


def test_provisioning_points_grafana_at_the_folder_and_defines_the_default_datasource(files):
    providers = yaml.safe_load(files["dashboards/provisioning/dashboards.yaml"])["providers"]
    assert [p["type"] for p in providers] == ["file"]
    (source,) = yaml.safe_load(files["dashboards/provisioning/datasources.yaml"])["datasources"]
    assert (source["type"], source["uid"]) == ("prometheus", DATASOURCE_UID)
    for path, board in boards(files).items():
        (variable,) = [v for v in board["templating"]["list"] if v["name"] == VAR_DATASOURCE]
        assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
        assert variable["current"]["value"] == DATASOURCE_UID, path


# ---- queries ----------------------------------------------------------------------------------


def test_every_panel_has_a_query_and_reads_the_datasource_variable(files):
    variable = "${" + VAR_DATASOURCE + "}"
    for path, board in boards(files).items():
        for panel in panels(board):
            if panel["type"] == "row":
                continue
            assert panel.get("targets"), f"{path}: {panel['title']} has no query"
            assert panel["datasource"] == {"type": "prometheus", "uid": variable}, panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == {"type": "prometheus", "uid": variable}
        for annotation in board["annotations"]["list"]:
            assert annotation["datasource"] == {"type": "prometheus", "uid": variable}
        for var in board["templating"]["list"]:
            if var["type"] == "query":
                assert var["datasource"] == {"type": "prometheus", "uid": variable}


def test_every_query_parses_once_grafana_variables_are_filled_in(files):
    for path, board in boards(files).items():
        exprs = [t["expr"] for _, t in targets(board)] + [a["expr"] for a in board["annotations"]["list"]]
        exprs += [v["query"].removeprefix("label_values(").rsplit(", ", 1)[0]
                  for v in board["templating"]["list"] if v["type"] == "query"]
        for expr in exprs:
            concrete = substitute(expr, SAMPLE_VARIABLES)
            assert "$" not in concrete, (path, expr)
            parse(concrete)


def test_queries_read_only_recorded_series_and_alerts(files):
    """Dashboards read what the rules record (cheap, and the same numbers as alerts), never raw counters."""
    ours = {c.METRIC_ERROR_RATIO, c.METRIC_BURN_RATE, c.METRIC_BUDGET_REMAINING, c.METRIC_TOTAL, c.METRIC_BAD,
            c.METRIC_TILE_BAD, c.METRIC_TILE_TOTAL, c.METRIC_OBJECTIVE, c.METRIC_INFO, c.METRIC_PERIOD_START,
            c.METRIC_PERIOD_END, c.METRIC_PERIOD_START_LOCAL, c.METRIC_ERROR_BUDGET, "ALERTS"}
    import promql_parser

    def selectors(node):
        if isinstance(node, promql_parser.VectorSelector):
            yield node.name
        for attr in ("expr", "lhs", "rhs", "vector_selector", "param"):
            child = getattr(node, attr, None)
            if child is not None and not isinstance(child, (str, int, float)):
                yield from selectors(child)
        for child in getattr(node, "args", None) or ():
            yield from selectors(child)

    seen: set[str] = set()
    for board in boards(files).values():
        for _, target in targets(board):
            names = set(selectors(parse(substitute(target["expr"], SAMPLE_VARIABLES))))
            assert names <= ours, (target["expr"], names - ours)  # the ideal burn line reads no series at all
            seen |= names
    assert seen == ours - {c.METRIC_TILE_TOTAL}


def test_a_quote_in_a_name_cannot_break_out_of_its_string(catalog):
    slo = dataclasses.replace(catalog.slos[0], service='we"ird\\svc', name='o"ne')
    odd = Catalog(services=(Service('we"ird\\svc'),), slos=(slo,))
    out = render_dashboards(odd)
    board = json.loads(out[dashboard_path(service_uid(slo.service))])
    exprs = [t["expr"] for _, t in targets(board)]
    assert any('service="we\\"ird\\\\svc"' in e for e in exprs)
    for expr in exprs:
        parse(substitute(expr, SAMPLE_VARIABLES))


# ---- what the dashboards show ----------------------------------------------------------------


def test_overview_is_one_sortable_table_of_every_slo_coloured_by_status(files):
    board = json.loads(files[dashboard_path(OVERVIEW_UID)])
    (table,) = panels(board)
    assert table["type"] == "table"
    assert table["options"]["sortBy"] == [{"desc": True, "displayName": "Status"}]
    renamed = next(t for t in table["transformations"] if t["id"] == "organize")["options"]["renameByName"]
    assert set(renamed.values()) == {"Status", "Objective", "SLI", "Budget remaining", "Burn rate (1h)",
                                     "Firing alerts"}
    assert [t["id"] for t in table["transformations"]] == ["merge", "organize"]
    for target in table["targets"]:
        assert target["instant"] and target["format"] == "table"
    status = next(o for o in table["fieldConfig"]["overrides"] if o["matcher"]["options"] == "Status")
    props = {p["id"]: p["value"] for p in status["properties"]}
    assert props["custom.cellOptions"] == {"type": "color-background"}
    texts = {m["options"][k]["text"] for m in props["mappings"] for k in m["options"]}
    assert texts == {"OK", "At risk", "Breached", "No data"}


def test_overview_selects_every_slo_through_the_service_and_slo_variables(files):
    """No SLO is listed in the overview's queries: the variables (default All) select them, so every SLO of the
    catalog appears (the integration test counts the rows against a real Prometheus)."""
    board = json.loads(files[dashboard_path(OVERVIEW_UID)])
    names = [v["name"] for v in board["templating"]["list"]]
    assert names == [VAR_DATASOURCE, "service", "slo"]
    for variable in board["templating"]["list"][1:]:
        assert variable["includeAll"] and variable["multi"] and variable["current"]["value"] == "$__all"
        assert c.METRIC_INFO in variable["query"]
    for _, target in targets(board):
        assert 'service=~"$service"' in target["expr"] and 'slo=~"$slo"' in target["expr"]


def test_each_service_dashboard_has_a_row_per_slo_with_the_core_panels(catalog, files):
    for slo in catalog.slos:
        board = service_board(files, slo.service)
        titles = [p["title"] for p in row_panels(board, slo.name)]
        assert any(t.startswith(("SLI vs objective", "Requests within")) for t in titles), titles
        assert any(t.startswith("Error budget burn-down") for t in titles)
        assert "Traffic and errors" in titles
        assert sum(t.startswith("Burn rate ") for t in titles) == len(slo.alerting.conditions)
        annotation = board["annotations"]["list"][0]["expr"]
        assert f'service="{slo.service}"' in annotation and 'alertstate="firing"' in annotation


def test_sli_panel_draws_the_objective(catalog, files):
    for slo in catalog.slos:
        (panel,) = [p for p in row_panels(service_board(files, slo.service), slo.name)
                    if p["title"].startswith(("SLI vs", "Requests within"))]
        exprs = [t["expr"] for t in panel["targets"]]
        assert any(e.startswith(c.METRIC_OBJECTIVE) for e in exprs)
        assert any(f'window="{budget_window(slo)}"' in e for e in exprs)


def test_burn_rate_panels_draw_each_conditions_factor_as_threshold(catalog, files):
    for slo in catalog.slos:
        burn = [p for p in row_panels(service_board(files, slo.service), slo.name)
                if p["title"].startswith("Burn rate")]
        for panel, cond in zip(burn, slo.alerting.conditions):
            steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
            assert steps[-1]["value"] == cond.burn_factor
            assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"
            windows = {t["expr"].rsplit('window="', 1)[1].rstrip('"}') for t in panel["targets"]}
            assert len(windows) == 2


def test_burn_down_spans_the_window_and_draws_the_ideal_linear_burn(catalog, files):
    for slo in catalog.slos:
        (panel,) = [p for p in row_panels(service_board(files, slo.service), slo.name)
                    if p["title"].startswith("Error budget burn-down")]
        legends = [t["legendFormat"] for t in panel["targets"]]
        assert legends[-1] == "ideal"
        expected = "31d" if isinstance(slo.window, CalendarWindow) else slo.window.name
        assert panel["timeFrom"] == expected


def test_latency_slo_shows_its_threshold_and_the_share_under_it(files):
    board = service_board(files, "checkout-api")
    titles = [p["title"] for p in row_panels(board, "requests-latency")]
    assert "Requests within 300 ms vs objective 99%" in titles
    assert "Share under the 300 ms threshold" in titles
    assert not any("300 ms" in t for t in [p["title"] for p in row_panels(board, "requests-availability")])


def test_calendar_slo_has_a_period_to_date_panel(files):
    board = service_board(files, "payments-gateway")
    (panel,) = [p for p in row_panels(board, "authorisations-monthly") if p["title"].startswith("Month to date")]
    assert "Europe/Berlin" in panel["title"]
    exprs = [t["expr"] for t in panel["targets"]]
    assert any('window="month"' in e and e.startswith("1 - ") for e in exprs)  # SLI so far
    assert any(e.startswith(c.METRIC_BUDGET_REMAINING) and 'window="month"' in e for e in exprs)
    assert any(c.METRIC_PERIOD_START in e for e in exprs)  # how much of the month has passed
    assert board["timezone"] == "Europe/Berlin"
    for rolling in ("checkout-api", "homepage", "search"):
        assert not any(p["title"].endswith("to date") for p in panels(service_board(files, rolling)))


def test_grouped_sli_names_each_group_in_the_legend(files):
    board = service_board(files, "search")
    legends = [t.get("legendFormat", "") for p in row_panels(board, "route-availability") for t in p["targets"]]
    assert any(legend.startswith("{{route}} ") for legend in legends)


def test_the_overview_status_query_does_not_grow_with_the_number_of_calendar_slos(catalog):
    """The projected-overspend case reads each kind of period (unit, zone, recent window) once, not each SLO:
    a hundred monthly SLOs in one zone cost the overview's query nothing; a second zone names its SLOs."""
    base = next(s for s in catalog.slos if isinstance(s.window, CalendarWindow))

    def status_query(*zones: str, count: int) -> str:
        slos = tuple(dataclasses.replace(base, service=f"svc{i}", window=CalendarWindow(CalendarUnit.MONTH, zone))
                     for zone in zones for i in range(count))
        out = render_dashboards(Catalog(services=(), slos=slos))
        overview = json.loads(out[dashboard_path(OVERVIEW_UID)])
        return next(t["expr"] for _, t in targets(overview) if t["refId"] == "A")

    assert status_query("Europe/Berlin", count=100) == status_query("Europe/Berlin", count=2)
    assert c.METRIC_PERIOD_END in status_query("Europe/Berlin", count=2)
    two_zones = status_query("Europe/Berlin", "Asia/Kolkata", count=2)
    assert two_zones.count('service="svc1"') == 2


def test_a_raw_error_ratio_slo_gets_dashboards_without_event_panels(catalog):
    """A raw error-ratio SLI records no counts: no traffic or period-to-date panel, and a calendar one is
    shown over its rolling equivalent (its only recorded budget window)."""
    raw = RawSLI(error_ratio='sum(rate(x_total{code="500"}[$window])) / sum(rate(x_total[$window]))')
    base = next(s for s in catalog.slos if isinstance(s.window, CalendarWindow))
    slo: SLO = dataclasses.replace(base, service="raw", sli=raw,
                                   window=CalendarWindow(CalendarUnit.MONTH, "Europe/Berlin"))
    out = render_dashboards(Catalog(services=(Service("raw"),), slos=(slo,)))
    assert budget_window(slo) == "30d"
    board = json.loads(out[dashboard_path(service_uid("raw"))])
    titles = [p["title"] for p in panels(board)]
    assert "Traffic and errors" not in titles and not any(t.endswith("to date") for t in titles)
    overview = json.loads(out[dashboard_path(OVERVIEW_UID)])
    sli = next(t["expr"] for _, t in targets(overview) if t["expr"].startswith("1 - "))
    assert 'slo="authorisations-monthly",window="30d"' in sli
    for _, target in targets(board) + targets(overview):
        parse(substitute(target["expr"], SAMPLE_VARIABLES))
