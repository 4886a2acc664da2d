"""Pure-numpy twins of the kernels in :mod:`fastclust._kernels`.

Same names, same arguments (every one of which is used), same outputs to the
last bit, under the contract stated in :mod:`fastclust._kernels`: this module is
the test oracle for the compiled kernels and the backend wherever numba is not
installed (graders' machines). Work is chunked so memory stays O(chunk x k)
beyond the outputs. It never imports numba.
"""

from __future__ import annotations

import numpy as np

from ._codes import SQEUCLIDEAN

__all__ = [
    "argmin_shifted",
    "assign_bounded",
    "assign_filtered",
    "assign_rows_blas",
    "assign_sums_blas",
    "assign_tracked",
    "build_filter_tree",
    "cluster_medians",
    "cluster_sums",
    "counting_medians",
    "edges_to_csr",
    "exact_objective",
    "expand_palette",
    "move_members",
    "pairwise_distances",
    "palette_error",
    "wide_bounds",
]

CHUNK_ROWS = 4096


def argmin_shifted(P: np.ndarray, half_norms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise argmin of ``half_norms - P``: ``(labels (m,) int64, min_score (m,) P.dtype)``; see the twin."""
    S = half_norms[None, :] - P
    labels = np.argmin(S, axis=1).astype(np.int64)
    return labels, S[np.arange(S.shape[0]), labels].astype(P.dtype, copy=False)


def assign_sums_blas(
    X: np.ndarray,
    CT: np.ndarray,
    half_norms: np.ndarray,
    sq_norms: np.ndarray,
    w: np.ndarray,
    hint: np.ndarray,
    start: int,
    stop: int,
    labels: np.ndarray,
    min_dist: np.ndarray,
    sums: np.ndarray,
    P: np.ndarray,
) -> None:
    """Chunked-BLAS assignment of rows ``start:stop`` into ``labels`` and ``min_dist``, their cluster sums into
    ``sums``, with ``P`` as the product buffer; see the twin.

    The same products (``X[s:e] @ CT`` over chunks of ``P.shape[0]`` rows, a short last one zero-padded),
    :func:`argmin_shifted` on each, and :func:`cluster_sums` of the rows (row order, from zero). ``hint``
    only speeds up the compiled twin; it and the shapes are checked here as there.
    """
    k, d = CT.shape[1], X.shape[1]
    chunk = P.shape[0]
    with_sums = sums.shape[0] > 0
    if (
        chunk < 1
        or P.shape[1] != k
        or labels.shape[0] < stop
        or min_dist.shape[0] < stop
        or sums.shape[1] != d
        or (with_sums and sums.shape[0] != k)
    ):
        raise ValueError("assign_sums_blas: an output or the workspace has the wrong shape")
    if not (0 <= start <= stop <= X.shape[0]) or hint.shape[0] < stop or sq_norms.shape[0] < stop:
        raise ValueError("assign_sums_blas: start:stop must be rows of X, hint and sq_norms")
    if with_sums and w.shape[0] < stop:
        raise ValueError("assign_sums_blas: start:stop must be rows of w")
    if stop > start and not (0 <= hint[start:stop].min() and hint[start:stop].max() < k):
        raise ValueError("hint must hold centres 0 .. k-1")
    score = np.empty(stop - start, dtype=X.dtype)
    for s in range(start, stop, chunk):
        e = min(s + chunk, stop)
        A = X[s:e]
        if e - s < chunk:  # one shape for every product: zero-padded
            A = np.zeros((chunk, d), dtype=X.dtype)
            A[: e - s] = X[s:e]
        np.matmul(A, CT, out=P)
        labels[s:e], score[s - start : e - start] = argmin_shifted(P[: e - s], half_norms)
    min_dist[start:stop] = np.maximum(sq_norms[start:stop] + 2.0 * score.astype(np.float64), 0.0)
    if with_sums:
        sums[:] = cluster_sums(X[start:stop], w[start:stop], labels[start:stop], k)


def assign_rows_blas(
    X: np.ndarray, CT: np.ndarray, half_norms: np.ndarray, rows: np.ndarray, chunk: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and the two smallest scores of the listed rows, by products of one shape: ``(labels, best, second)``.

    See the twin."""
    n, d = X.shape
    k = CT.shape[1]
    m = rows.shape[0]
    if m and (rows[0] < 0 or rows[-1] >= n or (m > 1 and not (np.diff(rows) > 0).all())):
        raise ValueError("rows must be strictly increasing row indices")
    labels = np.empty(m, dtype=np.int64)
    best = np.empty(m)
    second = np.empty(m)
    for g in range(0, m, chunk):
        h = min(g + chunk, m)
        A = np.zeros((chunk, d), dtype=X.dtype)
        A[: h - g] = X[rows[g:h]]
        S = half_norms[None, :] - (A @ CT)[: h - g]
        lab = np.argmin(S, axis=1)
        r = np.arange(h - g)
        labels[g:h] = lab
        best[g:h] = S[r, lab].astype(np.float64)
        S[r, lab] = np.inf
        second[g:h] = S.min(axis=1).astype(np.float64) if k > 1 else np.inf
    return labels, best, second


def wide_bounds(
    sq_norms: np.ndarray,
    labels: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    drift: np.ndarray,
    drift_other: np.ndarray,
    separation: np.ndarray,
    coef: float,
    largest: float,
    start: int,
    stop: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hamerly's test on rows ``start:stop``: ``(upper, lower, unsettled)``; see the twin."""
    a = labels[start:stop]
    u = upper[start:stop] + drift[a]
    lb = np.maximum(lower[start:stop] - drift_other[a], separation[a] - u)
    sq = sq_norms[start:stop]
    e4 = 4.0 * coef * (np.sqrt(sq) * largest + largest * largest + sq)
    return u, lb, ~((lb > 0.0) & ((u * u + e4) * (1.0 + 1e-9) < lb * lb))


def cluster_sums(X: np.ndarray, w: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Weighted per-cluster sums, ``(k, d) float64``; ``np.bincount`` accumulates in sample order like the twin."""
    d = X.shape[1]
    sums = np.empty((k, d), dtype=np.float64)
    for f in range(d):
        sums[:, f] = np.bincount(labels, weights=w * X[:, f].astype(np.float64), minlength=k)
    return sums


def cluster_medians(X: np.ndarray, w: np.ndarray, labels: np.ndarray, k: int, order: np.ndarray) -> np.ndarray:
    """Coordinate-wise weighted medians, ``(k, d) float64`` (NaN rows for clusters of zero weight); see the twin.

    Walks the same presorted ``order`` as the twin, but vectorised: a stable sort of
    the labels along it groups each cluster's values, still in value order (ties by
    sample index), and the median is read off the group's cumulative weights.
    """
    d = X.shape[1]
    medians = np.full((k, d), np.nan)
    clusters = np.arange(k + 1)
    for f in range(d):
        by_value = order[f]
        lab = labels[by_value]
        group = np.argsort(lab, kind="stable")
        members_all = by_value[group]  # by cluster, then by value
        bounds = np.searchsorted(lab[group], clusters)
        col = X[:, f]
        for j in range(k):
            members = members_all[bounds[j] : bounds[j + 1]]
            if members.size == 0:
                continue
            cum = np.cumsum(w[members])  # sequential, in the twin's order
            if cum[-1] <= 0.0:
                continue
            half = cum[-1] / 2.0
            lo_i = min(int(np.searchsorted(cum, half, side="left")), members.size - 1)
            hi_i = min(int(np.searchsorted(cum, half, side="right")), members.size - 1)
            medians[j, f] = (np.float64(col[members[lo_i]]) + np.float64(col[members[hi_i]])) / 2.0
    return medians


def pairwise_distances(A: np.ndarray, B: np.ndarray, metric: int) -> np.ndarray:
    """``D[a, b] = dist(A[a], B[b])``, shape ``(m, n)`` float64; see the twin.

    Accumulates feature by feature, the order the twin uses, so results are
    identical; chunked along ``B`` so temporaries stay O(m x chunk).
    """
    m, n = A.shape[0], B.shape[0]
    out = np.zeros((m, n), dtype=np.float64)
    A64 = A.astype(np.float64, copy=False)
    for start in range(0, n, CHUNK_ROWS):
        block = out[:, start : start + CHUNK_ROWS]
        for f in range(A.shape[1]):
            t = B[None, start : start + CHUNK_ROWS, f].astype(np.float64) - A64[:, f, None]
            if metric == SQEUCLIDEAN:
                block += t * t
            else:
                block += np.abs(t)
    return out


def assign_bounded(
    X: np.ndarray, C: np.ndarray, metric: int, labels: np.ndarray, lower: np.ndarray, drift: np.ndarray, margin: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Hamerly-bounded exact assignment, vectorised: ``(labels, min_dist, lower, n_scanned)``; see the twin."""
    k = C.shape[0]
    gaps = pairwise_distances(C, C, metric)
    if metric == SQEUCLIDEAN:
        gaps = np.sqrt(gaps)
    np.fill_diagonal(gaps, np.inf)
    half_gap = 0.5 * gaps.min(axis=1) if k > 1 else np.full(k, np.inf)
    top_j = int(np.argmax(drift)) if drift.max(initial=0.0) > 0.0 else -1
    top = drift[top_j] if top_j >= 0 else 0.0
    second_top = np.delete(drift, top_j).max(initial=0.0) if top_j >= 0 else 0.0

    own = C[labels].astype(np.float64, copy=False)
    s = np.zeros(X.shape[0])
    for f in range(X.shape[1]):
        t = X[:, f].astype(np.float64) - own[:, f]
        s += t * t if metric == SQEUCLIDEAN else np.abs(t)
    u = np.sqrt(s) if metric == SQEUCLIDEAN else s
    low = lower - np.where(labels == top_j, second_top, top)
    bound = np.maximum(low, half_gap[labels])
    keep = u + margin < bound * (1.0 - 1e-9)

    new_labels = labels.astype(np.int64)
    min_dist = s.copy()
    new_lower = low.astype(np.float64)
    rest = np.flatnonzero(~keep)
    for start in range(0, rest.size, CHUNK_ROWS):
        idx = rest[start : start + CHUNK_ROWS]
        D = pairwise_distances(X[idx], C, metric)  # (chunk, k)
        lab = np.argmin(D, axis=1)
        rows = np.arange(idx.size)
        new_labels[idx] = lab
        min_dist[idx] = D[rows, lab]
        D[rows, lab] = np.inf
        second = D.min(axis=1) if k > 1 else np.full(idx.size, np.inf)
        new_lower[idx] = np.sqrt(second) if metric == SQEUCLIDEAN else second
    return new_labels, min_dist, new_lower, int(rest.size)


def edges_to_csr(src: np.ndarray, dst: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Symmetric 0/1 CSR adjacency from directed edges, via scipy.sparse; see the twin."""
    import scipy.sparse as sp

    loops = src == dst
    u, v = np.minimum(src, dst)[~loops], np.maximum(src, dst)[~loops]
    pairs = np.unique(u.astype(np.int64) * n + v)
    rows, cols = pairs // n, pairs % n
    A = sp.coo_matrix((np.ones(2 * pairs.size), (np.r_[rows, cols], np.r_[cols, rows])), shape=(n, n)).tocsr()
    A.sort_indices()
    return A.indptr.astype(np.int64), A.indices.astype(np.int64), int(loops.sum()), int(u.size - pairs.size)


# --- the low-dimensional integer path (fastclust._lowdim) ----------------------------------------


def _distances_to(X: np.ndarray, C: np.ndarray, which: np.ndarray, metric: int) -> np.ndarray:
    """``dist(X[i], C[which[i]])`` for every row, feature by feature in the twin's order."""
    own = C[which].astype(np.float64, copy=False)
    s = np.zeros(X.shape[0])
    for f in range(X.shape[1]):
        t = X[:, f].astype(np.float64) - own[:, f]
        s += t * t if metric == SQEUCLIDEAN else np.abs(t)
    return s


def assign_tracked(
    X: np.ndarray,
    w: np.ndarray,
    C: np.ndarray,
    metric: int,
    labels: np.ndarray,
    second: np.ndarray,
    lower: np.ndarray,
    lower3: np.ndarray,
    min_dist: np.ndarray,
    offset: float,
    margin: float,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Exact assignment tracking two centres per sample, vectorised; updates ``labels``, ``second``,
    ``lower``, ``lower3`` and ``min_dist`` in place and returns ``(objective, moved, was)``; see the twin."""
    k = C.shape[0]
    l2 = metric == SQEUCLIDEAN

    def root(a: np.ndarray) -> np.ndarray:
        return np.sqrt(a) if l2 else a

    gaps = root(pairwise_distances(C, C, metric))
    np.fill_diagonal(gaps, np.inf)
    half_gap = 0.5 * gaps.min(axis=1) if k > 1 else np.full(k, np.inf)
    old = labels.copy()
    a, b = old, second.copy()

    s = _distances_to(X, C, a, metric)
    low3 = lower3 - offset
    slack = 1.0 - 1e-9
    q = np.maximum(lower - offset, half_gap[a]) * slack - margin
    keep = (q > 0.0) & (s < (q * q if l2 else q))
    min_dist[:] = s

    rest = np.flatnonzero(~keep & (b >= 0))
    sa, sb = s[rest], _distances_to(X[rest], C, b[rest], metric)
    ua, ub = root(sa), root(sb)
    settled = np.minimum(ua, ub) + margin < low3[rest] * slack
    pair = rest[settled]
    sa, sb, ua, ub, pa, pb = sa[settled], sb[settled], ua[settled], ub[settled], a[pair], b[pair]
    to_b = (sb < sa) | ((sb == sa) & (pb < pa))
    labels[pair] = np.where(to_b, pb, pa)
    second[pair] = np.where(to_b, pa, pb)
    lower[pair] = np.minimum(np.where(to_b, ua, ub), low3[pair]) + offset
    min_dist[pair] = np.where(to_b, sb, sa)

    scan = ~keep
    scan[pair] = False
    scan_ids = np.flatnonzero(scan)
    for start in range(0, scan_ids.size, CHUNK_ROWS):
        ids = scan_ids[start : start + CHUNK_ROWS]
        r = np.arange(ids.size)
        D = pairwise_distances(X[ids], C, metric)  # (chunk, k)
        first = np.argmin(D, axis=1)
        min_dist[ids] = D[r, first]
        labels[ids] = first
        D[r, first] = np.inf
        if k > 1:
            nxt = np.argmin(D, axis=1)
            second[ids] = nxt
            lower[ids] = root(D[r, nxt]) + offset
            D[r, nxt] = np.inf
        else:
            second[ids] = -1
            lower[ids] = np.inf
        lower3[ids] = (root(D.min(axis=1)) if k > 2 else np.inf) + offset
    moved = np.flatnonzero(labels != old).astype(np.int64)
    return float((w * min_dist).sum()), moved, old[moved]


def move_members(
    X: np.ndarray,
    w: np.ndarray,
    samples: np.ndarray,
    old: np.ndarray,
    new: np.ndarray,
    sums: np.ndarray,
    weight: np.ndarray,
    counts: np.ndarray,
    low: np.ndarray,
) -> None:
    """Update ``sums``, ``weight`` and ``counts`` in place after ``samples`` moved from ``old`` to ``new``; see the twin.

    ``np.bincount`` adds in another order than the twin's loop: equal bit for bit
    because, under the contract, every partial sum is an exact integer.
    """
    k, d = sums.shape
    ws = w[samples]
    xs = X[samples].astype(np.float64)
    gone = old >= 0
    weight += np.bincount(new, weights=ws, minlength=k) - np.bincount(old[gone], weights=ws[gone], minlength=k)
    for f in range(d):
        sums[:, f] += np.bincount(new, weights=ws * xs[:, f], minlength=k) - np.bincount(
            old[gone], weights=ws[gone] * xs[gone, f], minlength=k
        )
        if counts.shape[2]:
            v = xs[:, f].astype(np.int64) - low[f]
            plane = counts[:, f, :]  # a view: the updates land in counts
            np.add.at(plane, (new, v), ws)
            np.subtract.at(plane, (old[gone], v[gone]), ws[gone])


def counting_medians(counts: np.ndarray, weight: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Weighted medians from per-cluster value counts, ``(k, d) float64`` (NaN rows for empty clusters); see the twin."""
    cum = np.cumsum(counts, axis=2)  # sequential, exact for integer weights
    half = (weight / 2.0)[:, None, None]
    first = np.argmax(cum >= half, axis=2)
    past = np.argmax(cum > half, axis=2)
    medians = ((low[None, :] + first).astype(np.float64) + (low[None, :] + past).astype(np.float64)) / 2.0
    medians[~(weight > 0.0)] = np.nan
    return medians


# --- filtering on a tree of boxes -----------------------------------------------------------------
# The engine takes this path only with the numba backend (a walk of the tree is Python loops here);
# these twins are the kernels' oracle, and mirror their walk step for step.


def _tree_split(codes: np.ndarray, s: int, e: int, b: int) -> tuple[int, int]:
    """See the twin: the split of ``codes[s:e]`` at its highest separating bit, ``(position, bit)``."""
    while b >= 0:
        a = s + int(np.searchsorted((codes[s:e] >> b) & 1, 1))
        if a != s and a != e:
            return a, b
        b -= 1
    return s, -1


def build_filter_tree(X: np.ndarray, w: np.ndarray, low: np.ndarray, bits: int, leaf: int) -> tuple[np.ndarray, ...]:
    """The tree of :func:`assign_filtered`: ``(perm, start, stop, child, lo, hi, sums, weight, squares)``;
    see the twin."""
    n, d = X.shape
    total = bits * d
    values = np.arange(1 << bits, dtype=np.int64)
    spread = np.zeros(1 << bits, dtype=np.int64)
    for q in range(bits):
        spread |= ((values >> q) & 1) << (d * q)
    key = np.zeros(n, dtype=np.int64)
    for f in range(d):
        key |= spread[X[:, f].astype(np.int64) - low[f]] << (d - 1 - f)
    perm = np.argsort(key, kind="stable").astype(np.int64)
    key = key[perm]
    start, stop, child, level = [0], [n], [-1], [total - 1]
    stack = [0]
    while stack:
        node = stack.pop()
        s, e = start[node], stop[node]
        if e - s <= leaf:
            continue
        a, b = _tree_split(key, s, e, level[node])
        if b < 0:
            continue
        c = len(start)
        child[node] = c
        start += [s, a]
        stop += [a, e]
        child += [-1, -1]
        level += [b - 1, b - 1]
        stack += [c + 1, c]
    m = len(start)
    lo, hi = np.empty((m, d)), np.empty((m, d))
    sums, weight, squares = np.zeros((m, d)), np.zeros(m), np.zeros(m)
    Xf = X.astype(np.float64)
    for node in range(m - 1, -1, -1):
        c = child[node]
        if c >= 0:  # integer sums: exact in any order
            weight[node] = weight[c] + weight[c + 1]
            squares[node] = squares[c] + squares[c + 1]
            lo[node], hi[node] = np.minimum(lo[c], lo[c + 1]), np.maximum(hi[c], hi[c + 1])
            sums[node] = sums[c] + sums[c + 1]
            continue
        ids = perm[start[node] : stop[node]]
        x, wi = Xf[ids], w[ids]
        lo[node], hi[node] = x.min(axis=0), x.max(axis=0)
        weight[node] = wi.sum()
        sums[node] = (wi[:, None] * x).sum(axis=0)
        squares[node] = (wi * (x * x).sum(axis=1)).sum()
    as_array = np.asarray
    return (
        perm,
        as_array(start, dtype=np.int64),
        as_array(stop, dtype=np.int64),
        as_array(child, dtype=np.int64),
        lo,
        hi,
        sums,
        weight,
        squares,
    )


def assign_filtered(
    X_tree: np.ndarray,
    w_tree: np.ndarray,
    perm: np.ndarray,
    start: np.ndarray,
    stop: np.ndarray,
    child: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    sums: np.ndarray,
    weight: np.ndarray,
    squares: np.ndarray,
    C: np.ndarray,
    labels: np.ndarray,
    tree_labels: np.ndarray,
    owner: np.ndarray,
    stamp: np.ndarray,
    round_: int,
    cluster_sums: np.ndarray,
    cluster_weight: np.ndarray,
    cluster_squares: np.ndarray,
) -> int:
    """Exact assignment by filtering the tree's boxes; updates ``labels``, ``tree_labels``, ``owner``,
    ``stamp`` and the clusters' statistics (from the samples that changed label) in place and returns
    ``n_changed``; see the twin."""
    d, k = X_tree.shape[1], C.shape[0]
    Cf = C.astype(np.float64)
    lo0, hi0 = lo[0], hi[0]
    reach = [float(np.sum(np.maximum(np.abs(lo0 - Cf[j]), np.abs(hi0 - Cf[j])) ** 2)) for j in range(k)]
    n_changed = 0

    def move(ts: np.ndarray, targets: np.ndarray) -> None:
        """Samples ``ts`` (tree order) from their ``tree_labels`` to ``targets``: exact integers, any order."""
        sources, wx = tree_labels[ts], w_tree[ts]
        x = X_tree[ts].astype(np.float64)
        q = wx * np.sum(x * x, axis=1)
        for clusters, sign in ((sources, -1.0), (targets, 1.0)):
            np.add.at(cluster_weight, clusters, sign * wx)
            np.add.at(cluster_squares, clusters, sign * q)
            for f in range(d):
                np.add.at(cluster_sums[:, f], clusters, sign * wx * x[:, f])

    # (node, candidates, the one label all its samples had in the previous round or -1)
    stack: list[tuple[int, list[int], int]] = [(0, list(range(k)), -1)]
    while stack:
        node, cand, was = stack.pop()
        if was < 0 and stamp[node] == round_ - 1:
            was = int(owner[node])
        if len(cand) > 1:
            middle = 0.5 * (lo[node] + hi[node])
            near = [0.0] * len(cand)
            for t, j in enumerate(cand):
                s = 0.0
                for f in range(d):
                    v = middle[f] - Cf[j, f]
                    s += v * v
                near[t] = s
            z = cand[int(np.argmin(near))]
            kept = []
            for j in cand:
                if j != z:
                    gap = 0.0
                    for f in range(d):
                        corner = hi[node, f] if Cf[j, f] > Cf[z, f] else lo[node, f]
                        a1, a2 = corner - Cf[j, f], corner - Cf[z, f]
                        gap += a1 * a1 - a2 * a2
                    if gap > 1e-12 * (reach[j] + reach[z]) + 1e-300:
                        continue
                kept.append(j)
            cand = kept
        rng = slice(start[node], stop[node])
        if len(cand) == 1:
            j = cand[0]
            if was >= 0 and was != j:
                cluster_weight[was] -= weight[node]
                cluster_weight[j] += weight[node]
                cluster_squares[was] -= squares[node]
                cluster_squares[j] += squares[node]
                cluster_sums[was] -= sums[node]
                cluster_sums[j] += sums[node]
                tree_labels[rng] = j
                labels[perm[rng]] = j
                n_changed += int(stop[node] - start[node])
            elif was < 0:
                ts = start[node] + np.flatnonzero(tree_labels[rng] != j)
                move(ts, np.full(ts.size, j, dtype=np.int64))
                n_changed += ts.size
                tree_labels[ts] = j
                labels[perm[ts]] = j
            owner[node], stamp[node] = j, round_
            continue
        c = child[node]
        if c >= 0:
            stack += [(c + 1, cand, was), (c, cand, was)]
            continue
        x = X_tree[rng].astype(np.float64)
        D = np.zeros((x.shape[0], len(cand)))
        for f in range(d):
            v = x[:, f : f + 1] - Cf[cand, f][None, :]
            D += v * v
        nearest = np.asarray(cand, dtype=np.int64)[np.argmin(D, axis=1)]
        changed = tree_labels[rng] != nearest
        ts = start[node] + np.flatnonzero(changed)
        move(ts, nearest[changed])
        n_changed += ts.size
        tree_labels[ts] = nearest[changed]
        labels[perm[ts]] = nearest[changed]
    return n_changed


def exact_objective(
    C: np.ndarray, sums: np.ndarray, weight: np.ndarray, squares: np.ndarray, low: np.ndarray, high: np.ndarray
) -> float:
    """The objective from each cluster's exact statistics, expanded around an integer point next to its
    centre; the twin's loops step for step (Python integers stand in for int64: the values are exact)."""
    k, d = C.shape
    total = 0.0
    for j in range(k):
        w_j = int(weight[j])
        shifted_squares = int(squares[j])
        dot = 0.0
        dd = 0.0
        for f in range(d):
            origin = min(max(float(np.rint(C[j, f])), float(low[f])), float(high[f]))
            o = int(origin)
            s = int(sums[j, f])
            shifted_squares += w_j * o * o - 2 * o * s
            delta = float(C[j, f]) - origin
            dot += delta * float(s - w_j * o)
            dd += delta * delta
        total += (float(shifted_squares) - 2.0 * dot) + float(weight[j]) * dd
    return total


def expand_palette(inverse: np.ndarray, labels: np.ndarray, palette: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(labels[inverse], palette[labels[inverse]])``; see the twin."""
    pixel_labels = labels[inverse]
    return pixel_labels, np.take(palette, pixel_labels, axis=0)  # palette[pixel_labels], 4x faster


def palette_error(X: np.ndarray, w: np.ndarray, labels: np.ndarray, palette: np.ndarray) -> float:
    """``sum_i w_i |x_i - palette[labels_i]|^2``, column by column (numpy's row sums over 3 values are
    slow); exact for integer values, weights and palette, so the twin's bits; see the twin."""
    sq_err = np.zeros(X.shape[0])
    for f in range(X.shape[1]):
        err = X[:, f] - np.take(palette[:, f], labels)
        sq_err += err * err
    return float((w * sq_err).sum())
