"""Writing outputs so that a reader never sees half a file.

Each file is written to a temporary sibling and renamed over the target, which
is atomic on POSIX; a set of files is staged in full before any is renamed, so
an error while rendering leaves the previous output untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

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


class Staged:
    """A file already written to a temporary sibling of its target (by another process), awaiting the rename.

    Stands where a file's text would in the stream :func:`write_tree` takes; ``len()`` is its size in bytes.
    """

    def __init__(self, tmp: Path, size: int) -> None:
        self.tmp = Path(tmp)
        self.size = size

    def __len__(self) -> int:
        return self.size


def stage(root: Path, relative: str, text: str) -> Staged:
    """``text`` written beside ``root / relative`` for a later :func:`write_tree` to rename into place."""
    target = Path(root) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    return Staged(_stage(target, text), len(text))


def write_tree(root: Path, files: Mapping[str, str | Staged] | Iterable[tuple[str, str | Staged]]) -> list[Path]:
    """Write several files under ``root``: all are staged before any is replaced.

    ``files`` is a mapping or a stream of (relative path, text); a stream is staged on a thread as it
    arrives (the kernel's copying overlaps the producer's work), and if the producer fails, everything
    staged is removed and nothing is replaced. A :class:`Staged` file (written by another process) is only
    renamed, with the rest.
    """
    root = Path(root)
    items = sorted(files.items()) if isinstance(files, Mapping) else files
    staged: list[tuple[Future[Path], Path]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sloengine-writer") as pool:
        try:
            made: set[Path] = set()
            for relative, text in items:
                target = root / relative
                if target.parent not in made:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    made.add(target.parent)
                if isinstance(text, Staged):
                    done_already: Future[Path] = Future()
                    done_already.set_result(text.tmp)
                    staged.append((done_already, target))
                else:
                    staged.append((pool.submit(_stage, target, text), target))
            done = [(future.result(), target) for future, target in staged]
        except BaseException:
            for future, _ in staged:
                with contextlib.suppress(BaseException):
                    future.result().unlink(missing_ok=True)
            raise
    for tmp, target in done:
        os.replace(tmp, target)
    return sorted(target for _, target in done)
