"""Numba-compiled k-means kernels.

Every function here takes arrays and scalars and returns new arrays: no Python
objects, no I/O, no globals but the metric codes, and no input is ever written.
Each has a numpy twin in :mod:`fastclust._reference` with the same name, the same
arguments (each of which both use) and the same outputs, bit for bit; the twins
are the tests' oracle. They stay identical by doing the floating-point
operations in the same order: sums run sequentially over samples, distances
sequentially over features.

The contract both backends share (checked by ``tests/test_kernels.py`` across
float32/float64, C/F order and exact ties):

- data and centres may be float32 or float64, in any memory layout;
- every distance, sum and median is computed in float64 (float32 inputs are
  widened element by element, never rounded back), except in
  :func:`argmin_shifted` and :func:`assign_sums_blas`, whose products BLAS
  computes in the data's own dtype;
- labels are int64 and ties always go to the lowest index;
- ``metric`` is one of the codes in :mod:`fastclust._codes`.

Docstrings mark each argument *(in)* and each returned array *(out)*.

This module imports numba at import time: the engine only imports it (through
:mod:`fastclust._backends`) when numba is installed.
"""

from __future__ import annotations

import numpy as np
from numba import config, get_num_threads, njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._codes import SQEUCLIDEAN

__all__ = [
    "argmin_shifted",
    "assign_bounded",
    "assign_sums_blas",
    "cluster_medians",
    "cluster_sums",
    "edges_to_csr",
    "pairwise_distances",
]


if config.DISABLE_JIT:  # kernels run as Python (the nojit test env): an intrinsic cannot

    def _fmin(a, b):
        return a if a <= b else b

else:

    @intrinsic
    def _fmin(typingctx, a, b):
        """``min(a, b)`` of two floats of one type as LLVM's ``minnum``: unlike a compare-and-select,
        LLVM vectorises a loop reducing with it (the scores here are never NaN)."""
        if not (isinstance(a, types.Float) and a == b):
            return None

        def codegen(context, builder, sig, args):
            from llvmlite import ir

            lty = context.get_value_type(sig.return_type)
            name = "llvm.minnum.f32" if sig.return_type == types.float32 else "llvm.minnum.f64"
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(lty, [lty, lty]), name)
            # nnan, nsz: the scores are finite, and a zero's sign never decides a label (see assign_sums_blas)
            return builder.call(fn, args, fastmath=("nnan", "nsz"))

        return a(a, b), codegen


@njit(inline="always", cache=True)
def _distance(A, i, B, j, metric):
    """Squared Euclidean or Manhattan distance between rows ``A[i]`` and ``B[j]`` in float64,
    summed feature by feature in order (the order the numpy twins use)."""
    s = 0.0
    if metric == SQEUCLIDEAN:
        for f in range(A.shape[1]):
            t = np.float64(A[i, f]) - np.float64(B[j, f])
            s += t * t
    else:
        for f in range(A.shape[1]):
            s += abs(np.float64(A[i, f]) - np.float64(B[j, f]))
    return s


@njit(nogil=True, cache=True)
def argmin_shifted(P, half_norms):
    """Row-wise argmin of ``half_norms[j] - P[i, j]`` (the course's vectorised L2 rule).

    With ``P[i, j] = x_i . c_j`` and ``half_norms[j] = |c_j|^2 / 2`` the argmin is the
    nearest centre. Runs without the GIL so the engine can give each thread its
    own chunk while that chunk's products are still in cache.

    Parameters
    ----------
    P : (m, k) float32 or float64 *(in)*
        Products of one chunk of samples with the centres.
    half_norms : (k,) float *(in)*
        Half squared norms of the centres, normally in ``P``'s dtype.

    Returns
    -------
    labels : (m,) int64 *(out)*
        Index of the smallest score; ties go to the lowest index.
    min_score : (m,) ``P.dtype`` *(out)*
        The smallest score, computed in the promoted dtype of the two inputs and
        stored in ``P``'s.
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


@njit(nogil=True, cache=True)
def assign_sums_blas(X, CT, half_norms, sq_norms, w, hint, start, stop, chunk, with_sums):
    """Nearest centre of rows ``start:stop`` by chunked BLAS products, and those rows' cluster sums.

    One pass over the rows, in chunks of ``chunk`` rows from ``start``: each
    chunk's products ``P = X[s:e] @ CT`` (BLAS, in ``X``'s dtype; the chunk stays
    in cache), then per row the argmin of ``half_norms - P`` (ties to the lowest
    index), its squared distance from the expansion and, while the row is hot,
    its weighted contribution to its cluster's sum. The argmin takes two
    vectorised sweeps of the row: its minimum, then the first index attaining
    it, which picks exactly what a compare-as-you-go loop picks. The second
    sweep stops at the row's ``hint`` when the hinted centre attains the
    minimum: no later index can be the first. In later rounds most rows keep
    their label, so that is half a sweep on average. Labels and scores equal
    :func:`argmin_shifted` on the same chunks whatever the hints; runs without
    the GIL (the caller's threads each take blocks of rows).

    Parameters
    ----------
    X : (n, d) float32 or float64, C-contiguous *(in)*
    CT : (d, k) in ``X``'s dtype, C-contiguous *(in)*
        The centres, transposed.
    half_norms : (k,) *(in)*
        ``|c_j|^2 / 2`` in the data's dtype.
    sq_norms : (n,) float64 *(in)*
        ``|x_i|^2``.
    w : (n,) float64 *(in)*
        Sample weights (read only when ``with_sums``).
    hint : (n,) int64 *(in)*
        A centre to try first for every row, in ``0 .. k-1`` (the previous
        round's label; ``k - 1`` for none). Only speed depends on it; a hint out
        of range raises ValueError.
    start, stop : int *(in)*
        The rows to assign.
    chunk : int *(in)*
        Rows per product; chunks start at ``start``, so the caller fixes the
        chunk boundaries (and with them BLAS's bits).
    with_sums : bool *(in)*
        Whether to accumulate the cluster sums.

    Returns
    -------
    labels : (stop - start,) int64 *(out)*
    min_dist : (stop - start,) float64 *(out)*
        ``max(|x|^2 + 2 (half_norms[l] - P[i, l]), 0)`` in float64 (the score
        rounded to ``X.dtype`` first, as :func:`argmin_shifted` returns it).
    sums : (k, d) float64 *(out)*
        ``sum w_i x_i`` over the rows of every cluster, accumulated in row order
        from zero (``(0, d)`` without ``with_sums``).
    """
    d = X.shape[1]
    k = CT.shape[1]
    m = stop - start
    labels = np.empty(m, dtype=np.int64)
    min_dist = np.empty(m, dtype=np.float64)
    sums = np.zeros((k if with_sums else 0, d), dtype=np.float64)
    buffer = np.empty((min(chunk, m), k), dtype=X.dtype)
    for s in range(start, stop, chunk):
        e = min(s + chunk, stop)
        P = buffer[: e - s]
        np.dot(X[s:e], CT, P)
        for i in range(e - s):
            best = half_norms[0] - P[i, 0]
            for j in range(1, k):
                best = _fmin(best, half_norms[j] - P[i, j])
            row = s + i
            top = hint[row]
            if top < 0 or top >= k:
                raise ValueError("hint must hold centres 0 .. k-1")
            if half_norms[top] - P[i, top] != best:
                top = k - 1
            # the first j attaining the minimum, as a min over indices: a branch-free sweep up to top
            label = top
            for j in range(top):
                label = min(label, j if half_norms[j] - P[i, j] == best else top)
            labels[row - start] = label
            v = sq_norms[row] + 2.0 * np.float64(half_norms[label] - P[i, label])
            min_dist[row - start] = v if v >= 0.0 else 0.0
            if with_sums:
                wi = w[row]
                for f in range(d):
                    sums[label, f] += wi * np.float64(X[row, f])
    return labels, min_dist, sums


def cluster_sums(X, w, labels, k):
    """Weighted per-cluster sums of the rows of ``X``: ``sums[j] = sum_{labels_i = j} w_i x_i``.

    Parallel over blocks of features (one per numba thread), each block scanning
    the samples in order, so every sum is accumulated in sample order, as
    ``np.bincount`` does in the twin: the thread count never changes a bit. (A
    plain function: reading the thread count inside compiled code would keep the
    kernel out of numba's cache.)

    Parameters
    ----------
    X : (n, d) float32 or float64 *(in)*
    w : (n,) float64 *(in)*
        Sample weights.
    labels : (n,) int64 *(in)*
        Cluster of every sample, in ``0 .. k-1``.
    k : int *(in)*
        Number of clusters.

    Returns
    -------
    sums : (k, d) float64 *(out)*
        Zero rows for clusters without members.
    """
    return _cluster_sums_blocked(X, w, labels, k, max(1, min(X.shape[1], get_num_threads())))


@njit(parallel=True, cache=True)
def _cluster_sums_blocked(X, w, labels, k, n_blocks):
    n, d = X.shape
    sums = np.zeros((k, d), dtype=np.float64)
    for b in prange(n_blocks):
        f0 = b * d // n_blocks
        f1 = (b + 1) * d // n_blocks
        for i in range(n):
            j = labels[i]
            wi = w[i]
            for f in range(f0, f1):
                sums[j, f] += wi * np.float64(X[i, f])
    return sums


@njit(parallel=True, cache=True)
def cluster_medians(X, w, labels, k, order):
    """Coordinate-wise weighted median of every cluster.

    With cumulative weights ``W`` over a cluster's sorted values and total ``T``,
    the median is the mid-point of the first value with ``W >= T/2`` and the
    first with ``W > T/2``. With integer weights this is exactly ``np.median`` of
    the values repeated by their weights.

    Walking ``order[f]`` visits each cluster's values of feature ``f`` in sorted
    order, ties by sample index, so no sorting happens here: two O(n) passes per
    feature, parallel over features.

    Parameters
    ----------
    X : (n, d) float32 or float64 *(in)*
    w : (n,) float64 *(in)*
    labels : (n,) int64 *(in)*
    k : int *(in)*
    order : (d, n) int64 *(in)*
        ``order[f]`` is the stable argsort of column ``f`` (computed once per fit).

    Returns
    -------
    medians : (k, d) float64 *(out)*
        NaN rows for clusters of zero total weight.
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
                medians[j, f] = (lo[j] + np.float64(X[i, f])) / 2.0
                done[j] = True
    return medians


@njit(parallel=True, cache=True)
def assign_bounded(X, C, metric, labels, lower, drift, margin):
    """Exact nearest-centre assignment that skips most distance computations (Hamerly 2010).

    A sample keeps its previous label without a scan when its exact distance to
    its own centre is below ``max(lower - max drift of the others, half the gap to
    the nearest other centre)`` by more than ``margin`` plus a relative 1e-9, which
    absorbs rounding: that centre is then strictly nearest, so the result is a
    full scan's (ties are always scanned, and go to the lowest index). For a first
    round pass zeros for ``labels``, ``lower`` and ``drift``.

    Parameters
    ----------
    X : (n, d) float32 or float64 *(in)*
    C : (k, d) float32 or float64 *(in)*
        Centres.
    metric : int *(in)*
        :data:`~fastclust._codes.SQEUCLIDEAN` or :data:`~fastclust._codes.MANHATTAN`.
    labels : (n,) int64 *(in)*
        Labels of the previous round.
    lower : (n,) float64 *(in)*
        Lower bounds, from the previous round, on the distance (Euclidean or
        Manhattan, not squared) from each sample to every centre but its own.
    drift : (k,) float64 *(in)*
        How far each centre moved since, in the same distance.
    margin : float *(in)*
        Absolute slack for rounding, in the same distance.

    Returns
    -------
    labels : (n,) int64 *(out)*
    min_dist : (n,) float64 *(out)*
        Distance to the assigned centre in the metric's units (squared for L2).
    lower : (n,) float64 *(out)*
        New lower bounds, for the next round.
    n_scanned : int *(out)*
        Samples that needed a full scan.
    """
    n, d = X.shape
    k = C.shape[0]
    half_gap = np.full(k, np.inf)
    for a in range(k):
        for b in range(k):
            if a != b:
                s = _distance(C, a, C, b, metric)
                if metric == SQEUCLIDEAN:
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
        u = np.sqrt(s) if metric == SQEUCLIDEAN else s
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
        new_lower[i] = np.sqrt(second) if metric == SQEUCLIDEAN else second
    return new_labels, min_dist, new_lower, int(scanned.sum())


@njit(parallel=True, cache=True)
def pairwise_distances(A, B, metric):
    """Distance from every row of ``A`` to every row of ``B``: ``D[a, b] = dist(A[a], B[b])``.

    The output's axes follow the arguments' order, so a caller cannot swap them.
    Parallel over the longer of the two.

    Parameters
    ----------
    A : (m, d) float32 or float64 *(in)*
    B : (n, d) float32 or float64 *(in)*
    metric : int *(in)*

    Returns
    -------
    D : (m, n) float64 *(out)*
        Squared Euclidean or Manhattan distances.
    """
    m = A.shape[0]
    n = B.shape[0]
    out = np.empty((m, n), dtype=np.float64)
    if n >= m:
        for b in prange(n):
            for a in range(m):
                out[a, b] = _distance(A, a, B, b, metric)
    else:
        for a in prange(m):
            for b in range(n):
                out[a, b] = _distance(A, a, B, b, metric)
    return out


@njit(cache=True)
def edges_to_csr(src, dst, n):
    """Symmetric 0/1 CSR adjacency from directed 0-based edges: no self-loops, no duplicates.

    Each edge becomes the undirected pair ``(min, max)``; pairs are sorted and
    deduplicated, then written into both rows. Sorted pairs make every row's
    column indices come out sorted.

    Parameters
    ----------
    src, dst : (m,) int64 *(in)*
        Edge end points; every one must lie in ``0 .. n-1`` (the caller checks:
        an index out of range would write out of bounds here).
    n : int *(in)*
        Number of nodes.

    Returns
    -------
    indptr : (n + 1,) int64 *(out)*
    indices : (2 * pairs,) int64 *(out)*
    n_self_loops : int *(out)*
    n_duplicates : int *(out)*
        Edges dropped because the same undirected pair (either direction) was already there.
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
