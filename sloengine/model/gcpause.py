"""Pausing Python's cyclic garbage collector while a large catalogue is loaded or compiled.

Loading and compiling allocate millions of small, long-lived objects (the model, rule groups, rendered
text) and create next to no reference cycles. The collector's full passes traverse every live object, so
on a large catalogue they grow with its size and took about a tenth of the compile time (and a third of
the Alertmanager step, which runs when the heap is largest). Objects that exist when a pause begins are
also frozen (moved out of the collector's sight), so a forked worker does not copy the pages the collector
would otherwise write to. Reference counting still frees everything without cycles as it goes; the
collector runs again when the last pause ends. What the pause created then joins the oldest generation, with
the objects that were frozen: left in the youngest, it would be traversed by the first young collections
after the pause (each pass over the whole model, a quarter of a second for a large catalogue, once after
loading and once after compiling), while the next full collection, which looks at everything, is what
reclaims the few cycles it holds.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
#: Whether the collector was on when the outermost pause began.
_was_enabled = True


@contextmanager
def paused_gc() -> Iterator[None]:
    """Within this block the cyclic collector is off (nested and concurrent blocks share one pause)."""
    global _depth, _was_enabled
    with _lock:
        _depth += 1
        if _depth == 1:
            _was_enabled = gc.isenabled()
            gc.disable()
            gc.freeze()
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.freeze()  # what the pause created, with what it froze: both go back to the oldest generation
                gc.unfreeze()
                if _was_enabled:
                    gc.enable()

