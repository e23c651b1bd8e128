"""An SLO defined twice is reported at the definition read second, naming the first: files in the order
they were given, then lines within a file (line 10 comes after line 9)."""

from __future__ import annotations

from pathlib import Path

from sloengine.specs.loader import load

NATIVE = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {{name: shop}}
slos:
{padding}  - name: checkout
    objective: 99.9
    sli: {{ratio: {{bad: 'http_requests_total{{code="500"}}', total: http_requests_total}}}}
"""

SLOTH = """\
version: prometheus/v1
service: shop
slos:
  - name: checkout
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{code="500"}[{{.window}}]))
        total_query: sum(rate(http_requests_total[{{.window}}]))
    alerting:
      name: ShopCheckout
      page_alert: {disable: true}
      ticket_alert: {disable: true}
"""


def native(tmp_path: Path, name: str, blank_lines: int = 0) -> Path:
    path = tmp_path / name
    path.write_text(NATIVE.format(padding="  # (an SLO further down the file)\n" * blank_lines))
    return path


def duplicate_error(paths: list[Path]) -> str:
    (error,) = [d.render() for d in load(paths).errors]
    assert "duplicate SLO id 'shop/checkout'" in error
    return error


def test_the_error_points_at_the_file_given_second_even_when_its_name_sorts_first(tmp_path):
    first, second = native(tmp_path, "zeta.yaml"), native(tmp_path, "alpha.yaml")
    error = duplicate_error([first, second])
    assert error.startswith(f"{second}:5:5: error: shop/checkout: ")
    assert f"first defined at {first}:5:5" in error
    error = duplicate_error([second, first])
    assert error.startswith(f"{first}:5:5: error:") and f"first defined at {second}:5:5" in error


def test_within_one_file_line_ten_comes_after_line_nine(tmp_path):
    path = tmp_path / "shop.yaml"
    # The same SLO in two documents of one file: on line 9 (after four comment lines), then on line 17.
    path.write_text(NATIVE.format(padding="  # padding\n" * 4) + "---\n" + NATIVE.format(padding=""))
    error = duplicate_error([path])
    assert error.startswith(f"{path}:17:5: error:") and f"first defined at {path}:9:5" in error


def test_a_peer_format_file_given_first_keeps_its_definition(tmp_path):
    imported = tmp_path / "zz-sloth.yaml"
    imported.write_text(SLOTH)
    own = native(tmp_path, "aa-native.yaml")
    error = duplicate_error([imported, own])
    assert error.startswith(f"{own}:5:5: error:") and f"first defined at {imported}:4:5" in error
    kept = load([imported, own]).catalog.slos
    assert [s.source_format.value for s in kept] == ["sloth prometheus/v1"]


def test_files_of_a_directory_count_in_name_order(tmp_path):
    folder = tmp_path / "specs"
    folder.mkdir()
    native(folder, "b.yaml")
    native(folder, "a.yaml")
    error = duplicate_error([folder])
    assert error.startswith(f"{folder / 'b.yaml'}:5:5: error:") and f"first defined at {folder / 'a.yaml'}" in error
