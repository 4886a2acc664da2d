"""Rows of a few integer-valued features with integer weights: the image path's Lloyd loop data access.

An image is clustered by its distinct colours weighted by their pixel counts
(:func:`fastclust.image.compress`): three features, values 0-255, integer weights.
For such data :class:`IntegerRows` replaces :class:`~fastclust._memory.InMemoryRows`
and returns the same :class:`~fastclust._lloyd.Step` s, centres and labels bit for
bit, with less work per round:

- **incremental statistics**: each cluster's ``sum w x``, ``sum w`` and, for
  k-medians, its weight per value of every feature (a counting histogram) are
  updated from the samples that changed label only, instead of recomputed from
  all of them. Every product and partial sum is an integer below 2**53, so
  these sums are exact and equal to a recomputation in any order; the means
  and the medians (read off the histograms) are then the general path's to
  the last bit;
- **two tracked centres per sample**: Hamerly's bound settles most samples; one
  that fails it, typically on the boundary between two clusters, is settled by
  its two nearest centres of the last scan against a bound on all the others
  (:func:`fastclust._kernels.assign_tracked`), and only the rest are scanned.
  The bounds are stored plus a running offset, so they loosen as centres move
  without being rewritten: a sample that keeps its label costs one distance;
- the objective ``(w * min_dist).sum()`` is summed inside the kernel in
  numpy's own order, so the stop rule sees the same numbers.

For k-means on at least 16,384 samples (up to k = 512),
:class:`fastclust._treefilter.FilteredRows` (a subclass) replaces the tracked
assignment by filtering a tree of boxes over the samples.

:func:`integer_layout` states when the path applies: at most
:data:`MAX_FEATURES` features, integer values and weights, ``sum w * max |x|``
below 2**52 and, for k-medians, at most :data:`MAX_BINS` distinct values per
feature (the histogram's width). Everything else keeps the general path.

:func:`map_fits` runs independent fits (a Q3 grid's cells, a report's seeds) on
a few threads. The kernels release the GIL and have no barrier inside a round,
so on a busy machine a descheduled thread delays only its own fit. And
:func:`serial_if_small` keeps numba's parallel kernels on one thread during
small direct-path fits, whose rounds are too short to pay for a barrier. Both
take numba's thread count as the budget, as :mod:`fastclust._threads` (the wide
path's policy) does; :func:`fit_workers` also caps it by the CPUs this process
may use, since its threads are whole fits rather than shares of one pass.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import numpy as np

from ._lloyd import Step
from ._memory import Block, InMemoryRows
from .metrics import Metric

__all__ = [
    "EXACT_LIMIT",
    "MAX_BINS",
    "MAX_FEATURES",
    "SERIAL_WORK",
    "IntegerRows",
    "Layout",
    "fit_workers",
    "integer_layout",
    "integer_rows",
    "map_fits",
    "serial_if_small",
]

#: Most features the path takes: beyond a few, a full scan's distances cost more than what
#: tracking two centres saves, and the data are rarely integer-valued.
MAX_FEATURES = 4
#: Widest value range (``max - min + 1`` of a feature) k-medians counts in a histogram:
#: reading a median walks the bins, ``k * d * MAX_BINS`` steps per round at most.
MAX_BINS = 1024
#: Below this ``n * d * k`` a direct-path fit runs numba's parallel kernels on one thread: a round
#: then takes about a millisecond, less than a parallel region's barriers cost when the cores are
#: shared. Measured on the report's Q4 (190 fits of 1,224 x k, k <= 50): 0.96 s quiet and 3.2-3.6 s
#: with two busy processes on 2 cores in parallel, 1.3 s and 2.45 s serial; 8.7 s in parallel
#: beside another test run.
SERIAL_WORK = 1 << 22
#: Every exact partial sum must stay below 2**53; one bit of headroom for rounding in the check.
EXACT_LIMIT = 2.0**52

T = TypeVar("T")
R = TypeVar("R")


def _integer_valued(a: np.ndarray) -> bool:
    """True when every element of the finite array ``a`` is an integer."""
    return bool(np.array_equal(a, np.floor(a)))


#: What :func:`integer_layout` finds: ``(low, n_bins, high)``.
Layout = tuple[np.ndarray, int, np.ndarray]


def integer_layout(X: np.ndarray, w: np.ndarray, metric: Metric) -> Layout | None:
    """``(low, n_bins, high)`` when ``X`` (float64, in the fit's units) and ``w`` qualify for :class:`IntegerRows`,
    else None.

    ``low`` is each feature's smallest value (int64), ``n_bins`` the histogram
    width k-medians needs (0 for k-means) and ``high`` each feature's largest value. The rule: 1 to :data:`MAX_FEATURES`
    features; integer values, none of them -0.0 (a median read off a histogram
    would come out +0.0); non-negative integer weights with
    ``sum(w) * max|x| < 2**52``, which bounds every partial sum of ``w * x``;
    for k-medians a value range of at most :data:`MAX_BINS` per feature.
    Costs a few passes over the data (0.5 ms for 104,479 colours).
    """
    n, d = X.shape
    if not (1 <= d <= MAX_FEATURES) or n == 0 or X.dtype != np.float64 or w.dtype != np.float64:
        return None
    # column by column: numpy's reductions along axis 0 of a narrow array are 20x slower
    low = np.array([X[:, f].min() for f in range(d)])
    high = np.array([X[:, f].max() for f in range(d)])
    largest = max(float(np.abs(low).max()), float(np.abs(high).max()), 1.0)
    if not float(w.sum()) * largest < EXACT_LIMIT:
        return None
    if not (_integer_valued(w) and _integer_valued(X)):
        return None
    if (X.view(np.int64) == np.iinfo(np.int64).min).any():  # the bit pattern of -0.0
        return None
    n_bins = 0
    if metric.centre == "median":
        n_bins = int((high - low).max()) + 1
        if n_bins > MAX_BINS:
            return None
    return low.astype(np.int64), n_bins, high


class IntegerRows(InMemoryRows):
    """:class:`~fastclust._memory.InMemoryRows` for data that :func:`integer_layout` accepts.

    Keeps, beside the labels, each sample's tracked second centre and two lower
    bounds, and each cluster's exact statistics (rebuilt from scratch only after
    an empty-cluster policy moved or renumbered samples).
    """

    def __init__(
        self, block: Block, metric: Metric, backend: str, low: np.ndarray, n_bins: int, high: np.ndarray
    ) -> None:
        super().__init__(block, metric, backend)
        self.low = low
        self.n_bins = n_bins
        self.high = high
        self.second: np.ndarray | None = None
        self.lower3: np.ndarray | None = None
        self.offset = 0.0
        # the bounds carry offset's rounding error (2**-52 of it): keep it below 1/4096 of the margin
        self._offset_limit = block.margin * 2.0**40
        self._stats: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.moved: np.ndarray | None = None  # the samples the last assignment moved, and their labels before
        self.was: np.ndarray | None = None

    def assign(self, C: np.ndarray, drift: np.ndarray | None) -> Step:
        n = self.X.shape[0]
        first = self.labels is None
        if first:
            # the state lives in these arrays for the whole fit: the kernel updates them in place
            self.labels = np.zeros(n, dtype=np.int64)
            self.min_dist = np.empty(n)
        if drift is not None and self.lower is not None:
            self.offset += float(drift.max(initial=0.0))
        if first or self.lower is None or self.second is None or self.lower3 is None or drift is None:
            self._reset_bounds(n)
        elif self.offset > self._offset_limit:
            # bounds are stored plus the offset: rebase before its rounding error nears the margin
            self._reset_bounds(n)
        assert self.labels is not None and self.min_dist is not None and self.lower is not None
        objective, moved, was = self.ops.assign_tracked(
            self.X,
            self.w,
            C,
            self.metric.code,
            self.labels,
            self.second,
            self.lower,
            self.lower3,
            self.min_dist,
            self.offset,
            self.block.margin,
        )
        self.moved, self.was = moved, was  # for subclasses keeping statistics of their own
        if first:
            self._stats = None
            return Step(float(objective), n)
        if self._stats is not None:
            self.ops.move_members(self.X, self.w, moved, was, self.labels[moved], *self._stats, self.low)
        return Step(float(objective), int(moved.size))

    def _reset_bounds(self, n: int) -> None:
        """No bounds to trust: zeros make every sample fail them (it is then scanned, unless half the
        gap from its centre to the nearest other settles it, which needs no bound)."""
        self.second, self.lower, self.lower3 = np.full(n, -1, dtype=np.int64), np.zeros(n), np.zeros(n)
        self.offset = 0.0

    def _statistics(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(sums, weight, counts)`` of the current labels, rebuilt when stale."""
        assert self.labels is not None
        if self._stats is None or self._stats[1].shape[0] != k:
            n, d = self.X.shape
            self._stats = (np.zeros((k, d)), np.zeros(k), np.zeros((k, d, self.n_bins)))
            everyone = np.arange(n, dtype=np.int64)
            self.ops.move_members(
                self.X, self.w, everyone, np.full(n, -1, dtype=np.int64), self.labels, *self._stats, self.low
            )
        return self._stats

    def weights(self, k: int) -> np.ndarray:
        return self._statistics(k)[1].copy()

    def update(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        sums, weight, counts = self._statistics(k)
        if self.metric.centre == "median":
            return self.ops.counting_medians(counts, weight, self.low), weight.copy()
        if weight.all():  # no empty cluster: no 0/0 to silence (an errstate costs more than the division)
            return sums / weight[:, None], weight.copy()
        with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 marks an empty cluster as NaN, as Metric.update does
            return sums / weight[:, None], weight.copy()

    def relabel(self, samples: np.ndarray, clusters: np.ndarray) -> None:
        super().relabel(samples, clusters)
        self._stats = None

    def renumber(self, keep: np.ndarray) -> None:
        super().renumber(keep)
        self._stats = None
        self.lower = None  # the tracked second centres carry the old numbering


def integer_rows(rows: InMemoryRows, layouts: dict[str, Layout | None] | None = None) -> InMemoryRows:
    """``rows`` as :class:`IntegerRows` when :func:`integer_layout` accepts its data (same block, metric
    and backend), else ``rows`` itself; call it before the first assignment.

    ``layouts`` keeps the layout per metric centre for the next fits of the same data (a
    :class:`~fastclust._treefilter.DataMemo`'s, which holds only for data equal to its own).
    """
    if rows.assigner.wide:
        return rows
    centre = rows.metric.centre
    if layouts is not None and centre in layouts:
        layout = layouts[centre]
    else:
        layout = integer_layout(rows.X, rows.w, rows.metric)
        if layouts is not None:
            layouts[centre] = layout
    if layout is None:
        return rows
    low, n_bins, high = layout
    # copies: a kept layout is shared by fits, maybe on other threads
    return IntegerRows(rows.block, rows.metric, rows.backend, low.copy(), n_bins, high.copy())


@contextmanager
def serial_if_small(rows: InMemoryRows, k: int) -> Iterator[None]:
    """One numba thread for this thread's kernels while a small direct-path fit runs (see
    :data:`SERIAL_WORK`); wide (BLAS) fits and the numpy backend are left alone. numba's
    thread count is per thread, so fits on other threads keep theirs."""
    n, d = rows.X.shape
    if rows.backend != "numba" or rows.assigner.wide or float(n) * d * k >= SERIAL_WORK:
        yield
        return
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


@functools.lru_cache(maxsize=1)
def _threadsafe_numba() -> bool:
    """Whether numba's parallel kernels may be launched from several threads at once.

    numba's fallback threading layer, workqueue, aborts the process when they are
    (numba picks TBB, then OpenMP, then workqueue); the fits of :func:`map_fits`
    may reach a parallel kernel (k-means++ seeding), so without TBB or OpenMP
    they run one after another.
    """
    from numba import config

    if str(getattr(config, "THREADING_LAYER", "default")).lower() == "workqueue":
        return False
    for layer in ("tbbpool", "omppool"):
        try:
            importlib.import_module(f"numba.np.ufunc.{layer}")
        except ImportError:
            continue
        return True
    return False


def fit_workers(backend: str, n_tasks: int) -> int:
    """Threads for ``n_tasks`` independent fits: numba's thread count (``NUMBA_NUM_THREADS``,
    ``numba.set_num_threads``) capped by the CPUs this process may use; 1 for the numpy backend,
    whose work holds the GIL, for a single task, and where numba's threading layer is not
    thread-safe (:func:`_threadsafe_numba`)."""
    if backend != "numba" or n_tasks <= 1 or not _threadsafe_numba():
        return 1
    import numba

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(int(numba.get_num_threads()), cpus, n_tasks))


def map_fits(fn: Callable[[T], R], items: Iterable[T], backend: str) -> Iterator[R]:
    """``fn`` over ``items`` on :func:`fit_workers` threads, results in the order of ``items``.

    Each call is one whole fit, so threads meet only when a fit ends: no per-round
    barrier that a descheduled thread could stall. Results are yielded as soon as
    they and all before them are done (a progress bar can follow them). An error
    in one call is raised here, and the calls not yet started are dropped.
    """
    todo = list(items)
    workers = fit_workers(backend, len(todo))
    if workers == 1:
        yield from map(fn, todo)
        return

    def one(item: T) -> R:
        # a worker runs whole fits: any parallel kernel inside one gets a single thread
        # (a new thread starts at numba's default count; workers x threads would oversubscribe)
        import numba

        numba.set_num_threads(1)
        return fn(item)

    pool = ThreadPoolExecutor(workers, thread_name_prefix="fastclust-fit")
    futures = [pool.submit(one, item) for item in todo]
    try:
        for future in futures:
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
