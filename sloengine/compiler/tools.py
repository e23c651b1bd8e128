"""The Prometheus and Alertmanager command-line tools sloengine runs: ``promtool`` and ``amtool``.

``sloengine backfill`` has promtool write TSDB blocks and the escalation
checks have amtool test the routes; tests, benchmarks and the demo use the
same helpers. A tool that is missing or fails raises :class:`ToolError` with
what it printed, which the CLI reports as a user-facing error, not a traceback.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

PROMTOOL = "promtool"


class ToolError(RuntimeError):
    """A tool (or an engine) could not be found, started or reached, or it failed."""


def find_binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise ToolError(f"none of {', '.join(names)} is on PATH; install Debian's prometheus package "
                    "(make test and make demo do this)")


def promtool(*args: str, timeout: float = 1800, env: Mapping[str, str] | None = None,
             cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run promtool (in ``env`` when given, else this environment; in ``cwd``); raise :class:`ToolError` with its
    output when it fails."""
    binary = find_binary(PROMTOOL)
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    if done.returncode != 0:
        raise ToolError(f"promtool {' '.join(args[:3])} failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                        f"{done.stderr[-3000:]}")
    return done
