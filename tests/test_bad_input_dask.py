"""Issue 15 at the engine floor, on Dask: the same refusals as in memory, global rows, bounded failures.

A table of probes (exception type, a message naming the argument, nothing printed), extreme
magnitudes, k-means|| parameters, and a cluster whose every worker dies (a hard time bound).
"""

from __future__ import annotations

import threading
import time
import warnings

import numpy as np
import pytest

import fastclust as fc
from fastclust import FastclustError

da = pytest.importorskip("dask.array", reason="dask is not installed (extra 'dask')")
from fastclust import distributed as fdist  # noqa: E402

RNG = np.random.default_rng(0)
Y = RNG.normal(size=(60, 2))
TWO_GROUPS = np.r_[np.zeros((5, 1)), np.full((5, 1), 10.0)]


def _dask(X, chunks=25):
    return da.from_array(X, chunks=(chunks, X.shape[1]))


def _with(values):
    """120 x 2 ones with ``values`` ({(row, column): value}) written in."""
    X = np.ones((120, 2))
    for (row, col), value in values.items():
        X[row, col] = value
    return X


DASK_CASES = [
    ("complex X", lambda: fdist.kmeans(_dask(Y.astype(complex)), 3), r"X must be real, got complex"),
    ("string X", lambda: fdist.kmeans(_dask(np.array([["a", "b"]] * 4)), 1), r"X must be numeric"),
    (
        "NaN names the global row",
        lambda: fdist.kmeans(_dask(np.where(np.arange(120)[:, None] == 77, np.nan, np.ones((120, 2)))), 2),
        r"the first is at row 77, column 0",
    ),
    (
        "inf and NaN counted in every block",
        lambda: fdist.kmeans(_dask(_with({(5, 1): np.nan, (60, 0): np.inf, (90, 1): -np.inf, (91, 0): -np.inf})), 2),
        r"X contains 4 non-finite value\(s\) \(1 NaN, 3 inf\); the first is at row 5, column 1",
    ),
    ("-inf alone", lambda: fdist.kmeans(_dask(_with({(119, 1): -np.inf})), 2), r"1 non-finite.*row 119, column 1"),
    ("oversampling 0", lambda: fdist.kmeans(_dask(Y), 3, oversampling=0), r"oversampling must be a finite number > 0"),
    ("oversampling nan", lambda: fdist.kmeans(_dask(Y), 3, oversampling=np.nan), r"oversampling"),
    ("init_rounds 0", lambda: fdist.kmeans(_dask(Y), 3, init_rounds=0), r"init_rounds must be an integer >= 1"),
    ("worker_timeout", lambda: fdist.kmeans(_dask(Y), 3, worker_timeout=-1), r"worker_timeout"),
    ("empty policy", lambda: fdist.kmeans(_dask(Y), 3, empty="keep"), r"empty='keep' is not one of"),
    ("string init array", lambda: fdist.kmeans(_dask(Y), 2, init=np.array([["a", "b"]] * 2)), r"init array"),
    (
        "x 1e200 objective",
        lambda: fdist.kmeans(_dask(RNG.normal(size=(60, 2)) * 1e200), 3, seed=0),
        r"objective of this fit exceeds float64's range",
    ),
]


@pytest.mark.parametrize("call, pattern", [(c[1], c[2]) for c in DASK_CASES], ids=[c[0] for c in DASK_CASES])
def test_dask_bad_input_table(call, pattern, capsys):
    with pytest.raises(FastclustError, match=pattern):
        call()
    assert capsys.readouterr() == ("", "")


def test_dask_extreme_scale_gives_the_in_memory_answer():
    res = fdist.kmeans(_dask(TWO_GROUPS * 1e200, 3), 2, seed=0)  # was: "'list' argument must have no negative..."
    np.testing.assert_allclose(np.sort(res.centroids.ravel()), [0.0, 1e201], rtol=1e-15)
    X = np.random.default_rng(3).normal(size=(200, 2))
    for s in (1e100, 1e-250):
        big = fdist.kmeans(_dask(X * s), 3, init=X[:3] * s)
        np.testing.assert_array_equal(big.labels.compute(), fc.kmeans(X, 3, init=X[:3]).labels)


def test_dask_small_oversampling_still_finds_k_and_shrinking_warns():
    X = np.random.default_rng(4).normal(size=(3000, 3))
    assert fdist.kmeans(_dask(X, 500), 50, seed=0, oversampling=0.1).k == 50  # was 21
    assert fdist.kmeans(_dask(X, 500), 3, seed=0, init_rounds=1).k == 3
    three = np.repeat(np.eye(3), 10, axis=0)
    for init in ("k-means||", "k-means++", "random"):
        with pytest.warns(UserWarning, match="only 3 distinct rows.*k is reduced to 3"):
            assert fdist.kmeans(_dask(three, 7), 5, seed=0, init=init).k == 3


@pytest.mark.slow
def test_every_worker_dead_fails_within_a_bounded_time():
    distributed = pytest.importorskip("distributed")
    X = np.random.default_rng(5).normal(size=(20_000, 4))
    outcome: dict[str, object] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    client = distributed.Client(cluster)

    def kill_every_worker(i, objective, changed):
        if i == 2:
            for worker in list(cluster.workers.values()):
                client.sync(worker.close)

    def fit():
        t0 = time.monotonic()
        try:
            fdist.kmeans(
                _dask(X, 2000), 8, seed=0, client=client, progress=kill_every_worker, worker_timeout=3, max_iter=50
            )
            outcome["result"] = "returned"
        except FastclustError as exc:
            outcome["result"] = str(exc)
        outcome["seconds"] = time.monotonic() - t0

    try:
        thread = threading.Thread(target=fit, daemon=True)
        thread.start()
        thread.join(timeout=90)  # the hard bound: before the fix this blocked forever
        assert not thread.is_alive(), "the fit hung with every worker dead"
        assert "no dask worker has been alive for 3 s" in str(outcome["result"])
        assert float(outcome["seconds"]) < 60  # type: ignore[arg-type]
    finally:
        client.close()
        cluster.close()
