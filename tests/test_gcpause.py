"""The collector pause used while loading and compiling large catalogues leaves the collector as it found it."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

from sloengine.compiler.generate import render_iter
from sloengine.model.gcpause import paused_gc
from sloengine.specs.loader import load

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_collector_is_off_inside_and_back_on_after_nested_pauses():
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled(), "the inner pause ended the outer one"
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_objects_alive_when_the_pause_begins_are_frozen_then_released():
    with paused_gc():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_a_collector_the_caller_turned_off_stays_off():
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_exception_inside_still_restores_the_collector():
    try:
        with paused_gc():
            raise KeyError("boom")
    except KeyError:
        pass
    assert gc.isenabled()


def test_pauses_on_two_threads_share_one_pause():
    inside = threading.Event()
    leave = threading.Event()

    def hold() -> None:
        with paused_gc():
            inside.set()
            leave.wait(10)

    worker = threading.Thread(target=hold)
    worker.start()
    inside.wait(10)
    with paused_gc():
        pass
    assert not gc.isenabled(), "this thread's pause ended the other thread's"
    leave.set()
    worker.join(10)
    assert gc.isenabled()


def test_an_abandoned_generate_stream_restores_the_collector():
    catalog = load([EXAMPLES]).catalog
    stream = render_iter(catalog)
    next(stream)
    assert not gc.isenabled()
    stream.close()
    assert gc.isenabled()
