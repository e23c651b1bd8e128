"""The README's benchmark table is exactly what the committed results say."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def summary_module():
    spec = importlib.util.spec_from_file_location("bench_summary", REPO / "bench" / "summary.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_benchmark_table_matches_the_committed_results():
    summary = summary_module()
    table = summary.table()
    readme = (REPO / "README.md").read_text()
    assert summary.rewrite_readme(readme, table) == readme, "run: python bench/summary.py --readme"


def test_every_benchmark_has_a_row_with_its_command():
    table = summary_module().table()
    for command in ("bench/rule_cost.py --slos 500", "bench/engine_speed.py --slos 1000", "bench/exporter_scrape.py",
                    "bench/detection.py", "bench/compile.py --slos", "bench/two_tier.py --slos"):
        assert command in table
    assert all(row.count("|") == 6 for row in table.splitlines())


def test_every_command_of_the_table_is_explained_in_bench_readme():
    """The README keeps one table; how each row was measured is in bench/README.md, under the same command."""
    import re

    commands = set(re.findall(r"`python (bench/[^`]+)`", summary_module().table()))
    bench_readme = (REPO / "bench" / "README.md").read_text()
    blocks = re.findall(r"^```sh\n(.*?)^```", bench_readme, re.S | re.M)
    shown = {line.removeprefix("python ").strip() for block in blocks for line in block.splitlines()}
    assert commands and sorted(commands - shown) == []
