"""Numba-compiled k-means kernels.

Every function here takes arrays and scalars and returns new arrays: no Python
objects, no I/O, no globals. Each has a line-for-line numpy twin in
:mod:`fastclust._reference` with the same name and signature; the two are kept
bit-identical by doing the floating-point operations in the same order (which
is why sums run sequentially over samples and distances sequentially over
features). This module imports numba at import time: the engine only imports it
when numba is installed.

Metric codes: 0 = squared Euclidean (L2), 1 = Manhattan (L1).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def assign_direct(X, C, metric):
    """Nearest centroid of every row of ``X`` by direct distance; ties go to the lowest index.

    Returns ``(labels, min_dist)``; ``min_dist`` is the squared Euclidean (metric 0)
    or Manhattan (metric 1) distance to the chosen centroid.
    """
    n, d = X.shape
    k = C.shape[0]
    labels = np.empty(n, dtype=np.int64)
    min_dist = np.empty(n, dtype=np.float64)
    for i in prange(n):
        best = np.inf
        best_j = 0
        for j in range(k):
            s = 0.0
            if metric == 0:
                for f in range(d):
                    t = X[i, f] - C[j, f]
                    s += t * t
            else:
                for f in range(d):
                    s += abs(X[i, f] - C[j, f])
            if s < best:  # strict: the first (lowest) index wins a tie
                best = s
                best_j = j
        labels[i] = best_j
        min_dist[i] = best
    return labels, min_dist


@njit(nogil=True, cache=True)
def argmin_shifted(P, half_norms):
    """Row-wise argmin of ``half_norms[j] - P[i, j]`` (the course's vectorised L2 rule).

    ``P`` holds the products ``x_i . c_j`` of one chunk; with ``half_norms = |c_j|^2 / 2``
    the argmin is the nearest centroid. Runs without the GIL so the engine can
    give each thread its own chunk while that chunk's products are still in cache.
    Returns ``(labels, min_score)``.
    """
    m, k = P.shape
    labels = np.empty(m, dtype=np.int64)
    min_score = np.empty(m, dtype=P.dtype)
    for i in range(m):
        best = half_norms[0] - P[i, 0]
        best_j = 0
        for j in range(1, k):
            s = half_norms[j] - P[i, j]
            if s < best:
                best = s
                best_j = j
        labels[i] = best_j
        min_score[i] = best
    return labels, min_score


@njit(parallel=True, cache=True)
def cluster_sums(X, w, labels, k, n_blocks):
    """Weighted per-cluster sums of the rows of ``X``: ``sums[j] = sum_{labels_i=j} w_i x_i``.

    Parallel over ``n_blocks`` blocks of features (one per thread), each block
    scanning the samples in order, so every sum is accumulated in the same
    order as ``np.bincount`` does it.
    """
    n, d = X.shape
    sums = np.zeros((k, d), dtype=np.float64)
    n_blocks = max(1, min(d, n_blocks))
    for b in prange(n_blocks):
        f0 = b * d // n_blocks
        f1 = (b + 1) * d // n_blocks
        for i in range(n):
            j = labels[i]
            wi = w[i]
            for f in range(f0, f1):
                sums[j, f] += wi * X[i, f]
    return sums


@njit(parallel=True, cache=True)
def cluster_medians(X, w, labels, k):
    """Coordinate-wise weighted median of every cluster (NaN rows for empty clusters).

    With cumulative weights ``W`` over the sorted values and total ``T``, the
    median is the mid-point of the first value with ``W >= T/2`` and the first
    with ``W > T/2``. With integer weights this is exactly ``np.median`` of the
    values repeated by their weights.
    """
    n, d = X.shape
    order = np.argsort(labels, kind="mergesort")
    starts = np.zeros(k + 1, dtype=np.int64)
    for i in range(n):
        starts[labels[i] + 1] += 1
    for j in range(k):
        starts[j + 1] += starts[j]
    medians = np.full((k, d), np.nan)
    for j in prange(k):
        members = order[starts[j] : starts[j + 1]]
        m = members.shape[0]
        if m == 0:
            continue
        ws = w[members]
        vals = np.empty(m, dtype=np.float64)
        for f in range(d):
            for t in range(m):
                vals[t] = X[members[t], f]
            o = np.argsort(vals, kind="mergesort")
            total = 0.0
            for t in range(m):
                total += ws[o[t]]
            half = total / 2.0
            cum = 0.0
            lo = np.nan
            hi = np.nan
            for t in range(m):
                cum += ws[o[t]]
                if np.isnan(lo) and cum >= half:
                    lo = vals[o[t]]
                if cum > half:
                    hi = vals[o[t]]
                    break
            if np.isnan(hi):  # rounding left cum a hair under half: take the last value
                hi = vals[o[m - 1]]
            if np.isnan(lo):
                lo = hi
            medians[j, f] = (lo + hi) / 2.0
    return medians


@njit(parallel=True, cache=True)
def distances_to(X, centers, metric):
    """Distances from every row of ``X`` to every row of ``centers``: shape ``(m, n)``."""
    n, d = X.shape
    m = centers.shape[0]
    out = np.empty((m, n), dtype=np.float64)
    for i in prange(n):
        for c in range(m):
            s = 0.0
            if metric == 0:
                for f in range(d):
                    t = X[i, f] - centers[c, f]
                    s += t * t
            else:
                for f in range(d):
                    s += abs(X[i, f] - centers[c, f])
            out[c, i] = s
    return out
