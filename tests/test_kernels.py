"""Each numba kernel against its numpy twin, and the bounded assignment against a full scan.

The twins share one contract (see fastclust/_kernels.py): float32 or float64 inputs in any
layout, float64 arithmetic, int64 labels, ties to the lowest index. Hypothesis drives both
with the same arguments across dtypes, C/F order and exact ties, and every output must agree
bit for bit, dtype included.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastclust as fc
from fastclust import _reference as ref
from fastclust._codes import MANHATTAN, SQEUCLIDEAN

kernels = pytest.importorskip("fastclust._kernels", reason="numba is not installed") if fc.numba_available() else None
needs_numba = pytest.mark.skipif(kernels is None, reason="numba is not installed")
CODES = [SQEUCLIDEAN, MANHATTAN]


def full_scan(X, C, metric):
    diff = X[:, None, :] - C[None, :, :]
    D = (diff**2).sum(-1) if metric == SQEUCLIDEAN else np.abs(diff).sum(-1)
    return D.argmin(1), D


@pytest.mark.parametrize("metric", CODES)
@pytest.mark.parametrize("impl", ["numpy", pytest.param("numba", marks=needs_numba)])
def test_bounded_assignment_equals_full_scan_over_rounds(metric, impl):
    ops = ref if impl == "numpy" else kernels
    rng = np.random.default_rng(metric)
    X = rng.integers(0, 256, size=(3000, 3)).astype(float)
    C = X[rng.choice(3000, 12, replace=False)].copy()
    labels, lower, drift = np.zeros(3000, dtype=np.int64), np.zeros(3000), np.zeros(12)
    scanned_later = []
    for round_ in range(8):
        labels, dist, lower, n_scanned = ops.assign_bounded(X, C, metric, labels, lower, drift, 1e-9 * 256)
        want, D = full_scan(X, C, metric)
        np.testing.assert_array_equal(labels, want)
        np.testing.assert_array_equal(dist, D[np.arange(3000), want])
        if round_:
            scanned_later.append(n_scanned)
        new = np.array([X[labels == j].mean(0) if (labels == j).any() else C[j] for j in range(12)])
        step = np.abs(new - C)
        drift = np.sqrt((step**2).sum(1)) if metric == SQEUCLIDEAN else step.sum(1)
        C = new
    assert min(scanned_later) < 3000 // 2  # the bounds really skip work once centroids settle


def test_twins_take_the_same_arguments_and_use_them_all():
    names = [
        "argmin_shifted",
        "assign_bounded",
        "assign_filtered",
        "assign_rows_blas",
        "assign_sums_blas",
        "assign_tracked",
        "build_filter_tree",
        "cluster_medians",
        "cluster_sums",
        "counting_medians",
        "edges_to_csr",
        "exact_objective",
        "expand_palette",
        "move_members",
        "pairwise_distances",
        "palette_error",
        "wide_bounds",
    ]
    assert sorted(ref.__all__) == names
    if kernels is not None:
        assert sorted(kernels.__all__) == names
        for name in names:
            assert list(inspect.signature(getattr(ref, name)).parameters) == list(
                inspect.signature(getattr(kernels, name)).parameters
            ), name
    # The numpy twin of cluster_medians walks `order` like the kernel: a wrong order changes its answer.
    X = np.array([[3.0], [1.0], [2.0]])
    good = np.argsort(X, axis=0, kind="stable").T.copy()
    w, labels = np.ones(3), np.zeros(3, dtype=np.int64)
    assert ref.cluster_medians(X, w, labels, 1, good)[0, 0] == 2.0
    assert ref.cluster_medians(X, w, labels, 1, np.array([[0, 1, 2]]))[0, 0] != 2.0


def test_pairwise_distances_axes_follow_the_arguments():
    A = np.zeros((2, 3))
    B = np.ones((5, 3))
    assert ref.pairwise_distances(A, B, SQEUCLIDEAN).shape == (2, 5)
    assert ref.pairwise_distances(B, A, MANHATTAN).shape == (5, 2)
    np.testing.assert_array_equal(ref.pairwise_distances(A, B, MANHATTAN), np.full((2, 5), 3.0))


# --- the shared contract, driven by hypothesis ----------------------------------------------------


@st.composite
def kernel_inputs(draw):
    """Small integer-valued data (exact ties everywhere) or continuous data, in either dtype and order."""
    n = draw(st.integers(1, 60))
    d = draw(st.integers(1, 5))
    k = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    if draw(st.booleans()):
        X = rng.integers(0, 4, size=(n, d)).astype(np.float64)  # ties
        C = rng.integers(0, 4, size=(k, d)) + draw(st.sampled_from([0.0, 0.5]))
    else:
        X = rng.normal(size=(n, d)) * 10 ** draw(st.integers(-3, 3))
        C = rng.normal(size=(k, d))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    c_dtype = draw(st.sampled_from([np.float32, np.float64]))
    order = draw(st.sampled_from(["C", "F"]))
    X = np.array(X, dtype=dtype, order=order)
    C = np.array(C, dtype=c_dtype, order=draw(st.sampled_from(["C", "F"])))
    w = rng.choice([0.0, 0.5, 1.0, 2.5], size=n) if draw(st.booleans()) else np.ones(n)
    labels = rng.integers(0, k, size=n).astype(np.int64)
    metric = draw(st.sampled_from(CODES))
    return X, C, w, labels, k, metric


CONTRACT = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def same(a, b):
    """Bit-identical, dtype included (scalars compared as Python numbers)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    else:
        assert int(a) == int(b)


@needs_numba
@CONTRACT
@given(kernel_inputs())
def test_pairwise_and_bounded_twins_identical(inputs):
    X, C, w, labels, k, metric = inputs
    same(kernels.pairwise_distances(X, C, metric), ref.pairwise_distances(X, C, metric))
    same(kernels.pairwise_distances(C, X, metric), ref.pairwise_distances(C, X, metric))
    lower = np.zeros(X.shape[0])
    drift = np.zeros(k)
    for a, b in zip(
        kernels.assign_bounded(X, C, metric, labels * 0, lower, drift, 1e-9),
        ref.assign_bounded(X, C, metric, labels * 0, lower, drift, 1e-9),
        strict=True,
    ):
        same(a, b)
    # a second, bounded round from the first round's labels and bounds, after a small move
    lab, _, low, _ = ref.assign_bounded(X, C, metric, labels * 0, lower, drift, 1e-9)
    C2 = np.asarray(C, dtype=np.float64) + 0.25
    step = np.full(k, 0.25 * X.shape[1]) if metric == MANHATTAN else np.full(k, 0.25 * np.sqrt(X.shape[1]))
    for a, b in zip(
        kernels.assign_bounded(X, C2, metric, lab, low, step, 1e-9),
        ref.assign_bounded(X, C2, metric, lab, low, step, 1e-9),
        strict=True,
    ):
        same(a, b)
    want, D = full_scan(X.astype(np.float64), C2, metric)
    np.testing.assert_array_equal(ref.assign_bounded(X, C2, metric, lab, low, step, 1e-9)[0], want)


@needs_numba
@CONTRACT
@given(kernel_inputs())
def test_update_twins_identical(inputs):
    X, _, w, labels, k, _ = inputs
    same(kernels.cluster_sums(X, w, labels, k), ref.cluster_sums(X, w, labels, k))
    order = np.argsort(X, axis=0, kind="stable").T.copy()
    same(kernels.cluster_medians(X, w, labels, k, order), ref.cluster_medians(X, w, labels, k, order))


@needs_numba
@CONTRACT
@given(kernel_inputs(), st.sampled_from([np.float32, np.float64]))
def test_argmin_shifted_twins_identical(inputs, h_dtype):
    X, C, _, _, _, _ = inputs
    P = X @ np.asarray(C, dtype=X.dtype).T
    if P.shape[1] > 1:
        P[:, -1] = P[:, 0]  # an exact tie: the lowest index must win in both
    h = (0.5 * (np.asarray(C, dtype=np.float64) ** 2).sum(1)).astype(h_dtype)
    for a, b in zip(kernels.argmin_shifted(P, h), ref.argmin_shifted(P, h), strict=True):
        same(a, b)


def fused_inputs(X, C, duplicate):
    """What the wide path hands :func:`assign_sums_blas`: C-contiguous data, centres transposed in its dtype."""
    X = np.ascontiguousarray(X)
    Cx = np.array(C, dtype=X.dtype)
    if duplicate and Cx.shape[0] > 1:
        Cx[-1] = Cx[0]  # an exact tie between the first and the last centre: the first must win
    CT = np.ascontiguousarray(Cx.T)
    h = 0.5 * np.einsum("ij,ij->i", Cx, Cx)
    sq = np.einsum("ij,ij->i", X, X, dtype=np.float64)
    return X, CT, h, sq


def fused(ops, X, CT, h, sq, w, hint, start, stop, chunk, with_sums):
    """One call of ``ops.assign_sums_blas`` into fresh outputs: (labels, min_dist, sums) of rows ``start:stop``.

    The outputs start as NaN/-1 garbage outside ``start:stop``, which the call must leave alone."""
    n, d = X.shape
    k = CT.shape[1]
    labels = np.full(n, -7, dtype=np.int64)
    dist = np.full(n, np.nan)
    sums = np.full((k if with_sums else 0, d), np.nan)  # overwritten, never added to
    P = np.full((chunk, k), np.nan, dtype=X.dtype)
    assert ops.assign_sums_blas(X, CT, h, sq, w, hint, start, stop, labels, dist, sums, P) is None
    assert (labels[:start] == -7).all() and (labels[stop:] == -7).all()
    assert np.isnan(dist[:start]).all() and np.isnan(dist[stop:]).all()
    return labels[start:stop], dist[start:stop], sums


@needs_numba
@CONTRACT
@given(kernel_inputs(), st.sampled_from([1, 3, 256]), st.booleans(), st.booleans())
def test_assign_sums_blas_twins_identical(inputs, chunk, with_sums, duplicate):
    X, C, w, labels, k, _ = inputs
    X, CT, h, sq = fused_inputs(X, C, duplicate)
    n = X.shape[0]
    for start, stop in ((0, n), (n // 3, n)):
        if start == stop:
            continue
        want = fused(ref, X, CT, h, sq, w, np.full(n, k - 1), start, stop, chunk, with_sums)
        # no hint, the right labels as hints, and arbitrary ones: only speed may differ
        right = np.zeros(n, dtype=np.int64)
        right[start:stop] = want[0]
        for hint in (np.full(n, k - 1), right, labels):
            got = fused(kernels, X, CT, h, sq, w, hint, start, stop, chunk, with_sums)
            for a, b in zip(got, want, strict=True):
                same(a, b)


@pytest.mark.parametrize("impl", ["numpy", pytest.param("numba", marks=needs_numba)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_assign_sums_blas_is_chunked_argmin_and_ordered_sums(impl, dtype):
    """The fused pass = argmin_shifted on the same chunks + cluster_sums of the rows, bit for bit."""
    ops = ref if impl == "numpy" else kernels
    rng = np.random.default_rng(3)
    X = rng.integers(0, 3, size=(700, 20)).astype(dtype)  # integer data: exact ties between centres
    C = X[rng.choice(700, 9, replace=False)].astype(np.float64) + rng.choice([0.0, 0.5], size=(9, 20))
    X, CT, h, sq = fused_inputs(X, C, duplicate=True)
    w = rng.choice([0.0, 0.5, 1.0, 3.0], size=700)
    hint = np.random.default_rng(4).integers(0, 9, size=700)
    labels, dist, sums = fused(ops, X, CT, h, sq, w, hint, 100, 700, 64, True)
    for s in range(100, 700, 64):
        want, score = ref.argmin_shifted(X[s : s + 64] @ CT, h)
        np.testing.assert_array_equal(labels[s - 100 : s - 36], want)
        np.testing.assert_array_equal(dist[s - 100 : s - 36], np.maximum(sq[s : s + 64] + 2.0 * score.astype(float), 0))
    assert (labels != 8).all()  # centre 8 duplicates centre 0: it never wins
    same(sums, ref.cluster_sums(X[100:], w[100:], labels, 9))
    assert fused(ops, X, CT, h, sq, w, hint, 0, 700, 64, False)[2].shape == (0, 20)
    with pytest.raises(ValueError, match="hint"):
        fused(ops, X, CT, h, sq, w, hint + 9, 0, 700, 64, False)
    # outputs and workspace that do not fit are refused, never written past
    out = np.empty(700, dtype=np.int64), np.empty(700), np.empty((9, 20)), np.empty((64, 9), dtype=dtype)
    for i, bad in enumerate(
        [np.empty(699, dtype=np.int64), np.empty(699), np.empty((8, 20)), np.empty((64, 8), dtype=dtype)]
    ):
        args = list(out)
        args[i] = bad
        with pytest.raises(ValueError, match="wrong shape"):
            ops.assign_sums_blas(X, CT, h, sq, w, hint, 0, 700, *args)
    # rows outside X, or inputs too short for them, are refused before anything is read
    roomy = np.empty(800, dtype=np.int64), np.empty(800), out[2], out[3]  # outputs that would fit 701 rows
    for start, stop in ((5, 4), (0, 701), (-1, 3)):
        with pytest.raises(ValueError, match="rows of X"):
            ops.assign_sums_blas(X, CT, h, sq, w, hint, start, stop, *roomy)
    for i, name in ((0, "rows of X"), (1, "rows of w"), (2, "rows of X")):
        short = [sq, w, hint]
        short[i] = short[i][:600]
        with pytest.raises(ValueError, match=name):
            ops.assign_sums_blas(X, CT, h, *short, 0, 700, *out)


@needs_numba
@CONTRACT
@given(kernel_inputs(), st.sampled_from([1, 3, 256]), st.booleans(), st.data())
def test_assign_rows_blas_twins_identical(inputs, chunk, duplicate, data):
    X, C, _, _, k, _ = inputs
    X, CT, h, _ = fused_inputs(X, C, duplicate)
    n = X.shape[0]
    rows = np.flatnonzero(data.draw(st.lists(st.booleans(), min_size=n, max_size=n))).astype(np.int64)
    for a, b in zip(
        kernels.assign_rows_blas(X, CT, h, rows, chunk), ref.assign_rows_blas(X, CT, h, rows, chunk), strict=True
    ):
        same(a, b)


@pytest.mark.parametrize("impl", ["numpy", pytest.param("numba", marks=needs_numba)])
@pytest.mark.parametrize("k", [1, 10, 200])
def test_assign_rows_blas_gives_any_row_the_fused_pass_bits(impl, k):
    """Products of one shape give a row the same bits wherever it sits (checked on the installed BLAS):
    gathered rows get the fused pass's labels and scores, and the second score is the best other one."""
    ops = ref if impl == "numpy" else kernels
    rng = np.random.default_rng(k)
    X = rng.integers(0, 256, size=(1100, 784)).astype(np.float32)  # 4 chunks and a short one
    C = X[rng.choice(1100, k, replace=False)] * 0.7 + rng.random((k, 784)).astype(np.float32)
    X, CT, h, sq = fused_inputs(X, C, duplicate=False)
    labels, dist, _ = fused(ops, X, CT, h, sq, np.ones(1100), np.full(1100, k - 1), 0, 1100, 256, False)
    for rows in (
        np.arange(1100),
        np.sort(rng.choice(1100, 300, replace=False)),
        np.array([3, 1099]),
        np.arange(256, 600),
    ):
        got, best, second = ops.assign_rows_blas(X, CT, h, rows.astype(np.int64), 256)
        np.testing.assert_array_equal(got, labels[rows])
        np.testing.assert_array_equal(np.maximum(sq[rows] + 2.0 * best, 0.0), dist[rows])
        S = (h[None, :] - X[rows] @ CT).astype(np.float64)
        S[np.arange(rows.size), got] = np.inf
        assert (second <= S.min(axis=1) + 1e-3 * np.abs(S.min(axis=1)) if k > 1 else np.isinf(second)).all()
    with pytest.raises(ValueError, match="increasing"):
        ops.assign_rows_blas(X, CT, h, np.array([5, 5]), 256)
    with pytest.raises(ValueError, match="increasing"):
        ops.assign_rows_blas(X, CT, h, np.array([1100]), 256)


@needs_numba
@CONTRACT
@given(st.integers(1, 40), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_wide_bounds_twins_identical(n, k, seed):
    rng = np.random.default_rng(seed)
    args = (
        rng.random(n) * 100,
        rng.integers(0, k, size=n).astype(np.int64),
        rng.random(n) * 5,
        rng.random(n) * 10,
        rng.random(k),
        rng.random(k),
        rng.random(k) * 12,
        1e-6,
        7.0,
    )
    for start, stop in ((0, n), (n // 2, n)):
        for a, b in zip(kernels.wide_bounds(*args, start, stop), ref.wide_bounds(*args, start, stop), strict=True):
            same(a, b)


@pytest.mark.parametrize("impl", ["numpy", pytest.param("numba", marks=needs_numba)])
def test_wide_bounds_settle_only_rows_the_fused_pass_keeps(impl):
    """Rows the bounds settle keep the fused pass's label after the centres move, even at a scale
    where float32 products blur near-ties; the bounds also settle most rows once centres settle."""
    ops = ref if impl == "numpy" else kernels
    rng = np.random.default_rng(11)
    k, d = 12, 40
    X = (rng.integers(0, 6, size=(3000, 1)) * 60 + rng.integers(0, 100, size=(3000, d))).astype(np.float32)
    X = np.ascontiguousarray(X)
    sq = np.einsum("ij,ij->i", X, X, dtype=np.float64)
    coef = (d + 4) * 2.0**-24
    C = X[rng.choice(3000, k, replace=False)].astype(np.float64)
    settled_late = []
    prev_labels = upper = lower = C_prev = np.zeros(0)  # set by each round for the next
    for round_ in range(6):
        Cx = C.astype(np.float32)
        X_, CT, h, _ = fused_inputs(X, Cx, duplicate=False)
        C64 = Cx.astype(np.float64)
        largest = float(np.sqrt((C64**2).sum(1).max())) * (1 + 1e-12)
        labels, dist, _ = fused(ops, X, CT, h, sq, np.ones(3000), np.full(3000, k - 1), 0, 3000, 256, False)
        if round_:
            moved = np.sqrt(((C64 - C_prev) ** 2).sum(1)) * (1 + 1e-12)
            other = np.array([np.delete(moved, a).max() if k > 1 else 0.0 for a in range(k)])
            D = np.sqrt(np.maximum((C64**2).sum(1)[:, None] + (C64**2).sum(1)[None, :] - 2 * C64 @ C64.T, 0))
            np.fill_diagonal(D, np.inf)
            sep = D.min(1) * (1 - 1e-9)
            up, lo, unsettled = ops.wide_bounds(
                sq, prev_labels, upper, lower, moved, other, sep, coef, largest, 0, 3000
            )
            np.testing.assert_array_equal(labels[~unsettled], prev_labels[~unsettled])
            # and the bounds are bounds: true distances lie between them
            true = np.sqrt(((X.astype(np.float64)[:, None, :] - C64[None]) ** 2).sum(-1))
            own = true[np.arange(3000), prev_labels]
            true[np.arange(3000), prev_labels] = np.inf
            assert (own <= up * (1 + 1e-9)).all() and (true.min(1) >= lo * (1 - 1e-9)).all()
            settled_late.append(int((~unsettled).sum()))
        _, best, second = ops.assign_rows_blas(X, CT, h, np.arange(3000), 256)
        e2 = 2 * coef * (np.sqrt(sq) * largest + largest**2 + sq)
        upper = np.sqrt(np.maximum(sq + 2 * best + e2, 0))
        lower = np.sqrt(np.maximum(sq + 2 * second - e2, 0))
        prev_labels, C_prev = labels, C64
        C = np.array([X[labels == j].astype(np.float64).mean(0) if (labels == j).any() else C64[j] for j in range(k)])
    assert max(settled_late) > 3000 // 2


@pytest.mark.parametrize("impl", ["numpy", pytest.param("numba", marks=needs_numba)])
@CONTRACT
@given(st.integers(1, 50), st.integers(1, 4), st.integers(1, 7), st.integers(0, 2**31 - 1))
def test_palette_expansion_and_error(impl, n, d, k, seed):
    """An image's pixels from its distinct colours' clusters, and the palette's exact squared error (integer
    colours, counts and palette), equal to direct numpy; the twins agree to the bit."""
    ops = ref if impl == "numpy" else kernels
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(n, d)).astype(np.float64)
    w = rng.integers(0, 1000, size=n).astype(np.float64)
    labels = rng.integers(0, k, size=n)
    palette = rng.integers(0, 256, size=(k, d)).astype(np.uint8)
    inverse = rng.integers(0, n, size=3 * n)
    pixel_labels, pixels = ops.expand_palette(inverse, labels, palette)
    assert pixel_labels.dtype == np.int64 and pixels.dtype == np.uint8
    np.testing.assert_array_equal(pixel_labels, labels[inverse])
    np.testing.assert_array_equal(pixels, palette[labels[inverse]])
    P = palette.astype(np.float64)
    total = ops.palette_error(X, w, labels, P)
    assert total == float(sum(int(w[i]) * int(((X[i] - P[labels[i]]) ** 2).sum()) for i in range(n)))
    assert total == ref.palette_error(X, w, labels, P)


@pytest.mark.parametrize("impl", ["numpy", pytest.param("numba", marks=needs_numba)])
def test_weighted_medians_match_numpy_median_of_repeated_values(impl):
    ops = ref if impl == "numpy" else kernels
    rng = np.random.default_rng(4)
    X = rng.integers(0, 5, size=(500, 4)).astype(float)
    w = rng.integers(0, 4, size=500).astype(float)
    labels = rng.integers(0, 9, size=500)
    order = np.argsort(X, axis=0, kind="stable").T.copy()
    got = ops.cluster_medians(X, w, labels, 10, order)
    for j in range(10):
        members = (labels == j) & (w > 0)
        if not members.any():
            assert np.isnan(got[j]).all()
            continue
        want = np.median(np.repeat(X[members], w[members].astype(int), axis=0), axis=0)
        np.testing.assert_array_equal(got[j], want)
