"""Reading ``.npy`` and ``.npz`` files without unpickling, with every format fault named.

``numpy.load`` answers a damaged file with whatever its parser trips over: an
``EOFError`` for an empty file, ``BadZipFile`` for a cut ``.npz``, a
``MemoryError`` when a header claims 10^12 elements, and "pickled data" for
anything that is not a NumPy file at all (a text table, a BMP). This module
reads the header itself, checks it against the bytes that are really there
before allocating anything, and raises :class:`~fastclust.FastclustError`
naming the file, the array and the fault. Object arrays are refused: loading
them means unpickling, and a pickle can run code.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from .errors import FastclustError

__all__ = ["describe_format", "load_npy", "load_npz", "npz_names"]

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")

#: Leading bytes of formats people hand to an array loader by mistake.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"BM", "a BMP image"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip file (decompress it first)"),
    (b"\x80\x02", "a Python pickle (refused: unpickling can run code)"),
    (b"\x80\x03", "a Python pickle (refused: unpickling can run code)"),
    (b"\x80\x04", "a Python pickle (refused: unpickling can run code)"),
    (b"\x80\x05", "a Python pickle (refused: unpickling can run code)"),
    (b"\x89HDF", "an HDF5 file"),
)


def describe_format(head: bytes) -> str:
    """What a file starting with ``head`` looks like, in words (for messages)."""
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            return what
    if head.startswith(NPY_MAGIC):
        return "a NumPy .npy file"
    if head.startswith(ZIP_MAGICS):
        return "a zip archive (.npz)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data of an unknown format"
    if text and all(c.isprintable() or c in "\t\r\n" for c in text):
        return f"a text file (it starts with {text[:24]!r}; read it with np.loadtxt, then np.save it)"
    return "data of an unknown format"


def _regular_file(path: Path, what: str) -> int:
    """The size of ``path``; refuses a missing path and anything that is not a regular file (a FIFO blocks)."""
    if not path.is_file():
        raise FastclustError(f"{path}: not a regular file" if path.exists() else f"{path}: no such {what} file")
    size = path.stat().st_size
    if size == 0:
        raise FastclustError(f"{path}: the file is empty (0 bytes)")
    return size


def _read_exact(fh: IO[bytes], nbytes: int, label: str) -> bytearray:
    buf = bytearray(nbytes)
    view = memoryview(buf)
    done = 0
    while done < nbytes:
        got = fh.readinto(view[done:])  # type: ignore[attr-defined]
        if not got:
            raise FastclustError(f"{label}: truncated: {nbytes - done} of its {nbytes} data bytes are missing")
        done += got
    return buf


def _read_array(fh: IO[bytes], available: int, label: str) -> np.ndarray:
    """One array in .npy format from ``fh``, of which ``available`` bytes remain (header included)."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise FastclustError(f"{label}: .npy format version {version} is not supported (1.0 and 2.0 are)")
    except (ValueError, EOFError) as exc:  # numpy's words for a malformed or cut header
        raise FastclustError(f"{label}: malformed .npy header ({exc})") from None
    if dtype.hasobject:
        raise FastclustError(
            f"{label}: holds Python objects (dtype {dtype}); reading it would mean unpickling, which is refused "
            "(a pickle can run code): save the table as a float array"
        )
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    header = fh.tell() if fh.seekable() else None
    left = available - header if header is not None else None
    if left is not None and left < nbytes:
        # checked before allocating: a header can claim any size (10^12 elements was a MemoryError)
        raise FastclustError(
            f"{label}: truncated: its header promises shape {shape} of {dtype} ({nbytes:,} bytes of data) "
            f"but only {left:,} bytes follow"
        )
    data = _read_exact(fh, nbytes, label)
    arr = np.frombuffer(data, dtype=dtype, count=count)
    return arr.reshape(shape, order="F" if fortran else "C")


def _sniff(path: Path, expected: bytes | tuple[bytes, ...], what: str) -> None:
    """Refuse a file whose first bytes are not ``expected``, saying what it looks like instead."""
    with path.open("rb") as fh:
        head = fh.read(32)
    if not head.startswith(expected):
        raise FastclustError(f"{path}: not {what}: it looks like {describe_format(head)}")


def load_npy(path: str | Path, what: str = "array") -> np.ndarray:
    """The array in a ``.npy`` file, read without unpickling; every fault is a :class:`FastclustError`."""
    path = Path(path)
    size = _regular_file(path, what)
    _sniff(path, NPY_MAGIC, "a .npy file")
    with path.open("rb") as fh:
        return _read_array(fh, size, str(path))


def load_npz(path: str | Path, what: str = "array", names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Arrays of a ``.npz`` archive by name (all, or ``names``), read without unpickling.

    Only members named ``*.npy`` count (what ``np.savez`` writes); they are
    keyed without the suffix, as ``np.load`` keys them.
    """
    path = Path(path)
    _regular_file(path, what)
    _sniff(path, ZIP_MAGICS, "a .npz file")
    try:
        with zipfile.ZipFile(path) as zf:
            members = {info.filename[:-4]: info for info in zf.infolist() if info.filename.endswith(".npy")}
            wanted = list(members) if names is None else [n for n in names if n in members]
            out = {}
            for name in wanted:
                info = members[name]
                label = f"{path}[{name}]"
                try:
                    with zf.open(info) as fh:
                        out[name] = _read_array(fh, info.file_size, label)
                except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                    raise FastclustError(f"{label}: damaged archive member ({exc})") from None
            return out
    except zipfile.BadZipFile as exc:
        raise FastclustError(f"{path}: not a readable .npz (zip) archive ({exc}); is it truncated?") from None


def npz_names(path: str | Path, what: str = "array") -> list[str]:
    """The array names in a ``.npz`` archive (members ``*.npy``, suffix dropped), in archive order."""
    path = Path(path)
    _regular_file(path, what)
    _sniff(path, ZIP_MAGICS, "a .npz file")
    try:
        with zipfile.ZipFile(path) as zf:
            return [info.filename[:-4] for info in zf.infolist() if info.filename.endswith(".npy")]
    except zipfile.BadZipFile as exc:
        raise FastclustError(f"{path}: not a readable .npz (zip) archive ({exc}); is it truncated?") from None
