"""The Dask backend: equal to the in-memory engine, on local threads and on a 2-process LocalCluster."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="dask is not installed (extra 'dask')")
distributed = pytest.importorskip("distributed", reason="distributed is not installed (extra 'dask')")

import fastclust as fc  # noqa: E402
from fastclust import distributed as fdist  # noqa: E402
from fastclust import vq  # noqa: E402
from fastclust.errors import FastclustError  # noqa: E402


def blobs(n=4003, d=6, seed=0, integer=False):
    rng = np.random.default_rng(seed)
    if integer:
        return rng.integers(0, 12, size=(n, d)).astype(np.float64)
    return rng.normal(size=(n, d)) + rng.integers(0, 5, size=(n, 1)) * 3.0


def assert_same(res, ref):
    np.testing.assert_array_equal(np.asarray(res.labels.compute()), ref.labels)
    np.testing.assert_allclose(res.centroids, ref.centroids, rtol=1e-10, atol=1e-10)
    assert res.k == ref.k and res.n_iter == ref.n_iter and res.converged == ref.converged


@pytest.mark.parametrize("metric", ["l2", "l1"])
@pytest.mark.parametrize("chunks", [997, 4003, 1500])  # uneven, one chunk, last chunk short
def test_threaded_equals_in_memory(metric, chunks):
    X = blobs()
    init = X[np.random.default_rng(1).choice(len(X), 7, replace=False)]
    res = fdist.kmeans(da.from_array(X, chunks=(chunks, 6)), 7, init=init, metric=metric)
    assert_same(res, fc.kmeans(X, 7, init=init, metric=metric))
    assert res.labels.chunks[0] == da.from_array(X, chunks=(chunks, 6)).chunks[0]


def test_exact_medians_with_many_ties():
    X = blobs(3001, 3, integer=True)
    init = X[:6] + 0.25
    res = fdist.kmeans(da.from_array(X, chunks=(700, 3)), 6, init=init, metric="l1")
    assert_same(res, fc.kmeans(X, 6, init=init, metric="l1"))


def test_kmeans_parallel_init_and_progress():
    X = blobs(6000, 4, seed=3)
    seen = []
    res = fdist.kmeans(
        da.from_array(X, chunks=1000), 5, seed=0, progress=lambda i, obj, changed: seen.append((i, changed))
    )
    assert res.converged and res.k == 5 and [i for i, _ in seen] == list(range(1, res.n_iter + 1)) and seen[-1][1] == 0
    assert res.objective <= 1.05 * fc.kmeans(X, 5, seed=0).objective


def test_bad_input():
    with pytest.raises(FastclustError, match="dask.array.Array"):
        fdist.kmeans(np.ones((4, 2)), 2)
    with pytest.raises(FastclustError, match="init array"):
        fdist.kmeans(da.ones((10, 2), chunks=5), 2, init=np.ones((3, 2)))
    with pytest.raises(FastclustError, match="metric="):
        fdist.kmeans(da.ones((10, 2), chunks=5), 2, metric="cos")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(fc.ConvergenceWarning):
            warnings.simplefilter("error", fc.ConvergenceWarning)
            fdist.kmeans(da.from_array(blobs(), chunks=1000), 20, seed=0, max_iter=1)


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        )
        c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["l2", "l1"])
def test_local_cluster_equals_in_memory(client, metric):
    X = blobs(5003, 5, seed=4)
    init = X[:6].copy()
    res = fdist.kmeans(da.from_array(X, chunks=(1300, 5)), 6, init=init, metric=metric, client=client)
    assert_same(res, fc.kmeans(X, 6, init=init, metric=metric))


@pytest.mark.slow
def test_vq_on_a_dask_array(client):
    E = vq.make_embeddings(6000, 16, seed=2)
    res = vq.compress(da.from_array(E, chunks=1500), 32, seed=0, client=client)
    assert isinstance(res.codes, da.Array) and res.codes.dtype == np.uint8 and res.codes.shape == (6000,)
    codes = res.codes.compute()
    R = res.codebook[codes].astype(float)
    cos = (E * R).sum(1) / np.linalg.norm(E, axis=1) / np.linalg.norm(R, axis=1)
    assert res.avg_cosine == pytest.approx(cos.mean(), rel=1e-6)
    assert abs(res.avg_cosine - vq.compress(E, 32, seed=0).avg_cosine) < 0.02


@pytest.mark.slow
def test_worker_killed_mid_fit_is_survived_or_a_clear_error(client):
    X = blobs(8003, 5, seed=5)
    init = X[:6].copy()
    ref = fc.kmeans(X, 6, init=init)

    def kill_one_worker(i, objective, changed):
        if i == 2:
            victim = sorted(client.scheduler_info()["workers"])[0]
            try:
                client.run(os._exit, 1, workers=[victim])
            except Exception:  # the worker dies before it can answer
                pass

    try:
        res = fdist.kmeans(da.from_array(X, chunks=(1000, 5)), 6, init=init, client=client, progress=kill_one_worker)
    except FastclustError as exc:
        assert "dask cluster failed" in str(exc)
    else:
        assert_same(res, ref)  # lost blocks were recomputed from their lineage: never a silent wrong answer
    client.wait_for_workers(2, timeout=60)


def test_drop_empty_renumbers_every_block_on_local_threads():
    runner = fdist._Runner(da.from_array(np.zeros((6, 2)), chunks=(4, 2)), None)
    C = np.arange(8.0).reshape(4, 2)
    labels = [np.array([0, 2, 2, 3]), np.array([3, 0])]
    C2, lab2 = fdist._drop_empty(runner, C, labels, np.array([2, 0, 2, 2]))
    np.testing.assert_array_equal(C2, C[[0, 2, 3]])
    assert [x.tolist() for x in lab2] == [[0, 1, 1, 2], [2, 0]]
    assert fdist._drop_empty(runner, C, labels, np.array([1, 1, 1, 1]))[1] is labels


@pytest.mark.slow
def test_drop_empty_on_the_cluster(client):
    runner = fdist._Runner(da.from_array(np.zeros((6, 2)), chunks=(4, 2)), client)
    labels = [client.scatter(np.array([0, 2, 2, 3])), client.scatter(np.array([3, 0]))]
    _, lab2 = fdist._drop_empty(runner, np.arange(8.0).reshape(4, 2), labels, np.array([2, 0, 2, 2]))
    assert [x.tolist() for x in client.gather(lab2)] == [[0, 1, 1, 2], [2, 0]]
