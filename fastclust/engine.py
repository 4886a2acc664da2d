"""k-means (L2) and k-medians (L1): the Python driver around the kernels.

The driver validates input, initialises, loops assignment/update rounds and
packages the result; the arithmetic lives in the kernels
(:mod:`fastclust._kernels`, compiled with numba, or their numpy twins in
:mod:`fastclust._reference`). Both backends run the same driver on the same
random draws, so the same seed gives the same result on either.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from time import perf_counter
from types import ModuleType
from typing import Any

import numpy as np

from . import _reference
from ._backends import resolve_backend
from ._repr import short_repr
from ._validation import as_generator, check_choice, check_data, check_positive_int, check_weights
from .errors import FastclustError

METRICS = ("l2", "l1")
INITS = ("k-means++", "random", "random-uniform")
EMPTY_POLICIES = ("drop", "reseed", "error")
METRIC_CODE = {"l2": 0, "l1": 1}

#: From this many features and rows on, L2 assignment uses chunked BLAS products instead of
#: direct loops (below that many rows, per-call overhead outweighs what BLAS saves).
WIDE_MIN_FEATURES = 16
WIDE_MIN_ROWS = 4096
#: Rows per BLAS chunk: the (chunk x k) products of one chunk stay in a core's cache.
WIDE_CHUNK_ROWS = 256


class ConvergenceWarning(UserWarning):
    """The fit stopped before the labels stopped changing."""


@short_repr
@dataclass
class KMeansResult:
    """What :func:`kmeans` returns.

    Attributes
    ----------
    labels : (n,) int64
        Cluster of every sample, 0-based and contiguous ``0 .. k-1``.
    centroids : (k, d) float64
        Cluster centres: weighted means (L2) or coordinate-wise weighted medians (L1).
    k : int
        Final number of clusters; smaller than requested when clusters emptied
        (``empty="drop"``) or the data had fewer distinct rows than ``k``.
    n_iter : int
        Rounds of update + assignment actually run.
    objective : float
        ``sum_i w_i ||x_i - c_{labels_i}||^2`` (L2) or ``sum_i w_i ||x_i - c_{labels_i}||_1`` (L1).
    history : (n_iter,) float64
        The objective after every round.
    converged : bool
        True when an assignment round changed no label.
    seconds : float
        Wall time of the whole fit, initialisation included (``time.perf_counter``).
    metric, backend, init : str
        What was used (``init`` is ``"array"`` for explicit centroids).
    stop_reason : str
        ``"converged"``, ``"max_iter"`` or ``"stalled"`` (a cycle of labelings at
        one objective value: only exact ties can cause it).
    initial_centroids : (k0, d) float64
        The centroids the first assignment used.
    """

    labels: np.ndarray
    centroids: np.ndarray
    k: int
    n_iter: int
    objective: float
    history: np.ndarray
    converged: bool
    seconds: float
    metric: str
    backend: str
    init: str
    stop_reason: str
    initial_centroids: np.ndarray = field(repr=False)


# ---------------------------------------------------------------------------------------------
# distances and assignment
# ---------------------------------------------------------------------------------------------


class _Assigner:
    """Nearest-centroid assignment for one fit: direct loops, or chunked BLAS for wide L2 data."""

    def __init__(self, ops: ModuleType, backend: str, X: np.ndarray, metric: str) -> None:
        self.ops = ops
        self.X = X
        self.metric = metric
        self.wide = _uses_blas(X, metric)
        # |x|^2 in float64, so the BLAS form can report true squared distances.
        self.sq_norms = np.einsum("ij,ij->i", X, X, dtype=np.float64) if self.wide else None
        # Absolute slack for the bounds' rounding: far above what accumulates, far below any real gap.
        self.margin = 0.0 if self.wide else 1e-9 * (float(np.abs(X).max()) + 1.0)
        threads = _n_threads() if backend == "numba" else 1
        self.threads = threads if self.wide and X.shape[0] >= 4 * WIDE_CHUNK_ROWS else 1

    def __call__(
        self,
        C: np.ndarray,
        labels: np.ndarray | None = None,
        lower: np.ndarray | None = None,
        drift: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Return ``(labels, min_dist, lower)``; ``min_dist`` in the metric's units (squared for L2).

        With the previous round's ``labels`` and ``lower`` bounds and the centroids'
        ``drift`` since, direct assignment skips the samples whose centroid provably
        stays nearest (same labels as a full scan). ``lower`` is None on the BLAS path.
        """
        if self.wide:
            new_labels, score = self._assign_blas(C)
            assert self.sq_norms is not None
            return new_labels, np.maximum(self.sq_norms + 2.0 * score.astype(np.float64), 0.0), None
        n, k = self.X.shape[0], C.shape[0]
        if labels is None or lower is None or drift is None:
            labels, lower, drift = np.zeros(n, dtype=np.int64), np.zeros(n), np.zeros(k)
        new_labels, min_dist, new_lower, _ = self.ops.assign_bounded(
            self.X, C, METRIC_CODE[self.metric], labels, lower, drift, self.margin
        )
        return new_labels, min_dist, new_lower

    def drift(self, old: np.ndarray, new: np.ndarray) -> np.ndarray:
        """How far each centroid moved, in the distance the bounds use (Euclidean or Manhattan)."""
        diff = np.abs(new - old)
        return np.sqrt((diff * diff).sum(axis=1)) if self.metric == "l2" else diff.sum(axis=1)

    def _assign_blas(self, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        X = self.X
        n = X.shape[0]
        Cx = np.ascontiguousarray(C, dtype=X.dtype)
        CT = np.ascontiguousarray(Cx.T)
        half_norms = 0.5 * np.einsum("ij,ij->i", Cx, Cx)
        labels = np.empty(n, dtype=np.int64)
        score = np.empty(n, dtype=X.dtype)

        def work(start: int, stop: int) -> None:
            for s in range(start, stop, WIDE_CHUNK_ROWS):
                e = min(s + WIDE_CHUNK_ROWS, stop)
                labels[s:e], score[s:e] = self.ops.argmin_shifted(X[s:e] @ CT, half_norms)

        if self.threads == 1:
            work(0, n)
            return labels, score
        # One contiguous block of chunks per thread, like scikit-learn's OpenMP loop: each
        # thread multiplies its own chunk (single-threaded BLAS) and reduces it while hot.
        n_chunks = -(-n // WIDE_CHUNK_ROWS)
        edges = [min(n, (n_chunks * t // self.threads) * WIDE_CHUNK_ROWS) for t in range(self.threads + 1)]
        with ExitStack() as stack:
            stack.enter_context(_single_threaded_blas())
            pool = stack.enter_context(ThreadPoolExecutor(self.threads))
            list(pool.map(work, edges[:-1], edges[1:]))
        return labels, score

    def distances_to(self, centers: np.ndarray) -> np.ndarray:
        """Distances (metric units) from every sample to each of ``centers``: shape ``(m, n)``."""
        if not self.wide:
            return self.ops.distances_to(
                self.X, np.ascontiguousarray(centers, dtype=np.float64), METRIC_CODE[self.metric]
            )
        assert self.sq_norms is not None
        Cx = np.ascontiguousarray(centers, dtype=self.X.dtype)
        prod = (Cx @ self.X.T).astype(np.float64)
        cc = np.einsum("ij,ij->i", Cx, Cx, dtype=np.float64)
        return np.maximum(self.sq_norms[None, :] - 2.0 * prod + cc[:, None], 0.0)


def _uses_blas(X: np.ndarray, metric: str) -> bool:
    """Whether L2 assignment of ``X`` goes through BLAS products (wide and tall enough)."""
    return metric == "l2" and X.shape[1] >= WIDE_MIN_FEATURES and X.shape[0] >= WIDE_MIN_ROWS


def _n_threads() -> int:
    try:
        import numba

        return int(numba.get_num_threads())
    except ImportError:  # pragma: no cover - only reached with backend="numba"
        return os.cpu_count() or 1


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries, built once: building it reads /proc."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        return None
    return ThreadpoolController()


def _single_threaded_blas() -> Any:
    """Limit BLAS to one thread while our own threads each run one product."""
    controller = _blas_controller()
    if controller is None:  # pragma: no cover
        from contextlib import nullcontext

        return nullcontext()
    return controller.limit(limits=1, user_api="blas")


# ---------------------------------------------------------------------------------------------
# initialisation
# ---------------------------------------------------------------------------------------------


def distinct_rows(X: np.ndarray, sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collapse repeated rows: return ``(rows, weights, inverse)`` with ``rows[inverse] == X``.

    ``weights`` sums ``sample_weight`` (ones by default) over each group of equal
    rows. Fitting ``rows`` with ``weights`` gives the same clusters as fitting ``X``
    (exactly, for integer-valued data) at a fraction of the cost when rows repeat,
    as pixels of an image do.
    """
    X = np.ascontiguousarray(X)
    void = X.view(np.dtype((np.void, X.dtype.itemsize * X.shape[1]))).ravel()
    _, first, inverse = np.unique(void, return_index=True, return_inverse=True)
    w = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    weights = np.bincount(inverse.ravel(), weights=w, minlength=first.size)
    return X[first], weights, inverse.ravel().astype(np.int64)


def _first_distinct(X: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` entries of ``candidates`` (row indices) whose rows are pairwise distinct."""
    rows = np.ascontiguousarray(X[candidates] + 0.0)  # + 0.0 folds -0.0 into 0.0
    void = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, first = np.unique(void, return_index=True)
    return candidates[np.sort(first)[:k]]


def _init_random(X: np.ndarray, k: int, w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct rows drawn without replacement with probability proportional to ``w``."""
    # Efraimidis-Spirakis keys: sorting by u^(1/w) descending is weighted sampling without replacement.
    with np.errstate(divide="ignore"):
        keys = np.where(w > 0, np.log(rng.random(X.shape[0])) / np.where(w > 0, w, 1.0), -np.inf)
    order = np.argsort(-keys, kind="stable")[: int((w > 0).sum())]
    # Most draws are distinct: look at a short prefix first, the whole order only if needed.
    prefix = order[: 4 * k + 64]
    chosen = _first_distinct(X, prefix, k)
    if chosen.size < k and prefix.size < order.size:
        chosen = _first_distinct(X, order, k)
    return chosen


def _init_kmeanspp(X: np.ndarray, k: int, w: np.ndarray, rng: np.random.Generator, assigner: _Assigner) -> np.ndarray:
    """Greedy weighted k-means++ (Arthur & Vassilvitskii 2007) with ``2 + ln k`` local trials.

    Potentials are the metric's own distances (squared L2, or L1 for k-medians).
    Stops early, returning fewer rows, when every sample already sits on a centre.
    """
    n_trials = 2 + int(math.log(k))
    first = int(rng.choice(X.shape[0], p=w / w.sum()))
    chosen = [first]
    closest = assigner.distances_to(X[[first]])[0]
    potential = float((w * closest).sum())
    for _ in range(1, k):
        if potential <= 0.0:
            break
        cumulative = np.cumsum(w * closest)
        draws = rng.random(n_trials) * cumulative[-1]
        # side="right": never pick a sample whose potential is zero (it sits on a centre).
        candidates = np.minimum(np.searchsorted(cumulative, draws, side="right"), X.shape[0] - 1)
        trial = np.minimum(closest[None, :], assigner.distances_to(X[candidates]))
        trial_potential = (trial * w).sum(axis=1)
        best = int(np.argmin(trial_potential))
        chosen.append(int(candidates[best]))
        closest = trial[best]
        potential = float(trial_potential[best])
    return np.asarray(chosen, dtype=np.int64)


def initial_centroids(
    X: np.ndarray, k: int, init: Any, w: np.ndarray, rng: np.random.Generator, assigner: _Assigner
) -> np.ndarray:
    """Starting centroids (float64); fewer than ``k`` rows, with a warning, when X has fewer distinct rows."""
    if not isinstance(init, str):
        C = np.asarray(init, dtype=np.float64)
        if C.shape != (k, X.shape[1]):
            raise FastclustError(f"init array must have shape (k, d) = ({k}, {X.shape[1]}), got {C.shape}")
        if not np.isfinite(C).all():
            raise FastclustError(f"init array contains {int((~np.isfinite(C)).sum())} non-finite value(s)")
        return np.array(C, dtype=np.float64, order="C")
    check_choice(init, "init", INITS)
    if init == "random-uniform":
        total = w.sum()
        mean = (w @ X) / total
        std = np.sqrt((w @ (X - mean) ** 2) / total)
        return rng.normal(mean, std, size=(k, X.shape[1]))
    idx = _init_random(X, k, w, rng) if init == "random" else _init_kmeanspp(X, k, w, rng, assigner)
    if idx.size < k:
        warnings.warn(
            f"X has only {idx.size} distinct rows with positive weight, fewer than k={k}: k is reduced to {idx.size}",
            stacklevel=3,
        )
    return np.array(X[idx], dtype=np.float64, order="C")


# ---------------------------------------------------------------------------------------------
# update
# ---------------------------------------------------------------------------------------------


def _column_order(X: np.ndarray) -> np.ndarray:
    """Stable argsort of every column, shape ``(d, n)``: what the median kernel walks.

    Columns of small non-negative integers (pixel values) are sorted as uint16,
    which numpy sorts by radix in O(n); the order is the same either way.
    """
    order = np.empty((X.shape[1], X.shape[0]), dtype=np.int64)
    for f in range(X.shape[1]):
        col = X[:, f]
        if col.min() >= 0 and col.max() < 65536 and np.array_equal(col, np.floor(col)):
            col = col.astype(np.uint16)
        order[f] = np.argsort(col, kind="stable")
    return order


def _update(
    ops: ModuleType, X: np.ndarray, w: np.ndarray, labels: np.ndarray, k: int, metric: str, order: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """New centres for ``labels`` and the total weight of each cluster (0 marks an empty one).

    ``order`` (L1 only) holds the stable argsort of every column, computed once per fit.
    """
    weight = np.bincount(labels, weights=w, minlength=k)
    if metric == "l2":
        # The numpy reference ignores the block count; asking numba for its thread count would
        # import numba on the numpy backend (which the Gradescope zip's copy must never do).
        n_blocks = 1 if ops is _reference else _n_threads()
        with np.errstate(invalid="ignore", divide="ignore"):
            C = ops.cluster_sums(X, w, labels, k, n_blocks) / weight[:, None]
    else:
        C = ops.cluster_medians(X, w, labels, k, order)
    return C, weight


def _drop_empty(C: np.ndarray, labels: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Remove clusters of zero weight; return the kept centres, renumbered labels and the kept mask."""
    keep = weight > 0
    new_index = np.cumsum(keep) - 1
    return np.ascontiguousarray(C[keep]), new_index[labels], keep


def _reseed(
    ops: ModuleType,
    X: np.ndarray,
    w: np.ndarray,
    labels: np.ndarray,
    min_dist: np.ndarray,
    k: int,
    metric: str,
    weight: np.ndarray,
    order: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Give every empty cluster the sample farthest from its centroid, then recompute the centres."""
    labels = labels.copy()
    far = np.where(w > 0, min_dist, -1.0)
    for j in np.flatnonzero(weight <= 0):
        p = int(np.argmax(far))
        if far[p] <= 0.0:  # every sample sits on its centre: nothing to move, drop instead
            break
        labels[p] = j
        far[p] = -1.0
    C, weight = _update(ops, X, w, labels, k, metric, order)
    return C, labels, weight


# ---------------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------------


def kmeans(
    X: Any,
    k: int,
    *,
    metric: str = "l2",
    init: Any = "k-means++",
    seed: Any = None,
    sample_weight: Any = None,
    max_iter: int | None = None,
    empty: str = "drop",
    backend: str = "auto",
) -> KMeansResult:
    """Cluster the rows of ``X`` into ``k`` groups: k-means (L2) or k-medians (L1).

    ``metric="l2"`` is Lloyd's algorithm: assign every sample to its nearest
    centroid by squared Euclidean distance (ties go to the lowest index), then
    move every centroid to the weighted mean of its members.

    ``metric="l1"`` is k-medians: assign by Manhattan distance, then move every
    centroid to the coordinate-wise weighted **median** of its members. The median,
    not the mean, is what minimises a sum of L1 distances; updating with the mean
    after an L1 assignment does not decrease the L1 objective and can cycle.

    The loop stops when an assignment changes no label. Exact ties (frequent
    with L1) can change labels without lowering the objective; the loop goes on
    through such plateaus but stops, with ``stop_reason="stalled"``, when a
    labeling repeats without a new minimum in between. There are finitely many
    labelings, so it always ends; ``max_iter`` is only a safety net.

    Parameters
    ----------
    X : array-like, shape (n, d)
        Numeric, finite data. float32 is kept as float32 (single-precision BLAS
        for wide data); everything else is computed in float64.
    k : int
        Number of clusters wanted, ``>= 1``.
    metric : {"l2", "l1"}
    init : {"k-means++", "random", "random-uniform"} or array of shape (k, d)
        ``"random"``: ``k`` distinct rows drawn with probability proportional to
        ``sample_weight``; ``"k-means++"``: greedy weighted k-means++ with
        ``2 + ln k`` local trials; ``"random-uniform"``: Gaussian draws with the
        data's per-feature mean and standard deviation (the classic notebook
        version); an array is used as is.
    seed : None, int or numpy.random.Generator
        The same seed gives the same result on both backends.
    sample_weight : array-like, shape (n,), optional
        Non-negative weights, not all zero. Fitting the distinct rows of ``X``
        with their counts as weights (see :func:`distinct_rows`) gives the same
        clusters as fitting ``X``.
    max_iter : int, optional
        Cap on rounds; reaching it sets ``converged=False`` and warns.
    empty : {"drop", "reseed", "error"}
        What happens when a cluster loses all its members: removed (``k``
        decreases, labels renumbered), moved to the sample farthest from its
        centroid, or a :class:`FastclustError`.
    backend : {"auto", "numba", "numpy"}
        ``"auto"`` uses numba when it can be imported.

    Returns
    -------
    KMeansResult

    Raises
    ------
    FastclustError
        For malformed data, k, weights, init or option names.
    """
    t0 = perf_counter()
    check_choice(metric, "metric", METRICS)
    check_choice(empty, "empty", EMPTY_POLICIES)
    backend_name, ops = resolve_backend(backend)
    X = check_data(X)
    k = check_positive_int(k, "k")
    if max_iter is not None:
        max_iter = check_positive_int(max_iter, "max_iter")
    w = check_weights(sample_weight, X.shape[0])
    rng = as_generator(seed)
    if X.dtype == np.float32 and not _uses_blas(X, metric):
        X = X.astype(np.float64)  # float32 only pays off in the BLAS path
    assigner = _Assigner(ops, backend_name, X, metric)
    C = initial_centroids(X, k, init, w, rng, assigner)
    C0 = C.copy()

    order = _column_order(X) if metric == "l1" and backend_name == "numba" else None
    labels, min_dist, lower = assigner(C)
    history: list[float] = []
    stop_reason = "max_iter"
    best = math.inf
    plateau: set[bytes] = set()  # labelings seen since the objective last reached a new minimum
    n_iter = 0
    while max_iter is None or n_iter < max_iter:
        C_old = C
        C, weight = _update(ops, X, w, labels, C.shape[0], metric, order)
        if (weight <= 0).any():
            if empty == "error":
                raise FastclustError(
                    f"cluster(s) {np.flatnonzero(weight <= 0).tolist()} became empty in round {n_iter + 1}; "
                    "use empty='drop' or empty='reseed'"
                )
            if empty == "reseed":
                C, labels, weight = _reseed(ops, X, w, labels, min_dist, C.shape[0], metric, weight, order)
                lower = None  # reseeded samples changed cluster: their bounds no longer hold
            if (weight <= 0).any():
                C, labels, keep = _drop_empty(C, labels, weight)
                C_old = C_old[keep]
        new_labels, min_dist, lower = assigner(C, labels, lower, assigner.drift(C_old, C))
        n_iter += 1
        objective = float((w * min_dist).sum())  # not w @ d: BLAS threads left spinning would steal our cores
        history.append(objective)
        if np.array_equal(new_labels, labels):
            stop_reason = "converged"
            break
        labels = new_labels
        # Ties (common with L1) can change labels at an unchanged objective. Going on is
        # right, but a labeling seen twice without a new minimum in between is a cycle:
        # there are finitely many labelings, so this makes the loop provably end.
        if objective < best:
            best = objective
            plateau.clear()
        else:
            digest = hashlib.blake2b(labels.tobytes(), digest_size=16).digest()
            if digest in plateau:
                stop_reason = "stalled"
                break
            plateau.add(digest)

    if stop_reason == "max_iter":
        warnings.warn(
            f"k-means stopped at max_iter={max_iter} before the labels stopped changing",
            ConvergenceWarning,
            stacklevel=2,
        )
    if stop_reason != "converged" and empty == "drop":
        weight = np.bincount(labels, weights=w, minlength=C.shape[0])
        if (weight <= 0).any():
            C, labels, _ = _drop_empty(C, labels, weight)
    return KMeansResult(
        labels=labels,
        centroids=np.ascontiguousarray(C, dtype=np.float64),
        k=int(C.shape[0]),
        n_iter=n_iter,
        objective=history[-1],
        history=np.asarray(history),
        converged=stop_reason == "converged",
        seconds=perf_counter() - t0,
        metric=metric,
        backend=backend_name,
        init=init if isinstance(init, str) else "array",
        stop_reason=stop_reason,
        initial_centroids=C0,
    )


def assign(X: Any, centroids: Any, *, metric: str = "l2", backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of every row of ``X``: ``(labels, distances)``.

    Distances are squared Euclidean for ``"l2"`` and Manhattan for ``"l1"``; ties
    go to the lowest index. This is the assignment step of :func:`kmeans`,
    exposed for prediction.
    """
    check_choice(metric, "metric", METRICS)
    backend_name, ops = resolve_backend(backend)
    X = check_data(X)
    C = check_data(centroids, name="centroids")
    if C.shape[1] != X.shape[1]:
        raise FastclustError(f"centroids have {C.shape[1]} features but X has {X.shape[1]}")
    if X.dtype == np.float32 and not _uses_blas(X, metric):
        X = X.astype(np.float64)
    labels, dist, _ = _Assigner(ops, backend_name, X, metric)(C.astype(np.float64))
    return labels, dist
