"""Input checks shared by every public entry point.

Each checker either returns a clean array/scalar or raises a
:class:`~fastclust.errors.FastclustError` whose message names the argument.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .errors import FastclustError

__all__ = [
    "as_generator",
    "check_centres",
    "check_choice",
    "check_data",
    "check_finite_number",
    "check_positive_int",
    "check_weights",
    "refuse_masked",
    "spawn",
]


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise naming them."""
    if not isinstance(value, str) or value not in choices:
        raise FastclustError(f"{name}={value!r} is not one of {', '.join(map(repr, choices))}")
    return value


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` as a Python int if it is an integer >= ``minimum``.

    Booleans and floats are refused even when integral (``k=3.0`` is more
    likely a bug than an intent).
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise FastclustError(f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__})")
    if int(value) < minimum:
        raise FastclustError(f"{name} must be an integer >= {minimum}, got {int(value)}")
    return int(value)


def check_whole_number(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` as a Python int if it is a whole number >= ``minimum`` (3, 3.0, ``np.int64(3)``).

    The lenient twin of :func:`check_positive_int`, for interfaces that others
    define (the course's grader passes ``num_clusters`` as it likes): an
    integral float is accepted, a fractional one (2.7) refused, never truncated.
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise FastclustError(f"{name} must be a whole number >= {minimum}, got {value!r} ({type(value).__name__})")
    if isinstance(value, numbers.Integral):
        whole = int(value)
    else:
        as_float = float(value)
        if not (math.isfinite(as_float) and as_float.is_integer()):
            raise FastclustError(f"{name} must be a whole number >= {minimum}, got {value!r} (it is not rounded)")
        whole = int(as_float)
    if whole < minimum:
        raise FastclustError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return whole


def _describe_first_nonfinite(arr: np.ndarray) -> str:
    bad = ~np.isfinite(arr)
    count = int(bad.sum())
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    n_nan = int(np.isnan(arr).sum())
    where = ", ".join(f"{axis} {i}" for axis, i in zip(("row", "column", "channel"), first, strict=False))
    return f"{count} non-finite value(s) ({n_nan} NaN, {count - n_nan} inf); the first is at {where}"


def refuse_masked(value: Any, name: str) -> None:
    """Raise a FastclustError naming ``name`` if ``value`` is a numpy masked array."""
    # np.asarray drops a mask silently: the masked entries would be clustered as if valid.
    if isinstance(value, np.ma.MaskedArray):
        raise FastclustError(
            f"{name} is a masked array: fastclust would ignore its mask; pass {name}.filled(value) "
            f"or drop the masked rows first"
        )


def _as_real_array(value: Any, name: str) -> np.ndarray:
    """``np.asarray(value)`` if it is real numbers (or booleans); a FastclustError naming ``name`` otherwise."""
    refuse_masked(value, name)
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise FastclustError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise FastclustError(f"{name} must be numeric, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise FastclustError(f"{name} must be real, got complex dtype {arr.dtype}")
    return arr


def check_finite_number(value: Any, name: str, *, positive: bool = True) -> float:
    """Return ``value`` as a float if it is a finite real number (``> 0`` when ``positive``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise FastclustError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    v = float(value)
    if not np.isfinite(v) or (positive and v <= 0):
        raise FastclustError(f"{name} must be a finite number{' > 0' if positive else ''}, got {v}")
    return v


def check_data(X: Any, name: str = "X") -> np.ndarray:
    """Validate a data matrix: 2-D, non-empty, numeric, real, finite, not masked.

    Returns a C-contiguous float32 or float64 array (float32 is kept so wide
    data can use single-precision BLAS; everything else becomes float64).
    """
    arr = _as_real_array(X, name)
    if arr.ndim != 2:
        raise FastclustError(f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise FastclustError(f"{name} is empty (shape {arr.shape})")
    if arr.dtype != np.float32:
        arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise FastclustError(f"{name} contains {_describe_first_nonfinite(arr)}")
    return np.ascontiguousarray(arr)


def check_centres(C: Any, k: int, d: int, name: str = "init") -> np.ndarray:
    """Validate explicit centres: a real, finite ``(k, d)`` array; returned as C-contiguous float64."""
    arr = _as_real_array(C, f"{name} array")
    if arr.shape != (k, d):
        raise FastclustError(f"{name} array must have shape (k, d) = ({k}, {d}), got {arr.shape}")
    arr = np.array(arr, dtype=np.float64, order="C")
    if not np.isfinite(arr).all():
        raise FastclustError(f"{name} array contains {int((~np.isfinite(arr)).sum())} non-finite value(s)")
    return arr


def check_weights(sample_weight: Any, n: int, name: str = "sample_weight") -> np.ndarray:
    """Return float64 weights of length ``n`` (ones when None); refuse negative, all-zero, complex or masked."""
    if sample_weight is None:
        return np.ones(n, dtype=np.float64)
    w = _as_real_array(sample_weight, name).astype(np.float64)
    if w.ndim == 0:
        w = np.full(n, float(w))
    if w.shape != (n,):
        raise FastclustError(f"{name} must have shape ({n},), got {w.shape}")
    if not np.isfinite(w).all():
        raise FastclustError(f"{name} contains {int((~np.isfinite(w)).sum())} non-finite value(s)")
    if (w < 0).any():
        first = int(np.argmax(w < 0))
        raise FastclustError(f"{name} contains {int((w < 0).sum())} negative value(s); the first is at index {first}")
    if not (w > 0).any():
        raise FastclustError(f"{name} is all zero: at least one sample needs a positive weight")
    return np.ascontiguousarray(w)


def as_generator(seed: Any) -> np.random.Generator:
    """The one seed rule: turn a seed into a ``numpy.random.Generator``.

    Accepts ``None`` (fresh entropy), a non-negative integer (Python or numpy),
    a ``SeedSequence``, a ``Generator`` (returned as is, so draws continue from
    it) or a legacy ``RandomState`` (one draw from it seeds the Generator).
    Anything else raises :class:`FastclustError` naming the seed.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.RandomState):
        return np.random.default_rng(seed.randint(0, 2**31 - 1))
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)):
        if int(seed) < 0:
            raise FastclustError(f"seed must be a non-negative integer, got {int(seed)}")
        return np.random.default_rng(int(seed))
    raise FastclustError(
        f"seed must be None, a non-negative int, a SeedSequence or a numpy Generator, got {seed!r} "
        f"({type(seed).__name__})"
    )


def spawn(seed: Any, n: int) -> list[np.random.Generator]:
    """``n`` independent child Generators of ``seed`` (see :func:`as_generator`).

    Children come from ``Generator.spawn``, so each step of a computation gets a
    stream of its own: reusing a cached result, or adding a step, never shifts
    another step's draws. The same integer seed always gives the same children;
    a Generator passed twice gives new children each time (its spawn counter
    advances), never a copy of earlier ones.
    """
    return as_generator(seed).spawn(check_positive_int(n, "n"))
