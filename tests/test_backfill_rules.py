"""The rules ``sloengine backfill`` hands to promtool: few of them, whatever the catalogue's size."""

from __future__ import annotations

import math

from sloengine.compiler.rules import RecordingRule
from sloengine.engine.backfill import SLOS_PER_RULE, combined, tile_rules
from sloengine.model import conventions as c
from sloengine.model.promql import parse, with_labels
from sloengine.specs.loader import load

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {{name: svc{i}}}
slos:
  - name: availability
    objective: 99.9
    window: 30d
    sli:
      ratio:
        bad: http_requests_total{{job="svc{i}",code=~"5.."}}
        total: http_requests_total{{job="svc{i}"}}
"""


def test_a_large_catalogue_backfills_through_a_few_rules_not_one_per_slo(tmp_path):
    """promtool writes a block per rule per range and Prometheus opens every block: 250 SLOs must not mean 500."""
    paths = []
    for i in range(250):
        path = tmp_path / f"svc{i}.yaml"
        path.write_text(SPEC.format(i=i))
        paths.append(path)
    singles = tile_rules(load(paths).catalog)
    rules = combined(singles)
    assert len(singles) == 750  # two tiles and where they end, per SLO
    assert len(rules) == 3 * math.ceil(250 / SLOS_PER_RULE)
    assert {r.record for r in rules} == {c.METRIC_TILE_TOTAL, c.METRIC_TILE_BAD, c.METRIC_TILE_END}
    assert all(not r.labels for r in rules)
    for rule in rules:
        parse(rule.expr)
        assert 'label_replace' in rule.expr and '"service"' in rule.expr and '"slo"' in rule.expr


def test_combined_rules_keep_each_rules_labels_on_its_own_expression():
    rules = combined([RecordingRule("m", "vector(1)", (("service", "a"),)),
                      RecordingRule("m", "vector(2)", (("service", "b"),))])
    assert rules == (RecordingRule(
        "m", 'label_replace((vector(1)), "service", "a", "", "") '
             'or label_replace((vector(2)), "service", "b", "", "")'),)


def test_constant_labels_keep_a_dollar_sign_literal():
    """label_replace expands $1 in its replacement; a label value with a dollar must come out unchanged."""
    assert with_labels("up", (("team", "a$1b"),)) == 'label_replace(up, "team", "a$$1b", "", "")'


def test_backfill_blocks_shorten_as_more_slos_share_a_query():
    """promtool reads one range query per combined rule and block: with many SLOs per rule the blocks are a day,
    so no query reads 30 days of a hundred SLOs' tiles (that took longer than a read's 30 s timeout for 50)."""
    from sloengine.engine.backfill import SLO_HOURS_PER_QUERY, SLOS_PER_RULE, _block_hours

    assert _block_hours(1) == 720 and _block_hours(0) == 720
    assert _block_hours(11) == SLO_HOURS_PER_QUERY // 11
    assert _block_hours(SLOS_PER_RULE) == _block_hours(10 * SLOS_PER_RULE) == 24
    assert all(_block_hours(n) * min(n, SLOS_PER_RULE) <= max(SLO_HOURS_PER_QUERY, 24 * SLOS_PER_RULE)
               for n in range(1, 1000))


def test_backfill_starts_promtool_at_or_before_the_requested_start(tmp_path, monkeypatch):
    """promtool's first evaluation falls up to 5 minutes after the start it is given (at the group's phase), and
    each backfilled tile is the 5 minutes before an evaluation: a start rounded up would leave the counters'
    first minutes in no tile, and the report would then (rightly) refuse the tiles as incomplete."""
    import sloengine.engine.backfill as module

    seen: list[tuple[str, ...]] = []
    monkeypatch.setattr(module, "promtool", lambda *argv, **_: seen.append(argv))
    spec = tmp_path / "svc0.yaml"
    spec.write_text(SPEC.format(i=0))
    catalog = load([spec]).catalog
    requested = 1_796_481_360  # 60 s past a 5-minute boundary
    module.backfill(catalog, "http://127.0.0.1:9", requested, requested + 86_400, tmp_path / "out")
    (argv,) = seen
    start = int(next(a for a in argv if a.startswith("--start=")).split("=", 1)[1])
    assert requested - c.TILE_SECONDS < start <= requested and start % c.TILE_SECONDS == 0
