"""Short, one-line reprs for the result dataclasses.

A dataclass's generated ``__repr__`` prints every field in full: printing a
loaded political-blogs :class:`~fastclust.graph.Graph` dumps 1,224 blog urls,
and a :class:`~fastclust.KMeansResult` dumps every label. :func:`short_repr`
replaces it with a summary that fits on a line or two: arrays and sparse
matrices as dtype and shape, long lists as their length, numbers as numbers.
Fields declared with ``field(repr=False)`` stay hidden, as they would in the
generated repr.

This module sits beside :mod:`fastclust._io` at the bottom of the package: it
imports nothing from fastclust, so every layer can use it.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, TypeVar

import numpy as np

__all__ = ["MAX_REPR", "short_repr", "summarize"]

#: A repr never grows past this many characters: trailing fields are elided (``…``) beyond it.
MAX_REPR = 280

_T = TypeVar("_T", bound=type)

_SHORT_TEXT = 48  # a string longer than this is shown as its head and tail
_SHORT_SEQUENCE = 8  # a list of at most this many small scalars is shown in full


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(int(s)) for s in shape)


def _text(value: str) -> str:
    if len(value) > _SHORT_TEXT:
        half = (_SHORT_TEXT - 1) // 2
        value = f"{value[:half]}…{value[-half:]}"
    return repr(value)


def _number(value: Any) -> str | None:
    # bool first: it is an int subclass, and numpy's bool_ is neither int nor float
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        text = f"{float(value):.4g}"
        # keep a float looking like one (0.0, not 0): an overall rate of 0 is not a count
        return text if any(c in text for c in ".enai") else f"{text}.0"
    return None


def summarize(value: Any) -> str:
    """A few characters that describe ``value`` without printing its contents.

    ``int64[1224]`` for an array, ``csr float64[1224x1224, nnz=33430]`` for a
    sparse matrix, ``list[1224 str]`` for a long list, the value itself for a
    number, a short string or a short list of small scalars.
    """
    if value is None:
        return "None"
    number = _number(value)
    if number is not None:
        return number
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, os.PathLike):
        return _text(os.fspath(value))
    module = type(value).__module__ or ""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        if module.startswith("scipy.sparse"):
            fmt = getattr(value, "format", "sparse")
            return f"{fmt} {dtype}[{_shape(shape)}, nnz={int(value.nnz)}]"
        if module.startswith("dask"):
            # a dask array's shape can hold NaN (unknown chunk sizes): print what dask knows
            n_chunks = getattr(value, "npartitions", None)
            shape_text = "x".join(str(s) for s in shape)
            return f"dask {dtype}[{shape_text}]" + (f" in {n_chunks} chunks" if n_chunks else "")
        return f"{dtype}[{_shape(shape)}]"
    if isinstance(value, (list, tuple)):
        kind = type(value).__name__
        small = all(_number(v) is not None or (isinstance(v, str) and len(v) <= 12) for v in value)
        if small and len(value) <= _SHORT_SEQUENCE:
            shown = ", ".join(summarize(v) for v in value)
            return f"[{shown}]" if kind == "list" else f"({shown}{',' if len(value) == 1 else ''})"
        types = sorted({type(v).__name__ for v in value})
        of = f" {types[0]}" if len(types) == 1 else ""
        return f"{kind}[{len(value)}{of}]"
    if isinstance(value, dict):
        return f"dict[{len(value)}]"
    if dataclasses.is_dataclass(value):
        return f"<{type(value).__name__}>"
    return f"<{type(value).__name__}>"


def _repr(self: Any) -> str:
    name = type(self).__name__
    parts = [f"{f.name}={summarize(getattr(self, f.name))}" for f in dataclasses.fields(self) if f.repr]
    text = f"{name}({', '.join(parts)})"
    if len(text) <= MAX_REPR:
        return text
    # keep the leading fields (the ones each class declares first are its main results)
    kept: list[str] = []
    for part in parts:
        if len(name) + sum(len(p) + 2 for p in kept) + len(part) + 5 > MAX_REPR:
            break
        kept.append(part)
    return f"{name}({', '.join([*kept, '…'])})"


def short_repr(cls: _T) -> _T:
    """Class decorator: give a dataclass the short one-line repr described in the module docstring.

    Put it *above* ``@dataclass`` (so it runs after the dataclass machinery has
    generated its own ``__repr__``). A dataclass subclass needs it again: the
    ``@dataclass`` on the subclass generates a fresh full repr.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"short_repr decorates dataclasses; {cls.__name__} is not one (put it above @dataclass)")
    cls.__repr__ = _repr  # type: ignore[method-assign]
    return cls
