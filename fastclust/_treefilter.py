"""k-means on a few integer features: whole boxes of samples assigned at once (Kanungo et al., 2002).

An image's distinct colours fill a 3-D box densely. Most of a tree's boxes over
them lie wholly inside one centre's Voronoi cell, and a box's precomputed
statistics (``sum w``, ``sum w x``, ``sum w |x|^2``) then stand for all of its
samples: no sample in it is looked at. Only the leaves that straddle a boundary
scan their samples, against the few centres that survived the filter, and the
clusters' statistics change only by the samples (or whole boxes) that change
cluster.
:class:`FilteredRows` replaces :class:`~fastclust._lowdim.IntegerRows` for such
fits and gives the same labels, centres and rounds:

- the tree (:func:`fastclust._kernels.build_filter_tree`) splits the samples in
  Morton order at grid midpoints, with tight boxes and exact statistics, in
  O(n) (about 3 ms for 104,479 colours), once per fit;
- the filter (:func:`fastclust._kernels.assign_filtered`) removes a candidate
  only when another is nearer to every point of the box by far more than any
  rounding, and the leaves compute distances as the general path does, so each
  assignment is a full scan's, ties to the lowest index;
- the cluster sums come out of the same walk, as exact integer sums, so the
  means are the general path's to the last bit.

The objective comes from each cluster's exact statistics and centre
(:func:`fastclust._kernels.exact_objective`), not from per-sample distances summed in numpy's order,
so it differs from the general path's in the last digits (measured: 1e-15
relative on the course images; accurate far from zero too, as each cluster is
expanded around an integer point next to its centre). The numpy backend, which
keeps the tracked assignment (a walk of the tree in Python would be slow), reports
the same objective for the same fits (:class:`ExactObjectiveRows`), so both
backends give the same bits. Each assignment gives the general path's labels for
the same centres, so a fit that converges (or stops at ``max_iter``) has its
labels, centres and rounds; one that stalls on a plateau of equal objectives
decides "no new minimum" on its own objective, as on the wide bounded path
(:mod:`fastclust._widebounds`).

:func:`filtered_rows` states when the path applies: squared Euclidean (k-means),
at least :data:`MIN_ROWS` samples, at most :data:`MAX_K` centres, and integer data
that :class:`~fastclust._lowdim.IntegerRows` takes with at most :data:`MAX_BITS`
bits per feature. Measured on the course images' colours, ``compress()`` end to
end against :class:`~fastclust._lowdim.IntegerRows` from the same initial
centres, each with its tree kept (leaves of up to 16 samples): 2.4-3.0x faster at
k = 3, 2.3-3.3x at k = 6, 1.9-2.7x at k = 12, 1.5-2.1x at k = 24 and 1.2-1.5x at
k = 48 (flower.jpg, whose 68,480 pixels hold 49,264 colours, the slowest); with
leaves of 64, 1.3-1.8x at k = 48, 1.4-3.2x at k = 96, 1.6-2.5x at
k = 256 and 2.4-3.2x at k = 512; on 16,384 and 40,000 of football.bmp's colours,
1.3-3.5x at k = 64-512. On a 24-megapixel photo's 2,092,252 colours (k = 48, 427
rounds) the fit took 5.5 s against 9.3 s, with an earlier, slower walk. Since the
walk holds the box and the candidates of a d = 3 node or leaf in registers, with
leaves of 128 (:data:`LEAF`), the first 40 rounds of the course images' colours are
3.5-5.6x faster than the tracked path at k = 48, 3.7-4.3x at 96, 4.4-5.7x at 256 and
5.5-7.8x at 512, with the same labels; at k = 1024 and 2048, 7.1-14.5x on football.bmp's
and flower.jpg's colours, and 4.4-7.2x on 16,384 and 40,000 of football.bmp's.

The tree depends on the data alone, not on k or the centres: a :class:`TreeCache`
keeps it between the fits of one dataset (a prepared image's grid of k and seeds).
"""

from __future__ import annotations

import numpy as np

from ._codes import SQEUCLIDEAN
from ._lloyd import Step
from ._lowdim import EXACT_LIMIT, IntegerRows, Layout
from ._memory import InMemoryRows
from ._reference import _distances_to

__all__ = [
    "LEAF",
    "MAX_BITS",
    "MAX_K",
    "MAX_ROWS",
    "MIN_ROWS",
    "DataMemo",
    "ExactObjectiveRows",
    "FilteredRows",
    "TreeCache",
    "filtered_rows",
    "size_qualifies",
]

#: Most centres the path takes: the largest k measured (the filter was ahead of tracking two
#: centres per sample, IntegerRows, at every k measured; see the module's figures).
MAX_K = 2048
#: Fewest samples: below this a fit takes a few milliseconds either way.
MIN_ROWS = 1 << 14
#: Most samples: the tree's nodes (up to 2n - 1) are numbered in int32 while it is built.
MAX_ROWS = 1 << 30
#: Most bits per feature in the Morton code (a table of 2**bits entries spreads them).
MAX_BITS = 12
#: Largest leaf of the tree. Since boundary leaves hold their 2-4 candidates in registers, 96-128
#: is 3-10% faster than 64 on the course images at k = 3-512 (and 128 than 192-256); 16 was 5-40%
#: slower than 64 with the earlier scan. A leaf's scan is cheap beside filtering more boxes.
LEAF = 128
#: No node's stamp can equal ``round - 1``: the labels were changed outside the walk.
_STALE = -2
#: k-means keeps no value counts (IntegerRows' third statistic): an empty array stands for them.
_NO_COUNTS = np.zeros((0, 0, 0))


class ExactObjectiveRows(IntegerRows):
    """:class:`~fastclust._lowdim.IntegerRows` reporting :func:`~fastclust._kernels.exact_objective`: the
    numpy backend's side of :class:`FilteredRows`, so a fit gives the same objective, to the last bit, on
    either backend.

    Keeps each cluster's ``sum w |x|^2`` beside the other statistics, updated from the
    samples that moved.
    """

    def __init__(self, rows: IntegerRows) -> None:
        super().__init__(rows.block, rows.metric, rows.backend, rows.low, rows.n_bins, rows.high)
        self.low_f = self.low.astype(np.float64)
        self._squares: np.ndarray | None = None
        self._w_squares: np.ndarray | None = None  # each sample's w |x|^2, when first needed

    def _squares_from_labels(self, k: int) -> np.ndarray:
        """Each cluster's ``sum w |x|^2`` under the current labels (exact integers: the gate checks)."""
        assert self.labels is not None
        if self._w_squares is None:
            self._w_squares = self.w * np.einsum("ij,ij->i", self.X, self.X)
        return np.bincount(self.labels, weights=self._w_squares, minlength=k)

    def assign(self, C: np.ndarray, drift: np.ndarray | None) -> Step:
        step = super().assign(C, drift)
        assert self.labels is not None
        k = C.shape[0]
        sums, weight, _ = self._statistics(k)
        if self._squares is None or self._squares.shape[0] != k:  # first round, or labels changed outside
            self._squares = self._squares_from_labels(k)
        elif self.moved is not None and self.was is not None and self.moved.size:
            # integers below 2**53: exact, in any order
            assert self._w_squares is not None
            np.subtract.at(self._squares, self.was, self._w_squares[self.moved])
            np.add.at(self._squares, self.labels[self.moved], self._w_squares[self.moved])
        return Step(self._objective(C, sums, weight), step.n_changed)

    def _objective(self, C: np.ndarray, sums: np.ndarray, weight: np.ndarray) -> float:
        assert self._squares is not None
        C = np.ascontiguousarray(C, dtype=np.float64)
        return float(self.ops.exact_objective(C, sums, weight, self._squares, self.low_f, self.high))

    def relabel(self, samples: np.ndarray, clusters: np.ndarray) -> None:
        super().relabel(samples, clusters)
        self._squares = None

    def renumber(self, keep: np.ndarray) -> None:
        super().renumber(keep)
        self._squares = None


#: A built tree: ``build_filter_tree``'s arrays, then the samples and weights in its order.
Tree = tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]


class DataMemo:
    """What fits compute from one dataset alone, whatever their k and centres: its integer layout per
    metric centre (:func:`~fastclust._lowdim.integer_layout`) and its tree per code width and :data:`LEAF`.

    Made by :meth:`TreeCache.memo` for data equal, bit for bit, to ``X`` and ``w`` (its own
    copies), so whatever it holds is valid for a fit of such data.
    """

    def __init__(self, X: np.ndarray, w: np.ndarray) -> None:
        self.X, self.w = X, w
        self.layouts: dict[str, Layout | None] = {}
        self.trees: dict[tuple[int, int], Tree] = {}

    def tree(self, rows: IntegerRows, bits: int) -> Tree:
        """The tree of ``rows`` (this memo's data), built on first use."""
        key = (bits, LEAF)
        tree = self.trees.get(key)
        if tree is None:
            tree = self.trees[key] = _build(rows, bits)
        return tree


class TreeCache:
    """The :class:`DataMemo` of one dataset, kept for the next fits of it (each
    :class:`~fastclust.image.PreparedImage` holds one).

    A tree and an integer layout depend on the samples and their weights, not on k or
    the centres, so a grid over one image (every k, every seed) computes them once: the
    tree costs 1-5 ms of a fit that takes 2-100 ms on the course images, the layout's
    checks 0.25-0.7 ms. The memo is reused only when the samples and weights equal,
    bit for bit, those it was made from (compared in full: about 0.1 ms for 104,479
    colours, so data changed in place are never served a stale tree or layout); other
    data get a new memo, which replaces the one kept. The walk only reads a tree's
    arrays, so fits on several threads may share them.
    """

    def __init__(self) -> None:
        self._kept: DataMemo | None = None

    def memo(self, X: np.ndarray, w: np.ndarray) -> DataMemo:
        """The memo of samples ``X`` with weights ``w``: the one kept if they are its data, else a new one."""
        kept = self._kept  # one read: another thread may replace it meanwhile
        if kept is not None and _same_bits(w, kept.w) and _same_bits(X, kept.X):
            return kept
        kept = DataMemo(X.copy(), w.copy())
        self._kept = kept
        return kept


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` and ``b`` hold the same bits: equal values are not enough, as -0.0 == 0.0 and
    :func:`~fastclust._lowdim.integer_layout` refuses -0.0."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    unsigned = np.dtype(f"u{a.dtype.itemsize}")
    return bool(np.array_equal(np.ascontiguousarray(a).view(unsigned), np.ascontiguousarray(b).view(unsigned)))


def _build(rows: IntegerRows, bits: int) -> Tree:
    arrays = rows.ops.build_filter_tree(rows.X, rows.w, rows.low, bits, LEAF)
    perm = arrays[0]
    # the walk reads a leaf's samples contiguously, in the tree's order (np.take: 3x faster than X[perm])
    return arrays, np.take(rows.X, perm, axis=0), np.take(rows.w, perm)


class FilteredRows(ExactObjectiveRows):
    """:class:`ExactObjectiveRows` whose assignment filters the boxes of a tree (see the module).

    Keeps the tree (from ``memo``, this data's :class:`DataMemo`, when given), and per node the centre
    that held it whole in the last round (so a box whose samples keep their label is
    not rewritten).
    """

    #: the walk never reads the centres' drift (the loop then does not compute it)
    needs_drift = False

    def __init__(self, rows: IntegerRows, bits: int, memo: DataMemo | None = None) -> None:
        super().__init__(rows)
        self.tree, self.X_tree, self.w_tree = memo.tree(self, bits) if memo is not None else _build(self, bits)
        self.tree_labels: np.ndarray | None = None
        n_nodes = self.tree[1].shape[0]
        self.owner = np.full(n_nodes, -1, dtype=np.int64)
        self.stamp = np.full(n_nodes, _STALE, dtype=np.int64)
        self.round = 0
        self._last_C: np.ndarray | None = None

    def assign(self, C: np.ndarray, drift: np.ndarray | None) -> Step:
        n, d = self.X.shape
        k = C.shape[0]
        first = self.labels is None
        # each cluster's sum w x, sum w (self._stats) and sum w |x|^2 (self._squares) under the current
        # labels: the walk updates them in place from the samples that change label
        if self.labels is None:
            # every sample starts in cluster 0, which then holds the root's statistics
            self.labels = np.zeros(n, dtype=np.int64)
            sums, weight, squares = np.zeros((k, d)), np.zeros(k), np.zeros(k)
            sums[0], weight[0], squares[0] = self.tree[6][0], self.tree[7][0], self.tree[8][0]
            self._stats, self._squares = (sums, weight, _NO_COUNTS), squares
            # ... so the root was "whole for centre 0" in the round before: boxes move at once
            self.owner[0], self.stamp[0] = 0, self.round - 1
        if self._stats is None or self._squares is None:  # labels changed outside the walk: recount exactly
            self._statistics(k)
            self._squares = self._squares_from_labels(k)
        if self.tree_labels is None:
            self.tree_labels = np.zeros(n, dtype=np.int64) if first else np.take(self.labels, self.tree[0])
        assert self._stats is not None and self._squares is not None
        sums, weight, _ = self._stats
        squares = self._squares
        C = np.ascontiguousarray(C, dtype=np.float64)
        n_changed = self.ops.assign_filtered(
            self.X_tree,
            self.w_tree,
            *self.tree,
            C,
            self.labels,
            self.tree_labels,
            self.owner,
            self.stamp,
            self.round,
            sums,
            weight,
            squares,
        )
        self.round += 1
        self._last_C = C
        self.min_dist = None  # per-sample distances only on demand (farthest)
        return Step(self._objective(C, sums, weight), n if first else int(n_changed))

    def farthest(self, m: int) -> np.ndarray:
        if self.min_dist is None:  # feature by feature, as the general path's distances
            assert self.labels is not None and self._last_C is not None
            self.min_dist = _distances_to(self.X, self._last_C, self.labels, SQEUCLIDEAN)
        return super().farthest(m)

    def relabel(self, samples: np.ndarray, clusters: np.ndarray) -> None:
        super().relabel(samples, clusters)
        self._labels_changed()

    def renumber(self, keep: np.ndarray) -> None:
        super().renumber(keep)
        self._labels_changed()

    def _labels_changed(self) -> None:
        """The labels changed outside the walk: no node is known whole, and the tree's copy of the labels
        is stale (the statistics were dropped by the base classes)."""
        self.stamp[:] = _STALE
        self.tree_labels = None


def _code_bits(rows: IntegerRows) -> int | None:
    """Bits per feature of the Morton code, or None when the data are too wide for the path."""
    bits = max(int((rows.high - rows.low).max()).bit_length(), 1)
    largest = float(max(np.abs(rows.high).max(), np.abs(rows.low).max()))
    # every sum w |x|^2 must be an exact integer too; the codes have at most
    # MAX_FEATURES * MAX_BITS = 48 bits, within the kernel's 60
    if bits > MAX_BITS or not float(rows.w.sum()) * rows.X.shape[1] * largest * largest < EXACT_LIMIT:
        return None
    return bits


def size_qualifies(n_rows: int, k: int) -> bool:
    """Whether a fit of ``k`` centres on ``n_rows`` samples is in the path's range (:data:`MIN_ROWS`,
    :data:`MAX_ROWS`, :data:`MAX_K`); the data must qualify too (see :func:`filtered_rows`)."""
    return 1 <= k <= MAX_K and MIN_ROWS <= n_rows <= MAX_ROWS


def filtered_rows(rows: InMemoryRows, k: int, memo: DataMemo | None = None) -> InMemoryRows:
    """``rows`` as :class:`FilteredRows` (numba backend) or :class:`ExactObjectiveRows` (numpy backend: the
    tracked assignment, the same objective) for a k-means fit that :func:`size_qualifies` on data that
    :class:`~fastclust._lowdim.IntegerRows` took; else ``rows`` itself. ``memo``, the data's
    :class:`DataMemo`, keeps the tree for the next fit of the same data. Call it before the first
    assignment."""
    if not isinstance(rows, IntegerRows) or rows.metric.centre != "mean" or not size_qualifies(rows.X.shape[0], k):
        return rows
    bits = _code_bits(rows)
    if bits is None:
        return rows
    return FilteredRows(rows, bits, memo) if rows.backend == "numba" else ExactObjectiveRows(rows)
