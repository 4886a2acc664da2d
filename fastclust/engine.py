"""k-means (L2) and k-medians (L1) of an in-memory array: the public entry points.

:func:`kmeans` is validate -> initialise (:mod:`fastclust.seeding`) -> the one Lloyd
loop (:mod:`fastclust._lloyd`) over :class:`~fastclust._memory.InMemoryRows` (or,
for a few integer features with integer weights such as an image's distinct
colours, :class:`~fastclust._lowdim.IntegerRows`: same results, less work) ->
result. The arithmetic lives in the kernels (:mod:`fastclust._kernels`, compiled
with numba, or their numpy twins in :mod:`fastclust._reference`). Both backends
run the same driver on the same random draws, so the same seed gives the same
result on either. :mod:`fastclust.distributed` runs the same loop over Dask blocks.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import numpy as np

from . import _lloyd, seeding
from ._backends import BACKENDS, resolve_backend
from ._lloyd import EMPTY_POLICIES
from ._lowdim import integer_rows, serial_if_small
from ._memory import Assigner, in_memory_rows, largest_magnitude, make_block, uses_blas
from ._repr import short_repr
from ._scale import Scale
from ._treefilter import TreeCache, filtered_rows
from ._validation import (
    as_generator,
    check_centres,
    check_choice,
    check_data,
    check_positive_int,
    check_weights,
    refuse_masked,
)
from ._widebounds import bounded_wide_rows
from .errors import ConvergenceWarning, FastclustError
from .metrics import METRICS, Metric, get_metric
from .seeding import INITS

__all__ = [
    "EMPTY_POLICIES",
    "INITS",
    "METRICS",
    "ConvergenceWarning",
    "KMeansResult",
    "assign",
    "distinct_rows",
    "kmeans",
]


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


def _cold_start_work(n: int, d: int, k: int, metric: Metric) -> float | None:
    """The work ``backend='auto'`` may count toward its numpy cold start (see :func:`resolve_backend`),
    or None for a BLAS-path fit: numba's ``np.dot`` calls SciPy's BLAS, numpy's its own, and the
    two builds need not round alike, so such a fit always takes numba where it is installed."""
    return None if uses_blas(n, d, metric) else float(n) * d * k


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
        Numeric, real, finite data (masked arrays are refused). float32 is kept as
        float32 (single-precision BLAS for wide data); everything else is computed
        in float64. Data of extreme magnitude (beyond about 1e38, or below 1e-38)
        is fitted at an exact power-of-two scale and reported in its own units; a
        fit whose objective would not fit in float64 raises :class:`FastclustError`.
    k : int
        Number of clusters wanted, ``>= 1``.
    metric : {"l2", "l1"}
    init : {"k-means++", "random", "random-uniform", "k-means||"} or array of shape (k, d)
        ``"random"``: ``k`` distinct rows drawn with probability proportional to
        ``sample_weight``; ``"k-means++"``: greedy weighted k-means++ with
        ``2 + ln k`` local trials; ``"random-uniform"``: Gaussian draws with the
        data's per-feature mean and standard deviation (the classic notebook
        version); ``"k-means||"``: the scalable variant (Bahmani et al. 2012) that
        :mod:`fastclust.distributed` defaults to; an array is used as is.
        :func:`fastclust.seeding.initial_centroids` gives the same starting
        centres without running a round.
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
        ``"auto"`` uses numba when it can be imported, except for small fits in a
        process that has not loaded numba yet (about 10^6 of ``n * d * k`` in all):
        they use the numpy twins, the same results without numba's 0.5-1 s import.

    Returns
    -------
    KMeansResult

    Raises
    ------
    FastclustError
        For malformed data, k, weights, init or option names.
    """
    return fit_kmeans(
        X,
        k,
        metric=metric,
        init=init,
        seed=seed,
        sample_weight=sample_weight,
        max_iter=max_iter,
        empty=empty,
        backend=backend,
    )


def fit_kmeans(
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
    trees: TreeCache | None = None,
) -> KMeansResult:
    """:func:`kmeans`, for the library's own callers that fit one dataset many times: ``trees`` (see
    :class:`~fastclust._treefilter.TreeCache`) keeps the filter tree and the integer layout of ``X``
    for the next fit, reused only for equal data and weights. The result is :func:`kmeans`'s, bit for bit."""
    t0 = perf_counter()
    m = get_metric(metric)
    check_choice(empty, "empty", EMPTY_POLICIES)
    check_choice(backend, "backend", BACKENDS)
    X = check_data(X)
    k = check_positive_int(k, "k")
    backend_name, _ = resolve_backend(backend, work=_cold_start_work(X.shape[0], X.shape[1], k, m))
    if max_iter is not None:
        max_iter = check_positive_int(max_iter, "max_iter")
    w = check_weights(sample_weight, X.shape[0])
    rng = as_generator(seed)
    init_array = None
    if isinstance(init, str):
        check_choice(init, "init", INITS)
    else:
        init_array = check_centres(init, k, X.shape[1])
    rows, scale = in_memory_rows(X, w, m, backend_name, extra=init_array)
    # what earlier fits of these very data (compared in full) worked out from them alone
    memo = trees.memo(rows.X, rows.w) if trees is not None else None
    # an image's distinct colours and the like: the same fit, with exact incremental statistics
    rows = integer_rows(rows, memo.layouts if memo is not None else None)
    # ... and, from 16,384 of them on, whole boxes of colours at once
    rows = filtered_rows(rows, k, memo)
    # wide integer-valued rows (digit images): bounds skip the products of rows that keep their centre
    rows = bounded_wide_rows(rows)
    # small rounds on the direct path: numba's parallel kernels would cost a barrier per round,
    # and on a busy machine a descheduled thread stalls every one of them
    with serial_if_small(rows, k):
        if init_array is not None:
            C = scale.data(init_array, "init")
        else:
            C = seeding.choose(rows, k, init, rng)
            if C.shape[0] < k:
                warnings.warn(seeding.shrink_message(C.shape[0], k), stacklevel=2)
        C0 = C.copy()
        out = _lloyd.run(rows, C, m, empty=empty, max_iter=max_iter)
    if out.stop_reason == "max_iter":
        warnings.warn(
            f"k-means stopped at max_iter={max_iter} before the labels stopped changing",
            ConvergenceWarning,
            stacklevel=2,
        )
    assert rows.labels is not None
    history = scale.objective(np.asarray(out.history), m.power)
    return KMeansResult(
        labels=rows.labels,
        centroids=np.ascontiguousarray(scale.centres(out.centres), dtype=np.float64),
        k=int(out.centres.shape[0]),
        n_iter=out.n_iter,
        objective=float(history[-1]),
        history=history,
        converged=out.stop_reason == "converged",
        seconds=perf_counter() - t0,
        metric=m.name,
        backend=backend_name,
        init=init if isinstance(init, str) else "array",
        stop_reason=out.stop_reason,
        initial_centroids=scale.centres(C0),
    )


def assign(X: Any, centroids: Any, *, metric: str = "l2", backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of every row of ``X``: ``(labels, distances)``.

    Distances are squared Euclidean for ``"l2"`` and Manhattan for ``"l1"``; ties
    go to the lowest index. This is the assignment step of :func:`kmeans`,
    exposed for prediction. Extreme data is assigned at a safe power-of-two scale,
    so labels are exact at any magnitude; a distance beyond float64's range
    (squares of data around 1e154 and up) is reported as ``inf``.
    """
    m = get_metric(metric)
    check_choice(backend, "backend", BACKENDS)
    X = check_data(X)
    C = check_data(centroids, name="centroids")
    backend_name, ops = resolve_backend(backend, work=_cold_start_work(X.shape[0], X.shape[1], C.shape[0], m))
    if C.shape[1] != X.shape[1]:
        raise FastclustError(f"centroids have {C.shape[1]} features but X has {X.shape[1]}")
    block = make_block(X, None, m)
    scale = Scale.choose(max(largest_magnitude(block.X), largest_magnitude(C)), block.X.dtype)
    if scale.x:
        block = make_block(scale.data(block.X), None, m)
    labels, dist, _ = Assigner(ops, backend_name, block, m)(scale.data(C.astype(np.float64), "centroids"))
    if scale.x:
        with np.errstate(over="ignore", under="ignore"):  # documented: inf beyond float64's range
            dist = np.ldexp(dist, m.power * scale.x)
    return labels, dist


def distinct_rows(X: Any, sample_weight: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collapse repeated rows: return ``(rows, weights, inverse)`` with ``rows[inverse] == X``.

    ``weights`` sums ``sample_weight`` (ones by default) over each group of equal
    rows. Fitting ``rows`` with ``weights`` gives the same clusters as fitting ``X``
    (exactly, for integer-valued data) at a fraction of the cost when rows repeat,
    as pixels of an image do. ``X`` keeps its dtype.
    """
    refuse_masked(X, "X")
    X = np.asarray(X)
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
        raise FastclustError(f"X must be numeric, got dtype {X.dtype}")
    if X.ndim != 2:
        raise FastclustError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    w = check_weights(sample_weight, X.shape[0])
    X = np.ascontiguousarray(X)
    void = X.view(np.dtype((np.void, X.dtype.itemsize * X.shape[1]))).ravel()
    _, first, inverse = np.unique(void, return_index=True, return_inverse=True)
    weights = np.bincount(inverse.ravel(), weights=w, minlength=first.size)
    return X[first], weights, inverse.ravel().astype(np.int64)
