"""Each numba kernel against its numpy twin, and the bounded assignment against a full scan."""

from __future__ import annotations

import numpy as np
import pytest

import fastclust as fc
from fastclust import _reference as ref

kernels = pytest.importorskip("fastclust._kernels", reason="numba is not installed") if fc.numba_available() else None
needs_numba = pytest.mark.skipif(kernels is None, reason="numba is not installed")


def full_scan(X, C, metric):
    diff = X[:, None, :] - C[None, :, :]
    D = (diff**2).sum(-1) if metric == 0 else np.abs(diff).sum(-1)
    return D.argmin(1), D


@pytest.mark.parametrize("metric", [0, 1])
@pytest.mark.parametrize("impl", ["numpy", pytest.param("numba", marks=needs_numba)])
def test_bounded_assignment_equals_full_scan_over_rounds(metric, impl):
    ops = ref if impl == "numpy" else kernels
    rng = np.random.default_rng(metric)
    X = rng.integers(0, 256, size=(3000, 3)).astype(float)
    C = X[rng.choice(3000, 12, replace=False)].copy()
    labels, lower, drift = np.zeros(3000, dtype=np.int64), np.zeros(3000), np.zeros(12)
    scanned_later = []
    for round_ in range(8):
        labels, dist, lower, n_scanned = ops.assign_bounded(X, C, metric, labels, lower, drift, 1e-9 * 256)
        want, D = full_scan(X, C, metric)
        np.testing.assert_array_equal(labels, want)
        np.testing.assert_array_equal(dist, D[np.arange(3000), want])
        if round_:
            scanned_later.append(n_scanned)
        new = np.array([X[labels == j].mean(0) if (labels == j).any() else C[j] for j in range(12)])
        step = np.abs(new - C)
        drift = np.sqrt((step**2).sum(1)) if metric == 0 else step.sum(1)
        C = new
    assert min(scanned_later) < 3000 // 2  # the bounds really skip work once centroids settle


@needs_numba
@pytest.mark.parametrize("metric", [0, 1])
def test_bounded_twins_identical_on_ties(metric):
    X = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [1.0, 1.0]] * 5)
    C = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.5]])
    args = (X, C, metric, np.zeros(20, dtype=np.int64), np.zeros(20), np.zeros(3), 1e-9)
    for a, b in zip(ref.assign_bounded(*args), kernels.assign_bounded(*args), strict=True):
        np.testing.assert_array_equal(a, b)


@needs_numba
def test_cluster_medians_twins_identical_with_fractional_weights_and_ties():
    rng = np.random.default_rng(4)
    X = rng.integers(0, 5, size=(500, 4)).astype(float)
    w = rng.choice([0.0, 0.5, 1.0, 2.5], size=500)
    labels = rng.integers(0, 9, size=500)
    order = np.argsort(X, axis=0, kind="stable").T.copy()
    np.testing.assert_array_equal(
        kernels.cluster_medians(X, w, labels, 10, order), ref.cluster_medians(X, w, labels, 10, order)
    )


@needs_numba
def test_cluster_sums_and_argmin_twins_identical():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(1000, 7))
    w = rng.random(1000)
    labels = rng.integers(0, 6, size=1000)
    np.testing.assert_array_equal(kernels.cluster_sums(X, w, labels, 6, 3), ref.cluster_sums(X, w, labels, 6, 3))
    P = rng.normal(size=(50, 9)).astype(np.float32)
    P[:, 4] = P[:, 2]  # exact ties: the lowest index must win in both
    h = np.zeros(9, dtype=np.float32)
    for a, b in zip(kernels.argmin_shifted(P, h), ref.argmin_shifted(P, h), strict=True):
        np.testing.assert_array_equal(a, b)
    C = rng.normal(size=(4, 7))
    for metric in (0, 1):
        np.testing.assert_array_equal(kernels.distances_to(X, C, metric), ref.distances_to(X, C, metric))
