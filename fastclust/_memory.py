"""Rows in this process's memory: assignment, centre updates and the Lloyd loop's data access.

:class:`InMemoryRows` is one of the two implementations of the data access the
Lloyd loop (:mod:`fastclust._lloyd`) and the initialisers (:mod:`fastclust.seeding`)
are written against; the other, over Dask blocks, lives in
:mod:`fastclust.distributed` and runs the same :class:`Block` code on the workers.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from . import _threads
from ._backends import resolve_backend
from ._lloyd import Step
from ._scale import Scale
from .metrics import Metric

__all__ = [
    "Assigner",
    "Block",
    "InMemoryRows",
    "column_order",
    "distance_matrix",
    "in_memory_rows",
    "largest_magnitude",
    "make_block",
    "nearest",
    "product_centres",
    "uses_blas",
]

#: From this many features and rows on, L2 assignment uses chunked BLAS products instead of
#: direct loops (below that many rows, per-call overhead outweighs what BLAS saves).
WIDE_MIN_FEATURES = 16
WIDE_MIN_ROWS = 4096
#: Rows per BLAS chunk: the (chunk x k) products of one chunk stay in a core's cache. Every product
#: has this many rows (a short chunk is zero-padded): BLAS's bits can depend on a product's shape,
#: and at one shape the installed BLAS gives a row the same bits wherever it sits
#: (tests/test_kernels.py checks it), which the bounded path (:mod:`fastclust._widebounds`) relies on.
WIDE_CHUNK_ROWS = 256
#: The wide path splits its rows into blocks (:func:`wide_blocks`): the unit a thread takes from
#: the queue, and the unit of the cluster sums' order (sample order within a block, then the
#: blocks' sums added in block order, whatever the threads). Up to this many rows, one block:
#: such inputs are summed in plain sample order, bit for bit as before the fused pass
#: (tests/test_regression_labels.py pins fits of 4,500 rows).
WIDE_BLOCK_ROWS = 18 * WIDE_CHUNK_ROWS
#: Above that, at least this many blocks of one size (a multiple of the chunk) and at most
#: WIDE_BLOCK_ROWS rows each: enough blocks to share a pass evenly (8,000 MNIST rows: 4 of 2,048)
#: and to hand out dynamically (200,000 rows: 44), few enough that their per-block sums (k x d
#: each, added once per round) stay cheap.
WIDE_MIN_BLOCKS = 4
#: Rows per chunk of a distance matrix: temporaries stay O(chunk x k).
CHUNK_ROWS = 4096
#: A fused pass over ``n x d`` rows with ``k`` centres costs about as much as products with
#: ``k + WIDE_EXTRA_COLUMNS`` columns: the argmin, the cluster sums (one multiply-add per
#: feature and row) and the lower speed of narrow products (sgemm with k = 10 runs at a third
#: of its k = 200 rate). Fitted to single-threaded passes of 8000 x 784 (k = 10 ... 200) and
#: 200,000 x 64 (k = 256) on the reference machine, within 15 %.
WIDE_EXTRA_COLUMNS = 24


def uses_blas(n: int, d: int, metric: Metric) -> bool:
    """Whether L2 assignment of an ``(n, d)`` block goes through BLAS products (wide and tall enough)."""
    return metric.name == "l2" and d >= WIDE_MIN_FEATURES and n >= WIDE_MIN_ROWS


def largest_magnitude(A: np.ndarray) -> float:
    """``max |a|`` over ``A`` (0 when empty) without an ``|A|``-sized temporary."""
    if A.size == 0:
        return 0.0
    return max(abs(float(A.max())), abs(float(A.min())))


def working_dtype(X: np.ndarray, metric: Metric) -> np.dtype:
    """float32 only where it pays off (the BLAS path); float64 everywhere else."""
    if X.dtype == np.float32 and uses_blas(X.shape[0], X.shape[1], metric):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


class Block(NamedTuple):
    """One block of rows as assignment wants it, with what it precomputes once per fit.

    Plain arrays only, so a block pickles to a Dask worker and stays there.
    """

    X: np.ndarray
    """(n, d) float64, or float32 on the BLAS path; C-contiguous."""
    w: np.ndarray | None
    """(n,) float64 weights, or None for unit weights."""
    sq_norms: np.ndarray | None
    """|x|^2 in float64 when assignment uses BLAS products, else None."""
    margin: float
    """Absolute rounding slack for the assignment bounds (direct path)."""


def make_block(X: np.ndarray, w: np.ndarray | None, metric: Metric) -> Block:
    """A :class:`Block` of ``X`` (converted to its working dtype) and weights ``w``."""
    X = np.ascontiguousarray(X, dtype=working_dtype(X, metric))
    wide = uses_blas(X.shape[0], X.shape[1], metric)
    # |x|^2 in float64, so the BLAS form can report true squared distances.
    sq_norms = np.einsum("ij,ij->i", X, X, dtype=np.float64) if wide else None
    # Far above the rounding that accumulates, far below any real gap.
    margin = 0.0 if wide else 1e-9 * (largest_magnitude(X) + 1.0)
    return Block(X, w, sq_norms, margin)


def wide_blocks(n: int) -> list[int]:
    """Edges of the wide path's blocks over ``n`` rows: ``[0, n]`` up to :data:`WIDE_BLOCK_ROWS` rows, else
    ``max(WIDE_MIN_BLOCKS, ceil(n / WIDE_BLOCK_ROWS))`` blocks of one size (a multiple of
    :data:`WIDE_CHUNK_ROWS`), the last one shorter.

    A function of ``n`` alone: the sums' order never depends on the threads or the machine.
    """
    if n <= WIDE_BLOCK_ROWS:
        return [0, n]
    blocks = max(WIDE_MIN_BLOCKS, -(-n // WIDE_BLOCK_ROWS))
    size = WIDE_CHUNK_ROWS * -(-n // (WIDE_CHUNK_ROWS * blocks))
    return [*range(0, n, size), n]


def product_centres(C: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a wide pass multiplies by: ``(Cx, CT, half_norms)``, the centres rounded to the data's ``dtype``,
    transposed (C-contiguous), and ``|c|^2 / 2`` in that dtype. One place, so every pass rounds alike."""
    Cx = np.ascontiguousarray(C, dtype=dtype)
    return Cx, np.ascontiguousarray(Cx.T), 0.5 * np.einsum("ij,ij->i", Cx, Cx)


def blocked_sums(ops: ModuleType, X: np.ndarray, w: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Weighted cluster sums ``(k, d)`` in the wide path's order: in sample order within each of
    :func:`wide_blocks`, then block by block (what the fused pass of :meth:`Assigner.assign_wide` adds up)."""
    edges = wide_blocks(X.shape[0])
    sums = ops.cluster_sums(X[: edges[1]], w[: edges[1]], labels[: edges[1]], k)
    for s, e in zip(edges[1:-1], edges[2:], strict=True):
        sums += ops.cluster_sums(X[s:e], w[s:e], labels[s:e], k)
    return sums


class Assigner:
    """Nearest-centre assignment of one block: direct bounded loops, or chunked BLAS for wide L2 data.

    The wide (BLAS) path is one fused pass per round (:func:`~fastclust._kernels.assign_sums_blas`
    over the blocks of :func:`wide_blocks`): products, argmin, distances and cluster
    sums while each chunk is in cache. With the numba kernels, blocks are shared among
    threads by :mod:`fastclust._threads` (its rule decides how many); inside a Dask task
    (:func:`fastclust._threads.task_scope`) the pass stays in the calling thread and
    leaves BLAS's thread count alone.
    """

    def __init__(self, ops: ModuleType, backend: str, block: Block, metric: Metric) -> None:
        self.ops = ops
        self.block = block
        self.metric = metric
        self.wide = block.sq_norms is not None
        # A team needs the GIL-free compiled kernel; the numpy twin runs in the caller's thread (and
        # numpy's BLAS keeps its own threads), as does a Dask task.
        self.parallel = self.wide and backend == "numba" and not _threads.in_task()
        self.team: _threads.Team | None = None

    @contextmanager
    def session(self) -> Iterator[None]:
        """Hold a thread team and the BLAS limit over many passes (a fit): see :mod:`fastclust._threads`."""
        if not self.parallel or self.team is not None:
            yield
            return
        with _threads.session() as team:
            self.team = team
            try:
                yield
            finally:
                self.team = None

    def __call__(
        self,
        C: np.ndarray,
        labels: np.ndarray | None = None,
        lower: np.ndarray | None = None,
        drift: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Return ``(labels, min_dist, lower)``; ``min_dist`` in the metric's units (squared for L2).

        With the previous round's ``labels`` and ``lower`` bounds and the centres'
        ``drift`` since, direct assignment skips the samples whose centre provably
        stays nearest (same labels as a full scan). ``lower`` is None on the BLAS path.
        """
        X = self.block.X
        if self.wide:
            new_labels, min_dist, _ = self.assign_wide(C, with_sums=False)
            return new_labels, min_dist, None
        n, k = X.shape[0], C.shape[0]
        if labels is None or lower is None or drift is None:
            labels, lower, drift = np.zeros(n, dtype=np.int64), np.zeros(n), np.zeros(k)
        new_labels, min_dist, new_lower, _ = self.ops.assign_bounded(
            X, C, self.metric.code, labels, lower, drift, self.block.margin
        )
        return new_labels, min_dist, new_lower

    def assign_wide(
        self, C: np.ndarray, with_sums: bool, previous: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """One fused pass of the wide path: ``(labels, min_dist, sums)``; ``sums`` (k, d) float64 in
        :func:`blocked_sums`'s order with ``with_sums``, else None. ``previous`` labels (in ``0 .. k-1``)
        only make the pass faster."""
        X, sq_norms = self.block.X, self.block.sq_norms
        assert sq_norms is not None
        n, d = X.shape
        _, CT, half_norms = product_centres(C, X.dtype)
        w = self.block.w if with_sums and self.block.w is not None else np.ones(n if with_sums else 0)
        k = C.shape[0]
        # the callers renumber labels with the centres when clusters are dropped, so the previous
        # labels are valid centres (the kernel checks); no per-round copy
        hint = np.full(n, k - 1, dtype=np.int64) if previous is None else np.asarray(previous, dtype=np.int64)
        labels = np.empty(n, dtype=np.int64)
        min_dist = np.empty(n, dtype=np.float64)
        edges = wide_blocks(n)
        n_units = len(edges) - 1
        kernel = self.ops.assign_sums_blas
        # Buffers once per thread and pass, not per unit (see the kernel on a Dask worker's allocator).
        # Each unit's sums start from zero and are added in unit order, whichever thread ran it.
        space = threading.local()
        ordered = not self.parallel
        sums = np.zeros((k, d)) if with_sums else None
        parts: list[Any] = [None] * n_units

        def unit(u: int) -> None:
            if not hasattr(space, "P"):
                space.P = np.empty((WIDE_CHUNK_ROWS, k), dtype=X.dtype)
                space.part = np.empty((k if with_sums else 0, d))
            part = space.part if ordered or not with_sums else np.empty((k, d))
            kernel(X, CT, half_norms, sq_norms, w, hint, edges[u], edges[u + 1], labels, min_dist, part, space.P)
            if sums is not None:
                if ordered:  # units run in order in this thread
                    np.add(sums, part, out=sums)
                else:
                    parts[u] = part

        if not self.parallel:
            for u in range(n_units):
                unit(u)
        else:
            with self.session():  # a no-op inside the fit's session
                assert self.team is not None
                work = n * d * (k + WIDE_EXTRA_COLUMNS)
                self.team.run(unit, n_units, _threads.threads_for(work, n_units, self.team.size))
            if sums is not None:
                for part in parts:  # block order, whichever thread finished first
                    sums += part
        return labels, min_dist, sums

    def pairwise(self, centres: np.ndarray) -> np.ndarray:
        """Distances (metric units) from each of ``centres`` to every sample: shape ``(len(centres), n)``."""
        X = self.block.X
        if not self.wide:
            return self.ops.pairwise_distances(np.ascontiguousarray(centres, dtype=np.float64), X, self.metric.code)
        assert self.block.sq_norms is not None
        Cx = np.ascontiguousarray(centres, dtype=X.dtype)
        prod = (Cx @ X.T).astype(np.float64)
        cc = np.einsum("ij,ij->i", Cx, Cx, dtype=np.float64)
        return np.maximum(self.block.sq_norms[None, :] - 2.0 * prod + cc[:, None], 0.0)


def nearest(block: Block, C: np.ndarray, metric: Metric, backend: str) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, min_dist)`` of every row of ``block`` against centres ``C``: one full assignment."""
    backend_name, ops = resolve_backend(backend)
    labels, dist, _ = Assigner(ops, backend_name, block, metric)(np.ascontiguousarray(C, dtype=np.float64))
    return labels, dist


def distance_matrix(X: np.ndarray, C: np.ndarray, metric: Metric, backend: str) -> np.ndarray:
    """True distances (Euclidean or Manhattan, not squared) from every row of ``X`` to every centre: ``(n, k)``.

    Chunked over rows, so memory beyond the output stays O(chunk x k); computed at
    a safe power-of-two scale, so extreme data neither overflows nor underflows.
    """
    _, ops = resolve_backend(backend, work=float(X.shape[0]) * X.shape[1] * len(C))
    X = X.astype(np.float64, copy=False)
    C = np.asarray(C, dtype=np.float64)
    scale = Scale.choose(max(largest_magnitude(X), largest_magnitude(C)), X.dtype)
    Xs, Cs = scale.data(X), np.ascontiguousarray(scale.data(C))
    out = np.empty((X.shape[0], C.shape[0]))
    for s in range(0, X.shape[0], CHUNK_ROWS):
        out[s : s + CHUNK_ROWS] = ops.pairwise_distances(Xs[s : s + CHUNK_ROWS], Cs, metric.code)
    if metric.power == 2:
        np.sqrt(out, out=out)
    return scale.centres(out)  # a true distance scales like a coordinate


def column_order(X: np.ndarray) -> np.ndarray:
    """Stable argsort of every column, shape ``(d, n)``: what the median kernels walk.

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


class InMemoryRows:
    """The Lloyd loop's data access for one array in this process (see :class:`fastclust._lloyd.Rows`).

    Holds the current labels, each sample's distance to its centre and the
    assignment's lower bounds; also offers the one-block view the initialisers
    use (:class:`fastclust.seeding.Blocks`), so k-means|| runs here as on Dask.
    """

    def __init__(self, block: Block, metric: Metric, backend: str) -> None:
        assert block.w is not None
        self.block = block
        self.X = block.X
        self.w: np.ndarray = block.w
        self.metric = metric
        self.backend, self.ops = resolve_backend(backend)
        self.assigner = Assigner(self.ops, self.backend, block, metric)
        self.labels: np.ndarray | None = None
        self.min_dist: np.ndarray | None = None
        self.lower: np.ndarray | None = None
        self._order: np.ndarray | None = None
        self._sums: np.ndarray | None = None  # the wide path's cluster sums of the current labels

    # --- the Lloyd loop's interface -------------------------------------------------------------

    def session(self) -> Any:
        """The fit's thread team and BLAS limit (wide data only), held by the Lloyd loop for the whole fit."""
        return self.assigner.session()

    def assign(self, C: np.ndarray, drift: np.ndarray | None) -> Step:
        old = self.labels
        if self.assigner.wide:
            # one fused pass: the next update's sums come with the labels
            # (the previous labels are valid hints: a renumbering after drops keeps them in 0 .. k-1)
            labels, self.min_dist, self._sums = self.assigner.assign_wide(C, self.metric.centre == "mean", old)
        elif old is None or self.lower is None:
            labels, self.min_dist, self.lower = self.assigner(C)
        else:
            labels, self.min_dist, self.lower = self.assigner(C, old, self.lower, drift)
        self.labels = labels
        n_changed = labels.shape[0] if old is None else int(np.count_nonzero(labels != old))
        # not w @ d: BLAS threads left spinning would steal our cores
        return Step(float((self.w * self.min_dist).sum()), n_changed)

    def weights(self, k: int) -> np.ndarray:
        assert self.labels is not None
        return np.bincount(self.labels, weights=self.w, minlength=k)

    def update(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert self.labels is not None
        weight = self.weights(k)
        if self.assigner.wide and self.metric.centre == "mean":
            sums = self._sums if self._sums is not None else blocked_sums(self.ops, self.X, self.w, self.labels, k)
            with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 marks an empty cluster as NaN (Metric.update)
                return sums / weight[:, None], weight
        if self.metric.centre == "median" and self._order is None:
            self._order = column_order(self.X)  # once per fit: every round walks it
        order = self._order if self._order is not None else np.zeros((0, 0), dtype=np.int64)
        return self.metric.update(self.ops, self.X, self.w, self.labels, weight, order), weight

    def farthest(self, m: int) -> np.ndarray:
        """Up to ``m`` samples of positive weight, farthest from their centres first (ties: lowest index)."""
        assert self.min_dist is not None
        far = np.where(self.w > 0, self.min_dist, -1.0)
        chosen = []
        for _ in range(m):
            p = int(np.argmax(far))
            if far[p] <= 0.0:  # every sample left sits on its centre: nothing worth moving
                break
            chosen.append(p)
            far[p] = -1.0
        return np.asarray(chosen, dtype=np.int64)

    def relabel(self, samples: np.ndarray, clusters: np.ndarray) -> None:
        assert self.labels is not None
        self.labels = self.labels.copy()
        self.labels[samples] = clusters
        self.lower = None  # moved samples changed cluster: their bounds no longer hold
        self._sums = None  # and their sums moved with them

    def renumber(self, keep: np.ndarray) -> None:
        assert self.labels is not None
        if not keep[self.labels].all():
            # a dropped cluster had no weight, but rows of weight 0 may sit in it: they go to cluster 0
            # for now, and their bounds no longer hold (the next assignment labels them)
            self.lower = None
        self.labels = np.where(keep, np.cumsum(keep) - 1, 0)[self.labels]
        if self._sums is not None:
            self._sums = self._sums[keep]  # dropped clusters have no members: the kept sums are unchanged

    def fingerprint(self) -> bytes:
        assert self.labels is not None
        return hashlib.blake2b(self.labels.tobytes(), digest_size=16).digest()

    # --- the initialisers' interface ------------------------------------------------------------

    @property
    def rows(self) -> list[int]:
        return [self.X.shape[0]]

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    def block_weights(self) -> list[np.ndarray] | None:
        return [self.w]

    def map(self, fn: Callable[..., Any], *per_block: list[Any], **shared: Any) -> list[Any]:
        return [fn(self.block, *(arg[0] for arg in per_block), **shared)]

    def collect(self, handles: list[Any], index: int) -> list[Any]:
        return [h[index] for h in handles]

    def gather(self, handles: list[Any]) -> list[Any]:
        return handles

    def take(self, indices: np.ndarray) -> np.ndarray:
        return np.array(self.X[indices], dtype=np.float64, order="C")

    def sample(self, rng: np.random.Generator) -> InMemoryRows:
        """The rows the sample-based initialisers run on: all of them, here (no draw)."""
        return self


def in_memory_rows(
    X: np.ndarray, w: np.ndarray, metric: Metric, backend: str, extra: np.ndarray | None = None
) -> tuple[InMemoryRows, Scale]:
    """Validated ``X`` and ``w`` as :class:`InMemoryRows` in their working dtype, rescaled by a power of
    two where extreme (see :mod:`fastclust._scale`); ``extra`` (explicit centres) counts towards X's magnitude."""
    X = X.astype(working_dtype(X, metric), copy=False)
    largest = largest_magnitude(X)
    if extra is not None:
        largest = max(largest, largest_magnitude(extra))
    scale = Scale.choose(largest, X.dtype, float(w.max()))
    return InMemoryRows(make_block(scale.data(X), scale.weights(w), metric), metric, backend), scale
