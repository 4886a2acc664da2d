"""The bounded wide path (fastclust._widebounds) against the fused pass it replaces: same fits, less work.

For integer-valued wide data (digit pixels) k-means skips the products of rows whose bounds
prove their centre. Labels, centres, rounds and stop reasons must equal the fused pass's bit
for bit, on both backends, through weights and the empty-cluster policies; the objective,
computed from exact cluster statistics, agrees to rounding.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastclust as fc
from fastclust import _widebounds, engine

BACKENDS = [
    "numpy",
    pytest.param("numba", marks=pytest.mark.skipif(not fc.numba_available(), reason="numba is not installed")),
]


def pixels(n: int = 6000, d: int = 48, seed: int = 0, dtype: type = np.float32) -> np.ndarray:
    """Integer-valued rows in 0-255 around 8 prototypes, with overlap (boundary rows in every round)."""
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 256, size=(8, d))
    X = protos[rng.integers(0, 8, size=n)] + rng.integers(-150, 151, size=(n, d))
    return np.clip(X, 0, 255).astype(dtype)


def fit(X, k, bounded, monkeypatch, **kw):
    with monkeypatch.context() as m:
        if not bounded:
            m.setattr(engine, "bounded_wide_rows", lambda rows: rows)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return fc.kmeans(X, k, **kw)


def assert_same_fit(a, b):
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    assert (a.n_iter, a.stop_reason, a.k) == (b.n_iter, b.stop_reason, b.k)
    # the fused pass adds float32-rounded scores; the bounded path's exact statistics give the true objective
    assert a.objective == pytest.approx(b.objective, rel=1e-6)


def true_objective(X, res, w=None):
    r = X.astype(np.float64) - res.centroids[res.labels]
    return float(((r * r).sum(1) * (1.0 if w is None else w)).sum())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k", [1, 5, 40])
def test_bounded_fit_equals_fused_pass_fit(backend, k, monkeypatch):
    X = pixels()
    a = fit(X, k, True, monkeypatch, seed=3, init="random", backend=backend)
    b = fit(X, k, False, monkeypatch, seed=3, init="random", backend=backend)
    assert_same_fit(a, b)
    assert a.n_iter > 3 or k == 1
    assert a.objective == pytest.approx(true_objective(X, a), rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bounded_fit_with_weights_float64_and_uint8_input(backend, monkeypatch):
    X = pixels(5000, 20, seed=1, dtype=np.float64)
    w = np.random.default_rng(2).integers(0, 4, size=5000).astype(float)
    assert_same_fit(
        fit(X, 9, True, monkeypatch, seed=0, sample_weight=w, backend=backend),
        fit(X, 9, False, monkeypatch, seed=0, sample_weight=w, backend=backend),
    )
    X8 = pixels(5000, 20, seed=4).astype(np.uint8)
    assert_same_fit(
        fit(X8, 7, True, monkeypatch, seed=1, backend=backend), fit(X8, 7, False, monkeypatch, seed=1, backend=backend)
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("empty", ["drop", "reseed"])
def test_bounded_fit_through_empty_clusters(backend, empty, monkeypatch):
    """Centres far from every row empty out in round 1: dropped (bounds kept) or reseeded (bounds rebuilt)."""
    X = pixels(5000, 24, seed=5)
    init = np.vstack([X[:6].astype(np.float64), np.full((3, 24), 5000.0), np.full((1, 24), -4000.0)])
    a = fit(X, 10, True, monkeypatch, init=init, empty=empty, backend=backend)
    b = fit(X, 10, False, monkeypatch, init=init, empty=empty, backend=backend)
    assert_same_fit(a, b)
    assert a.k == (6 if empty == "drop" else 10)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("where", [0, 3])
@pytest.mark.parametrize("d", [20, 8, 3])  # the bounded wide path, the direct path, the low-dimensional path
def test_rows_of_weight_zero_in_a_dropped_cluster_get_their_nearest_kept_centre(backend, where, d, monkeypatch):
    """A cluster of only weight-0 rows is empty and dropped; its rows still need a label (cluster 0 or a later one)."""
    X = pixels(8192, d, seed=7) // 4  # values 0-63
    X[:5] = 255.0  # five far rows of weight 0, alone with their centre
    w = np.ones(8192)
    w[:5] = 0.0
    init = X[[10, 20, 30, 40, 50]].astype(np.float64)
    init = np.insert(init, where, X[0], axis=0)
    for max_iter in (None, 1):  # dropped in the loop, and at the end of a fit stopped by max_iter
        kw = dict(init=init, sample_weight=w, backend=backend, max_iter=max_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # max_iter warns
            a = fc.kmeans(X, 6, **kw)
            with monkeypatch.context() as m:
                m.setattr(engine, "bounded_wide_rows", lambda rows: rows)
                b = fc.kmeans(X, 6, **kw)
        assert a.k == b.k == 5
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.centroids, b.centroids)
        D = ((X[:5, None, :].astype(float) - a.centroids[None]) ** 2).sum(-1)
        np.testing.assert_array_equal(a.labels[:5], D.argmin(1))


def test_backends_agree_and_the_bounds_skip_rows(monkeypatch):
    if not fc.numba_available():
        pytest.skip("numba is not installed")
    X = pixels(8000, 64, seed=6)
    redone: list[int] = []
    original = _widebounds.BoundedWideRows._recompute

    def counting(self, redo, *args):
        redone.append(int(redo.size))
        return original(self, redo, *args)

    monkeypatch.setattr(_widebounds.BoundedWideRows, "_recompute", counting)
    a = fc.kmeans(X, 16, seed=2, backend="numba")
    rounds = list(redone)
    b = fc.kmeans(X, 16, seed=2, backend="numpy")
    assert_same_fit(a, b)
    assert a.objective == b.objective  # the statistics are exact: the objective too, across backends
    assert rounds[0] == 8000 and min(rounds[1:]) < 8000 // 4


def test_only_integer_valued_wide_mean_fits_take_the_bounded_path():
    from fastclust._memory import in_memory_rows
    from fastclust.metrics import get_metric

    X = pixels(5000, 20)
    ones = np.ones(5000)

    def rows(X, w=ones, metric="l2"):
        return _widebounds.bounded_wide_rows(in_memory_rows(X, w, get_metric(metric), "numpy")[0])

    assert isinstance(rows(X), _widebounds.BoundedWideRows)
    assert not isinstance(rows(X + np.float32(0.5)), _widebounds.BoundedWideRows)  # not integers
    assert not isinstance(rows(X, ones * 0.5), _widebounds.BoundedWideRows)  # fractional weights
    assert not isinstance(rows(X, metric="l1"), _widebounds.BoundedWideRows)  # medians: no BLAS path
    assert not isinstance(rows(X[:1000]), _widebounds.BoundedWideRows)  # too few rows for BLAS
    huge = X.astype(np.float64) * 2.0**45  # sums would pass 2**53: not exact any more
    assert not isinstance(rows(huge), _widebounds.BoundedWideRows)
    assert _widebounds.exact_sums(X, ones) and not _widebounds.exact_sums(X[:0], ones[:0])
