"""``validate`` warns about specs that load cleanly but would measure nothing, page too late or notify no one.

Three ways a valid spec fails in silence: a latency threshold written in milliseconds (no bucket there, so
no data), a short window that collapses the scaled alert conditions onto one pair of windows, and SLOs
without an escalation policy whose alerts reach a receiver with no integrations.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from sloengine.cli import main
from sloengine.model.diagnostics import Diagnostic
from sloengine.specs.loader import load

HEADER = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: shop, team: web}
"""

#: Who is notified, so that specs below warn only about what their test is about.
ROUTED = """\
receivers:
  web-oncall: {webhook_configs: [{url: "https://alerts.example.com/web"}]}
defaults:
  escalation: {levels: [{level: L1, receiver: web-oncall}]}
"""


def _latency(threshold: str, window: str = "28d") -> str:
    return textwrap.dedent(f"""\
        slos:
          - name: checkout-latency
            objective: 99
            window: {window}
            sli:
              latency:
                histogram: http_request_duration_seconds{{job="shop"}}
                threshold: {threshold}
        """)


def _spec(tmp_path: Path, body: str, name: str = "shop.yaml", header: str = HEADER + ROUTED) -> Path:
    path = tmp_path / name
    path.write_text(header + body)
    return path


def _warnings(*paths: Path) -> list[Diagnostic]:
    result = load(list(paths))
    assert not result.errors, [d.render() for d in result.errors]
    return list(result.warnings)


def _line_col(path: Path, needle: str) -> tuple[int, int]:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return number, line.index(needle) + 1
    raise AssertionError(f"{needle!r} not in {path}")


# ---- latency thresholds in the wrong unit -----------------------------------------------------------


def test_a_threshold_of_500_seconds_is_flagged_at_the_threshold_as_probably_milliseconds(tmp_path):
    path = _spec(tmp_path, _latency("500"))
    [warning] = _warnings(path)
    assert (warning.position.line, warning.position.column) == _line_col(path, "500")
    assert warning.field == "shop/checkout-latency: sli.latency.threshold"
    assert "threshold 500 is 500 seconds" in warning.message and "the SLI has no data" in warning.message
    assert "write 500ms or 0.5" in warning.hint


@pytest.mark.parametrize("threshold", ["0.5", "300ms", "60", "2m", "'500s'"])
def test_plausible_thresholds_and_long_ones_written_as_durations_are_not_flagged(tmp_path, threshold):
    assert _warnings(_spec(tmp_path, _latency(threshold))) == []


def test_a_pyrra_threshold_of_500_seconds_points_at_the_success_selector_and_suggests_the_le_in_seconds(tmp_path):
    path = tmp_path / "pyrra.yaml"
    path.write_text(textwrap.dedent("""\
        apiVersion: pyrra.dev/v1alpha1
        kind: ServiceLevelObjective
        metadata: {name: api-latency, namespace: shop}
        spec:
          target: "99"
          window: 28d
          indicator:
            latency:
              success: {metric: 'http_request_duration_seconds_bucket{job="api",le="500"}'}
              total: {metric: 'http_request_duration_seconds_count{job="api"}'}
        """))
    [threshold] = [w for w in _warnings(path) if w.field.endswith("sli.latency.threshold")]
    success = _line_col(path, "'http_request_duration_seconds_bucket")
    assert (threshold.position.line, threshold.position.column) == success
    assert 'select the bucket le="0.5"' in threshold.hint


# ---- short windows collapse the scaled alert conditions ---------------------------------------------


def test_a_one_hour_window_collapses_all_four_default_conditions_onto_the_same_windows(tmp_path):
    path = _spec(tmp_path, _latency("0.5", window="1h"))
    messages = [w.message + " (fix: " + w.hint + ")" for w in _warnings(path)]
    [collapse] = [m for m in messages if "collapse" in m]
    assert "page 14.4x, page 6x, ticket 3x, ticket 1x all use the windows 5m/2m" in collapse
    assert "use a window of at least 1d" in collapse and "alerting.conditions" in collapse
    [late] = [m for m in messages if "already breached" in m]
    assert "page 14.4x over 5m/2m fires only after 120% of the error budget" in late


def test_a_twelve_hour_window_collapses_the_two_pages(tmp_path):
    [collapse] = _warnings(_spec(tmp_path, _latency("0.5", window="12h")))
    assert "page 14.4x, page 6x all use the windows 5m/2m" in collapse.message


@pytest.mark.parametrize("window", ["1d", "7d", "28d", "{calendar: month, timezone: Europe/Berlin}"])
def test_windows_of_a_day_or_more_keep_the_conditions_apart(tmp_path, window):
    assert _warnings(_spec(tmp_path, _latency("0.5", window=window))) == []


def test_explicit_conditions_that_share_windows_are_named_with_their_own_fix(tmp_path):
    body = _latency("0.5") + (
        "    alerting:\n"
        "      conditions:\n"
        "        - {severity: page, long: 1h, short: 5m, factor: 14.4}\n"
        "        - {severity: ticket, long: 1h, short: 5m, factor: 3}\n"
        "        - {severity: ticket, long: 3d, short: 6h, factor: 1}\n")
    [collapse] = _warnings(_spec(tmp_path, body))
    assert "conditions collapse: page 14.4x, ticket 3x all use the windows 1h/5m" in collapse.message
    assert collapse.hint == "give each condition its own long and short window, or drop the redundant ones"


def test_strict_validation_fails_on_a_collapsed_window(tmp_path):
    path = _spec(tmp_path, _latency("0.5", window="1h"))
    assert CliRunner().invoke(main, ["validate", str(path)]).exit_code == 0
    strict = CliRunner().invoke(main, ["validate", "--strict", str(path)])
    assert strict.exit_code == 1 and "collapse" in strict.output


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_a_collapsed_one_hour_spec_still_generates_rules_and_alert_tests_promtool_passes(tmp_path):
    path = _spec(tmp_path, _latency("0.5", window="1h"))
    out = tmp_path / "out"
    done = CliRunner().invoke(main, ["generate", str(path), "--out", str(out), "--no-dashboards"])
    assert done.exit_code == 0, done.output
    rules = sorted((out / "rules").glob("*.yml"))
    subprocess.run(["promtool", "check", "rules", *map(str, rules)], check=True, capture_output=True)
    for test in sorted((out / "tests").glob("*.yml")):
        run = subprocess.run(["promtool", "test", "rules", str(test)], cwd=test.parent, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr


# ---- alerts routed to a receiver with no integrations -----------------------------------------------


def test_a_service_without_escalation_is_warned_once_with_a_minimal_escalation_and_receiver(tmp_path):
    body = _latency("0.5") + (
        "  - name: checkout-availability\n"
        "    objective: 99.9\n"
        "    sli: {probe: {metric: 'probe_success{job=\"shop\"}'}}\n")
    path = _spec(tmp_path, body, header=HEADER)
    [warning] = _warnings(path)
    assert warning.field == "service shop: escalation"
    assert (warning.position.line, warning.position.column) == _line_col(path, "name: checkout-latency")
    assert ("2 SLOs (checkout-latency, checkout-availability) have no escalation, so their pages and tickets go to "
            "the default receiver 'web'") in warning.message
    assert "notifications go nowhere" in warning.message
    assert "defaults: {escalation: {levels: [{level: L1, receiver: web}]}}" in warning.hint
    assert "receivers: {web: {webhook_configs: [{url: " in warning.hint


def test_defining_the_default_receiver_is_enough_to_route_a_service_without_escalation(tmp_path):
    receiver = 'receivers:\n  web: {webhook_configs: [{url: "https://alerts.example.com/web"}]}\n'
    assert _warnings(_spec(tmp_path, _latency("0.5"), header=HEADER + receiver)) == []


def test_the_default_receiver_defined_in_another_file_routes_this_one_too(tmp_path):
    _spec(tmp_path, _latency("0.5"), "routed.yaml")
    receiver = 'receivers:\n  web: {webhook_configs: [{url: "https://x.example/"}]}\n'
    other = HEADER.replace("name: shop", "name: cart") + receiver
    _spec(tmp_path, _latency("0.5").replace("checkout-latency", "cart-latency"), "cart.yaml", header=other)
    lonely = HEADER.replace("name: shop", "name: search")
    _spec(tmp_path, _latency("0.5").replace("checkout-latency", "search-latency"), "search.yaml", header=lonely)
    assert _warnings(tmp_path) == []


def test_an_imported_sloth_file_is_told_to_define_its_default_receiver_in_a_native_file(tmp_path):
    path = tmp_path / "sloth.yaml"
    path.write_text(textwrap.dedent("""\
        version: prometheus/v1
        service: checkout
        slos:
          - name: availability
            objective: 99.9
            sli:
              events:
                error_query: sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}]))
                total_query: sum(rate(http_requests_total{job="checkout"}[{{.window}}]))
            alerting: {name: CheckoutAvailability}
        """))
    [warning] = [w for w in _warnings(path) if w.field == "service checkout: escalation"]
    assert warning.position.file == str(path) and warning.position.line == _line_col(path, "- name: availability")[0]
    assert "sloth prometheus/v1 files cannot name receivers: define receiver 'checkout'" in warning.hint
    assert "in a sloengine/v1 file loaded with this one" in warning.hint
