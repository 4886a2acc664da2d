"""The Dask backend: equal to the in-memory engine, on local threads and on a 2-process LocalCluster."""

from __future__ import annotations

import os
import warnings
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    np.testing.assert_array_equal(res.labels.compute(), ref.labels)
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


@pytest.mark.parametrize("chunks", [6000, 10_000, 4608])
def test_wide_float32_threaded_equals_in_memory(chunks):
    """Wide float32 data takes the fused BLAS pass on every block; tasks run one thread each."""
    rng = np.random.default_rng(11)
    X = (rng.normal(size=(15_000, 24)) + rng.integers(0, 5, size=(15_000, 1)) * 2.0).astype(np.float32)
    init = X[rng.choice(len(X), 8, replace=False)].astype(np.float64)
    res = fdist.kmeans(da.from_array(X, chunks=(chunks, 24)), 8, init=init)
    ref = fc.kmeans(X, 8, init=init)
    assert_same(res, ref)
    # float32 products: rows near a block's edge sit in a shorter product there, which BLAS may round
    # differently in the last bit (the labels above do not move)
    assert res.objective == pytest.approx(ref.objective, rel=1e-6)


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
def test_local_cluster_wide_float32_equals_in_memory(client):
    rng = np.random.default_rng(12)
    X = (rng.normal(size=(12_000, 32)) + rng.integers(0, 4, size=(12_000, 1)) * 2.0).astype(np.float32)
    init = X[:7].astype(np.float64)
    res = fdist.kmeans(da.from_array(X, chunks=(5000, 32)), 7, init=init, client=client)
    assert_same(res, fc.kmeans(X, 7, init=init))


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


def _rows_with_labels(client, k):
    """DaskRows over a (6, 2) array in blocks of 4 and 2, assigned to ``k`` fixed centres."""
    from fastclust.metrics import get_metric

    X = da.from_array(np.arange(12.0).reshape(6, 2), chunks=(4, 2))
    rows = fdist.DaskRows(X, client, get_metric("l2"), worker_timeout=30.0)
    C = np.array([[0.0, 1.0], [100.0, 100.0], [6.0, 7.0], [10.0, 11.0]])[:k]
    rows.assign(C, None)
    return rows


# --- where blocks run -----------------------------------------------------------------------


def test_placement_keeps_blocks_that_are_already_balanced():
    holders = [["a"], ["b"], ["a"], ["b"], ["a"]]
    assert fdist._balanced_placement([100] * 5, holders, {"a": 1, "b": 1}) == ["a", "b", "a", "b", "a"]


def test_placement_moves_as_few_blocks_as_balance_needs():
    """What dask's scheduler had left after a few passes: 4 of 5 blocks on one worker."""
    where = fdist._balanced_placement([100] * 5, [["a"], ["a"], ["a"], ["b"], ["a"]], {"a": 1, "b": 1})
    assert Counter(where) == {"a": 3, "b": 2}
    assert where[3] == "b" and sum(w != h for w, h in zip(where, "aaaba", strict=True)) == 1
    # a replica anywhere counts as being there
    assert fdist._balanced_placement([100, 100], [["a", "b"], ["a"]], {"a": 1, "b": 1}) == ["b", "a"]


def test_placement_follows_threads_and_places_blocks_nobody_holds():
    where = fdist._balanced_placement([10] * 6, [[]] * 3 + [["gone"]] * 3, {"a": 2, "b": 1})
    assert Counter(where) == {"a": 4, "b": 2}
    # uneven blocks: the largest first, each where it finishes soonest
    where = fdist._balanced_placement([50, 10, 10, 10, 10, 10], [["a"]] * 6, {"a": 1, "b": 1})
    load = Counter()
    for rows, w in zip([50, 10, 10, 10, 10, 10], where, strict=True):
        load[w] += rows
    assert sorted(load.values()) == [50, 50]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_placement_is_balanced_and_keeps_what_already_is(data):
    workers = data.draw(st.lists(st.sampled_from("abcde"), min_size=1, max_size=4, unique=True))
    threads = {w: data.draw(st.integers(1, 3)) for w in workers}
    n_blocks = data.draw(st.integers(1, 12))
    rows = data.draw(st.lists(st.integers(1, 1000), min_size=n_blocks, max_size=n_blocks))
    holders = data.draw(
        st.lists(st.lists(st.sampled_from("abcdef"), max_size=2, unique=True), min_size=n_blocks, max_size=n_blocks)
    )
    where = fdist._balanced_placement(rows, holders, threads)
    assert len(where) == n_blocks and set(where) <= set(workers)
    total, slots = sum(rows), sum(threads.values())
    load = dict.fromkeys(workers, 0)
    for r, w in zip(rows, where, strict=True):
        load[w] += r
    for w in workers:  # list scheduling's bound: within one block of an even share
        assert load[w] / threads[w] <= total / slots + max(rows) + 1e-9
    # blocks held by one live worker each, already within every share: nothing moves
    if all(len(h) == 1 and h[0] in threads for h in holders):
        held = dict.fromkeys(workers, 0)
        for r, h in zip(rows, holders, strict=True):
            held[h[0]] += r
        if all(held[w] * slots <= total * threads[w] for w in workers):
            assert where == [h[0] for h in holders]


@pytest.mark.parametrize("where", ["threads", pytest.param("cluster", marks=pytest.mark.slow)])
def test_labels_keep_empty_chunks(where, request):
    client = request.getfixturevalue("client") if where == "cluster" else None
    X = blobs(20, 2, seed=3)
    D = da.from_array(X, chunks=((5, 0, 15), 2))
    res = fdist.kmeans(D, 2, init=X[:2].copy(), client=client)
    assert res.labels.chunks == D.chunks[:1] and res.labels.to_dask().chunks == D.chunks[:1]
    np.testing.assert_array_equal(res.labels.to_dask().compute(), fc.kmeans(X, 2, init=X[:2].copy()).labels)


def test_pieces_cut_chunks_by_the_chunks_alone():
    assert fdist._pieces_of([10, 3, 25], 10) == [(0, 0, 10), (1, 0, 3), (2, 0, 8), (2, 8, 16), (2, 16, 25)]
    assert fdist._pieces_of([100_000], fdist.PIECE_ROWS) == [(0, 0, 50_000), (0, 50_000, 100_000)]
    for rows in ([1], [65_536, 65_537], [7] * 9):
        pieces = fdist._pieces_of(rows, 4)
        assert sum(hi - lo for _, lo, hi in pieces) == sum(rows)
        assert all(0 < hi - lo <= 4 for _, lo, hi in pieces)
        sizes = Counter(c for c, _, _ in pieces)
        assert all(sizes[c] == -(-r // 4) for c, r in enumerate(rows))


@pytest.mark.parametrize("metric", ["l2", "l1"])
@pytest.mark.parametrize("where", ["threads", pytest.param("cluster", marks=pytest.mark.slow)])
def test_chunks_cut_into_pieces_give_the_in_memory_answer(metric, where, request, monkeypatch):
    """Chunks of more than PIECE_ROWS rows become several blocks: same labels and centres as in memory, labels
    still in X's chunks, and the same start from the threads as from the cluster."""
    client = request.getfixturevalue("client") if where == "cluster" else None
    monkeypatch.setattr(fdist, "PIECE_ROWS", 300)
    X = blobs(4003, 5, seed=12)
    D = da.from_array(X, chunks=(1000, 5))  # pieces of 250 and a last chunk of 3
    init = X[:6].copy()
    for empty in ("drop", "reseed"):
        res = fdist.kmeans(D, 6, init=init, metric=metric, client=client, empty=empty)
        assert_same(res, fc.kmeans(X, 6, init=init, metric=metric, empty=empty))
        assert res.labels.chunks[0] == D.chunks[0] and res.labels.to_dask().chunks == D.chunks[:1]
    far = np.vstack([init[:5], [[500.0] * 5]])  # a centre nobody is near: reseeded from the farthest rows
    assert_same(fdist.kmeans(D, 6, init=far, client=client, empty="reseed"), fc.kmeans(X, 6, init=far, empty="reseed"))
    C = fdist.initial_centroids(D, 6, seed=3, client=client)
    np.testing.assert_array_equal(C, fdist.initial_centroids(D, 6, seed=3))  # the threads' answer
    assert not np.array_equal(C, fdist.initial_centroids(D.rechunk(4003), 6, seed=3))  # streams are per piece


def test_each_worker_thread_gets_one_group_of_pieces():
    where = ["a", "a", "b", "a", "a", "b", "a"]
    rows = [50, 50, 50, 50, 50, 50, 10]
    groups = fdist._thread_groups(where, rows, {"a": 2, "b": 1})
    assert [w for w, _ in groups] == ["a", "a", "b"]
    assert sorted(p for _, members in groups for p in members) == list(range(7))
    assert all(members == sorted(members) for _, members in groups)
    a_rows = sorted(sum(rows[p] for p in members) for w, members in groups if w == "a")
    assert a_rows == [100, 110]  # dealt largest first to the lighter group
    assert fdist._thread_groups(["a"], [5], {"a": 4}) == [("a", [0])]  # never an empty group


def _memory_owners(blocks):
    """Bytes of the array that owns each prepared piece's memory (the piece, the chunk it views, or the
    buffer it was received in)."""
    out = []
    for block in blocks:
        a = block.X
        while isinstance(a.base, np.ndarray):
            a = a.base
        out.append(a.nbytes)
    return out


@pytest.mark.slow
def test_blocks_are_spread_over_the_workers_wherever_they_were(client, monkeypatch):
    """Every chunk on one worker: the fit spreads their pieces evenly, and its result does not depend on where
    they were."""
    from fastclust.metrics import get_metric

    monkeypatch.setattr(fdist, "PIECE_ROWS", 600)
    X = blobs(5000, 5, seed=9)
    workers = sorted(client.nthreads())
    fits = []
    for w in workers:
        D = client.persist(da.from_array(X, chunks=(1000, 5), name=f"on-{w}"), workers=[w])
        distributed.wait(D)
        assert {h for hs in client.who_has(D).values() for h in hs} == {w}
        rows = fdist.DaskRows(D, client, get_metric("l2"), worker_timeout=30.0)
        assert rows.rows == [500] * 10  # 5 chunks of 1000 rows: an odd count, cut in two
        assert Counter(rows.where) == dict.fromkeys(workers, 5)
        assert [worker for worker, _ in rows.groups] == sorted(set(rows.where), key=rows.where.index)
        distributed.wait(rows.blocks)
        held = client.who_has(rows.blocks)
        assert all(worker in held[f.key] for (worker, _), f in zip(rows.groups, rows.blocks, strict=True))
        for (worker, _), f in zip(rows.groups, rows.blocks, strict=True):
            owners = client.submit(_memory_owners, f, workers=[worker], pure=False).result()
            # pieces on the chunks' worker view them; pieces that moved were cut first, so only they travelled
            chunk = 1000 * 5 * 8
            assert all(o >= chunk for o in owners) if worker == w else all(o < chunk for o in owners), owners
        rows.assign(X[:4].copy(), None)
        states = {ref.future.key: rows.where[p] for p, ref in enumerate(rows.states)}
        assert len(states) == 2  # one task per worker and round
        distributed.wait([ref.future for ref in rows.states])
        held = client.who_has([ref.future for ref in rows.states])  # a round's results sit with their pieces
        assert all(worker in held[key] for key, worker in states.items())
        fits.append(fdist.kmeans(D, 4, seed=1, client=client))
    np.testing.assert_array_equal(fits[0].labels.compute(), fits[1].labels.compute())
    np.testing.assert_array_equal(fits[0].centroids, fits[1].centroids)
    np.testing.assert_array_equal(fits[0].initial_centroids, fits[1].initial_centroids)


@pytest.mark.parametrize("where", ["threads", pytest.param("cluster", marks=pytest.mark.slow)])
def test_renumber_applies_to_every_block(where, request):
    client = request.getfixturevalue("client") if where == "cluster" else None
    rows = _rows_with_labels(client, 4)
    assert rows.labels().compute().tolist() == [0, 0, 2, 2, 2, 3]
    np.testing.assert_array_equal(rows.weights(4), [2, 0, 3, 1])
    rows.renumber(np.array([True, False, True, True]))  # cluster 1 is empty: dropped, 2 -> 1, 3 -> 2
    np.testing.assert_array_equal(rows.weights(3), [2, 3, 1])
    assert rows.labels().compute().tolist() == [0, 0, 1, 1, 1, 2]


def test_same_loop_same_policies_as_in_memory():
    """reseed / error / drop on Dask blocks give the in-memory engine's results (same helper, same loop)."""
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(size=(50, 2)), rng.normal(size=(50, 2)) + 10])
    init = np.array([[0.0, 0.0], [10.0, 10.0], [100.0, 100.0]])
    D = da.from_array(X, chunks=(30, 2))
    with pytest.raises(FastclustError, match=r"cluster\(s\) \[2\] became empty in round 1"):
        fdist.kmeans(D, 3, init=init, empty="error")
    for empty in ("reseed", "drop"):
        assert_same(fdist.kmeans(D, 3, init=init, empty=empty), fc.kmeans(X, 3, init=init, empty=empty))
    assert fdist.kmeans(D, 3, init=init, empty="reseed").k == 3


def test_stop_rule_is_shared_and_detects_a_cycle():
    """One rule for both paths: a labeling seen twice without a new minimum in between is a stall."""
    from fastclust._lloyd import Step, StopRule

    rule = StopRule()
    digests = iter([b"a", b"b", b"a"])
    assert rule.observe(Step(5.0, 3), lambda: b"x") is None  # new minimum: no fingerprint needed
    assert rule.observe(Step(5.0, 2), lambda: next(digests)) is None
    assert rule.observe(Step(5.0, 2), lambda: next(digests)) is None
    assert rule.observe(Step(5.0, 2), lambda: next(digests)) == "stalled"
    assert rule.observe(Step(4.0, 0), lambda: b"y") == "converged"
    import inspect

    assert "_lloyd.run(" in inspect.getsource(fdist.kmeans) and "_lloyd.run(" in inspect.getsource(fc.engine.fit_kmeans)
    assert "return fit_kmeans(" in inspect.getsource(fc.kmeans)  # kmeans is fit_kmeans without a tree cache


def test_initial_centroids_without_a_round_match_the_fit():
    X = blobs(3000, 4, seed=8)
    D = da.from_array(X, chunks=800)
    for init in ("k-means||", "k-means++", "random", "random-uniform"):
        C = fdist.initial_centroids(D, 5, init=init, seed=4)
        assert C.shape == (5, 4)
        np.testing.assert_array_equal(C, fdist.kmeans(D, 5, init=init, seed=4, max_iter=50).initial_centroids)
    # in memory too, k-means|| included
    for init in ("k-means||", "k-means++", "random", "random-uniform"):
        np.testing.assert_array_equal(
            fc.initial_centroids(X, 5, init=init, seed=4), fc.kmeans(X, 5, init=init, seed=4).initial_centroids
        )


def test_labels_are_a_distinct_lazy_type():
    res = fdist.kmeans(da.from_array(blobs(), chunks=1000), 4, seed=0)
    assert isinstance(res.labels, fdist.DaskLabels) and not isinstance(res.labels, np.ndarray)
    assert isinstance(res.labels.to_dask(), da.Array) and res.labels.shape == (4003,)
    np.testing.assert_array_equal(np.asarray(res.labels), res.labels.compute())


@pytest.mark.slow
def test_labels_after_the_client_closed_raise_a_clear_error():
    X = blobs(2000, 3, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None)
    with cluster, distributed.Client(cluster) as c:
        res = fdist.kmeans(da.from_array(X, chunks=500), 3, seed=0, client=c)
        inside = res.labels.compute()  # read while the client is open: works
        address = c.scheduler.address
    np.testing.assert_array_equal(inside, fc.kmeans(X, 3, init=res.initial_centroids).labels)
    for read in (res.labels.compute, res.labels.to_dask):
        with pytest.raises(FastclustError, match=f"lived on the workers of the dask cluster at {address}.*closed"):
            read()
