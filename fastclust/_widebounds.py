"""Wide integer-valued rows (pixels of digit images and the like): the BLAS path with Hamerly's bounds.

On the wide path (:class:`fastclust._memory.InMemoryRows`) a round is one fused
pass: every row times every centre. After the first few rounds most rows keep
their centre, and a bound proves it without the products. For data whose
values and weights are integers (MNIST's pixels), :class:`BoundedWideRows`
replaces the fused pass with:

- **Hamerly's test** per row (:func:`fastclust._kernels.wide_bounds`): an upper
  bound on the distance to its own centre, a lower bound on every other, both
  moved by the centres' drift each round and checked against each centre's
  distance to its nearest neighbour. It reads no row of the data. (Hamerly's
  tightening by one direct distance is left out: on MNIST a direct distance
  costs about 46 columns of products and settled few of the rows that failed.)
- **the products only for rows unsettled** (:func:`fastclust._kernels.assign_rows_blas`),
  gathered into products of the fused pass's shape, so each such row gets the
  very bits, and label, the fused pass gives it. Where most of a chunk is
  unsettled the whole chunk is multiplied in place (:func:`_whole_chunks`):
  gathering a row costs about 38 columns of its products.
- **exact incremental cluster sums** from the rows that moved
  (:func:`fastclust._kernels.move_members`): integer sums below 2**53 are exact
  in any order, so they equal the fused pass's sums bit for bit.

Same labels as the fused pass, not merely as exact arithmetic: the test allows
for the rounding of the products. A pass's score ``|c|^2/2 - x.c`` in
precision ``u`` (2**-24 for float32) is within ``e = (d + 4) u (|x| B + B^2 + |x|^2)``
(``B`` bounds the centres' norms) of the exact one, whatever BLAS's order of
summation. A row is settled only when ``upper^2 + 4 e < lower^2`` (with a
relative slack of 1e-9 for the float64 bookkeeping): then its own centre's
rounded score is below every other's, and the fused pass would pick it. The
bounds set after a row's products include ``e`` the other way.

The objective is computed from exact per-cluster statistics,
``sum_j (sum w |x|^2 - 2 c_j . S_j + W_j |c_j|^2)``, not from per-row rounded
scores, so it differs from the fused pass's in the last digits (it is the
more accurate one). Each assignment gives the fused pass's labels for the same
centres, so a fit that ends by converging (or by ``max_iter``) has the fused
pass's labels, centres and rounds. A fit that stalls on a plateau of equal
objectives decides "no new minimum" on its own objective, and may stop in
another round than the fused pass would.

(Precisely, ``e`` uses ``gamma = m u / (1 - m u)`` with ``m = d + 4``, the
classical bound for a sum of ``m`` rounded terms.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _threads
from ._lloyd import Step
from ._lowdim import EXACT_LIMIT
from ._memory import WIDE_CHUNK_ROWS, WIDE_EXTRA_COLUMNS, InMemoryRows, product_centres, wide_blocks

__all__ = ["BoundedWideRows", "bounded_wide_rows", "exact_sums"]

#: What gathering a row into a product costs, in columns of its products (see :func:`_whole_chunks`).
GATHER_COLUMNS = 38
#: Rows per unit of a gathered pass: eight products.
_GROUP_ROWS = 8 * WIDE_CHUNK_ROWS


def exact_sums(X: np.ndarray, w: np.ndarray) -> bool:
    """Whether ``X`` and ``w`` are integer-valued, ``w >= 0`` and ``sum(w) * max|x| < 2**52``: then every
    partial cluster sum is an exact integer, in any order. Stops at the first block of non-integers."""
    if X.size == 0 or not (w.min() >= 0 and np.array_equal(w, np.floor(w))):
        return False
    largest = 0.0
    for s in range(0, X.shape[0], 4096):
        block = X[s : s + 4096]
        if not np.array_equal(block, np.floor(block)):
            return False
        largest = max(largest, float(np.abs(block).max()))
    return float(w.sum()) * max(largest, 1.0) < EXACT_LIMIT


def bounded_wide_rows(rows: InMemoryRows) -> InMemoryRows:
    """``rows`` as :class:`BoundedWideRows` for a k-means fit on the wide path over data :func:`exact_sums`
    accepts (same block, metric and backend), else ``rows`` itself; call it before the first assignment."""
    if not rows.assigner.wide or rows.metric.centre != "mean" or not exact_sums(rows.X, rows.w):
        return rows
    return BoundedWideRows(rows.block, rows.metric, rows.backend)


def _top_two(v: np.ndarray) -> np.ndarray:
    """``out[a] = max_{j != a} v[j]`` (0 for a single entry)."""
    if v.size < 2:
        return np.zeros_like(v)
    first = int(np.argmax(v))
    out = np.full_like(v, v[first])
    out[first] = np.max(np.delete(v, first))
    return out


def _separation(C: np.ndarray) -> np.ndarray:
    """A lower bound on each centre's distance to its nearest other centre (inf for a single centre)."""
    k, d = C.shape
    if k < 2:
        return np.full(k, np.inf)
    norms = np.einsum("ij,ij->i", C, C)
    D2 = norms[:, None] + norms[None, :] - 2.0 * (C @ C.T)
    # float64 expansion: its rounding is below (d + 2) ulps of the norms; take it off
    D2 -= (d + 2) * 2.0**-51 * (norms[:, None] + norms[None, :])
    np.fill_diagonal(D2, np.inf)
    return np.sqrt(np.maximum(D2.min(axis=1), 0.0))


def _whole_chunks(unsettled: np.ndarray, k: int) -> np.ndarray:
    """The rows to recompute: the ``unsettled`` ones, and every row of an aligned chunk of
    :data:`WIDE_CHUNK_ROWS` where so many are unsettled that a product in place beats gathering them.

    Gathering a row costs about as much as ``38`` columns of its products (measured on MNIST rows,
    k = 10 and 200); a chunk in place costs its ``k + 24`` columns for every row.
    """
    n = unsettled.size
    counts = np.add.reduceat(unsettled.astype(np.int64), np.arange(0, n, WIDE_CHUNK_ROWS))
    dense = counts * (k + 24 + GATHER_COLUMNS) >= (k + 24) * WIDE_CHUNK_ROWS
    if dense.any():
        unsettled = unsettled | np.repeat(dense, WIDE_CHUNK_ROWS)[:n]
    return np.flatnonzero(unsettled).astype(np.int64)


class BoundedWideRows(InMemoryRows):
    """:class:`~fastclust._memory.InMemoryRows` on the wide path for data :func:`exact_sums` accepts.

    Keeps, beside the labels, each row's two distance bounds and each cluster's
    exact sums; bounds are rebuilt by a full pass after an empty-cluster policy
    moved samples.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        n, d = self.X.shape
        self.upper = np.zeros(n)
        self.lower_other = np.zeros(n)
        self._bounds_valid = False
        self._centres: np.ndarray | None = None  # the last pass's centres, rounded to X's dtype and widened
        self._last_C: np.ndarray | None = None
        self._sq_weighted = self.w * self.block.sq_norms
        # gamma_{d+4} = m u / (1 - m u): bounds the relative rounding of a length-d product and what follows
        unit = float(np.finfo(self.X.dtype).eps) / 2.0
        self._coef = (d + 4) * unit / (1.0 - (d + 4) * unit)

    def _units(self, task: Any, n_units: int, work: float) -> None:
        team = self.assigner.team
        threads = _threads.threads_for(work, n_units, team.size) if team is not None else 1
        if threads <= 1 or team is None:
            for u in range(n_units):
                task(u)
        else:
            team.run(task, n_units, threads)

    def assign(self, C: np.ndarray, drift: np.ndarray | None) -> Step:
        X, n, d = self.X, self.X.shape[0], self.X.shape[1]
        k = C.shape[0]
        sq_norms = self.block.sq_norms
        assert sq_norms is not None
        # the products' centres, as the fused pass rounds them
        Cx, CT, half_norms = product_centres(C, X.dtype)
        C64 = Cx.astype(np.float64)
        c_norms = np.einsum("ij,ij->i", C64, C64)
        largest = float(np.sqrt(c_norms.max())) * (1.0 + (d + 2) * 2.0**-52)  # rounded up
        old = self.labels
        with self.session():
            if old is None or not self._bounds_valid or self._centres is None:
                labels = np.empty(n, dtype=np.int64)
                redo = np.arange(n, dtype=np.int64)
            else:
                labels = old.copy()
                moved = np.sqrt(np.einsum("ij,ij->i", C64 - self._centres, C64 - self._centres))
                moved *= 1.0 + (d + 2) * 2.0**-52
                separation = _separation(C64)
                edges = wide_blocks(n)
                found: list[Any] = [None] * (len(edges) - 1)

                def test(u: int) -> None:
                    s, e = edges[u], edges[u + 1]
                    self.upper[s:e], self.lower_other[s:e], found[u] = self.ops.wide_bounds(
                        sq_norms, labels, self.upper, self.lower_other,
                        moved, other, separation, self._coef, largest, s, e,
                    )  # fmt: skip

                other = _top_two(moved)
                for u in range(len(found)):  # a few flops per row: not worth a thread
                    test(u)
                redo = _whole_chunks(np.concatenate(found), k)
            if redo.size:
                self._recompute(redo, labels, CT, half_norms, sq_norms, largest, k, d)
        self._bounds_valid = True
        self._centres = C64
        self._last_C = C
        self.min_dist = None  # per-row distances only on demand (farthest)
        self._update_sums(old, labels, k)
        self.labels = labels
        n_changed = n if old is None else int(np.count_nonzero(labels != old))
        assert self._sums is not None
        members = np.bincount(labels, weights=self._sq_weighted, minlength=k)
        weight = np.bincount(labels, weights=self.w, minlength=k)
        per_cluster = members - 2.0 * np.einsum("ij,ij->i", C64, self._sums) + weight * c_norms
        return Step(float(np.maximum(per_cluster, 0.0).sum()), n_changed)

    def _recompute(
        self,
        redo: np.ndarray,
        labels: np.ndarray,
        CT: np.ndarray,
        half_norms: np.ndarray,
        sq_norms: np.ndarray,
        largest: float,
        k: int,
        d: int,
    ) -> None:
        """Labels and fresh bounds of the rows ``redo`` (increasing) from their products (the fused pass's bits).

        Rows of whole aligned chunks and the others go to the kernel apart: each of its products then
        takes a whole chunk in place or gathers rows, never a mix that misses the chunks' alignment.
        """
        chunk_of = redo // WIDE_CHUNK_ROWS
        whole = np.bincount(chunk_of)[chunk_of] == WIDE_CHUNK_ROWS
        units = [(p, s) for p in (redo[whole], redo[~whole]) for s in range(0, p.size, _GROUP_ROWS)]
        out: list[Any] = [None] * len(units)

        def group(u: int) -> None:
            p, s = units[u]
            out[u] = self.ops.assign_rows_blas(self.X, CT, half_norms, p[s : s + _GROUP_ROWS], WIDE_CHUNK_ROWS)

        self._units(group, len(units), float(redo.size) * d * (k + WIDE_EXTRA_COLUMNS))
        redo = np.concatenate([p[s : s + _GROUP_ROWS] for p, s in units])
        labels[redo] = np.concatenate([o[0] for o in out])
        best = np.concatenate([o[1] for o in out])
        second = np.concatenate([o[2] for o in out])
        sq = sq_norms[redo]
        e2 = 2.0 * self._coef * (np.sqrt(sq) * largest + largest * largest + sq)
        self.upper[redo] = np.sqrt(np.maximum(sq + 2.0 * best + e2, 0.0))
        with np.errstate(invalid="ignore"):  # inf - finite stays inf: one centre, no other
            self.lower_other[redo] = np.sqrt(np.maximum(sq + 2.0 * second - e2, 0.0))

    def _update_sums(self, old: np.ndarray | None, labels: np.ndarray, k: int) -> None:
        """The cluster sums of ``labels``: moved rows only, when the sums of ``old`` are at hand."""
        if old is None or self._sums is None:
            self._sums = np.zeros((k, self.X.shape[1]))
            samples, before = np.arange(labels.size, dtype=np.int64), np.full(labels.size, -1, dtype=np.int64)
        else:
            samples = np.flatnonzero(labels != old).astype(np.int64)
            before = old[samples]
        self.ops.move_members(
            self.X, self.w, samples, before, labels[samples], self._sums, np.zeros(k),
            np.zeros((k, self.X.shape[1], 0)), np.zeros(self.X.shape[1], dtype=np.int64),
        )  # fmt: skip

    def farthest(self, m: int) -> np.ndarray:
        if self.min_dist is None and self._last_C is not None:
            # the fused pass's per-row distances, as the unbounded path has them
            self.min_dist = self.assigner.assign_wide(self._last_C, False)[1]
        return super().farthest(m)

    def relabel(self, samples: np.ndarray, clusters: np.ndarray) -> None:
        super().relabel(samples, clusters)
        self._bounds_valid = False  # moved samples: their bounds are about other centres

    def renumber(self, keep: np.ndarray) -> None:
        assert self.labels is not None
        orphans = ~keep[self.labels]  # rows of weight 0 in a dropped cluster: their bounds are about it
        super().renumber(keep)
        self.upper[orphans] = np.inf  # so the next assignment recomputes them
        if self._centres is not None:
            # every other bound still holds: fewer other centres, none nearer
            self._centres = self._centres[keep]
