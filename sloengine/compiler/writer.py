"""Writing outputs so that a reader never sees half a file, and ``generate`` never leaves half a generation.

A single file is written to a temporary sibling and renamed over the target, which is atomic on POSIX. A whole
output directory is replaced as one :class:`Generation`: the new files are written into a private sibling
directory and swapped in with one ``renameat2(RENAME_EXCHANGE)``, so Prometheus, Grafana or Alertmanager
reading it (or a ``kill -9`` at any instant) see the complete old or the complete new output, never a mix.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

#: Generated files are read by Prometheus, Grafana and Alertmanager, often as other users (mkstemp makes 0600).
FILE_MODE = 0o644


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _stage(target: Path, text: str) -> Path:
    """``text`` in a temporary sibling of ``target`` (mode 0644), returned for the final rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        data = memoryview(text.encode("utf-8"))
        while data:
            data = data[os.write(fd, data):]
    except BaseException:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    os.close(fd)
    return Path(tmp)


#: Files handed to a writing thread and not yet written, at most: a slow disk then holds the renderer back
#: instead of letting rendered text pile up in memory (64 files of a large catalogue are a few MB).
BACKLOG_FILES = 64

T = TypeVar("T")


class Backlog:
    """Work for one writing thread, submitted in order, with at most :data:`BACKLOG_FILES` items waiting."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._submitted: list[Future[Any]] = []

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        if len(self._submitted) >= BACKLOG_FILES:
            # One thread runs them in order: when this one is done, so is everything before it.
            self._submitted[-BACKLOG_FILES].result()
        future = self._pool.submit(function, *args)
        self._submitted.append(future)
        return future


def write_tree(root: Path, files: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[Path]:
    """Write several files under ``root``: all are staged before any is replaced (each rename is atomic, the
    set is not: :class:`Generation` replaces a whole directory at once).

    ``files`` is a mapping or a stream of (relative path, text); a stream is staged on a thread as it
    arrives, and if the producer fails, everything staged is removed and nothing is replaced.
    """
    root = Path(root)
    items = sorted(files.items()) if isinstance(files, Mapping) else files
    staged: list[tuple[Future[Path], Path]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sloengine-writer") as pool:
        backlog = Backlog(pool)
        try:
            made: set[Path] = set()
            for relative, text in items:
                target = root / relative
                if target.parent not in made:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    made.add(target.parent)
                staged.append((backlog.submit(_stage, target, text), target))
            done = [(future.result(), target) for future, target in staged]
        except BaseException:
            for future, _ in staged:
                with contextlib.suppress(BaseException):
                    future.result().unlink(missing_ok=True)
            raise
    for tmp, target in done:
        os.replace(tmp, target)
    return sorted(target for _, target in done)


# ---- a whole output directory, swapped in at once --------------------------------------------------------

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux ``renameat2`` with ``RENAME_EXCHANGE``); False where the system
    or the filesystem cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code), str(a))


class Placed:
    """A file already written to its place in a :class:`Generation`'s private directory (by a forked worker);
    it stands where a file's text would in the stream :meth:`Generation.write` takes. ``len()`` is its size;
    ``unchanged``: it is the output directory's file, reused (:func:`place`)."""

    def __init__(self, path: Path, size: int, unchanged: bool = False) -> None:
        self.path = Path(path)
        self.size = size
        self.unchanged = unchanged

    def __len__(self) -> int:
        return self.size


class Stage(NamedTuple):
    """Where a :class:`Generation`'s files go before it is swapped in (``path``, which no reader sees), and the
    output directory it replaces (``previous``, None when there is none yet), whose unchanged files are reused."""

    path: Path
    previous: Path | None = None


def _unchanged(previous: Path, data: bytes) -> bool:
    """Whether ``previous`` is a regular file of ours (mode 0644, not a symlink) holding exactly ``data``. (Opened
    without following a symlink, and without waiting should a FIFO stand there.)"""
    try:
        with open(previous, "rb",
                  opener=lambda name, flags: os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK)) as handle:
            status = os.fstat(handle.fileno())
            if (not stat.S_ISREG(status.st_mode) or status.st_size != len(data)
                    or stat.S_IMODE(status.st_mode) != FILE_MODE):
                return False
            return handle.read(len(data) + 1) == data
    except OSError:
        return False


def place(stage: Stage, relative: str, text: str, made: set[Path] | None = None) -> Placed:
    """``text`` written to ``stage.path / relative``. ``made``: the directories this writer has made (it adds
    those it makes), so that each is made once rather than asked for again with every file it holds.

    A file the output directory already holds with exactly this text is hard-linked from there instead, so
    regenerating a catalogue writes only what changed, and deleting the old generation frees only the inodes of
    what changed. (On ext4 without a journal, each inode freed in the last minutes makes creating files slower:
    bench/README.md.) An unchanged file keeps its inode and its modification time."""
    target = stage.path / relative
    parent = target.parent
    if made is None or parent not in made:
        parent.mkdir(parents=True, exist_ok=True)
        if made is not None:
            made.add(parent)
    data = text.encode("utf-8")
    if stage.previous is not None and _unchanged(stage.previous / relative, data):
        try:
            os.link(stage.previous / relative, target)
            return Placed(target, len(text), unchanged=True)
        except OSError:
            pass  # a filesystem without hard links, or the file just went: write it
    with open(target, "wb") as handle:
        handle.write(data)
        os.fchmod(handle.fileno(), FILE_MODE)
    return Placed(target, len(text))


class Committed(NamedTuple):
    """What :meth:`Generation.commit` did, as paths under the output directory."""

    written: list[Path]
    removed: list[Path]
    #: How many of the written files are the output directory's own, reused because their text did not change.
    unchanged: int


class Generation:
    """The next contents of an output directory, built beside it and swapped in whole by :meth:`commit`.

    Files of the directory that this generation does not write are carried over (hard links), except those an
    earlier generation wrote and this one no longer does (``is_stale`` tells them apart), which are dropped.
    A lock on the parent directory keeps two runs apart, and each run first removes what an
    interrupted one left (its private directory, or the previous generation it had not deleted yet). Where
    directories cannot be swapped (not Linux, a filesystem without ``RENAME_EXCHANGE``), files are replaced
    one by one instead: each atomically, the set not.
    """

    def __init__(self, out: Path) -> None:
        out = Path(out)
        self.out = out.resolve() if out.is_symlink() else out.absolute()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        # The lock is on the parent directory itself, so no lock file is left beside the output.
        self._lock: int | None = os.open(self.out.parent, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        for leftover in self.out.parent.glob(f".{self.out.name}.generation-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        self.path = self.out.parent / f".{self.out.name}.generation-{os.getpid()}"
        self.path.mkdir()
        #: Where workers write their share of the files (:func:`place`).
        self.stage = Stage(self.path, self.out if self.out.is_dir() else None)
        self._written: list[str] = []
        self._unchanged = 0
        self._done = False

    def __enter__(self) -> Generation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, files: Mapping[str, str | Placed] | Iterable[tuple[str, str | Placed]]) -> None:
        """Write ``files`` (a mapping, or a stream whose :class:`Placed` entries a worker already wrote to
        :attr:`stage`) into the new generation; writing overlaps the producer on a thread."""
        items = sorted(files.items()) if isinstance(files, Mapping) else files
        made: set[Path] = set()  # only the writing thread reads and adds to it
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sloengine-writer") as pool:
            backlog = Backlog(pool)
            pending: list[Future[Placed]] = []
            for relative, text in items:
                if isinstance(text, Placed):
                    self._unchanged += text.unchanged
                else:
                    pending.append(backlog.submit(place, self.stage, relative, text, made))
                self._written.append(relative)
            self._unchanged += sum(future.result().unchanged for future in pending)

    def commit(self, is_stale: Callable[[Path], bool]) -> Committed:
        """Swap the new generation in."""
        written = set(self._written)
        removed: list[Path] = []
        if self.out.is_dir():
            mine = {Path(relative) for relative in written}
            for path in sorted(self.out.rglob("*")):
                relative = path.relative_to(self.out)
                if (path.is_dir() and not path.is_symlink()) or relative in mine:
                    continue
                if path.name.startswith(".") and path.name.endswith(".tmp"):
                    continue  # what an interrupted file-by-file write left
                if is_stale(path):
                    removed.append(path)
                    continue
                self._carry(path, self.path / relative)
            with contextlib.suppress(OSError):
                os.chmod(self.path, self.out.stat().st_mode & 0o7777)
            if exchange(self.path, self.out):
                shutil.rmtree(self.path, ignore_errors=True)
            else:
                self._replace_one_by_one(written, removed)
        else:
            os.chmod(self.path, 0o755)
            os.rename(self.path, self.out)
        self._done = True
        self.close()
        return Committed(sorted(self.out / relative for relative in written), removed, self._unchanged)

    @staticmethod
    def _carry(source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
            return
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)

    def _replace_one_by_one(self, written: set[str], removed: list[Path]) -> None:
        for relative in sorted(written):
            target = self.out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.path / relative, target)
        for path in removed:
            path.unlink(missing_ok=True)
        shutil.rmtree(self.path, ignore_errors=True)

    def close(self) -> None:
        """Drop the new generation if it was not committed, and release the lock."""
        if not self._done:
            shutil.rmtree(self.path, ignore_errors=True)
            self._done = True
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
