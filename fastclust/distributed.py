"""k-means, k-medians and VQ over chunked dask arrays, on a dask cluster or the local threads.

Nothing here schedules work itself: every pass is one task per row block (via
``distributed.Client`` futures, or ``dask.compute`` on the default threaded
scheduler), and only small per-cluster summaries come back to the client. The
centroids (``k x d``) are the only thing broadcast each round, never the data.
Labels stay next to their blocks.

Exactness:

- L2: each block returns per-cluster weighted sums and counts. Summed on the
  client, they give the same means as in memory, up to the order of summation.
  Labels come out identical to :func:`fastclust.kmeans` from the same
  initialisation unless a point sits within rounding of a tie.
- L1: the coordinate-wise median is found **exactly**, by distributed selection.
  Each pass histograms, for every (cluster, feature), the values that fall
  inside a shrinking interval known to hold the wanted order statistic, and
  counts the values below it. Once an interval holds few values (or a single
  distinct one) they are gathered and the median is read off. This costs a few
  passes per round and moves only histograms and a few values. The result is
  the same mid-point median as the in-memory k-medians.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import numpy as np

from ._backends import resolve_backend
from ._validation import as_generator, check_choice, check_positive_int
from .engine import METRICS, ConvergenceWarning, KMeansResult, assign
from .engine import kmeans as kmeans_in_memory
from .errors import FastclustError

_BINS = 256
_GATHER_MAX = 2048  # values per (target, cluster, feature) small enough to gather
_SELECT_ROUNDS = 12


def _is_dask_array(X: Any) -> bool:
    try:
        import dask.array as da
    except ImportError:
        return False
    return isinstance(X, da.Array)


def _as_float(block: np.ndarray) -> np.ndarray:
    block = np.asarray(block)
    return block if block.dtype in (np.float32, np.float64) else block.astype(np.float64)


# ---------------------------------------------------------------------------------------------
# block tasks (run on workers; module-level so they pickle)
# ---------------------------------------------------------------------------------------------


def _block_assign(
    block: np.ndarray, prev: np.ndarray | None, C: np.ndarray, remap: np.ndarray | None, metric: str
) -> tuple[np.ndarray, dict[str, Any]]:
    """Labels of one block and its per-cluster summary for the update."""
    X = _as_float(block)
    k = C.shape[0]
    labels, dist = assign(X, C, metric=metric)
    if prev is None or remap is None:
        changed = X.shape[0]
    else:
        changed = int((remap[prev] != labels).sum())
    stats: dict[str, Any] = {
        "counts": np.bincount(labels, minlength=k),
        "objective": float(dist.sum()),
        "changed": changed,
    }
    if metric == "l2":
        _, ops = resolve_backend("auto")
        stats["sums"] = ops.cluster_sums(X, np.ones(X.shape[0]), labels, k)
    else:
        lo = np.full((k, X.shape[1]), np.inf)
        hi = np.full((k, X.shape[1]), -np.inf)
        np.minimum.at(lo, labels, X)
        np.maximum.at(hi, labels, X)
        stats["min"], stats["max"] = lo, hi
    return labels, stats


def _block_select(
    block: np.ndarray, labels: np.ndarray, lo: np.ndarray, hi: np.ndarray, bins: int, gather: np.ndarray
) -> dict[str, np.ndarray]:
    """One selection pass: for targets t (lower, upper middle), per (cluster, feature).

    Counts values below ``lo[t, j, f]``, histograms those inside ``[lo, hi]`` into
    ``bins`` equal bins, and for the (t, j, f) flagged in ``gather`` returns the
    values inside the interval themselves.
    """
    X = _as_float(block)
    m, d = X.shape
    k = lo.shape[1]
    out: dict[str, np.ndarray] = {"below": np.zeros((2, k, d)), "hist": np.zeros((2, k, d, bins))}
    gathered_keys, gathered_vals = [], []
    feat = np.broadcast_to(np.arange(d), (m, d))
    for t in range(2):
        L, H = lo[t][labels], hi[t][labels]  # (m, d)
        below = X < L
        inside = (X >= L) & (X <= H)
        base = labels[:, None] * d + feat  # flat (cluster, feature) index
        out["below"][t] = np.bincount(base[below], minlength=k * d).reshape(k, d)
        width = np.where(H > L, H - L, 1.0)
        b = np.clip(((X - L) / width * bins).astype(np.int64), 0, bins - 1)
        out["hist"][t] = np.bincount((base * bins + b)[inside], minlength=k * d * bins).reshape(k, d, bins)
        take = inside & gather[t][labels]
        if take.any():
            gathered_keys.append(t * k * d + base[take])
            gathered_vals.append(X[take].astype(np.float64))
    out["keys"] = np.concatenate(gathered_keys) if gathered_keys else np.zeros(0, dtype=np.int64)
    out["values"] = np.concatenate(gathered_vals) if gathered_vals else np.zeros(0)
    return out


def _block_kmpar(
    block: np.ndarray,
    state: tuple[np.ndarray, np.ndarray] | None,
    seed: int,
    new: np.ndarray,
    offset: int,
    factor: float,
    metric: str,
) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray, float]:
    """One k-means|| pass on one block, incremental: only distances to the *new* candidates are computed.

    ``state`` is the block's (cost, nearest candidate) from the previous pass.
    Returns the new state (kept on the worker), the rows sampled with
    probability ``min(1, factor * cost)``, and the block's total cost.
    """
    X = _as_float(block)
    if state is None:
        cost, nearest = np.full(X.shape[0], np.inf), np.full(X.shape[0], -1, dtype=np.int64)
    else:
        cost, nearest = state
    if new.shape[0]:
        lab, dist = assign(X, new, metric=metric)
        better = dist < cost
        cost = np.where(better, dist, cost)
        nearest = np.where(better, lab + offset, nearest)
    sample = np.zeros((0, X.shape[1]))
    if factor > 0:
        keep = np.random.default_rng(seed).random(X.shape[0]) < np.minimum(1.0, factor * cost)
        sample = X[keep].astype(np.float64)
    return (cost, nearest), sample, float(cost.sum())


def _block_candidate_counts(block: np.ndarray, state: tuple[np.ndarray, np.ndarray], n_candidates: int) -> np.ndarray:
    return np.bincount(state[1], minlength=n_candidates)


# ---------------------------------------------------------------------------------------------
# running block tasks: futures on a distributed.Client, or dask.compute on local threads
# ---------------------------------------------------------------------------------------------


class _Runner:
    def __init__(self, X: Any, client: Any) -> None:
        self.client = client
        self.rows = [int(c) for c in X.chunks[0]]
        if X.numblocks[1] != 1:
            X = X.rechunk({1: -1})  # tasks need whole rows
        if client is not None:
            self.blocks = client.compute(list(X.to_delayed().ravel()))  # futures: blocks stay on workers
        else:
            self.blocks = list(X.persist().to_delayed().ravel())

    def map(self, fn: Callable[..., Any], *per_block: list[Any], **shared: Any) -> list[Any]:
        """Run ``fn(block, *per_block[i], **shared)`` for every block; results stay remote with a client."""
        args = list(zip(self.blocks, *per_block, strict=True)) if per_block else [(b,) for b in self.blocks]
        if self.client is not None:
            return [self.client.submit(fn, *a, pure=False, **shared) for a in args]
        import dask

        return list(dask.compute(*[dask.delayed(fn)(*a, **shared) for a in args]))

    def part(self, handles: list[Any], index: int) -> list[Any]:
        if self.client is not None:
            return [self.client.submit(operator.itemgetter(index), h, pure=False) for h in handles]
        return [h[index] for h in handles]

    def apply(self, fn: Callable[..., Any], handles: list[Any], **shared: Any) -> list[Any]:
        """Run ``fn(handle, **shared)`` on per-block results (not blocks); results stay remote with a client."""
        if self.client is not None:
            return [self.client.submit(fn, h, pure=False, **shared) for h in handles]
        return [fn(h, **shared) for h in handles]

    def gather(self, handles: list[Any]) -> list[Any]:
        if self.client is None:
            return handles
        try:
            return self.client.gather(handles)
        except Exception as exc:  # a worker lost data it could not recompute, or the cluster restarted
            raise FastclustError(
                f"the dask cluster failed during the fit ({type(exc).__name__}: {exc}); nothing was returned"
            ) from exc


def _renumber(labels: np.ndarray, table: np.ndarray) -> np.ndarray:
    return table[labels]


def _drop_empty(runner: _Runner, C: np.ndarray, labels: list[Any], counts: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """Remove clusters with no members and renumber every block's labels contiguously."""
    keep = counts > 0
    if keep.all():
        return C, labels
    return C[keep], runner.apply(_renumber, labels, table=np.cumsum(keep) - 1)


# ---------------------------------------------------------------------------------------------
# initialisation: k-means|| (Bahmani et al. 2012)
# ---------------------------------------------------------------------------------------------


def _init_kmeans_parallel(
    runner: _Runner, k: int, metric: str, rng: np.random.Generator, oversampling: float, rounds: int
) -> np.ndarray:
    """k-means|| (Bahmani et al. 2012), then weighted k-means++ and Lloyd on the candidates.

    Each of ``rounds`` passes keeps every row with probability ``l * cost / total``
    (``l = oversampling * k``). Passes are incremental (distances to the new
    candidates only) and also track each row's nearest candidate, so the
    candidates' weights come without a further pass over the data: the whole
    initialisation costs about ``rounds * oversampling`` Lloyd rounds.
    """
    sizes = np.asarray(runner.rows)
    block = int(rng.choice(len(sizes), p=sizes / sizes.sum()))
    row = int(rng.integers(sizes[block]))
    first = runner.gather(runner.map(operator.getitem, [[row] if i == block else [0] for i in range(len(sizes))]))
    candidates = [np.asarray(first[block], dtype=np.float64).reshape(1, -1)]
    n_candidates = 1
    states: list[Any] = [None] * len(sizes)
    new, offset, factor = candidates[0], 0, 0.0
    ell = oversampling * k
    # pass 0 measures the cost to the first centre; passes 1..rounds sample; a last pass folds in
    for p in range(rounds + 2):
        seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=len(sizes))]  # one stream per block and pass
        outs = runner.map(_block_kmpar, states, seeds, new=new, offset=offset, factor=factor, metric=metric)
        states = runner.part(outs, 0)
        if p == rounds + 1 or (p > 0 and factor == 0.0):
            break
        gathered = runner.gather([*runner.part(outs, 1), *runner.part(outs, 2)])
        samples, total = gathered[: len(sizes)], float(sum(gathered[len(sizes) :]))
        new = np.vstack([x for x in samples if len(x)] or [np.zeros((0, candidates[0].shape[1]))])
        offset = n_candidates
        candidates.append(new)
        n_candidates += new.shape[0]
        factor = ell / total if p < rounds and total > 0 else 0.0
    C = np.vstack(candidates)
    weights = np.sum(
        runner.gather(runner.map(_block_candidate_counts, states, n_candidates=C.shape[0])), axis=0
    ).astype(np.float64)
    if C.shape[0] <= k:
        return C
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = kmeans_in_memory(
            C, k, metric=metric, init="k-means++", seed=rng, sample_weight=np.maximum(weights, 1e-12)
        )
    return res.centroids


# ---------------------------------------------------------------------------------------------
# exact distributed medians
# ---------------------------------------------------------------------------------------------


def _exact_medians(
    runner: _Runner, labels: list[Any], counts: np.ndarray, lo0: np.ndarray, hi0: np.ndarray
) -> np.ndarray:
    """Coordinate-wise medians of every cluster by distributed selection (see the module docstring)."""
    k, d = lo0.shape
    n = counts.astype(np.int64)[:, None] * np.ones((1, d), dtype=np.int64)
    # 1-based ranks of the lower and upper middle values: equal when n is odd
    rank = np.stack([(n + 1) // 2, n // 2 + 1]).astype(np.int64)
    lo = np.stack([lo0, lo0]).astype(np.float64)
    hi = np.stack([hi0, hi0]).astype(np.float64)
    value = np.full((2, k, d), np.nan)
    empty = counts[None, :, None].repeat(d, axis=2).repeat(2, axis=0) == 0
    done = empty | (lo == hi)
    value[~empty & (lo == hi)] = lo[~empty & (lo == hi)]
    gather = np.zeros((2, k, d), dtype=bool)
    for _ in range(_SELECT_ROUNDS):
        if done.all():
            break
        parts = runner.gather(runner.map(_block_select, labels, lo=lo, hi=hi, bins=_BINS, gather=gather & ~done))
        below = sum(p["below"] for p in parts)
        hist = sum(p["hist"] for p in parts)
        keys = np.concatenate([p["keys"] for p in parts])
        vals = np.concatenate([p["values"] for p in parts])
        # finish the gathered ones: sort their values and pick by rank
        if keys.size:
            order = np.lexsort((vals, keys))
            keys, vals = keys[order], vals[order]
            starts = np.searchsorted(keys, np.unique(keys))
            for key, s in zip(np.unique(keys), starts, strict=True):
                t, rest = divmod(int(key), k * d)
                j, f = divmod(rest, d)
                idx = rank[t, j, f] - int(below[t, j, f]) - 1
                value[t, j, f] = vals[s + idx]
                done[t, j, f] = True
        inside = hist.sum(axis=3)
        cum = below[..., None] + np.cumsum(hist, axis=3)
        b = np.argmax(cum >= rank[..., None], axis=3)  # first bin reaching the rank
        width = np.where(hi > lo, hi - lo, 0.0)
        new_lo = lo + b * width / _BINS
        new_hi = lo + (b + 1) * width / _BINS
        pad = 1e-12 * (np.abs(lo) + np.abs(hi)) + 1e-300  # widen by rounding's reach: never lose the target
        lo = np.where(done, lo, np.maximum(lo, new_lo - pad))
        hi = np.where(done, hi, np.minimum(hi, new_hi + pad))
        gather = ~done & (inside <= _GATHER_MAX)
        gather |= ~done & (hist.max(axis=3) == inside)  # one bin holds everything: it may be one repeated value
    if not done.all():
        raise FastclustError("distributed median selection did not finish; please report this data set")
    return (value[0] + value[1]) / 2.0


# ---------------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------------


@dataclass
class DaskKMeansResult(KMeansResult):
    """:class:`~fastclust.KMeansResult` whose ``labels`` is a dask array aligned with X's row chunks."""


def kmeans(
    X: Any,
    k: int,
    *,
    metric: str = "l2",
    init: Any = "k-means||",
    seed: Any = None,
    max_iter: int | None = None,
    client: Any = None,
    progress: Callable[[int, float, int], None] | None = None,
    oversampling: float = 0.5,
    init_rounds: int = 5,
) -> KMeansResult:
    """k-means (L2) or exact k-medians (L1) of a dask array, one pass over the blocks per round.

    Same stopping rule as :func:`fastclust.kmeans`: stop when a round changes no
    label (counted by a reduction), or at ``max_iter`` with a
    :class:`~fastclust.ConvergenceWarning`; clusters that empty are dropped.
    ``init``: ``"k-means||"`` (default, few passes), ``"k-means++"`` (on a sample of
    at most 100,000 rows brought to the client), or a ``(k, d)`` array.
    ``client``: a ``distributed.Client``; without one, dask's threaded scheduler runs
    the blocks. ``progress(round, objective, n_changed)`` is called after each round.
    The returned ``labels`` is a dask array with X's row chunks.
    """
    t0 = perf_counter()
    if not _is_dask_array(X):
        raise FastclustError("X must be a dask.array.Array; for in-memory data use fastclust.kmeans")
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0 or any(math.isnan(s) for s in X.shape):
        raise FastclustError(f"X must be a non-empty 2-D dask array with known chunk sizes, got shape {X.shape}")
    check_choice(metric, "metric", METRICS)
    k = check_positive_int(k, "k")
    if max_iter is not None:
        max_iter = check_positive_int(max_iter, "max_iter")
    rng = as_generator(seed)
    runner = _Runner(X, client)

    if isinstance(init, str):
        check_choice(init, "init", ("k-means||", "k-means++"))
        if init == "k-means||":
            C = _init_kmeans_parallel(runner, k, metric, rng, oversampling, init_rounds)
        else:
            n = X.shape[0]
            take = np.sort(rng.choice(n, size=min(n, 100_000), replace=False))
            sample = np.asarray(
                X[take].compute() if client is None else client.compute(X[take]).result(), dtype=np.float64
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                C = kmeans_in_memory(sample, k, metric=metric, init="k-means++", seed=rng, max_iter=1).initial_centroids
    else:
        C = np.asarray(init, dtype=np.float64)
        if C.shape != (k, X.shape[1]) or not np.isfinite(C).all():
            raise FastclustError(f"init array must be finite with shape (k, d) = ({k}, {X.shape[1]}), got {C.shape}")
    C0 = C.copy()

    labels: list[Any] = [None] * len(runner.rows)
    remap: np.ndarray | None = None
    history: list[float] = []
    stop_reason = "max_iter"
    n_iter = 0
    best = math.inf
    stalled = 0
    while True:
        outs = runner.map(_block_assign, labels, C=C, remap=remap, metric=metric)
        new_labels = runner.part(outs, 0)
        stats = runner.gather(runner.part(outs, 1))
        counts = np.sum([s["counts"] for s in stats], axis=0)
        objective = float(sum(s["objective"] for s in stats))
        changed = int(sum(s["changed"] for s in stats))
        labels = new_labels
        if n_iter:
            history.append(objective)
            if progress is not None:
                progress(n_iter, objective, changed)
            if changed == 0:
                stop_reason = "converged"
                break
            # ties (L1) can keep labels moving at a constant objective: the core engine detects the
            # cycle by hashing labelings; here a run of rounds without a new minimum ends the fit
            stalled = 0 if objective < best else stalled + 1
            best = min(best, objective)
            if stalled >= 5:
                stop_reason = "stalled"
                break
            if max_iter is not None and n_iter >= max_iter:
                break
        keep = counts > 0
        if metric == "l2":
            sums = np.sum([s["sums"] for s in stats], axis=0)
            C = sums[keep] / counts[keep, None]
        else:
            lo = np.min([s["min"] for s in stats], axis=0)
            hi = np.max([s["max"] for s in stats], axis=0)
            C = _exact_medians(runner, labels, counts, lo, hi)[keep]
        remap = np.cumsum(keep) - 1
        remap[~keep] = -1
        n_iter += 1

    if stop_reason == "max_iter":
        warnings.warn(
            f"k-means stopped at max_iter={max_iter} before the labels stopped changing",
            ConvergenceWarning,
            stacklevel=2,
        )
    C, labels = _drop_empty(runner, C, labels, counts)  # only bites after max_iter/stall, as in the core
    import dask.array as da

    if client is None:
        label_array = da.concatenate([da.from_array(np.asarray(lab), chunks=(len(lab),)) for lab in labels])
    else:
        import dask

        label_array = da.concatenate(
            [
                da.from_delayed(dask.delayed(f), shape=(r,), dtype=np.int64)
                for f, r in zip(labels, runner.rows, strict=True)
            ]
        )
    return DaskKMeansResult(
        labels=label_array,
        centroids=np.ascontiguousarray(C, dtype=np.float64),
        k=int(C.shape[0]),
        n_iter=n_iter,
        objective=history[-1] if history else objective,
        history=np.asarray(history),
        converged=stop_reason == "converged",
        seconds=perf_counter() - t0,
        metric=metric,
        backend="dask",
        init=init if isinstance(init, str) else "array",
        stop_reason=stop_reason,
        initial_centroids=C0,
    )
