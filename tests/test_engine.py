"""The core engine against a textbook Lloyd / k-medians and between its two backends."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import BACKENDS, ROOT

import fastclust as fc
from fastclust import FastclustError


def textbook(X, C, metric="l2"):
    """Lloyd (mean) or k-medians (median), written plainly: stop when no label changes."""
    X = np.asarray(X, dtype=np.float64)
    C = np.asarray(C, dtype=np.float64)

    def nearest(C):
        diff = X[:, None, :] - C[None, :, :]
        D = (diff**2).sum(-1) if metric == "l2" else np.abs(diff).sum(-1)
        return D.argmin(1)

    labels = nearest(C)
    while True:
        used = np.unique(labels)  # empty clusters are dropped, labels renumbered
        labels = np.searchsorted(used, labels)
        centre = np.mean if metric == "l2" else np.median
        C = np.array([centre(X[labels == j], axis=0) for j in range(used.size)])
        new = nearest(C)
        if np.array_equal(new, labels):
            return labels, C
        labels = new


SHAPES = [(200, 2, 3), (500, 3, 8), (300, 20, 6), (400, 64, 10), pytest.param(5000, 32, 12, marks=pytest.mark.slow)]


@pytest.mark.parametrize("metric", ["l2", "l1"])
@pytest.mark.parametrize("n,d,k", SHAPES)
def test_matches_textbook_from_same_init(backend, metric, n, d, k):
    rng = np.random.default_rng(n + d + k)
    X = rng.normal(size=(n, d)) + rng.integers(0, 4, size=(n, 1)) * 3.0
    init = X[rng.choice(n, k, replace=False)]
    res = fc.kmeans(X, k, metric=metric, init=init, backend=backend)
    labels, C = textbook(X, init, metric)
    assert res.converged and res.stop_reason == "converged"
    np.testing.assert_array_equal(res.labels, labels)
    np.testing.assert_allclose(res.centroids, C, rtol=1e-10, atol=1e-10)
    assert res.k == C.shape[0]


@pytest.mark.skipif(len(BACKENDS) < 2, reason="numba is not installed: nothing to compare the numpy backend with")
@pytest.mark.parametrize("metric", ["l2", "l1"])
@pytest.mark.parametrize("init", ["k-means++", "random", "random-uniform"])
@pytest.mark.parametrize("n,d,k", [*SHAPES, pytest.param(3000, 5, 40, marks=pytest.mark.slow)])
def test_backends_identical(metric, init, n, d, k):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(n, d)).astype(np.float32 if n >= 4096 else np.float64)  # float32: the BLAS path
    a = fc.kmeans(X, k, metric=metric, init=init, seed=3, backend="numpy")
    b = fc.kmeans(X, k, metric=metric, init=init, seed=3, backend="numba")
    np.testing.assert_array_equal(a.initial_centroids, b.initial_centroids)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_allclose(a.centroids, b.centroids, rtol=1e-12, atol=1e-12)
    assert a.n_iter == b.n_iter and a.k == b.k
    assert a.objective == pytest.approx(b.objective, rel=1e-12)


def test_result_fields(backend):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    res = fc.kmeans(X, 5, seed=0, backend=backend)
    assert res.labels.dtype == np.int64 and res.labels.shape == (300,)
    assert res.centroids.dtype == np.float64 and res.centroids.shape == (res.k, 4)
    assert set(np.unique(res.labels)) == set(range(res.k))
    assert res.history.shape == (res.n_iter,) and res.objective == res.history[-1]
    direct = ((X - res.centroids[res.labels]) ** 2).sum()
    assert res.objective == pytest.approx(direct, rel=1e-9)
    assert res.seconds > 0 and res.backend == backend
    l1 = fc.kmeans(X, 5, seed=0, metric="l1", backend=backend)
    assert l1.objective == pytest.approx(np.abs(X - l1.centroids[l1.labels]).sum(), rel=1e-9)


def test_same_seed_same_result_and_generator_accepted(backend):
    X = np.random.default_rng(1).normal(size=(400, 3))
    a = fc.kmeans(X, 6, seed=11, backend=backend)
    b = fc.kmeans(X, 6, seed=np.random.default_rng(11), backend=backend)
    np.testing.assert_array_equal(a.labels, b.labels)
    c = fc.kmeans(X, 6, seed=12, backend=backend)
    assert not np.array_equal(a.initial_centroids, c.initial_centroids)


def test_two_colour_data_with_k5_drops_to_two(backend):
    X = np.array([[255, 0, 0]] * 50 + [[0, 0, 255]] * 30, dtype=np.uint8)
    with pytest.warns(UserWarning, match="only 2 distinct rows"):
        res = fc.kmeans(X, 5, init="random", seed=0, backend=backend)
    assert res.k == 2 and res.converged
    np.testing.assert_array_equal(np.sort(res.centroids, axis=0), [[0, 0, 0], [255, 0, 255]])
    # An explicit init with three centres that never win: they are dropped, k goes 5 -> 2.
    init = np.array([[250, 0, 0], [0, 0, 250], [100, 100, 100], [101, 100, 100], [120, 120, 0]])
    res = fc.kmeans(X, 5, init=init, backend=backend)
    assert res.k == 2 and sorted(np.bincount(res.labels)) == [30, 50]


def test_empty_reseed_and_error(backend):
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(size=(50, 2)), rng.normal(size=(50, 2)) + 10])
    init = np.array([[0.0, 0.0], [10.0, 10.0], [100.0, 100.0]])
    with pytest.raises(FastclustError, match=r"cluster\(s\) \[2\] became empty"):
        fc.kmeans(X, 3, init=init, empty="error", backend=backend)
    res = fc.kmeans(X, 3, init=init, empty="reseed", backend=backend)
    assert res.k == 3 and np.bincount(res.labels).min() >= 1
    assert fc.kmeans(X, 3, init=init, empty="drop", backend=backend).k == 2


def test_max_iter_warns_and_marks_not_converged(backend):
    X = np.random.default_rng(5).normal(size=(2000, 2))
    with pytest.warns(fc.ConvergenceWarning, match="max_iter=2"):
        res = fc.kmeans(X, 20, seed=0, max_iter=2, backend=backend)
    assert not res.converged and res.n_iter == 2 and res.stop_reason == "max_iter"


def test_weighted_median_equals_numpy_median_of_repeated_rows(backend):
    rng = np.random.default_rng(9)
    for _ in range(20):
        X = rng.integers(0, 6, size=(rng.integers(1, 12), 3)).astype(float)
        counts = rng.integers(1, 4, size=X.shape[0])
        res = fc.kmeans(X, 1, metric="l1", init=X[:1], sample_weight=counts, backend=backend)
        np.testing.assert_array_equal(res.centroids[0], np.median(np.repeat(X, counts, axis=0), axis=0))


def test_distinct_rows_round_trip():
    X = np.array([[1, 2], [3, 4], [1, 2], [5, 6], [3, 4]], dtype=np.uint8)
    rows, weights, inverse = fc.distinct_rows(X)
    np.testing.assert_array_equal(rows[inverse], X)
    assert weights.sum() == 5 and sorted(weights) == [1, 2, 2]


def test_assign_matches_fit_labels(backend):
    X = np.random.default_rng(2).normal(size=(500, 3))
    res = fc.kmeans(X, 4, seed=0, backend=backend)
    labels, dist = fc.assign(X, res.centroids, backend=backend)
    np.testing.assert_array_equal(labels, res.labels)
    assert dist.shape == (500,) and (dist >= 0).all()


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "X, k, kwargs, message",
    [
        (np.zeros(5), 2, {}, "must be 2-D"),
        (np.zeros((0, 3)), 2, {}, "is empty"),
        (np.array([["a", "b"]]), 1, {}, "must be numeric"),
        (
            np.array([[1.0, np.nan], [np.inf, 2.0], [3.0, np.nan]]),
            1,
            {},
            r"3 non-finite value\(s\) \(2 NaN, 1 inf\); the first is at row 0, column 1",
        ),
        (np.ones((4, 2)), 0, {}, "k must be an integer >= 1"),
        (np.ones((4, 2)), 2.0, {}, "k must be an integer"),
        (np.ones((4, 2)), True, {}, "k must be an integer"),
        (np.ones((4, 2)), 2, {"init": np.ones((3, 2))}, r"init array must have shape \(k, d\) = \(2, 2\)"),
        (np.ones((4, 2)), 2, {"sample_weight": [1, -1, 1, 1]}, "negative value"),
        (np.ones((4, 2)), 2, {"sample_weight": [0, 0, 0, 0]}, "all zero"),
        (np.ones((4, 2)), 2, {"sample_weight": [1, 1]}, r"must have shape \(4,\)"),
        (np.ones((4, 2)), 2, {"metric": "cosine"}, "metric='cosine' is not one of"),
        (np.ones((4, 2)), 2, {"init": "kmeans++"}, "init='kmeans\\+\\+' is not one of"),
        (np.ones((4, 2)), 2, {"backend": "cuda"}, "backend='cuda' is not one of"),
        (np.ones((4, 2)), 2, {"empty": "keep"}, "empty='keep' is not one of"),
        (np.ones((4, 2)), 2, {"max_iter": 0}, "max_iter must be an integer >= 1"),
    ],
)
def test_bad_input_raises_clear_error(X, k, kwargs, message):
    with pytest.raises(FastclustError, match=message):
        fc.kmeans(X, k, **kwargs)
    assert issubclass(FastclustError, ValueError)


def test_numpy_integer_k_and_integer_data_accepted(backend):
    X = np.arange(40, dtype=np.int16).reshape(20, 2)
    res = fc.kmeans(X, np.int64(3), seed=0, backend=backend)
    assert res.k == 3


def test_library_prints_nothing(capsys, backend):
    X = np.random.default_rng(0).normal(size=(100, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc.kmeans(X, 200, seed=0, backend=backend)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_expected_backend_for_this_environment():
    if os.environ.get("FASTCLUST_EXPECT_NO_NUMBA") == "1":
        assert not fc.numba_available() and BACKENDS == ["numpy"]
    # numba_available() loaded the kernels above, so "auto" is numba from here on, small fits too
    assert fc.kmeans(np.ones((2, 1)), 1).backend == ("numba" if fc.numba_available() else "numpy")


def test_auto_runs_small_fits_on_numpy_until_numba_pays():
    """A fresh process: small fits skip numba's import (the same results); enough work loads it."""
    code = (
        "import sys, numpy as np, fastclust as fc\n"
        "from fastclust import _backends\n"
        "X = np.random.default_rng(0).normal(size=(1000, 3))\n"
        "r = fc.kmeans(X, 4, seed=0)\n"
        "assert r.backend == 'numpy' and sys.modules.get('numba') is None, r.backend\n"
        "assert fc.assign(X, r.centroids)[0].tolist() == r.labels.tolist()\n"
        "assert sys.modules.get('numba') is None\n"
        "big = fc.kmeans(np.tile(X, (100, 1)), 4, seed=0)\n"
        "print(big.backend, sys.modules.get('numba') is not None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == (["numba", "True"] if fc.numba_available() else ["numpy", "False"])


def test_auto_gives_blas_path_fits_to_numba_even_when_small():
    """numba's np.dot and numpy's @ may use different BLAS builds: a BLAS-path fit never takes the cold-start numpy route."""
    code = (
        "import numpy as np, fastclust as fc\n"
        "X = np.random.default_rng(0).normal(size=(4096, 16)).astype(np.float32)\n"
        "print(fc.kmeans(X, 8, seed=0, max_iter=3).backend)\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["numba" if fc.numba_available() else "numpy"]


def test_import_without_numba_uses_numpy_backend():
    code = (
        "import sys; sys.modules['numba'] = None\n"
        "import numpy as np, fastclust as fc\n"
        "assert not fc.numba_available()\n"
        "r = fc.kmeans(np.arange(20.).reshape(10, 2), 2, seed=0)\n"
        "assert r.backend == 'numpy', r.backend\n"
        "try:\n    fc.kmeans(np.ones((3, 2)), 1, backend='numba')\nexcept fc.FastclustError as e:\n    print('ERR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "numba is not installed" in out.stdout


def test_numpy_backend_never_imports_numba():
    """backend="numpy" must not load numba, even where it is installed (the update step once did)."""
    code = (
        "import sys, numpy as np, fastclust as fc\n"
        "X = np.random.default_rng(0).normal(size=(300, 3))\n"
        "for metric in ('l2', 'l1'):\n"
        "    for init in ('k-means++', 'random', 'random-uniform', 'k-means||'):\n"
        "        fc.kmeans(X, 4, metric=metric, init=init, seed=0, backend='numpy', empty='reseed')\n"
        "fc.assign(X, X[:3], backend='numpy')\n"
        "fc.KMeans(3, backend='numpy', random_state=0).fit(X).transform(X)\n"
        "assert 'numba' not in sys.modules, sorted(m for m in sys.modules if 'numba' in m)[:5]\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_metric_record_is_the_one_place():
    from fastclust.metrics import METRICS, get_metric

    assert METRICS == fc.METRICS == ("l2", "l1")
    l2, l1 = get_metric("l2"), get_metric("l1")
    assert (l2.centre, l1.centre) == ("mean", "median") and (l2.power, l1.power) == (2, 1)
    old, new = np.zeros((1, 2)), np.array([[3.0, 4.0]])
    assert l2.drift(old, new)[0] == 5.0 and l1.drift(old, new)[0] == 7.0
    with pytest.raises(FastclustError, match="metric='cosine' is not one of 'l2', 'l1'"):
        get_metric("cosine")


def test_transform_memory_is_chunk_by_k(backend):
    import tracemalloc

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 32))
    est = fc.KMeans(8, metric="l1", backend=backend, random_state=0, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fc.ConvergenceWarning)
        est.fit(X[:2000])
    tracemalloc.start()
    D = est.transform(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # output 1.3 MB; the old L1 path built an (n, k, d) array: 41 MB
    assert D.shape == (20_000, 8) and peak < 8 * 2**20
    np.testing.assert_allclose(D, np.abs(X[:, None, :] - est.cluster_centers_[None]).sum(-1), rtol=1e-12)


def test_kmeans_parallel_init_in_memory(backend):
    """init="k-means||" runs the Dask initialiser's code on one in-memory block."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(3000, 3)) + rng.integers(0, 6, size=(3000, 1)) * 4.0
    a = fc.kmeans(X, 6, init="k-means||", seed=0, backend=backend)
    b = fc.kmeans(X, 6, init="k-means||", seed=0, backend=backend)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.k == 6 and a.converged and a.init == "k-means||"
    assert a.objective <= 1.05 * fc.kmeans(X, 6, seed=0, backend=backend).objective
    np.testing.assert_array_equal(a.initial_centroids, fc.initial_centroids(X, 6, init="k-means||", seed=0))
    # too few candidates per pass still gives k; rows of zero weight are never candidates
    far = np.vstack([X, np.full((500, 3), 1000.0)])
    w = np.r_[np.ones(3000), np.zeros(500)]
    C = fc.initial_centroids(far, 40, init="k-means||", seed=1, sample_weight=w, oversampling=0.05, backend=backend)
    assert C.shape == (40, 3) and np.abs(C).max() < 100
    three = np.repeat(np.eye(3), 10, axis=0)
    with pytest.warns(UserWarning, match="only 3 distinct rows"):
        assert fc.kmeans(three, 5, init="k-means||", seed=0, backend=backend).k == 3
