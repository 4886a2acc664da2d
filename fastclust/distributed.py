"""k-means and exact k-medians over chunked dask arrays, on a dask cluster or the local threads.

:func:`kmeans` is the in-memory engine's Lloyd loop (:mod:`fastclust._lloyd`) run over
:class:`DaskRows`, the Dask implementation of its data access: the same stop rule,
the same empty-cluster policies, the same initialisers (:mod:`fastclust.seeding`).
Nothing here schedules work itself: every pass is one task per worker thread (via
``distributed.Client`` futures), or one per block on dask's default threaded
scheduler, and only small per-cluster summaries come back to the client. The
centres (``k x d``) are the only thing sent out each round, never the data.
Labels stay next to their blocks (:class:`DaskLabels`).

The blocks are *pieces* of ``X``'s chunks: a chunk of more than
:data:`PIECE_ROWS` rows is cut into equal pieces (:func:`_pieces_of`), by the
chunk sizes alone. Each piece is checked and converted once per fit (finite
values, with the global row of the first bad one; float64, or float32 where
BLAS pays; an exact power-of-two rescaling when the data is extreme, see
:mod:`fastclust._scale`; the BLAS path's row norms), then assigned every round
with the in-memory engine's assignment: the bounded loops, or for wide data its
fused BLAS pass, which returns the piece's cluster sums with its labels.

Each fit places the pieces once (:func:`_balanced_placement`): rows in
proportion to each worker's threads, moving as few pieces as that allows (a
piece that moves is cut from its chunk where the chunk is, so only the piece
travels). A worker's pieces are dealt into one group per thread, and a round is
one task per group, which runs its pieces in order, plus one per group that
hands their small summaries to the client; the pieces' labels and distances
stay on their worker. Tasks run
single-threaded (dask's workers are the parallelism, see :mod:`fastclust._threads`).
Left to itself, dask's scheduler put 4 of 5 blocks on one of two workers after
a few passes (its work stealing copies blocks), and every round then waited for
that worker; 5 chunks of 100,000 rows, cut in two, now spread 5 and 5. The
pieces do not depend on the cluster or on where the chunks are, and their
summaries are added up in piece order, so neither does the result.

Exactness:

- L2: each piece returns per-cluster sums and counts. Summed on the client, they
  give the same means as in memory, up to the order of summation (a last-bit
  difference, which the float32 products of wide data never see). Labels come out
  identical to :func:`fastclust.kmeans` from the same initialisation unless a point
  sits within rounding of a tie.
- L1: the coordinate-wise median is found **exactly**, by distributed selection.
  Each pass histograms, for every (cluster, feature), the values that fall
  inside a shrinking interval known to hold the wanted order statistic, and
  counts the values below it. Once an interval holds few values (or a single
  distinct one) they are gathered and the median is read off. This costs a few
  passes per round and moves only histograms and a few values. The result is
  the same mid-point median as the in-memory k-medians.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Callable
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from time import monotonic, perf_counter
from typing import Any

import numpy as np

from . import _lloyd, _threads, seeding
from ._backends import resolve_backend
from ._lloyd import EMPTY_POLICIES, Step
from ._memory import Assigner, Block, InMemoryRows, blocked_sums, largest_magnitude, make_block, working_dtype
from ._scale import Scale
from ._validation import (
    as_generator,
    check_centres,
    check_choice,
    check_finite_number,
    check_positive_int,
)
from .errors import ConvergenceWarning, FastclustError
from .metrics import Metric, get_metric
from .seeding import INITS

__all__ = ["DaskKMeansResult", "DaskLabels", "DaskRows", "initial_centroids", "kmeans"]
from ._repr import short_repr

_BINS = 256
_GATHER_MAX = 2048  # values per (target, cluster, feature) small enough to gather
_SELECT_ROUNDS = 12
#: Seconds a fit waits, by default, with no live worker before it gives up.
WORKER_TIMEOUT = 60.0


def _is_dask_array(X: Any) -> bool:
    try:
        import dask.array as da
    except ImportError:
        return False
    return isinstance(X, da.Array)


# ---------------------------------------------------------------------------------------------
# block tasks (run next to their blocks; module-level so they pickle)
# ---------------------------------------------------------------------------------------------


def _inspect(block: np.ndarray, offset: int) -> dict[str, Any]:
    """One block's validation summary: non-finite values (first one in global coordinates) and its largest |x|."""
    X = np.asarray(block)
    if X.size == 0:
        return {"n_bad": 0, "largest": 0.0}
    top, bottom = float(X.max()), float(X.min())
    if math.isfinite(top) and math.isfinite(bottom):  # max and min propagate NaN: every value is finite
        return {"n_bad": 0, "largest": max(abs(top), abs(bottom))}
    bad = ~np.isfinite(X)
    row, col = (int(i) for i in np.argwhere(bad)[0])
    return {"n_bad": int(bad.sum()), "largest": 0.0, "first": (offset + row, col), "n_nan": int(np.isnan(X).sum())}


def _prepare(block: np.ndarray, exponent: int, metric: Metric) -> Block:
    """A raw block as the fit's :class:`~fastclust._memory.Block`: working dtype, rescaled, assignment precomputed."""
    X = np.asarray(block)
    X = X.astype(working_dtype(X, metric), copy=False)
    if exponent:
        with np.errstate(under="ignore"):
            X = np.ldexp(X, -exponent).astype(X.dtype, copy=False)
    return make_block(X, None, metric)


def _task(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Every block task runs through this: one thread per task (:func:`fastclust._threads.task_scope`)."""
    with _threads.task_scope():
        return fn(*args, **kwargs)


def _summary(block: Block, labels: np.ndarray, k: int, metric: Metric, ops: Any) -> dict[str, Any]:
    """Per-cluster counts and what the centre update needs: sums (means) or value ranges (medians)."""
    X = block.X
    stats: dict[str, Any] = {"counts": np.bincount(labels, minlength=k)}
    if metric.centre == "mean":
        ones = np.ones(X.shape[0])
        # the wide path sums in its fused pass's order (see fastclust._memory.blocked_sums)
        wide = block.sq_norms is not None
        stats["sums"] = blocked_sums(ops, X, ones, labels, k) if wide else ops.cluster_sums(X, ones, labels, k)
    else:
        lo = np.full((k, X.shape[1]), np.inf)
        hi = np.full((k, X.shape[1]), -np.inf)
        np.minimum.at(lo, labels, X)
        np.maximum.at(hi, labels, X)
        stats["min"], stats["max"] = lo, hi
    return stats


State = tuple[np.ndarray, np.ndarray, "np.ndarray | None", "dict[str, Any] | None"]
"""A block's assignment state, kept next to it: (labels, distance to own centre, lower bounds or None,
the summary of the pass that made it or None). The client fetches only the summary (``part(states, 3)``)."""


def _assign(
    block: Block,
    state: State | None,
    *,
    C: np.ndarray,
    drift: np.ndarray | None,
    remap: np.ndarray | None,
    metric: Metric,
) -> State:
    """One assignment pass on one block, bounded by the previous pass's state; returns the new state."""
    name, ops = resolve_backend("auto")  # each worker uses what it has
    assigner = Assigner(ops, name, block, metric)
    prev, lower = (None, None) if state is None else (state[0], state[2])
    if prev is not None and remap is not None:
        prev = remap[prev]  # clusters dropped since: renumbered like the centres
    k = C.shape[0]
    if assigner.wide:  # one fused pass: the sums come with the labels
        labels, dist, sums = assigner.assign_wide(C, True, prev)  # the previous labels: hints
        lower = None
        stats: dict[str, Any] = {"counts": np.bincount(labels, minlength=k), "sums": sums}
    else:
        if prev is None or lower is None or drift is None:
            labels, dist, lower = assigner(C)
        else:
            labels, dist, lower = assigner(C, prev, lower, drift)
        stats = _summary(block, labels, k, metric, ops)
    stats["objective"] = float(dist.sum())
    stats["changed"] = labels.shape[0] if prev is None else int(np.count_nonzero(labels != prev))
    return labels, dist, lower, stats


def _relabel(block: Block, state: State, samples: np.ndarray, clusters: np.ndarray, *, k: int, metric: Metric) -> State:
    """Move ``samples`` (block-local) to ``clusters``; the bounds no longer hold."""
    labels = state[0].copy()
    labels[samples] = clusters
    _, ops = resolve_backend("auto")
    return labels, state[1], None, _summary(block, labels, k, metric, ops)


def _farthest(state: State, *, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The block's ``m`` largest distances to own centre, positive ones only: (distances, block-local indices)."""
    dist = state[1]
    idx = np.argsort(-dist, kind="stable")[:m]
    idx = idx[dist[idx] > 0.0]
    return dist[idx], idx


def _renumber(state: State, *, table: np.ndarray) -> State:
    return table[state[0]], state[1], state[2], None


def _digest(state: State) -> bytes:
    return hashlib.blake2b(state[0].tobytes(), digest_size=16).digest()


def _take(block: Block, rows: np.ndarray) -> np.ndarray:
    return np.asarray(block.X[rows], dtype=np.float64)


def _select(
    block: Block, state: State, *, lo: np.ndarray, hi: np.ndarray, bins: int, gather: np.ndarray
) -> dict[str, np.ndarray]:
    """One selection pass: for targets t (lower, upper middle), per (cluster, feature).

    Counts values below ``lo[t, j, f]``, histograms those inside ``[lo, hi]`` into
    ``bins`` equal bins, and for the (t, j, f) flagged in ``gather`` returns the
    values inside the interval themselves.
    """
    X = block.X
    labels = state[0]
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


# ---------------------------------------------------------------------------------------------
# running block tasks: futures on a distributed.Client, or dask.compute on local threads
# ---------------------------------------------------------------------------------------------

#: What a cluster that lost workers or data raises while results are gathered.
_CLUSTER_FAILURES: tuple[type[BaseException], ...] = (CancelledError, OSError, TimeoutError)


def _cluster_failures() -> tuple[type[BaseException], ...]:
    try:
        from distributed.scheduler import KilledWorker
    except ImportError:  # pragma: no cover - the client path needs distributed
        return _CLUSTER_FAILURES
    return (*_CLUSTER_FAILURES, KilledWorker)


def _live_workers(client: Any) -> int:
    try:
        return len(client.nthreads())
    except (OSError, TimeoutError):  # the scheduler itself is unreachable
        return 0


def _wait(client: Any, handles: list[Any], worker_timeout: float, what: str) -> None:
    """Wait for ``handles``, bounded: a FastclustError once no worker has been alive for ``worker_timeout`` s.

    Tasks waiting for a worker wait forever in dask; this polls the futures and the
    scheduler's worker list instead of blocking in one ``wait``.
    """
    from distributed import wait

    idle_since: float | None = None
    while True:
        try:
            wait(handles, timeout=min(1.0, worker_timeout))
            return
        except TimeoutError:
            pass
        if _live_workers(client):
            idle_since = None
        elif idle_since is None:
            idle_since = monotonic()
        elif monotonic() - idle_since >= worker_timeout:
            raise FastclustError(
                f"no dask worker has been alive for {worker_timeout:g} s (scheduler {client.scheduler.address}); "
                f"{what} was abandoned: start workers, or pass a larger worker_timeout"
            )


def _gather(client: Any, handles: list[Any], worker_timeout: float, what: str) -> list[Any]:
    """``client.gather(handles)``, bounded as :func:`_wait` is; a FastclustError if the cluster lost them."""
    _wait(client, handles, worker_timeout, what)
    try:
        return client.gather(handles)
    except _cluster_failures() as exc:  # a worker lost data it could not recompute, or the cluster restarted
        raise FastclustError(
            f"the dask cluster failed during {what} ({type(exc).__name__}: {exc}); nothing was returned"
        ) from exc


def _balanced_placement(rows: list[int], holders: list[list[str]], threads: dict[str, int]) -> list[str]:
    """A worker for each block: rows in proportion to each worker's threads, moving as few blocks as that allows.

    Dask places a block's tasks by where its data is and by guessed occupancy, and
    its work stealing copies blocks between workers; either can leave one worker
    with most of the blocks, and then every round waits for it. So a fit decides
    once: first every block stays on a worker that holds it while that worker
    stays within its share (blocks with fewer holders first, then the largest),
    then each remaining block, largest first, goes to the worker that would
    finish its share soonest, a holder on ties. Blocks are never split, so a
    fit's arithmetic does not depend on where they are.

    Parameters
    ----------
    rows : list of int
        Rows per block.
    holders : list of list of str
        For each block, the workers that hold it (may be empty).
    threads : dict
        Worker address to its number of threads (at least one worker).

    Returns
    -------
    list of str, one worker address per block.
    """
    total, slots = sum(rows), sum(threads.values())
    load = dict.fromkeys(threads, 0)
    where: list[str | None] = [None] * len(rows)
    live = [[w for w in dict.fromkeys(h) if w in load] for h in holders]
    # keep what fits where it already is, blocks with fewer choices first; in integers, so a share is
    # never missed by rounding
    for b in sorted(range(len(rows)), key=lambda b: (len(live[b]) or len(load) + 1, -rows[b], b)):
        fits = [w for w in live[b] if (load[w] + rows[b]) * slots <= total * threads[w]]
        if fits:
            w = min(fits, key=lambda w: (load[w] / threads[w], w))
            where[b], load[w] = w, load[w] + rows[b]
    for b in sorted(range(len(rows)), key=lambda b: (-rows[b], b)):  # the rest: largest first
        if where[b] is None:
            w = min(threads, key=lambda w: ((load[w] + rows[b]) / threads[w], w not in holders[b], w))
            where[b], load[w] = w, load[w] + rows[b]
    return [str(w) for w in where]


def _pieces_of(rows: list[int], limit: int) -> list[tuple[int, int, int]]:
    """``(chunk, start, stop)`` of every piece: each chunk cut into the fewest near-equal pieces of at most ``limit`` rows.

    A function of the chunks alone, so a fit's arithmetic (k-means|| streams and
    cluster sums are per piece) never depends on the cluster or on placement.
    """
    out = []
    for c, r in enumerate(rows):
        m = max(1, -(-r // limit))
        edges = [r * i // m for i in range(m + 1)]
        out += [(c, edges[i], edges[i + 1]) for i in range(m)]
    return out


class _Ref:
    """A piece's result inside the list its worker's group task returned."""

    __slots__ = ("future", "pos")

    def __init__(self, future: Any, pos: int) -> None:
        self.future, self.pos = future, pos


class _Slot:
    """A :class:`_Ref` as a group task receives it: element ``pos`` of the task's ``sources[source]``."""

    __slots__ = ("pos", "source")

    def __init__(self, source: int, pos: int) -> None:
        self.source, self.pos = source, pos


def _slots(values: list[Any], sources: list[Any]) -> tuple[Any, ...]:
    """``values`` as a group task receives them: each :class:`_Ref` becomes a :class:`_Slot` into ``sources``,
    to which its future is added once (dask resolves futures inside the list it is handed)."""
    keys = [f.key for f in sources]
    out = []
    for value in values:
        if isinstance(value, _Ref):
            if value.future.key not in keys:
                keys.append(value.future.key)
                sources.append(value.future)
            value = _Slot(keys.index(value.future.key), value.pos)
        out.append(value)
    return tuple(out)


def _group_map(
    fn: Callable[..., Any], blocks: list[Block], sources: list[Any], args: list[tuple[Any, ...]], shared: dict[str, Any]
) -> list[Any]:
    """``fn(block, *args, **shared)`` for each piece of one worker's group, in order."""
    return [
        fn(block, *(sources[a.source][a.pos] if isinstance(a, _Slot) else a for a in piece), **shared)
        for block, piece in zip(blocks, args, strict=True)
    ]


def _group_apply(fn: Callable[..., Any], values: list[Any], positions: list[int], shared: dict[str, Any]) -> list[Any]:
    return [fn(values[i], **shared) for i in positions]


def _pick(values: list[Any], positions: list[int], index: int | None) -> list[Any]:
    return [values[i] if index is None else values[i][index] for i in positions]


def _prepare_pieces(
    raws: list[np.ndarray], spec: list[tuple[int, int, int]], exponent: int, metric: Metric
) -> list[Block]:
    """The pieces ``(raw index, start, stop)`` of a group, each prepared as :func:`_prepare` prepares a block."""
    return [_prepare(np.asarray(raws[i])[lo:hi], exponent, metric) for i, lo, hi in spec]


def _cut(chunk: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of a chunk, copied: what travels to a piece's worker when it does not hold the chunk."""
    return np.array(np.asarray(chunk)[start:stop])


def _thread_groups(where: list[str], rows: list[int], threads: dict[str, int]) -> list[tuple[str, list[int]]]:
    """The pieces on each worker dealt into one group per thread (largest first, to the lightest group), each
    group's pieces in order: a pass is one single-threaded task per group, so every thread has one."""
    groups: list[tuple[str, list[int]]] = []
    for worker in dict.fromkeys(where):
        mine = [p for p, w in enumerate(where) if w == worker]
        bins: list[list[int]] = [[] for _ in range(min(threads.get(worker, 1), len(mine)))]
        load = [0] * len(bins)
        for p in sorted(mine, key=lambda p: (-rows[p], p)):
            i = load.index(min(load))
            bins[i].append(p)
            load[i] += rows[p]
        groups += [(worker, sorted(b)) for b in bins]
    return groups


def _join_labels(sources: list[Any], slots: tuple[_Slot, ...]) -> np.ndarray:
    """One chunk's labels from its pieces' states."""
    return np.concatenate([sources[s.source][s.pos][0] for s in slots])


def _on_threads(fn: Callable[..., Any], args: list[tuple[Any, ...]], shared: dict[str, Any] | None = None) -> list[Any]:
    """``fn(*args[i], **shared)`` for every ``i`` as tasks of dask's threaded scheduler (never a default
    ``distributed.Client`` that happens to exist), each single-threaded."""
    import dask

    tasks = [dask.delayed(_task)(fn, *a, **(shared or {})) for a in args]
    return list(dask.compute(*tasks, scheduler="threads"))


#: Rows per piece: a fit cuts every chunk into pieces of at most this many rows (:func:`_pieces_of`).
PIECE_ROWS = 65_536


class DaskRows:
    """The Lloyd loop's data access (:class:`fastclust._lloyd.Rows`) over the row blocks of a dask array.

    The blocks are *pieces* of ``X``'s chunks (:func:`_pieces_of`): chunks of more
    than :data:`PIECE_ROWS` rows are cut into equal pieces, so that a fit can
    spread rows evenly over the workers (:func:`_balanced_placement`) however the
    chunks fall; every piece is a block for the Lloyd loop and for k-means||.
    With a client, each worker's pieces are dealt into one group per thread
    (:func:`_thread_groups`): each pass is one task per group, which runs the
    pieces in order and returns their results as a list (a task per piece would
    cost the scheduler a task and the round a hop for each). The prepared pieces
    and their assignment states (labels,
    distances, bounds) stay on their worker; the client keeps only per-cluster
    summaries. Also implements :class:`fastclust.seeding.Blocks`, so the
    initialisers run over the same pieces. On local threads every piece is a task.
    """

    def __init__(
        self, X: Any, client: Any, metric: Metric, *, worker_timeout: float, extra: np.ndarray | None = None
    ) -> None:
        self.client = client
        self.metric = metric
        self.backend = "auto"  # resolved on each worker: workers need not all have numba
        self.worker_timeout = worker_timeout
        self.chunks = [int(c) for c in X.chunks[0]]
        self.pieces = _pieces_of(self.chunks, PIECE_ROWS)
        self.rows = [hi - lo for _, lo, hi in self.pieces]
        self._of_chunk: list[list[int]] = [[] for _ in self.chunks]  # each chunk's pieces, in order
        for p, (c, _, _) in enumerate(self.pieces):
            self._of_chunk[c].append(p)
        self._n_features = int(X.shape[1])
        self.offsets = np.concatenate([[0], np.cumsum(self.rows)]).astype(np.int64)
        chunk_offsets = np.concatenate([[0], np.cumsum(self.chunks)]).astype(np.int64)
        if X.numblocks[1] != 1:
            X = X.rechunk({1: -1})  # tasks need whole rows
        import dask

        self.where: list[str] | None = None  # with a client: the worker each piece's tasks run on
        self.groups: list[tuple[str, list[int]]] = []  # with a client: (worker, pieces in order), one per thread
        if client is not None:
            raw = client.compute(list(X.to_delayed().ravel()))  # futures: blocks stay on workers
            self.where, holders, threads = self._place(raw)
            self.groups = _thread_groups(self.where, self.rows, threads)
            # where a chunk is checked, and cut for pieces going elsewhere: a worker that holds it
            home = [hs[0] if hs else self.where[self._of_chunk[c][0]] for c, hs in enumerate(holders)]
            inspected = [
                self._submit(home[c], _inspect, raw[c], int(chunk_offsets[c])) for c in range(len(self.chunks))
            ]
            infos = self.gather(inspected)
        else:
            # scheduler="threads": never a default distributed.Client that happens to exist
            raw = [np.asarray(b) for b in dask.compute(*X.to_delayed().ravel(), scheduler="threads")]
            infos = _on_threads(_inspect, [(b, int(o)) for b, o in zip(raw, chunk_offsets[:-1], strict=True)])
        # Once per chunk per fit: check the values, then convert (and, if extreme, rescale) them.
        n_bad = sum(i["n_bad"] for i in infos)
        if n_bad:
            bad = next(i for i in infos if i["n_bad"])
            n_nan = sum(i.get("n_nan", 0) for i in infos)
            raise FastclustError(
                f"X contains {n_bad} non-finite value(s) ({n_nan} NaN, {n_bad - n_nan} inf); "
                f"the first is at row {bad['first'][0]}, column {bad['first'][1]}"
            )
        largest = max(i["largest"] for i in infos)
        if extra is not None:
            largest = max(largest, largest_magnitude(extra))
        self.scale = Scale.choose(largest, np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64))
        if client is not None:
            self.blocks: list[Any] = []  # one future per group: the list of its prepared pieces
            for worker, members in self.groups:
                sources: list[Any] = []
                spec = []
                for p in members:
                    c, lo, hi = self.pieces[p]
                    if worker in holders[c]:  # a view of the chunk the worker holds: no copy
                        sources.append(raw[c])
                        spec.append((len(sources) - 1, lo, hi))
                    else:  # cut where the chunk is, so only the piece travels and stays
                        sources.append(self._submit(home[c], _cut, raw[c], lo, hi))
                        spec.append((len(sources) - 1, 0, hi - lo))
                self.blocks.append(self._submit(worker, _prepare_pieces, sources, spec, self.scale.x, metric))
            del raw  # what the workers keep: the prepared pieces (views of held chunks, or copies of cut ones)
        else:
            self.blocks = _on_threads(_prepare, [(raw[c][lo:hi], self.scale.x, metric) for c, lo, hi in self.pieces])
        self.states: list[Any] = [None] * len(self.rows)
        self._remap: np.ndarray | None = None
        self._stats: dict[str, np.ndarray] = {}

    # --- tasks ------------------------------------------------------------------------------------

    @property
    def n_features(self) -> int:
        return self._n_features

    def _place(self, raw: list[Any]) -> tuple[list[str], list[list[str]], dict[str, int]]:
        """Where each piece's tasks run (:func:`_balanced_placement`), once the raw chunks exist; also the live
        workers holding each chunk, and every live worker's threads."""
        _wait(self.client, raw, self.worker_timeout, "the fit")
        who = self.client.who_has(raw)
        threads = {str(w): int(t) for w, t in self.client.nthreads().items()}
        if not threads:  # every worker left after the chunks were computed
            raise FastclustError(f"the dask cluster has no worker (scheduler {_address(self.client)})")
        holders = [[str(w) for w in who.get(f.key, ()) if str(w) in threads] for f in raw]
        return _balanced_placement(self.rows, [holders[c] for c, _, _ in self.pieces], threads), holders, threads

    def _submit(self, worker: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` as a single-threaded task on ``worker``.

        The restriction is loose: if that worker has left, the task runs elsewhere
        and dask recomputes what it needs from its lineage.
        """
        assert self.client is not None
        return self.client.submit(_task, fn, *args, workers=[worker], allow_other_workers=True, pure=False)

    def _by_future(self, handles: list[_Ref]) -> list[tuple[Any, list[int], list[int]]]:
        """The :class:`_Ref` handles grouped by the task result they point into: (future, pieces, positions)."""
        found: dict[Any, tuple[Any, list[int], list[int]]] = {}
        for p, h in enumerate(handles):
            entry = found.setdefault(h.future.key, (h.future, [], []))
            entry[1].append(p)
            entry[2].append(h.pos)
        return list(found.values())

    def map(self, fn: Callable[..., Any], *per_block: list[Any], **shared: Any) -> list[Any]:
        """``fn(piece, *per_block[i], **shared)`` for every piece; results stay remote with a client."""
        if self.client is None:
            args = list(zip(self.blocks, *per_block, strict=True)) if per_block else [(b,) for b in self.blocks]
            return _on_threads(fn, args, shared)
        out: list[Any] = [None] * len(self.rows)
        for g, (worker, members) in enumerate(self.groups):
            sources: list[Any] = []
            args = [_slots([arg[p] for arg in per_block], sources) for p in members]
            future = self._submit(worker, _group_map, fn, self.blocks[g], sources, args, shared)
            for pos, p in enumerate(members):
                out[p] = _Ref(future, pos)
        return out

    def apply(self, fn: Callable[..., Any], handles: list[Any], **shared: Any) -> list[Any]:
        """``fn(handles[i], **shared)`` on per-piece results (not pieces); results stay remote with a client."""
        if self.client is None:
            return [fn(h, **shared) for h in handles]
        assert self.where is not None
        out: list[Any] = [None] * len(handles)
        for future, pieces, positions in self._by_future(handles):
            result = self._submit(self.where[pieces[0]], _group_apply, fn, future, positions, shared)
            for j, p in enumerate(pieces):
                out[p] = _Ref(result, j)
        return out

    def collect(self, handles: list[Any], index: int | None) -> list[Any]:
        """Item ``index`` (None: the whole result) of every per-piece result, brought to this process.

        One small task per group picks the items out, so only they travel.
        """
        if self.client is None:
            return [h if index is None else h[index] for h in handles]
        assert self.where is not None
        groups = self._by_future(handles)
        picks = [
            self._submit(self.where[pieces[0]], _pick, future, positions, index) for future, pieces, positions in groups
        ]
        out: list[Any] = [None] * len(handles)
        for (_, pieces, _), values in zip(groups, self.gather(picks), strict=True):
            for p, value in zip(pieces, values, strict=True):
                out[p] = value
        return out

    def gather(self, handles: list[Any]) -> list[Any]:
        """Results brought to this process: per-piece results of :meth:`map` and :meth:`apply`, or futures."""
        if self.client is None:
            return handles
        if handles and isinstance(handles[0], _Ref):
            return self.collect(handles, None)
        return _gather(self.client, handles, self.worker_timeout, "the fit")

    def block_weights(self) -> list[np.ndarray] | None:
        return None  # unit weights

    def take(self, indices: np.ndarray) -> np.ndarray:
        """Rows at sorted global ``indices``, float64, fetched from the pieces that hold them."""
        which = np.searchsorted(self.offsets, indices, side="right") - 1
        local = [indices[which == p] - self.offsets[p] for p in range(len(self.rows))]
        return np.vstack(self.gather(self.map(_take, local)))

    def sample(self, rng: np.random.Generator) -> InMemoryRows:
        """A uniform sample of at most :data:`~fastclust.seeding.SAMPLE_ROWS` rows, brought to this process."""
        n = int(self.offsets[-1])
        take = np.sort(rng.choice(n, size=min(n, seeding.SAMPLE_ROWS), replace=False))
        sample = self.take(take)
        return InMemoryRows(make_block(sample, np.ones(sample.shape[0]), self.metric), self.metric, "auto")

    # --- the Lloyd loop's interface ---------------------------------------------------------------

    def _keep_stats(self, stats: list[dict[str, Any]]) -> None:
        self._stats = {"counts": np.sum([s["counts"] for s in stats], axis=0)}
        if self.metric.centre == "mean":
            self._stats["sums"] = np.sum([s["sums"] for s in stats], axis=0)
        else:
            self._stats["min"] = np.min([s["min"] for s in stats], axis=0)
            self._stats["max"] = np.max([s["max"] for s in stats], axis=0)

    def assign(self, C: np.ndarray, drift: np.ndarray | None) -> Step:
        self.states = self.map(_assign, self.states, C=C, drift=drift, remap=self._remap, metric=self.metric)
        self._remap = None
        stats = self.collect(self.states, 3)
        self._keep_stats(stats)
        return Step(float(sum(s["objective"] for s in stats)), int(sum(s["changed"] for s in stats)))

    def weights(self, k: int) -> np.ndarray:
        return self._stats["counts"].astype(np.float64)

    def update(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert self._remap is None
        weight = self.weights(k)
        if self.metric.centre == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 marks an empty cluster as NaN
                return self._stats["sums"] / weight[:, None], weight
        return _exact_medians(self, self._stats["counts"], self._stats["min"], self._stats["max"]), weight

    def farthest(self, m: int) -> np.ndarray:
        parts = self.gather(self.apply(_farthest, self.states, m=m))
        dist = np.concatenate([p[0] for p in parts])
        idx = np.concatenate([p[1] + self.offsets[b] for b, p in enumerate(parts)])
        order = np.lexsort((idx, -dist))[:m]  # farthest first, ties to the lowest global index
        return idx[order].astype(np.int64)

    def relabel(self, samples: np.ndarray, clusters: np.ndarray) -> None:
        which = np.searchsorted(self.offsets, samples, side="right") - 1
        local = [samples[which == b] - self.offsets[b] for b in range(len(self.rows))]
        moved = [clusters[which == b] for b in range(len(self.rows))]
        k = self._stats["counts"].shape[0]
        self.states = self.map(_relabel, self.states, local, moved, k=k, metric=self.metric)
        self._keep_stats(self.collect(self.states, 3))

    def renumber(self, keep: np.ndarray) -> None:
        table = np.cumsum(keep) - 1
        table[~keep] = -1
        self._remap = table if self._remap is None else np.where(self._remap >= 0, table[self._remap], -1)
        self._stats = {name: values[keep] for name, values in self._stats.items()}

    def fingerprint(self) -> bytes:
        return hashlib.blake2b(b"".join(self.gather(self.apply(_digest, self.states))), digest_size=16).digest()

    def labels(self) -> DaskLabels:
        """The final labels (pending renumbering applied), one array per chunk of ``X``, left where they are."""
        states = self.states
        if self._remap is not None:
            states = self.apply(_renumber, states, table=self._remap)
            self._remap = None
        if self.client is None:
            parts = [np.concatenate([states[p][0] for p in pieces]) for pieces in self._of_chunk]
        else:
            assert self.where is not None
            parts = []
            for pieces in self._of_chunk:
                sources: list[Any] = []
                slots = _slots([states[p] for p in pieces], sources)
                parts.append(self._submit(self.where[pieces[0]], _join_labels, sources, slots))
        return DaskLabels(parts, self.chunks, self.client, self.worker_timeout)


# ---------------------------------------------------------------------------------------------
# exact distributed medians
# ---------------------------------------------------------------------------------------------


def _exact_medians(rows: DaskRows, counts: np.ndarray, lo0: np.ndarray, hi0: np.ndarray) -> np.ndarray:
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
        parts = rows.gather(rows.map(_select, rows.states, lo=lo, hi=hi, bins=_BINS, gather=gather & ~done))
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
# results
# ---------------------------------------------------------------------------------------------


class DaskLabels:
    """The labels of a Dask fit, left where they were computed: one int64 block per row block of ``X``.

    Not an ndarray (so it cannot be mistaken for one): :meth:`compute` brings the
    labels to this process, :meth:`to_dask` gives a dask array with ``X``'s row
    chunks to keep working lazily (``to_zarr``, ``map_blocks``...). With a
    ``distributed.Client`` the blocks live on its workers for as long as the
    client is open: read them, or store what you build from them, before closing
    it; afterwards both methods raise a :class:`~fastclust.FastclustError` that says
    so. Without a client they are already in this process and always readable.
    """

    def __init__(self, parts: list[Any], rows: list[int], client: Any, worker_timeout: float = WORKER_TIMEOUT) -> None:
        self._parts = parts
        self._rows = list(rows)
        self._client = client
        self._worker_timeout = worker_timeout
        self.where = "this process" if client is None else f"the workers of the dask cluster at {_address(client)}"

    @property
    def shape(self) -> tuple[int]:
        return (sum(self._rows),)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.int64)

    @property
    def ndim(self) -> int:
        return 1

    @property
    def chunks(self) -> tuple[tuple[int, ...]]:
        return (tuple(self._rows),)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"DaskLabels(shape={self.shape}, blocks={len(self._rows)}, on {self.where})"

    def _check_open(self, what: str) -> None:
        if self._client is not None and self._client.status != "running":
            raise FastclustError(
                f"cannot {what}: the labels lived on {self.where}, and that client is now {self._client.status}; "
                "read them with result.labels.compute() (or store result.labels.to_dask()) before closing the client"
            )

    def compute(self) -> np.ndarray:
        """All labels as one ``(n,) int64`` array in this process."""
        self._check_open("compute the labels")
        parts = (
            self._parts
            if self._client is None
            else _gather(self._client, self._parts, self._worker_timeout, "reading the labels")
        )
        return np.concatenate([np.asarray(p, dtype=np.int64) for p in parts])

    def to_dask(self) -> Any:
        """The labels as a dask array with ``X``'s row chunks, still where they are."""
        import dask
        import dask.array as da

        self._check_open("build a dask array of the labels")
        if self._client is None:
            out = da.concatenate([da.from_array(np.asarray(p), chunks=(len(p),)) for p in self._parts])
        else:
            out = da.concatenate(
                [
                    da.from_delayed(dask.delayed(f), shape=(r,), dtype=np.int64)
                    for f, r in zip(self._parts, self._rows, strict=True)
                ]
            )
        if 0 in self._rows:  # concatenate drops empty blocks; X's chunks keep them
            out = out.rechunk((tuple(self._rows),))
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.compute()
        return out if dtype is None else out.astype(dtype)


def _address(client: Any) -> str:
    try:
        return str(client.scheduler.address)
    except AttributeError:  # pragma: no cover - a client-like object
        return repr(client)


@short_repr
@dataclass
class DaskKMeansResult:
    """What :func:`kmeans` returns: :class:`~fastclust.KMeansResult`'s fields, with lazy labels.

    ``labels`` is a :class:`DaskLabels` (``.compute()`` for an ndarray,
    ``.to_dask()`` for a dask array), not an ndarray; everything else is small
    and already in this process.
    """

    labels: DaskLabels
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
# the drivers
# ---------------------------------------------------------------------------------------------


def _check_dask_data(X: Any) -> None:
    if not _is_dask_array(X):
        raise FastclustError("X must be a dask.array.Array; for in-memory data use fastclust.kmeans")
    if X.ndim != 2 or any(math.isnan(s) for s in X.shape) or X.shape[0] == 0 or X.shape[1] == 0:
        raise FastclustError(f"X must be a non-empty 2-D dask array with known chunk sizes, got shape {X.shape}")
    if isinstance(getattr(X, "_meta", None), np.ma.MaskedArray):
        raise FastclustError("X is a masked dask array: fastclust would ignore its mask; fill or drop the masked rows")
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
        raise FastclustError(f"X must be numeric, got dtype {X.dtype}")
    if np.issubdtype(X.dtype, np.complexfloating):
        raise FastclustError(f"X must be real, got complex dtype {X.dtype}")


# _one_blas_thread: a fit holds BLAS to one thread in this process (``_threads.session(1)``). The
# threaded scheduler, and an in-process cluster, run block tasks here, several at once, each one
# thread (fastclust._threads.task_scope); worker processes start with one BLAS thread (dask sets
# OPENBLAS_NUM_THREADS=1 and friends for them).


def _checked_options(
    X: Any, k: Any, metric: str, oversampling: Any, init_rounds: Any, worker_timeout: Any
) -> tuple[Metric, int, float, int, float]:
    """The checks :func:`kmeans` and :func:`initial_centroids` share: ``(metric, k, oversampling,
    init_rounds, worker_timeout)``, validated (a FastclustError naming the argument otherwise)."""
    _check_dask_data(X)
    return (
        get_metric(metric),
        check_positive_int(k, "k"),
        check_finite_number(oversampling, "oversampling"),
        check_positive_int(init_rounds, "init_rounds"),
        check_finite_number(worker_timeout, "worker_timeout"),
    )


def _rows_and_start(
    X: Any,
    k: int,
    metric: Metric,
    init: Any,
    rng: np.random.Generator,
    client: Any,
    oversampling: float,
    init_rounds: int,
    worker_timeout: float,
) -> tuple[DaskRows, np.ndarray, bool]:
    """The prepared rows and the starting centres (fit units); True when only fewer than ``k`` were found."""
    init_array = None
    if isinstance(init, str):
        check_choice(init, "init", INITS)
    else:
        init_array = check_centres(init, k, X.shape[1])
    rows = DaskRows(X, client, metric, worker_timeout=worker_timeout, extra=init_array)
    if init_array is not None:
        return rows, rows.scale.data(init_array, "init"), False
    C = seeding.choose(rows, k, init, rng, oversampling=oversampling, rounds=init_rounds)
    return rows, C, C.shape[0] < k


def _shrink_warning(rows: DaskRows, init: str, m: int, k: int) -> str:
    sampled = init != "k-means||" and rows.offsets[-1] > seeding.SAMPLE_ROWS
    return seeding.shrink_message(m, k, f"the {seeding.SAMPLE_ROWS:,}-row sample of X" if sampled else "X")


def kmeans(
    X: Any,
    k: int,
    *,
    metric: str = "l2",
    init: Any = "k-means||",
    seed: Any = None,
    max_iter: int | None = None,
    empty: str = "drop",
    client: Any = None,
    progress: Callable[[int, float, int], None] | None = None,
    oversampling: float = 0.5,
    init_rounds: int = 5,
    worker_timeout: float = WORKER_TIMEOUT,
) -> DaskKMeansResult:
    """k-means (L2) or exact k-medians (L1) of a dask array: the in-memory engine's loop, one pass over the blocks per round.

    The stop rule, the empty-cluster policies and the warnings are
    :func:`fastclust.kmeans`'s: stop when a round changes no label, or when a
    labeling repeats without a new minimum (``"stalled"``), or at ``max_iter`` with
    a :class:`~fastclust.ConvergenceWarning`; a :class:`UserWarning` when fewer than
    ``k`` starting centres exist.

    Parameters
    ----------
    X : dask.array.Array, shape (n, d)
        Numeric, real, finite, with known chunk sizes; chunked by rows (column
        chunks are merged). Non-finite values raise a FastclustError naming the
        global row and column of the first one.
    k : int
    metric : {"l2", "l1"}
    init : {"k-means||", "k-means++", "random", "random-uniform"} or array (k, d)
        ``"k-means||"`` (default) takes ``init_rounds`` passes over the blocks;
        the other three run on a uniform sample of at most 100,000 rows brought to
        the client. See :func:`initial_centroids`.
    seed : None, int or numpy.random.Generator
    max_iter : int, optional
    empty : {"drop", "reseed", "error"}
        As for :func:`fastclust.kmeans`.
    client : distributed.Client, optional
        Without one, dask's threaded scheduler runs the blocks in this process.
    progress : callable, optional
        ``progress(round, objective, n_changed)`` after each round.
    oversampling : float > 0
        k-means|| candidates per pass, as a multiple of ``k``. When the passes
        find fewer than ``k`` candidates, more passes sample the rest.
    init_rounds : int >= 1
        k-means|| sampling passes.
    worker_timeout : float > 0
        With a client: seconds to wait with no live worker before giving up
        with a FastclustError (tasks would otherwise wait forever).

    Returns
    -------
    DaskKMeansResult
        ``labels`` is a :class:`DaskLabels` aligned with ``X``'s row chunks.
    """
    t0 = perf_counter()
    m, k, oversampling, init_rounds, worker_timeout = _checked_options(
        X, k, metric, oversampling, init_rounds, worker_timeout
    )
    check_choice(empty, "empty", EMPTY_POLICIES)
    if max_iter is not None:
        max_iter = check_positive_int(max_iter, "max_iter")
    rng = as_generator(seed)
    with _threads.session(1):  # see _one_blas_thread
        rows, C, shrunk = _rows_and_start(X, k, m, init, rng, client, oversampling, init_rounds, worker_timeout)
        if shrunk:
            warnings.warn(_shrink_warning(rows, init, C.shape[0], k), stacklevel=2)
        C0 = C.copy()
        report = None
        if progress is not None:
            shift = m.power * rows.scale.x + rows.scale.w

            def report(i: int, objective: float, changed: int) -> None:
                with np.errstate(over="ignore"):  # a progress report may say inf; the result would raise
                    progress(i, float(np.ldexp(objective, shift)), changed)

        out = _lloyd.run(rows, C, m, empty=empty, max_iter=max_iter, progress=report)
        if out.stop_reason == "max_iter":
            warnings.warn(
                f"k-means stopped at max_iter={max_iter} before the labels stopped changing",
                ConvergenceWarning,
                stacklevel=2,
            )
    history = rows.scale.objective(np.asarray(out.history), m.power)
    return DaskKMeansResult(
        labels=rows.labels(),
        centroids=np.ascontiguousarray(rows.scale.centres(out.centres), dtype=np.float64),
        k=int(out.centres.shape[0]),
        n_iter=out.n_iter,
        objective=float(history[-1]),
        history=history,
        converged=out.stop_reason == "converged",
        seconds=perf_counter() - t0,
        metric=m.name,
        backend="dask",
        init=init if isinstance(init, str) else "array",
        stop_reason=out.stop_reason,
        initial_centroids=rows.scale.centres(C0),
    )


def initial_centroids(
    X: Any,
    k: int,
    *,
    init: str = "k-means||",
    metric: str = "l2",
    seed: Any = None,
    client: Any = None,
    oversampling: float = 0.5,
    init_rounds: int = 5,
    worker_timeout: float = WORKER_TIMEOUT,
) -> np.ndarray:
    """The centres :func:`kmeans` starts from for the same arguments, without running a round: ``(m, d)``, ``m <= k``."""
    m, k, oversampling, init_rounds, worker_timeout = _checked_options(
        X, k, metric, oversampling, init_rounds, worker_timeout
    )
    check_choice(init, "init", INITS)  # names only: an array start needs no computing
    rng = as_generator(seed)
    with _threads.session(1):  # see _one_blas_thread
        rows, C, shrunk = _rows_and_start(X, k, m, init, rng, client, oversampling, init_rounds, worker_timeout)
    if shrunk:
        warnings.warn(_shrink_warning(rows, init, C.shape[0], k), stacklevel=2)
    return rows.scale.centres(C)
