"""Starting centres for k-means: random, k-means++, random-uniform and k-means||, without running a round.

:func:`initial_centroids` gives the centres :func:`fastclust.kmeans` would start
from, for the same seed (and :func:`fastclust.distributed.initial_centroids` does
the same for a dask array). The drivers call :func:`choose`, written against the
data-access interfaces of :mod:`fastclust._lloyd` (:class:`Blocks` below), so
k-means|| is one implementation for an in-memory array (one block) and for Dask
blocks alike; the other three run on the rows in memory (for Dask, on a uniform
sample of at most :data:`SAMPLE_ROWS` rows brought to the client).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Protocol

import numpy as np

from . import _lloyd
from ._backends import resolve_backend
from ._memory import Block, InMemoryRows, in_memory_rows, make_block, nearest
from ._validation import (
    as_generator,
    check_choice,
    check_data,
    check_finite_number,
    check_positive_int,
    check_weights,
)
from .metrics import Metric, get_metric

__all__ = ["INITS", "SAMPLE_ROWS", "Blocks", "choose", "initial_centroids", "shrink_message"]

INITS = ("k-means++", "random", "random-uniform", "k-means||")
#: Rows of a dask array brought to the client for the sample-based initialisers.
SAMPLE_ROWS = 100_000
#: k-means|| passes beyond ``rounds`` allowed to find ``k`` candidates when ``oversampling`` is small.
_EXTRA_PASSES = 50


class Blocks(Protocol):
    """What k-means|| needs from the rows: tasks over blocks and a way to fetch a few rows.

    In memory there is one block and tasks run inline; on Dask each task runs next
    to its block and only what :meth:`gather` asks for travels to the client.
    """

    metric: Metric
    backend: str

    @property
    def rows(self) -> list[int]:
        """Rows per block."""
        ...

    @property
    def n_features(self) -> int: ...

    def block_weights(self) -> list[np.ndarray] | None:
        """Per-block weights where they are at hand in this process; None for unit weights."""
        ...

    def map(self, fn: Any, *per_block: list[Any], **shared: Any) -> list[Any]:
        """``fn(block, *per_block[i], **shared)`` for every block ``i``; results may stay remote."""
        ...

    def collect(self, handles: list[Any], index: int) -> list[Any]:
        """Element ``index`` of every (remote) tuple result, brought to this process."""
        ...

    def gather(self, handles: list[Any]) -> list[Any]:
        """Bring results to this process."""
        ...

    def take(self, indices: np.ndarray) -> np.ndarray:
        """Rows at sorted global ``indices``, float64."""
        ...

    def sample(self, rng: np.random.Generator) -> InMemoryRows:
        """The in-memory rows the sample-based initialisers use."""
        ...


# ---------------------------------------------------------------------------------------------
# in memory: random, k-means++, random-uniform
# ---------------------------------------------------------------------------------------------


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
    n_positive = int((w > 0).sum())
    # Most draws are distinct: look at a short prefix first, the whole order only if needed.
    prefix = _stable_smallest(-keys, min(4 * k + 64, n_positive))
    chosen = _first_distinct(X, prefix, k)
    if chosen.size < k and prefix.size < n_positive:
        chosen = _first_distinct(X, np.argsort(-keys, kind="stable")[:n_positive], k)
    return chosen


def _stable_smallest(v: np.ndarray, m: int) -> np.ndarray:
    """``np.argsort(v, kind="stable")[:m]`` without sorting all of ``v`` (O(n) instead of O(n log n)).

    Everything below the m-th smallest value comes first, then the ties at that
    value in index order, exactly as a stable sort orders them.
    """
    if m <= 0:
        return np.zeros(0, dtype=np.int64)
    if m >= v.size:
        return np.argsort(v, kind="stable")
    cut = np.partition(v, m - 1)[m - 1]
    below = np.flatnonzero(v < cut)
    chosen = np.concatenate([below, np.flatnonzero(v == cut)[: m - below.size]])
    return chosen[np.argsort(v[chosen], kind="stable")]


def _init_kmeanspp(rows: InMemoryRows, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy weighted k-means++ (Arthur & Vassilvitskii 2007) with ``2 + ln k`` local trials.

    Potentials are the metric's own distances (squared L2, or L1 for k-medians).
    Stops early, returning fewer rows, when every sample already sits on a centre.
    """
    X, w = rows.X, rows.w
    n_trials = 2 + int(math.log(k))
    first = int(rng.choice(X.shape[0], p=w / w.sum()))
    chosen = [first]
    closest = rows.assigner.pairwise(X[[first]])[0]
    potential = float((w * closest).sum())
    for _ in range(1, k):
        if potential <= 0.0:
            break
        cumulative = np.cumsum(w * closest)
        draws = rng.random(n_trials) * cumulative[-1]
        # side="right": never pick a sample whose potential is zero (it sits on a centre).
        candidates = np.minimum(np.searchsorted(cumulative, draws, side="right"), X.shape[0] - 1)
        trial = np.minimum(closest[None, :], rows.assigner.pairwise(X[candidates]))
        trial_potential = (trial * w).sum(axis=1)
        best = int(np.argmin(trial_potential))
        chosen.append(int(candidates[best]))
        closest = trial[best]
        potential = float(trial_potential[best])
    return np.asarray(chosen, dtype=np.int64)


def _init_in_memory(rows: InMemoryRows, k: int, init: str, rng: np.random.Generator) -> np.ndarray:
    X, w = rows.X, rows.w
    if init == "random-uniform":
        total = w.sum()
        mean = (w @ X) / total
        std = np.sqrt((w @ (X - mean) ** 2) / total)
        return rng.normal(mean, std, size=(k, X.shape[1]))
    idx = _init_random(X, k, w, rng) if init == "random" else _init_kmeanspp(rows, k, rng)
    return np.array(X[idx], dtype=np.float64, order="C")


# ---------------------------------------------------------------------------------------------
# k-means|| (Bahmani et al. 2012), over blocks
# ---------------------------------------------------------------------------------------------


def _kmpar_pass(
    block: Block,
    previous: tuple[Any, Any] | None,
    seed: int,
    *,
    new: np.ndarray,
    offset: int,
    factor: float,
    n_candidates: int,
    metric: Metric,
    backend: str,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, float, np.ndarray | None]]:
    """One k-means|| pass on one block, incremental: only distances to the *new* candidates are computed.

    ``previous`` is the block's result of the previous pass (None for the first):
    its first element, the block's (cost, nearest candidate), is all it is read for,
    so the state never travels to the client. Returns ``(state, summary)``: the
    new state (kept next to the block) and what the client gathers, ``(rows
    sampled with probability min(1, factor * w * cost), the block's total
    w * cost, candidate weights)``. The candidate weights, the total weight of
    the rows nearest each of ``n_candidates`` candidates (counts for unit
    weights), are taken only when ``n_candidates`` > 0 (the last pass), else None.
    """
    X = block.X
    if previous is None:
        cost, near = np.full(X.shape[0], np.inf), np.full(X.shape[0], -1, dtype=np.int64)
    else:
        cost, near = previous[0]
    if new.shape[0]:
        lab, dist = nearest(block, new, metric, backend)
        better = dist < cost
        cost = np.where(better, dist, cost)
        near = np.where(better, lab + offset, near)
    weighted = cost if block.w is None else block.w * cost
    sample = np.zeros((0, X.shape[1]))
    if factor > 0:
        keep = as_generator(seed).random(X.shape[0]) < np.minimum(1.0, factor * weighted)
        sample = X[keep].astype(np.float64)
    weights = np.bincount(near, weights=block.w, minlength=n_candidates) if n_candidates else None
    return (cost, near), (sample, float(weighted.sum()), weights)


def _distinct(C: np.ndarray) -> np.ndarray:
    return C[_first_distinct(C, np.arange(C.shape[0]), C.shape[0])]


def kmeans_parallel(rows: Blocks, k: int, rng: np.random.Generator, oversampling: float, rounds: int) -> np.ndarray:
    """k-means|| (Bahmani et al. 2012), then weighted k-means++ and Lloyd on the candidates.

    Each of ``rounds`` passes keeps every row with probability ``l * w * cost / total``
    (``l = oversampling * k``). Passes are incremental (distances to the new
    candidates only) and also track each row's nearest candidate, so the
    candidates' weights come without a further pass over the data: the whole
    initialisation costs about ``rounds * oversampling`` Lloyd rounds. When the
    passes found fewer than ``k`` candidates, up to ``_EXTRA_PASSES`` more sample
    the missing number; fewer than ``k`` rows come back only when the data has
    fewer distinct rows (of positive weight).
    """
    sizes = np.asarray(rows.rows)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    weights = rows.block_weights()
    totals = sizes if weights is None else np.array([w.sum() for w in weights])
    block = int(rng.choice(len(sizes), p=totals / totals.sum()))
    if weights is None:
        row = int(rng.integers(sizes[block]))
    else:
        row = int(rng.choice(sizes[block], p=weights[block] / totals[block]))
    candidates = [rows.take(np.array([offsets[block] + row]))]
    n_candidates = 1
    outs: list[Any] = [None] * len(sizes)
    new, offset, factor = candidates[0], 0, 0.0
    ell = oversampling * k
    passes = 0  # pass 0 measures the cost to the first centre; passes 1..rounds sample; a last pass folds in
    extra = 0
    fold_only = False
    while True:
        seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=len(sizes))]  # one stream per block and pass
        outs = rows.map(
            _kmpar_pass,
            outs,
            seeds,
            new=new,
            offset=offset,
            factor=factor,
            n_candidates=n_candidates if fold_only else 0,  # the last pass also weighs the candidates
            metric=rows.metric,
            backend=rows.backend,
        )
        summaries = rows.collect(outs, 1)  # one small summary per block; the states stay
        if fold_only:
            break
        total = float(sum(summary[1] for summary in summaries))
        new = np.vstack([summary[0] for summary in summaries if len(summary[0])] or [np.zeros((0, rows.n_features))])
        offset = n_candidates
        candidates.append(new)
        n_candidates += new.shape[0]
        passes += 1
        if passes <= rounds and total > 0:
            factor = ell / total
        elif n_candidates < k and total > 0 and extra < _EXTRA_PASSES:
            extra += 1  # too few candidates (small oversampling): sample the missing number
            factor = max(ell, 2.0 * (k - n_candidates)) / total
        else:
            factor, fold_only = 0.0, True
    C = np.vstack(candidates)
    cand_weights = np.sum([summary[2] for summary in summaries], axis=0).astype(np.float64)
    if C.shape[0] <= k:
        return _distinct(C)
    reduced = InMemoryRows(make_block(C, np.maximum(cand_weights, 1e-12), rows.metric), rows.metric, rows.backend)
    start = _init_in_memory(reduced, k, "k-means++", rng)
    return _lloyd.run(reduced, start, rows.metric).centres


# ---------------------------------------------------------------------------------------------
# the drivers' entry point, and the public one
# ---------------------------------------------------------------------------------------------


def choose(
    rows: Blocks, k: int, init: str, rng: np.random.Generator, *, oversampling: float = 0.5, rounds: int = 5
) -> np.ndarray:
    """Starting centres (float64, C order, in the rows' units) by ``init``; fewer than ``k`` rows
    only when the rows (or the sample) have fewer distinct rows of positive weight. Never warns."""
    if init == "k-means||":
        return np.ascontiguousarray(kmeans_parallel(rows, k, rng, oversampling, rounds), dtype=np.float64)
    return _init_in_memory(rows.sample(rng), k, init, rng)


def shrink_message(m: int, k: int, what: str = "X") -> str:
    """The warning a driver gives when only ``m < k`` starting centres could be found."""
    return f"{what} has only {m} distinct rows with positive weight, fewer than k={k}: k is reduced to {m}"


def initial_centroids(
    X: Any,
    k: int,
    *,
    init: str = "k-means++",
    metric: str = "l2",
    seed: Any = None,
    sample_weight: Any = None,
    backend: str = "auto",
    oversampling: float = 0.5,
    init_rounds: int = 5,
) -> np.ndarray:
    """The centres :func:`fastclust.kmeans` starts from for the same arguments, without running a round.

    Parameters
    ----------
    X : array-like, shape (n, d)
    k : int
    init : {"k-means++", "random", "random-uniform", "k-means||"}
        See :func:`fastclust.kmeans`. ``"k-means||"`` takes ``oversampling`` (candidates
        per pass, as a multiple of ``k``, > 0) and ``init_rounds`` (sampling passes, >= 1),
        as :func:`fastclust.distributed.kmeans` does.
    metric, seed, sample_weight, backend
        As for :func:`fastclust.kmeans`.

    Returns
    -------
    (m, d) float64 array, ``m <= k``; ``m < k`` (with a warning) only when ``X`` has
    fewer than ``k`` distinct rows of positive weight.
    """
    m = get_metric(metric)
    check_choice(init, "init", INITS)
    backend_name, _ = resolve_backend(backend)
    X = check_data(X)
    k = check_positive_int(k, "k")
    w = check_weights(sample_weight, X.shape[0])
    oversampling = check_finite_number(oversampling, "oversampling")
    init_rounds = check_positive_int(init_rounds, "init_rounds")
    rng = as_generator(seed)
    rows, scale = in_memory_rows(X, w, m, backend_name)
    C = scale.centres(choose(rows, k, init, rng, oversampling=oversampling, rounds=init_rounds))
    if C.shape[0] < k:
        warnings.warn(shrink_message(C.shape[0], k), stacklevel=2)
    return C
