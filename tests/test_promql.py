"""Selectors are rebuilt from structure: any label value renders to a literal the real parser reads back."""

from __future__ import annotations

import promql_parser
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sloengine.model.promql import (
    Matcher,
    MatchOp,
    PromQLError,
    Selector,
    check_raw_query,
    counter_selector,
    parse_selector,
    quote,
)


@given(st.text())
def test_any_label_value_round_trips_through_the_parser(value):
    rendered = Selector("m", (Matcher("job", MatchOp.EQ, value),)).render()
    parsed = promql_parser.parse(rendered)
    assert isinstance(parsed, promql_parser.VectorSelector)
    (matcher,) = parsed.matchers.matchers
    assert matcher.value == value


@given(st.text())
def test_parse_selector_reads_back_what_render_wrote(value):
    selector = Selector("m", (Matcher("a", MatchOp.NE, value),))
    assert parse_selector(selector.render()) == selector


def test_quote_escapes_the_characters_that_end_or_break_a_string():
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


@pytest.mark.parametrize("text", ["rate(x[5m])", "x[5m]", "x offset 1h", '{job="a"}', 'x{a="1" or b="2"}', "1 + x"])
def test_only_plain_selectors_are_accepted_as_sli_selectors(text):
    with pytest.raises(PromQLError):
        parse_selector(text)


def test_regex_matchers_are_checked_with_re2_semantics():
    with pytest.raises(PromQLError):
        Selector("x", (Matcher("a", MatchOp.RE, "(?=lookahead)"),))


@pytest.mark.parametrize(
    ("query", "metric", "group_by"),
    [
        ('sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))', "http_requests_total", ()),
        ("sum by (route, method) (increase(x_total[$window]))", "x_total", ("method", "route")),
        ("(sum(rate(y[$window])))", "y", ()),
    ],
)
def test_peer_event_queries_of_the_plain_shape_become_selectors(query, metric, group_by):
    selector, labels = counter_selector(query)
    assert selector.metric == metric and labels == group_by


@pytest.mark.parametrize("query", ["sum without (a) (rate(x[$window]))", "max(rate(x[$window]))",
                                   "sum(rate(x[$window])) * 2", "sum(rate(x[5m] offset 1h))"])
def test_other_shapes_stay_raw(query):
    assert counter_selector(query) is None


def test_raw_queries_need_a_window_placeholder_and_must_parse():
    check_raw_query("sum(rate(x[$window]))")
    check_raw_query("sum(rate(x[{{.window}}]))")
    with pytest.raises(PromQLError, match="placeholder"):
        check_raw_query("sum(rate(x[5m]))")
    with pytest.raises(PromQLError, match="does not parse"):
        check_raw_query("sum(rate(x[$window])")
