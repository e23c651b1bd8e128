"""Using the second core for large catalogues, with results identical to a serial run.

Loading and generating are CPU-bound Python; with thousands of SLOs a forked
worker takes a share of the parts that split cleanly (parsing files; compiling
services, handing their alerts back early so the Alertmanager configuration is
rendered meanwhile). Work
is handed over by fork, so nothing is pickled on the way in; only results
come back. Small inputs, one-core machines and platforms without ``fork`` run
serially, and ``SLOENGINE_WORKERS=1`` forces that (the output is the same).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

def workers() -> int:
    """How many processes may work at once (``SLOENGINE_WORKERS`` or the CPUs this process may use)."""
    configured = os.environ.get("SLOENGINE_WORKERS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def split_map(function: Callable[[Sequence[T]], list[R]], items: Sequence[T], *, minimum: int) -> list[R]:
    """``function(items)``, computed as two halves in two processes when there are at least ``minimum``
    items; ``function`` maps a list to a list of the same length, in order."""
    if len(items) < minimum or workers() < 2 or not _can_fork():
        return function(items)
    half = (len(items) + 1) // 2
    other = Twofold(lambda rest, _early: function(rest), items[half:])
    try:
        first = function(items[:half])
    except BaseException:
        other.cancel()
        raise
    return first + other.result()


class Claims:
    """Numbered pieces of work shared by a process and its forked worker: each takes the next unclaimed piece
    until none is left, so the faster of the two does more and both finish within one piece of each other.
    Iterating yields the numbers this process claimed. Made before the fork (the counter is shared memory)."""

    def __init__(self, count: int) -> None:
        self.count = count
        context = multiprocessing.get_context("fork") if _can_fork() else multiprocessing.get_context()
        self._next = context.Value("i", 0)

    def __iter__(self) -> Iterator[int]:
        while True:
            with self._next.get_lock():
                index = self._next.value
                if index >= self.count:
                    return
                self._next.value = index + 1
            yield index


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (elsewhere: nothing; the closed pipe suffices)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (AttributeError, OSError):
        return
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)


class Twofold:
    """``function(job, early)`` in a forked process that can hand back one early result before its final one.

    The caller gets :meth:`early` (for instance what a later step needs) while the worker goes on, then
    :meth:`result`. A thread here takes each message as soon as it is sent, so the worker never waits for
    the caller to ask. Without fork (or with ``enabled`` false) nothing runs until :meth:`early` is asked,
    and then everything runs in the caller.
    """

    def __init__(self, function: Callable[[Any, Callable[[Any], None]], Any], job: Any, *,
                 enabled: bool = True) -> None:
        self._function, self._job = function, job
        self._process: Any = None
        self._early: list[Any] = []
        self._final: list[Any] = []
        if enabled and workers() > 1 and _can_fork():
            context = multiprocessing.get_context("fork")
            reader, writer = context.Pipe(duplex=False)
            self._process = context.Process(target=self._child, args=(writer, reader), daemon=True)
            self._process.start()
            writer.close()
            self._messages: queue.Queue[tuple[str, Any]] = queue.Queue()
            self._listener = threading.Thread(target=self._listen, args=(reader,), daemon=True,
                                              name="sloengine-worker-reader")
            self._listener.start()

    @property
    def running(self) -> bool:
        return self._process is not None

    def _child(self, writer: Any, reader: Any) -> None:
        # The worker must not outlive its caller: with the pipe's read end closed here, a send after the caller
        # died fails at once instead of blocking forever, and the kernel kills the worker when the caller dies
        # (a killed `generate` must not leave a worker holding its output directory's lock).
        reader.close()
        _die_with_parent()
        try:
            final = self._function(self._job, lambda value: writer.send(("early", value)))
            writer.send(("final", final))
        except BaseException as exc:  # the parent re-raises it
            writer.send(("error", repr(exc)))
        finally:
            writer.close()

    def _listen(self, reader: Any) -> None:
        try:
            while True:
                tag, value = reader.recv()
                self._messages.put((tag, value))
                if tag != "early":
                    return
        except (EOFError, OSError):
            self._messages.put(("error", "the worker process ended without a result"))
        finally:
            reader.close()

    def _receive(self, kind: str) -> Any:
        tag, value = self._messages.get()
        if tag == "error":
            raise RuntimeError(f"the worker process failed: {value}")
        assert tag == kind, (tag, kind)
        return value

    def _run_here(self) -> None:
        if not self._final:
            self._final.append(self._function(self._job, self._early.append))

    def early(self) -> Any:
        if self._process is None:
            self._run_here()
            return self._early[0]
        return self._receive("early")

    def result(self) -> Any:
        if self._process is None:
            self._run_here()
            return self._final[0]
        try:
            return self._receive("final")
        finally:
            self.cancel()

    def cancel(self) -> None:
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join()
            self._process = None
