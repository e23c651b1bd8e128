"""Integration tests run the real engines; they need Debian's prometheus/promtool (``make test`` installs them)."""

from __future__ import annotations

import shutil

import pytest


def pytest_collection_modifyitems(config, items):
    missing = [b for b in ("prometheus", "promtool") if shutil.which(b) is None]
    if not missing:
        return
    marker = pytest.mark.skip(reason=f"needs {', '.join(missing)} (run `make test`, which installs them)")
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(marker)
