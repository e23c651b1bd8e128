"""``make demo``: the main job on a local stack.

For now it loads and checks the bundled examples and prints the SLOs as
sloengine understood them; the live stack (workload, Prometheus, Alertmanager,
exporter, terminal view) is the demo issue's work and will replace this body.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .loader import load

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def main(argv: list[str] | None = None) -> int:
    paths = argv if argv else [str(EXAMPLES)]
    result = load(paths)
    for diagnostic in result.diagnostics:
        print(diagnostic.render(), file=sys.stderr)
    header = f"{'SLO':44} {'objective':>9} {'window':>8} {'SLI':8} alerts (long-short @ burn factor)"
    print(header)
    print("-" * len(header))
    for slo in result.catalog.slos:
        alerts = ", ".join(f"{c.severity.value} {c.name} @{c.burn_factor:g}" for c in slo.alerting.conditions)
        print(f"{slo.id:44} {slo.objective:>8g}% {slo.window.name:>8} {slo.sli.kind.value:8} {alerts}")
    print(f"\n{len(result.catalog.slos)} SLOs loaded from {len(result.files)} files; "
          f"{len(result.errors)} errors, {len(result.warnings)} warnings.")
    print("The live demo stack (workload, Prometheus, Alertmanager, exporter) is not built yet.")
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
