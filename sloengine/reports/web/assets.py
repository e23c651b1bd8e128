"""The web UI's static files, read once from the package and served by exact name only (no paths)."""

from __future__ import annotations

import functools
from importlib import resources

STATIC_PREFIX = "/static/"

#: Every file that may be served, with its content type; anything else under /static/ is a 404.
FILES = {
    "uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
    "uPlot.LICENSE": "text/plain; charset=utf-8",
    "VENDORED.txt": "text/plain; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


@functools.cache
def asset(name: str) -> tuple[bytes, str] | None:
    """The file's bytes and content type, or None when ``name`` is not one of :data:`FILES`."""
    kind = FILES.get(name)
    if kind is None:
        return None
    return (resources.files(__package__).joinpath("static", name).read_bytes(), kind)
