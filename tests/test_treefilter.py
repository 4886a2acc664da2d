"""Filtering a tree of boxes (fastclust._treefilter): the kernels against their twins and a full scan, and
the fits against the tracked integer path's.

FilteredRows must give the labels, centroids, rounds and stop reason of IntegerRows (and so of the
general path); its objective comes from exact box statistics and may differ in the last digits only.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import BACKENDS, integer_case_data, same, shared_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastclust as fc
from fastclust import _lowdim, _treefilter
from fastclust import _reference as ref
from fastclust.metrics import get_metric

kernels = pytest.importorskip("fastclust._kernels", reason="numba is not installed") if fc.numba_available() else None
needs_numba = pytest.mark.skipif(kernels is None, reason="numba is not installed")
CONTRACT = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def tree_problems(draw):
    """Integer data (few values: duplicates and ties everywhere), integer weights with zeros, small leaves,
    and centres that move over a few rounds, sometimes onto half-integers (exact ties)."""
    n = draw(st.integers(1, 90))
    d = draw(st.integers(1, 4))
    k = draw(st.integers(1, 12))  # up to 12: leaves with 5 or more candidates too (their own loop for d = 3)
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    top = draw(st.sampled_from([1, 3, 16, 255]))
    low = draw(st.sampled_from([0, -5, 7]))
    X = (rng.integers(0, top + 1, size=(n, d)) + low).astype(np.float64)
    w = rng.integers(0, 4, size=n).astype(np.float64) if draw(st.booleans()) else np.ones(n)
    C = rng.integers(low, low + top + 1, size=(k, d)) + draw(st.sampled_from([0.0, 0.5]))
    if draw(st.booleans()):
        C = C + rng.normal(scale=0.3, size=C.shape)
    steps = [rng.normal(scale=draw(st.sampled_from([0.0, 0.1, 2.0])), size=(k, d)) for _ in range(3)]
    leaf = draw(st.sampled_from([1, 2, 5, 16, 32]))
    bits = max(top.bit_length(), 1)
    return X, w, np.ascontiguousarray(C, dtype=np.float64), steps, leaf, np.full(d, low, dtype=np.int64), bits


def walk_rounds(ops, X, w, C, steps, tree, root_known=True, relabel=False):
    """The kernel's outputs and in/out state over a first round and three rounds of moved centres;
    ``root_known``: the first round is told that every sample had label 0 (as FilteredRows does);
    ``relabel``: after the second round every third sample is moved to the next cluster outside the walk
    (as an empty-cluster policy does), with the statistics recounted and every stamp made stale."""
    n, m = X.shape[0], tree[1].shape[0]
    perm = tree[0]
    labels, owner, stamp = np.zeros(n, dtype=np.int64), np.full(m, -1, dtype=np.int64), np.full(m, -2, dtype=np.int64)
    tree_labels = labels[perm]
    # every sample in cluster 0 to begin with: the root's statistics there
    k, d = C.shape
    sums, weight, squares = np.zeros((k, d)), np.zeros(k), np.zeros(k)
    sums[0], weight[0], squares[0] = tree[6][0], tree[7][0], tree[8][0]
    if root_known:
        owner[0], stamp[0] = 0, -1
    out = []
    for round_, step in enumerate([np.zeros_like(C), *steps]):
        if relabel and round_ == 2:
            labels[::3] = (labels[::3] + 1) % k
            sums[:] = ref.cluster_sums(X, w, labels, k)
            weight[:] = np.bincount(labels, weights=w, minlength=k)
            squares[:] = np.bincount(labels, weights=w * (X**2).sum(1), minlength=k)
            stamp[:] = -2
            tree_labels[:] = labels[perm]
        before = labels.copy()
        C = np.ascontiguousarray(C + step)
        n_changed = ops.assign_filtered(
            X[perm], w[perm], *tree, C, labels, tree_labels, owner, stamp, round_, sums, weight, squares
        )
        np.testing.assert_array_equal(tree_labels, labels[perm])  # the two copies stay in step
        result = (sums.copy(), weight.copy(), squares.copy(), n_changed)
        out.append((C, result, labels.copy(), owner.copy(), stamp.copy(), before))
    return out


@needs_numba
@CONTRACT
@given(tree_problems(), st.booleans(), st.booleans())
def test_tree_and_filter_twins_identical_over_rounds(problem, root_known, relabel):
    X, w, C, steps, leaf, low, bits = problem
    fast = kernels.build_filter_tree(X, w, low, bits, leaf)
    slow = ref.build_filter_tree(X, w, low, bits, leaf)
    for a, b in zip(fast, slow, strict=True):
        same(a, b)
    bounds = low.astype(np.float64), X.max(axis=0)
    for (C_round, got, *state_got), (_, want, *state_want) in zip(
        walk_rounds(kernels, X, w, C, steps, fast, root_known, relabel),
        walk_rounds(ref, X, w, C, steps, slow, root_known, relabel),
        strict=True,
    ):
        for a, b in zip((*got, *state_got), (*want, *state_want), strict=True):
            same(a, b)
        same(kernels.exact_objective(C_round, *got[:3], *bounds), ref.exact_objective(C_round, *got[:3], *bounds))


@pytest.mark.parametrize("impl", ["numpy", pytest.param("numba", marks=needs_numba)])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=tree_problems(), root_known=st.booleans(), relabel=st.booleans())
def test_filtered_assignment_is_a_full_scan(impl, problem, root_known, relabel):
    """Labels of a full scan (ties to the lowest index), the count of changed labels, exact cluster
    statistics, and the objective from them to rounding."""
    ops = ref if impl == "numpy" else kernels
    X, w, C, steps, leaf, low, bits = problem
    tree = ops.build_filter_tree(X, w, low, bits, leaf)
    high = X.max(axis=0)
    rounds = walk_rounds(ops, X, w, C, steps, tree, root_known, relabel)
    for C_round, (sums, weight, squares, n_changed), labels, _, _, before in rounds:
        assert n_changed == np.count_nonzero(labels != before)
        diff = X[:, None, :] - C_round[None, :, :]
        D = np.zeros((X.shape[0], C_round.shape[0]))
        for f in range(X.shape[1]):
            D += diff[:, :, f] ** 2
        np.testing.assert_array_equal(labels, D.argmin(1))
        k = C_round.shape[0]
        np.testing.assert_array_equal(weight, np.bincount(labels, weights=w, minlength=k))
        np.testing.assert_array_equal(sums, ref.cluster_sums(X, w, labels, k))
        np.testing.assert_array_equal(squares, np.bincount(labels, weights=w * (X**2).sum(1), minlength=k))
        want = float((w * D[np.arange(X.shape[0]), labels]).sum())
        objective = ops.exact_objective(C_round, sums, weight, squares, low.astype(np.float64), high)
        assert abs(objective - want) <= 1e-12 * (want + w.sum())


@pytest.mark.parametrize("impl", ["numpy", pytest.param("numba", marks=needs_numba)])
@pytest.mark.parametrize("d", [2, 3])  # 3: the kernel's own code for the images' case
def test_the_rounding_margin_keeps_a_tie_at_a_corner(impl, d):
    """Sample (0, 0) is exactly as far from both centres as the full scan computes it (a tie: label 0), but
    the filter's gap at the box's corner rounds to a positive value: without the margin, centre 0 would be
    pruned and the sample would go to centre 1 (found by an independent review). A third feature of zeros
    adds exact zeros to every distance and gap."""
    ops = ref if impl == "numpy" else kernels
    X, w = np.zeros((2, d)), np.ones(2)
    X[1, :2] = 1000.0
    C = np.zeros((2, d))
    C[:, :2] = [[-425.61455969916364, 73.56924092912932], [339.91597630941345, 266.49074221897365]]
    D = (X[:, None, 0] - C[None, :, 0]) ** 2 + (X[:, None, 1] - C[None, :, 1]) ** 2
    assert D[0, 0] == D[0, 1]  # the tie, as the leaf scan computes it
    tree = ops.build_filter_tree(X, w, np.zeros(d, dtype=np.int64), 10, 64)
    m = tree[1].shape[0]
    labels, owner, stamp = np.zeros(2, dtype=np.int64), np.full(m, -1), np.full(m, -2)
    sums, weight, squares = np.zeros((2, d)), np.zeros(2), np.zeros(2)
    sums[0], weight[0], squares[0] = tree[6][0], tree[7][0], tree[8][0]
    perm = tree[0]
    ops.assign_filtered(X[perm], w[perm], *tree, C, labels, labels[perm], owner, stamp, 0, sums, weight, squares)
    np.testing.assert_array_equal(labels, [0, 1])


@pytest.mark.parametrize("impl", ["numpy", pytest.param("numba", marks=needs_numba)])
def test_tree_structure(impl):
    """Children split their parent's range; boxes hold their samples; leaves are small unless the
    samples are one point; statistics are the samples' exact sums."""
    ops = ref if impl == "numpy" else kernels
    rng = np.random.default_rng(4)
    X = np.vstack([rng.integers(0, 256, size=(3000, 3)), np.full((40, 3), 9)]).astype(np.float64)  # a heavy point
    w = rng.integers(0, 5, size=X.shape[0]).astype(np.float64)
    perm, start, stop, child, lo, hi, sums, weight, squares = ops.build_filter_tree(X, w, np.zeros(3, np.int64), 8, 8)
    np.testing.assert_array_equal(np.sort(perm), np.arange(X.shape[0]))
    assert (start[0], stop[0]) == (0, X.shape[0])
    for node in range(start.size):
        ids = perm[start[node] : stop[node]]
        c = child[node]
        if c >= 0:
            assert c > node and (start[c], stop[c + 1], stop[c]) == (start[node], stop[node], start[c + 1])
            assert start[c] < stop[c] and start[c + 1] < stop[c + 1]
        else:
            assert ids.size <= 8 or (X[ids] == X[ids[0]]).all()
        np.testing.assert_array_equal(lo[node], X[ids].min(0))
        np.testing.assert_array_equal(hi[node], X[ids].max(0))
        assert weight[node] == w[ids].sum() and squares[node] == (w[ids] * (X[ids] ** 2).sum(1)).sum()
        np.testing.assert_array_equal(sums[node], (w[ids, None] * X[ids]).sum(0))
    assert (child >= 0).sum() > 100  # a real tree, not one leaf


# --- fits: FilteredRows against IntegerRows --------------------------------------------------------


def _fit(X, k, *, filtered, **kwargs):
    saved = _treefilter.MAX_K
    _treefilter.MAX_K = saved if filtered else 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fc.kmeans(X, k, **kwargs)
    finally:
        _treefilter.MAX_K = saved


def assert_same_fit(a, b):
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    assert (a.n_iter, a.k, a.stop_reason) == (b.n_iter, b.k, b.stop_reason)
    np.testing.assert_allclose(a.history, b.history, rtol=1e-12)


CASES = [
    # (values, n, d, k, weights, init, empty, max_iter)
    (256, 3000, 3, 12, "counts", "random", "drop", None),
    (256, 4000, 3, 24, "counts", "k-means++", "drop", None),
    (256, 3000, 3, 1, "counts", "random", "drop", None),
    (6, 2000, 3, 8, "ones", "k-means++", "drop", None),  # exact ties everywhere: plateaus, stalls
    (4, 1500, 2, 12, "zeros", "random-uniform", "reseed", None),  # empty clusters, zero weights
    (4, 1500, 2, 12, "counts", "random-uniform", "drop", None),
    (1000, 2000, 4, 9, "ones", "random", "drop", None),
    (256, 3000, 3, 10, "counts", "k-means++", "drop", 3),  # stopped by max_iter
    (64, 3000, 3, 300, "counts", "k-means++", "drop", None),  # many centres: long candidate lists
    # beyond 512 centres, up to MAX_K (minutes as plain Python: not in the nojit env)
    pytest.param((256, 5000, 3, 1500, "counts", "k-means++", "drop", 12), marks=pytest.mark.slow),
]


@needs_numba
@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_filtered_fits_equal_the_tracked_path(case, monkeypatch):
    monkeypatch.setattr(_treefilter, "MIN_ROWS", 1000)
    values, n, d, k, weights, init, empty, max_iter = case
    X, w = integer_case_data(values, n, d, k, weights)
    kwargs = dict(init=init, seed=3, sample_weight=w, empty=empty, max_iter=max_iter, backend="numba")
    chosen = []
    original = _treefilter.filtered_rows

    def spy(rows, k, memo=None):
        out = original(rows, k, memo)
        chosen.append(type(out).__name__)
        return out

    monkeypatch.setattr("fastclust.engine.filtered_rows", spy)
    assert_same_fit(_fit(X, k, filtered=True, **kwargs), _fit(X, k, filtered=False, **kwargs))
    assert chosen == ["FilteredRows", "IntegerRows"]


def test_which_fits_take_the_filtered_path(monkeypatch):
    monkeypatch.setattr(_treefilter, "MIN_ROWS", 100)
    rng = np.random.default_rng(2)
    X = rng.integers(0, 256, size=(300, 3)).astype(np.float64)

    def kind(X, k, metric="l2", backend="numba", w=None):
        from fastclust._memory import in_memory_rows

        rows, _ = in_memory_rows(X, np.ones(X.shape[0]) if w is None else w, get_metric(metric), backend)
        return type(_treefilter.filtered_rows(_lowdim.integer_rows(rows), k)).__name__

    if fc.numba_available():
        assert kind(X, _treefilter.MAX_K) == "FilteredRows"
        assert kind(X, 1) == "FilteredRows"
        assert kind(X, _treefilter.MAX_K + 1) == "IntegerRows"  # k above MAX_K
        assert kind(X, 3, metric="l1") == "IntegerRows"  # k-medians keeps its histograms
        assert kind(X[:99], 3) == "IntegerRows"  # too few rows
        assert _treefilter.size_qualifies(_treefilter.MAX_ROWS, 3)
        assert not _treefilter.size_qualifies(_treefilter.MAX_ROWS + 1, 3)  # int32 node numbers
        assert kind(X * 64, 3) == "IntegerRows"  # 14 bits per feature: beyond MAX_BITS
        assert kind(X + 0.5, 3) == "InMemoryRows"  # not integers: neither path
    # the walk would be Python loops: the tracked assignment, with the filtered path's objective
    assert kind(X, 3, backend="numpy") == "ExactObjectiveRows"
    assert kind(X, _treefilter.MAX_K + 1, backend="numpy") == "IntegerRows"


# --- the tree kept between fits of one prepared image ------------------------------------------------


def _image(seed=0, shape=(160, 160)):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(*shape, 3)).astype(np.uint8)


@needs_numba
def test_a_prepared_image_builds_its_tree_once(monkeypatch):
    """Every L2 fit of a prepared image after the first reuses its tree (any k, seed or init), and gives
    the bits of a fit that built its own."""
    from fastclust import image as fi

    monkeypatch.setattr(_treefilter, "MIN_ROWS", 1000)
    built = []
    original = _treefilter._build

    def spy(rows, bits):
        built.append(rows.X.shape[0])
        return original(rows, bits)

    monkeypatch.setattr(_treefilter, "_build", spy)
    prepared = fi.prepare_image(_image())
    fits = [fi.compress(prepared, k, seed=s, backend="numba") for k, s in ((3, 0), (6, 1), (6, 2), (12, 0))]
    assert built == [prepared.colours.shape[0]]  # one tree for four fits
    for fit, (k, s) in zip(fits, ((3, 0), (6, 1), (6, 2), (12, 0)), strict=True):
        fresh = fi.compress(fi.prepare_image(_image()), k, seed=s, backend="numba")
        np.testing.assert_array_equal(fit.labels, fresh.labels)
        same(fit.palette, fresh.palette)
        same(fit.fit.history, fresh.fit.history)
    assert len(built) == 5  # each fresh PreparedImage built its own
    fi.compress(prepared, 6, metric="l1", seed=0, backend="numba")  # k-medians: no tree at all
    assert len(built) == 5
    kept = []
    memo = _treefilter.TreeCache.memo
    monkeypatch.setattr(_treefilter.TreeCache, "memo", lambda self, X, w: kept.append(1) or memo(self, X, w))
    fi.compress(_image(), 6, seed=0, backend="numba")  # a one-off call on an array keeps no tree
    assert kept == [] and len(built) == 6
    fi.compress(prepared, 6, seed=0, backend="numba")
    assert kept == [1] and len(built) == 6


def test_a_prepared_image_checks_its_integer_layout_once(monkeypatch):
    """The integer layout (a few passes over the colours) is worked out once per prepared image and metric,
    and again after the colours changed in place; fits that reuse it give the same bits."""
    from fastclust import image as fi

    monkeypatch.setattr(_treefilter, "MIN_ROWS", 1000)
    calls = []
    original = _lowdim.integer_layout

    def spy(X, w, metric):
        calls.append(metric.name)
        return original(X, w, metric)

    monkeypatch.setattr(_lowdim, "integer_layout", spy)
    prepared = fi.prepare_image(_image())
    fits = [fi.compress(prepared, k, seed=0) for k in (3, 6, 3)]
    assert calls == ["l2"]
    fi.compress(prepared, 3, metric="l1", seed=0)
    fi.compress(prepared, 6, metric="l1", seed=0)
    assert calls == ["l2", "l1"]  # the median's layout has its histogram width
    fresh = fi.compress(fi.prepare_image(_image()), 3, seed=0)
    assert calls == ["l2", "l1", "l2"]
    np.testing.assert_array_equal(fits[2].labels, fresh.labels)
    same(fits[2].fit.history, fresh.fit.history)
    prepared.colours[:, 0] = 255.0 - prepared.colours[:, 0]  # changed in place: checked anew
    fi.compress(prepared, 3, seed=0)
    assert calls == ["l2", "l1", "l2", "l2"]
    prepared.colours[0, 0] = 0.5  # no longer integers: checked anew, the general path
    a = fi.compress(prepared, 3, seed=0)
    assert calls == ["l2", "l1", "l2", "l2", "l2"]
    b = fc.kmeans(prepared.colours, 3, init="random", seed=0, sample_weight=prepared.counts)
    np.testing.assert_array_equal(a.fit.labels, b.labels)
    same(a.fit.history, b.history)


@needs_numba
@pytest.mark.slow  # 48 fits: minutes as plain Python (the nojit env)
def test_fits_on_several_threads_share_a_prepared_image(monkeypatch):
    """Threads fitting one prepared image share its memo (tree and layout) and give the bits of fits that
    each built their own."""
    from concurrent.futures import ThreadPoolExecutor

    from fastclust import image as fi

    monkeypatch.setattr(_treefilter, "MIN_ROWS", 1000)
    prepared = fi.prepare_image(_image())
    cells = [(k, s, metric) for k in (3, 6, 12) for s in (0, 1) for metric in ("l2", "l1")] * 2
    with ThreadPoolExecutor(4) as pool:
        shared = list(pool.map(lambda c: fi.compress(prepared, c[0], seed=c[1], metric=c[2], backend="numba"), cells))
    for res, (k, s, metric) in zip(shared, cells, strict=True):
        own = fi.compress(fi.prepare_image(_image()), k, seed=s, metric=metric, backend="numba")
        np.testing.assert_array_equal(res.labels, own.labels)
        same(res.palette, own.palette)
        same(res.fit.history, own.fit.history)


@pytest.mark.parametrize("metric", ["l1", "l2"])
def test_a_negative_zero_written_into_the_colours_is_not_served_the_kept_layout(metric, monkeypatch):
    """-0.0 equals 0.0 as a value, but the integer layout refuses it: the memo compares bits, so a prepared
    image whose zeros became -0.0 in place fits as a fresh one does, bit for bit (found by a review)."""
    from fastclust import image as fi

    monkeypatch.setattr(_treefilter, "MIN_ROWS", 1000)  # l2 on the tree path
    # l1: few values, so that some medians are zeros (which come out +0.0 off the histograms)
    prepared = fi.prepare_image(_image() if metric == "l2" else _image() // 64)
    fi.compress(prepared, 8, metric=metric, seed=0)
    zeros = prepared.colours == 0
    assert zeros.any()
    prepared.colours[zeros] = -0.0
    fresh = fi.PreparedImage(prepared.rgb, prepared.colours.copy(), prepared.counts, prepared.inverse)
    a, b = (fi.compress(p, 8, metric=metric, seed=0) for p in (prepared, fresh))
    np.testing.assert_array_equal(a.labels, b.labels)
    same(a.palette, b.palette)
    same(a.fit.history, b.fit.history)


@needs_numba
def test_the_kept_tree_is_checked_before_reuse(monkeypatch):
    """A tree is reused only for equal samples and weights: data changed in place and other weights get a
    tree of their own, and the results stay exact."""
    from fastclust import image as fi
    from fastclust._memory import in_memory_rows

    monkeypatch.setattr(_treefilter, "MIN_ROWS", 100)
    rng = np.random.default_rng(4)
    X = rng.integers(0, 256, size=(500, 3)).astype(np.float64)

    def rows_of(X, w):
        rows, _ = in_memory_rows(X, w, get_metric("l2"), "numba")
        return _lowdim.integer_rows(rows)

    class Cache(_treefilter.TreeCache):
        def tree(self, rows, bits):  # as a fit gets its tree: the memo of its data, then the memo's tree
            return self.memo(rows.X, rows.w).tree(rows, bits)

    cache = Cache()
    kept = cache.tree(rows_of(X, np.ones(500)), 8)
    assert cache.tree(rows_of(X.copy(), np.ones(500)), 8) is kept  # equal samples and weights
    assert cache.tree(rows_of(X, np.ones(500)), 9) is not kept  # another code width
    kept, leaf = cache.tree(rows_of(X, np.ones(500)), 8), _treefilter.LEAF
    monkeypatch.setattr(_treefilter, "LEAF", leaf + 1)
    assert cache.tree(rows_of(X, np.ones(500)), 8) is not kept  # other leaves
    monkeypatch.setattr(_treefilter, "LEAF", leaf)
    other = cache.tree(rows_of(X, np.full(500, 2.0)), 8)  # other weights: a tree of their own
    assert other is not kept and other[0][7][0] == 1000.0  # the root's weight is the new weights'
    X[0, 0] = 255.0 - X[0, 0]  # changed in place
    changed = cache.tree(rows_of(X, np.full(500, 2.0)), 8)
    assert changed is not other and changed[0][5][0, 0] == X[:, 0].max()
    # a fit with the kept tree equals one without a cache
    a = fc.engine.fit_kmeans(X, 5, seed=0, backend="numba", trees=cache)
    b = fc.kmeans(X, 5, seed=0, backend="numba")
    assert_same_fit(a, b)
    assert cache.tree(rows_of(X, np.ones(500)), 8) is not changed

    # a prepared image whose colours were changed in place: its fits follow the new colours
    prepared = fi.prepare_image(_image())
    fi.compress(prepared, 6, seed=0, backend="numba")
    prepared.colours[:, 0] = 255.0 - prepared.colours[:, 0]
    fresh = fi.PreparedImage(prepared.rgb, prepared.colours.copy(), prepared.counts, prepared.inverse)
    a, b = (fi.compress(p, 6, seed=0, backend="numba") for p in (prepared, fresh))
    np.testing.assert_array_equal(a.labels, b.labels)
    same(a.palette, b.palette)


@needs_numba
def test_reseeding_reads_distances_on_demand(monkeypatch):
    """'reseed' needs each sample's distance, which the walk does not compute: it is computed on demand,
    with the general path's bits, so the same sample is chosen."""
    monkeypatch.setattr(_treefilter, "MIN_ROWS", 100)
    asked = []
    original = _treefilter.FilteredRows.farthest

    def spy(self, m):
        asked.append(m)
        return original(self, m)

    monkeypatch.setattr(_treefilter.FilteredRows, "farthest", spy)
    X = np.vstack([np.zeros((300, 3)), np.full((5, 3), 200.0), [[255.0, 0.0, 0.0]]])
    init = np.array([[0.0, 0.0, 0.0], [200.0, 200.0, 200.0], [0.0, 255.0, 255.0]])  # the last one gets nobody
    a = _fit(X, 3, filtered=True, init=init, empty="reseed", backend="numba")
    assert asked == [1]
    b = _fit(X, 3, filtered=False, init=init, empty="reseed", backend="numba")
    assert_same_fit(a, b)
    assert a.k == 3 and a.labels[-1] == 2  # the farthest sample seeded the empty cluster


@pytest.mark.slow
def test_course_image_compression_unchanged_by_the_filter(backend):
    """football.bmp at k = 3, 6, 12, 24: the filtered path's palettes and labels equal the tracked path's."""
    from fastclust import image as fi

    img = fi.load_image(shared_file("homework1", "football.bmp"))
    prepared = fi.prepare_image(img)
    for k in (3, 6, 12, 24):
        a = fi.compress(prepared, k, seed=0, backend=backend)
        saved = _treefilter.MAX_K
        _treefilter.MAX_K = 0
        try:
            b = fi.compress(prepared, k, seed=0, backend=backend)
        finally:
            _treefilter.MAX_K = saved
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.palette, b.palette)
        assert a.n_iter == b.n_iter
        assert abs(a.objective - b.objective) <= 1e-12 * b.objective


def test_both_backends_report_the_same_objective(monkeypatch):
    """The numpy backend keeps the tracked assignment but reports the filtered path's objective: a fit
    gives the same labels, centroids and objective history, bit for bit, on either backend."""
    monkeypatch.setattr(_treefilter, "MIN_ROWS", 1000)
    rng = np.random.default_rng(7)
    X = rng.integers(0, 256, size=(3000, 3)).astype(np.float64)
    counts = rng.integers(1, 9, size=3000)
    fits = [fc.kmeans(X, 6, seed=1, sample_weight=counts, backend=b) for b in BACKENDS]
    for a in fits[1:]:
        np.testing.assert_array_equal(a.labels, fits[0].labels)
        same(a.centroids, fits[0].centroids)
        same(a.history, fits[0].history)


def test_objective_accurate_far_from_zero(backend, monkeypatch):
    """Each cluster is expanded around an integer point next to its centre, so data near 1e5 keep the
    objective's digits (expanded around zero they lost 1e-5 of it); checked against exact rationals."""
    from fractions import Fraction

    monkeypatch.setattr(_treefilter, "MIN_ROWS", 1000)
    rng = np.random.default_rng(3)
    X = 100_000.0 + rng.integers(0, 4, size=(2000, 3)).astype(np.float64)
    fit = fc.kmeans(X, 5, seed=0, backend=backend)
    C = [[Fraction(float(v)) for v in row] for row in fit.centroids]
    exact = sum(
        sum((Fraction(float(x)) - c) ** 2 for x, c in zip(row, C[label], strict=True))
        for row, label in zip(X, fit.labels, strict=True)
    )
    assert abs(fit.objective - float(exact)) <= 1e-13 * float(exact)
