"""Atomic output: the one helper every file fastclust writes goes through.

A file is written to a hidden temporary name in its destination folder and
renamed over the target only when complete, so a reader (or a killed run) never
sees half a file. ``tempfile.mkstemp`` creates files with mode 0600; the final
file instead gets the mode a plain ``open(path, "w")`` would give it
(``0666 & ~umask``, usually 0644), so outputs are readable by the user's group
and others as any other file they create.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["TEMP_SUFFIX", "atomic_path", "atomic_write_bytes", "atomic_write_text", "remove_stale_temps", "umask"]

#: Every temporary file this module creates ends with this suffix (and starts with a dot).
TEMP_SUFFIX = ".fastclust-tmp"


def umask() -> int:
    """The process's current umask (read without changing it for longer than one call)."""
    current = os.umask(0o022)
    os.umask(current)
    return current


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``, on error removed.

    For writers that want a file name rather than bytes (``savefig``, ``np.savez``,
    ``zipfile``): write the whole file to the yielded path. The folder must exist.
    """
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see the module docstring); return the path."""
    target = Path(path)
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """:func:`atomic_write_bytes` for text."""
    return atomic_write_bytes(path, text.encode(encoding))


def remove_stale_temps(folder: str | os.PathLike[str], older_than: float = 3600.0) -> int:
    """Delete this module's temporary files in ``folder`` left by killed runs; return how many.

    Only files older than ``older_than`` seconds are removed, so a run still
    writing in the same folder keeps its temporary files.
    """
    removed = 0
    now = time.time()
    for tmp in Path(folder).glob(f".*{TEMP_SUFFIX}"):
        try:
            if now - tmp.stat().st_mtime >= older_than:
                tmp.unlink()
                removed += 1
        except FileNotFoundError:  # another run finished (or cleaned) it meanwhile
            continue
    return removed
