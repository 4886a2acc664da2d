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


@njit(inline="always", cache=True)
def _distance(A, i, B, j, metric):
    """Squared Euclidean (metric 0) or Manhattan (1) distance between rows ``A[i]`` and ``B[j]``,
    summed feature by feature in order (the order the numpy twins use)."""
    s = 0.0
    if metric == 0:
        for f in range(A.shape[1]):
            t = A[i, f] - B[j, f]
            s += t * t
    else:
        for f in range(A.shape[1]):
            s += abs(A[i, f] - B[j, f])
    return s


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
def cluster_medians(X, w, labels, k, order):
    """Coordinate-wise weighted median of every cluster (NaN rows for clusters of zero weight).

    With cumulative weights ``W`` over a cluster's sorted values and total ``T``,
    the median is the mid-point of the first value with ``W >= T/2`` and the
    first with ``W > T/2``. With integer weights this is exactly ``np.median`` of
    the values repeated by their weights.

    ``order[f]`` is the stable argsort of column ``f`` (computed once per fit), so
    no sorting happens here: walking it visits each cluster's values in sorted
    order, ties by sample index, as the twin's per-cluster stable sort does.
    Two O(n) passes per feature, parallel over features.
    """
    n, d = X.shape
    medians = np.full((k, d), np.nan)
    for f in prange(d):
        total = np.zeros(k)
        for t in range(n):
            i = order[f, t]
            total[labels[i]] += w[i]
        cum = np.zeros(k)
        lo = np.full(k, np.nan)
        done = np.zeros(k, dtype=np.bool_)
        for t in range(n):
            i = order[f, t]
            j = labels[i]
            if done[j]:
                continue
            cum[j] += w[i]
            half = total[j] / 2.0
            if np.isnan(lo[j]) and cum[j] >= half:
                lo[j] = X[i, f]
            if cum[j] > half:
                medians[j, f] = (lo[j] + X[i, f]) / 2.0
                done[j] = True
    return medians


@njit(parallel=True, cache=True)
def assign_bounded(X, C, metric, labels, lower, drift, margin):
    """Exact nearest-centroid assignment that skips most distance computations (Hamerly 2010).

    ``labels`` and ``lower`` come from the previous round: ``lower[i]`` bounds from
    below the distance (Euclidean for metric 0, Manhattan for 1) from sample ``i`` to
    every centroid but its own; ``drift[j]`` is how far centroid ``j`` has moved since.
    A sample keeps its label without a scan when its exact distance to its own
    centroid is below ``max(lower - max drift of the others, half the gap to the
    nearest other centroid)`` by more than ``margin`` plus a relative 1e-9, which
    absorbs rounding: then that centroid is strictly nearest, so the result is the
    same as a full scan's (ties are always scanned, and go to the lowest index).

    Returns ``(labels, min_dist, lower, n_scanned)``; ``min_dist`` is squared
    Euclidean or Manhattan, computed exactly as :func:`assign_direct` does.
    """
    n, d = X.shape
    k = C.shape[0]
    half_gap = np.full(k, np.inf)
    for a in range(k):
        for b in range(k):
            if a != b:
                s = _distance(C, a, C, b, metric)
                if metric == 0:
                    s = np.sqrt(s)
                if 0.5 * s < half_gap[a]:
                    half_gap[a] = 0.5 * s
    top, second_top, top_j = 0.0, 0.0, -1
    for j in range(k):
        if drift[j] > top:
            second_top, top, top_j = top, drift[j], j
        elif drift[j] > second_top:
            second_top = drift[j]
    new_labels = np.empty(n, dtype=np.int64)
    min_dist = np.empty(n, dtype=np.float64)
    new_lower = np.empty(n, dtype=np.float64)
    scanned = np.zeros(n, dtype=np.bool_)
    for i in prange(n):
        a = labels[i]
        s = _distance(X, i, C, a, metric)
        u = np.sqrt(s) if metric == 0 else s
        low = lower[i] - (second_top if a == top_j else top)
        bound = max(low, half_gap[a])
        if u + margin < bound * (1.0 - 1e-9):
            new_labels[i] = a
            min_dist[i] = s
            new_lower[i] = low
            continue
        scanned[i] = True
        best = np.inf
        second = np.inf
        best_j = 0
        for j in range(k):
            s = _distance(X, i, C, j, metric)
            if s < best:
                second = best
                best = s
                best_j = j
            elif s < second:
                second = s
        new_labels[i] = best_j
        min_dist[i] = best
        new_lower[i] = np.sqrt(second) if metric == 0 else second
    return new_labels, min_dist, new_lower, scanned.sum()


@njit(parallel=True, cache=True)
def distances_to(X, centers, metric):
    """Distances from every row of ``X`` to every row of ``centers``: shape ``(m, n)``."""
    n, d = X.shape
    m = centers.shape[0]
    out = np.empty((m, n), dtype=np.float64)
    for i in prange(n):
        for c in range(m):
            out[c, i] = _distance(X, i, centers, c, metric)
    return out


@njit(cache=True)
def edges_to_csr(src, dst, n):
    """Symmetric 0/1 CSR adjacency from directed 0-based edges: no self-loops, no duplicates.

    Each edge becomes the undirected pair ``(min, max)``; pairs are sorted and
    deduplicated, then written into both rows. Sorted pairs make every row's
    column indices come out sorted. Returns ``(indptr, indices, n_self_loops,
    n_duplicates)`` where duplicates count edges dropped because the same
    undirected pair (either direction) was already there.
    """
    m = src.shape[0]
    keys = np.empty(m, dtype=np.int64)
    n_pairs = 0
    n_self = 0
    for e in range(m):
        u, v = src[e], dst[e]
        if u == v:
            n_self += 1
            continue
        if u > v:
            u, v = v, u
        keys[n_pairs] = u * n + v
        n_pairs += 1
    keys = np.sort(keys[:n_pairs])
    unique = np.empty(n_pairs, dtype=np.int64)
    n_unique = 0
    for e in range(n_pairs):
        if e == 0 or keys[e] != keys[e - 1]:
            unique[n_unique] = keys[e]
            n_unique += 1
    degree = np.zeros(n + 1, dtype=np.int64)
    for e in range(n_unique):
        degree[unique[e] // n + 1] += 1
        degree[unique[e] % n + 1] += 1
    indptr = np.cumsum(degree)
    fill = indptr[:-1].copy()
    indices = np.empty(2 * n_unique, dtype=np.int64)
    for e in range(n_unique):
        u = unique[e] // n
        v = unique[e] % n
        indices[fill[u]] = v
        fill[u] += 1
        indices[fill[v]] = u
        fill[v] += 1
    return indptr, indices, n_self, n_pairs - n_unique
