"""Writing outputs so that a reader never sees half a file.

Each file is written to a temporary sibling and renamed over the target, which
is atomic on POSIX; a set of files is staged in full before any is renamed, so
an error while rendering leaves the previous output untouched.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping

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


def write_tree(root: Path, files: Mapping[str, str]) -> list[Path]:
    """Write several files under ``root``: all are rendered and staged before any is replaced."""
    root = Path(root)
    staged: list[tuple[Path, Path]] = []
    try:
        for relative, text in sorted(files.items()):
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            os.chmod(tmp, FILE_MODE)
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
            staged.append((Path(tmp), target))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, target in staged:
        os.replace(tmp, target)
    return [target for _, target in staged]
