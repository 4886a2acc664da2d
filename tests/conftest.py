"""Shared fixtures: backends, the real data beside the project (skipped when absent), and bit-for-bit comparison."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import fastclust as fc

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FASTCLUST_SHARED", ROOT.parent / "shared" / "data"))
HOMEWORK = SHARED / "homework1"
MNIST = SHARED / "mnist"

BACKENDS = ["numpy", "numba"] if fc.numba_available() else ["numpy"]


def shared_file(*parts: str) -> Path:
    """Path of a real input in ../shared/data, or skip the test saying what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (a fresh clone has no ../shared/data)")
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def same(a, b):
    """Bit-identical, dtype and shape included; floats compared by their bits."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
        if np.issubdtype(a.dtype, np.floating):  # equal values are not enough: -0.0 == 0.0
            signed = ~np.isnan(a)
            np.testing.assert_array_equal(np.signbit(a[signed]), np.signbit(b[signed]))
    elif isinstance(a, float) or isinstance(b, float):
        assert float(a).hex() == float(b).hex()
    else:
        assert int(a) == int(b)


def integer_case_data(values: int, n: int, d: int, k: int, weights: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``(X, sample_weight)`` of an integer-path test case: ``n x d`` integers below ``values`` (shifted to
    negatives when ``values`` is 1000) and weights ``"ones"`` (None), ``"counts"`` or ``"zeros"`` (some 0)."""
    rng = np.random.default_rng(n + d + k)
    X = rng.integers(0, values, size=(n, d)).astype(np.float64) - (values // 3 if values == 1000 else 0)
    w = {"ones": None, "counts": rng.integers(1, 50, size=n), "zeros": rng.integers(0, 3, size=n)}[weights]
    if w is not None and weights == "zeros":
        w[0] = 1
    return X, w
