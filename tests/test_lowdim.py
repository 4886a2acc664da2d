"""The low-dimensional integer path (fastclust._lowdim): its kernels against their numpy twins, and its fits
against the general path's, bit for bit.

IntegerRows must return the same labels, centroids, objective history, rounds and stop reason as
InMemoryRows on every input it accepts, on both backends; its kernels (assign_tracked, move_members,
counting_medians) must agree with their twins to the last bit, dtype included, across data that ties
everywhere, zero weights, one or two centres and several rounds of moving centres.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
from conftest import integer_case_data, same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastclust as fc
from fastclust import _lowdim
from fastclust import _reference as ref
from fastclust._codes import MANHATTAN, SQEUCLIDEAN
from fastclust.metrics import get_metric

kernels = pytest.importorskip("fastclust._kernels", reason="numba is not installed") if fc.numba_available() else None
needs_numba = pytest.mark.skipif(kernels is None, reason="numba is not installed")
CONTRACT = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def full_scan(X, C, metric):
    diff = X[:, None, :].astype(np.float64) - np.asarray(C, dtype=np.float64)[None, :, :]
    D = (diff**2).sum(-1) if metric == SQEUCLIDEAN else np.abs(diff).sum(-1)
    return D.argmin(1), D


# --- the kernels against their twins --------------------------------------------------------------


@st.composite
def integer_problems(draw):
    """Integer data (few values: ties everywhere), integer weights with zeros, and centres that move."""
    n = draw(st.integers(1, 70))
    d = draw(st.integers(1, 4))
    k = draw(st.integers(1, 7))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    top = draw(st.sampled_from([3, 16, 255]))
    X = rng.integers(0, top + 1, size=(n, d)).astype(draw(st.sampled_from([np.float64, np.float32])))
    w = rng.integers(0, 4, size=n).astype(np.float64) if draw(st.booleans()) else np.ones(n)
    C = rng.integers(0, top + 1, size=(k, d)) + draw(st.sampled_from([0.0, 0.5]))
    if draw(st.booleans()):
        C = C + rng.normal(scale=0.3, size=C.shape)
    steps = [rng.normal(scale=draw(st.sampled_from([0.0, 0.1, 2.0])), size=(k, d)) for _ in range(3)]
    metric = draw(st.sampled_from([SQEUCLIDEAN, MANHATTAN]))
    return X, w, np.ascontiguousarray(C), steps, metric


def _state(n):
    return [np.zeros(n, dtype=np.int64), np.full(n, -1, dtype=np.int64), np.zeros(n), np.zeros(n), np.empty(n)]


@needs_numba
@CONTRACT
@given(integer_problems())
def test_assign_tracked_twins_identical_over_rounds(problem):
    X, w, C, steps, metric = problem
    n = X.shape[0]
    margin = 1e-9 * (float(np.abs(X).max()) + 1.0)
    fast, slow = _state(n), _state(n)
    offset = 0.0
    for round_, step in enumerate([None, *steps]):
        if step is not None:
            C_new = C + step
            diff = np.abs(C_new - C)
            drift = np.sqrt((diff**2).sum(1)) if metric == SQEUCLIDEAN else diff.sum(1)
            offset += float(drift.max())
            C = C_new
        before = fast[0].copy()
        got = kernels.assign_tracked(X, w, C, metric, *fast, offset, margin)
        want = ref.assign_tracked(X, w, C, metric, *slow, offset, margin)
        for a, b in zip(got, want, strict=True):
            same(a, b)
        for a, b in zip(fast, slow, strict=True):  # the state updated in place
            same(a, b)
        labels, D = full_scan(X, C, metric)
        np.testing.assert_array_equal(fast[0], labels)  # a full scan's labels, ties to the lowest index
        np.testing.assert_array_equal(fast[4], D[np.arange(n), labels])
        same(got[0], float((w * fast[4]).sum()))  # the objective, in numpy's order
        moved = np.flatnonzero(before != fast[0])
        if round_:
            np.testing.assert_array_equal(got[1], moved)
            np.testing.assert_array_equal(got[2], before[moved])


@needs_numba
@CONTRACT
@given(integer_problems(), st.integers(0, 2**31 - 1))
def test_statistics_twins_identical_and_exact(problem, seed):
    X, w, C, _, _ = problem
    n, d = X.shape
    k = C.shape[0]
    rng = np.random.default_rng(seed)
    low = np.array([X[:, f].min() for f in range(d)]).astype(np.int64)
    n_bins = int((X.max(axis=0) - X.min(axis=0)).max()) + 1
    labels = rng.integers(0, k, size=n)
    stats = {impl: (np.zeros((k, d)), np.zeros(k), np.zeros((k, d, n_bins))) for impl in ("numba", "numpy")}
    everyone = np.arange(n, dtype=np.int64)
    kernels.move_members(X, w, everyone, np.full(n, -1), labels, *stats["numba"], low)
    ref.move_members(X, w, everyone, np.full(n, -1), labels, *stats["numpy"], low)
    for _ in range(3):  # then some samples move, some twice over the rounds
        movers = np.flatnonzero(rng.random(n) < 0.3)
        new = labels.copy()
        new[movers] = rng.integers(0, k, size=movers.size)
        kernels.move_members(X, w, movers, labels[movers], new[movers], *stats["numba"], low)
        ref.move_members(X, w, movers, labels[movers], new[movers], *stats["numpy"], low)
        labels = new
    for a, b in zip(stats["numba"], stats["numpy"], strict=True):
        same(a, b)
    sums, weight, counts = stats["numba"]
    same(sums, ref.cluster_sums(X, w, labels, k))  # equal to a recomputation from scratch
    same(weight, np.bincount(labels, weights=w, minlength=k))
    order = np.argsort(X, axis=0, kind="stable").T.copy()
    want = ref.cluster_medians(X, w, labels, k, order)
    same(kernels.counting_medians(counts, weight, low), want)
    same(ref.counting_medians(counts, weight, low), want)


@needs_numba
def test_numpys_summation_order_is_reproduced():
    """The objective is summed in numpy's pairwise order: if numpy changes it, this says so first."""
    rng = np.random.default_rng(0)
    for n in [*range(0, 300), *rng.integers(300, 300_000, 60)]:
        w, m = rng.integers(1, 90, size=n).astype(np.float64), rng.random(n) * 1e3
        same(kernels._dot_pairwise(w, m), float((w * m).sum()))


def test_new_twins_take_the_kernels_arguments():
    for name in ("assign_tracked", "move_members", "counting_medians"):
        params = list(inspect.signature(getattr(ref, name)).parameters)
        if kernels is not None:
            assert params == list(inspect.signature(getattr(kernels, name)).parameters), name


# --- fits: IntegerRows against the general path ---------------------------------------------------


def _fit(X, k, *, general=False, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not general:
            return fc.kmeans(X, k, **kwargs)
        original = _lowdim.integer_layout
        _lowdim.integer_layout = lambda *a: None
        try:
            return fc.kmeans(X, k, **kwargs)
        finally:
            _lowdim.integer_layout = original


def assert_same_fit(a, b):
    np.testing.assert_array_equal(a.labels, b.labels)
    same(a.centroids, b.centroids)
    same(a.history, b.history)
    assert (a.n_iter, a.k, a.stop_reason, a.objective.hex()) == (b.n_iter, b.k, b.stop_reason, b.objective.hex())


CASES = [
    # (values, n, d, k, weights, init, empty, max_iter)
    (256, 600, 3, 12, "counts", "random", "drop", None),
    (6, 400, 3, 8, "ones", "k-means++", "drop", None),  # exact ties everywhere: plateaus, stalls
    (4, 300, 2, 30, "zeros", "random-uniform", "reseed", None),  # empty clusters, zero weights
    (4, 300, 2, 30, "counts", "random-uniform", "drop", None),
    (50, 500, 1, 5, "counts", "k-means++", "drop", None),
    (1000, 500, 4, 9, "ones", "random", "drop", None),
    (256, 800, 3, 20, "counts", "k-means++", "drop", 3),  # stopped by max_iter
]


@pytest.mark.parametrize("metric", ["l2", "l1"])
@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_integer_path_fits_equal_the_general_path(backend, metric, case):
    values, n, d, k, weights, init, empty, max_iter = case
    X, w = integer_case_data(values, n, d, k, weights)
    kwargs = dict(metric=metric, init=init, seed=3, sample_weight=w, empty=empty, max_iter=max_iter, backend=backend)
    assert _lowdim.integer_layout(X, np.ones(n) if w is None else w.astype(float), get_metric(metric)) is not None
    assert_same_fit(_fit(X, k, **kwargs), _fit(X, k, general=True, **kwargs))


def test_bounds_rebased_when_the_offset_grows(backend, monkeypatch):
    """Bounds are stored plus a growing offset; rebasing them (a full scan) changes no result."""
    rng = np.random.default_rng(5)
    X = rng.integers(0, 256, size=(700, 3)).astype(np.float64)
    want = _fit(X, 10, seed=1, backend=backend)
    monkeypatch.setattr(_lowdim.IntegerRows, "__init__", _small_limit(_lowdim.IntegerRows.__init__))
    assert_same_fit(_fit(X, 10, seed=1, backend=backend), want)


def _small_limit(init):
    def patched(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._offset_limit = 1.0

    return patched


def test_which_data_take_the_integer_path():
    l2, l1 = get_metric("l2"), get_metric("l1")
    X = np.random.default_rng(0).integers(0, 256, size=(100, 3)).astype(np.float64)
    w = np.ones(100)
    low, n_bins, high = _lowdim.integer_layout(X, w, l1)
    np.testing.assert_array_equal(low, X.min(axis=0).astype(np.int64))
    np.testing.assert_array_equal(high, X.max(axis=0))
    assert n_bins == int((X.max(axis=0) - X.min(axis=0)).max()) + 1
    assert _lowdim.integer_layout(X, w, l2)[1] == 0
    assert _lowdim.integer_layout(X + 0.5, w, l2) is None  # not integers
    assert _lowdim.integer_layout(X, w + 0.5, l2) is None  # weights not integers
    assert _lowdim.integer_layout(np.hstack([X, X]), w, l2) is None  # too many features
    negative_zero = X.copy()
    negative_zero[3, 1] = -0.0
    assert _lowdim.integer_layout(negative_zero, w, l1) is None  # a median would come out +0.0
    assert _lowdim.integer_layout(X * 2.0**45, w, l2) is None  # partial sums could reach 2**53
    wide_range = X.copy()
    wide_range[0, 0] = _lowdim.MAX_BINS + 5
    assert _lowdim.integer_layout(wide_range, w, l1) is None  # histogram too wide for medians...
    assert _lowdim.integer_layout(wide_range, w, l2) is not None  # ...which k-means does not need
    assert _lowdim.integer_layout(X.astype(np.float32), w, l2) is None  # the fit's own dtype only


def test_engine_picks_the_integer_path_only_for_qualifying_data(monkeypatch):
    chosen = []
    original = _lowdim.integer_rows

    def spy(rows, layouts=None):
        out = original(rows, layouts)
        chosen.append(type(out).__name__)
        return out

    monkeypatch.setattr("fastclust.engine.integer_rows", spy)
    rng = np.random.default_rng(1)
    fc.kmeans(rng.integers(0, 9, size=(50, 3)), 3, seed=0)
    fc.kmeans(rng.normal(size=(50, 3)), 3, seed=0)
    fc.kmeans(rng.integers(0, 9, size=(50, 3)), 3, seed=0, sample_weight=rng.random(50))
    assert chosen == ["IntegerRows", "InMemoryRows", "InMemoryRows"]


# --- independent fits on threads ------------------------------------------------------------------


def test_map_fits_keeps_order_and_raises_the_first_error():
    assert list(_lowdim.map_fits(lambda x: x * x, range(20), "numba" if fc.numba_available() else "numpy")) == [
        x * x for x in range(20)
    ]

    def boom(x):
        if x == 3:
            raise ValueError("three")
        return x

    with pytest.raises(ValueError, match="three"):
        list(_lowdim.map_fits(boom, range(8), "numba" if fc.numba_available() else "numpy"))
    assert _lowdim.fit_workers("numpy", 10) == 1
    assert _lowdim.fit_workers("numba", 1) == 1


@needs_numba
def test_q3_grid_on_threads_equals_one_thread():
    import numba

    from fastclust import image as fi

    rng = np.random.default_rng(2)
    imgs = {"a": rng.integers(0, 256, size=(30, 40, 3)).astype(np.uint8), "b": rng.integers(0, 80, size=(20, 20, 3))}
    threads = fi.q3_grid(imgs, ks=(3, 5), seeds=(0, 1, 2))
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        one = fi.q3_grid(imgs, ks=(3, 5), seeds=(0, 1, 2))
    finally:
        numba.set_num_threads(old)
    strip = ("seconds", "seconds_all_seeds")
    assert [{k: v for k, v in r.items() if k not in strip} for r in threads.rows] == [
        {k: v for k, v in r.items() if k not in strip} for r in one.rows
    ]
    for key, res in one.results.items():
        np.testing.assert_array_equal(threads.results[key].image, res.image)


@needs_numba
def test_small_direct_fits_run_numbas_kernels_on_one_thread(monkeypatch):
    import numba

    from fastclust import _lloyd

    seen = []
    run = _lloyd.run

    def spy(*args, **kwargs):
        seen.append(numba.get_num_threads())
        return run(*args, **kwargs)

    monkeypatch.setattr("fastclust.engine._lloyd.run", spy)
    before = numba.get_num_threads()
    rng = np.random.default_rng(0)
    fc.kmeans(rng.normal(size=(300, 3)), 4, seed=0, backend="numba")  # small: one thread
    assert numba.get_num_threads() == before  # restored
    monkeypatch.setattr(_lowdim, "SERIAL_WORK", 0)
    fc.kmeans(rng.normal(size=(300, 3)), 4, seed=0, backend="numba")  # above the threshold: untouched
    assert seen == [1, before]
