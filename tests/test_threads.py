"""The thread policy (fastclust/_threads.py) and the wide path it drives: same bits on any thread count.

Timings are not asserted here (benchmarks measure them: ``python reports/benchmark.py threads``);
these tests pin the rule, the hand-out's semantics and the results' independence of threads.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

import fastclust as fc
from fastclust import _memory, _threads
from fastclust._memory import WIDE_BLOCK_ROWS, WIDE_CHUNK_ROWS, blocked_sums, in_memory_rows, wide_blocks
from fastclust._reference import cluster_sums
from fastclust.metrics import get_metric

needs_numba = pytest.mark.skipif(not fc.numba_available(), reason="numba is not installed")


def test_rule_threads_only_where_the_work_pays():
    unit = _threads.PARALLEL_WORK
    assert _threads.threads_for(0, 10, 4) == 1
    assert _threads.threads_for(1.9 * unit, 10, 4) == 1  # below two threads' worth: the caller alone
    assert _threads.threads_for(2 * unit, 10, 4) == 2
    assert _threads.threads_for(100 * unit, 10, 4) == 4  # capped by the budget
    assert _threads.threads_for(100 * unit, 3, 4) == 3  # and by the units
    with _threads.task_scope():  # a Dask task: one thread, whatever the work
        assert _threads.budget() == 1 and _threads.in_task()
        assert _threads.threads_for(100 * unit, 10) == 1
    assert not _threads.in_task()


@needs_numba
def test_budget_is_numbas_thread_count_in_the_calling_thread():
    import numba

    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert _threads.budget() == 1
        assert _threads.threads_for(100 * _threads.PARALLEL_WORK, 10) == 1
    finally:
        numba.set_num_threads(old)
    assert _threads.budget() == old


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_team_runs_every_unit_once_and_the_caller_works_too(threads):
    seen: list[tuple[int, str]] = []
    lock = threading.Lock()

    def task(u: int) -> None:
        with lock:
            seen.append((u, threading.current_thread().name))

    team = _threads.Team(3)
    try:
        for n_units in (0, 1, 7, 50):
            seen.clear()
            team.run(task, n_units, threads)
            assert sorted(u for u, _ in seen) == list(range(n_units))
    finally:
        team.close()
    if threads == 1:
        assert {name for _, name in seen} == {threading.current_thread().name}


def test_team_reraises_the_first_error_and_starts_no_unit_after_it():
    started = []
    gate = threading.Event()

    def task(u: int) -> None:
        started.append(u)
        if u == 2:
            gate.set()
            raise ValueError("unit 2 failed")

    team = _threads.Team(2)
    try:
        with pytest.raises(ValueError, match="unit 2 failed"):
            team.run(task, 1000, 2)
        assert gate.is_set() and len(started) < 1000  # the rest of the pass was skipped
        team.run(lambda u: None, 5, 2)  # the team is still usable
    finally:
        team.close()


def test_map_units_and_session_restore_blas():
    out = np.zeros(40)

    def task(u: int) -> None:
        out[u] = u

    _threads.map_units(task, 40, 1e12)
    np.testing.assert_array_equal(out, np.arange(40))
    import scipy.linalg.cython_blas  # noqa: F401  (numba's BLAS: loaded before we look)
    from threadpoolctl import threadpool_info

    def blas() -> dict[str, int]:
        return {lib["filepath"]: lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    before = blas()
    with _threads.session(2) as team:
        assert team.size == 2
        assert set(blas().values()) == {1}  # our threads are the parallelism
    assert blas() == before


def wide_data(n: int, d: int = 24, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)) + rng.integers(0, 6, size=(n, 1)) * 2.0).astype(np.float32)


def fit(X, k, backend, threads=None, **kwargs):
    import contextlib

    ctx = contextlib.nullcontext()
    if threads is not None:
        import numba

        old = numba.get_num_threads()

        @contextlib.contextmanager
        def numba_threads():
            numba.set_num_threads(threads)
            try:
                yield
            finally:
                numba.set_num_threads(old)

        ctx = numba_threads()
    with ctx, warnings.catch_warnings():
        warnings.simplefilter("ignore", fc.ConvergenceWarning)
        return fc.kmeans(X, k, backend=backend, **kwargs)


@needs_numba
@pytest.mark.slow
def test_wide_path_same_bits_on_any_thread_count_and_either_backend(monkeypatch):
    """Several blocks, a forced team: the sums' order is the blocks', never the threads'."""
    monkeypatch.setattr(_threads, "PARALLEL_WORK", 1)  # every pass with two blocks or more goes parallel
    X = wide_data(3 * WIDE_BLOCK_ROWS + 1000)  # 8 blocks
    init = X[np.random.default_rng(1).choice(len(X), 9, replace=False)]
    runs = [fit(X, 9, "numba", t, init=init, max_iter=15) for t in (1, 2)] + [
        fit(X, 9, "numpy", init=init, max_iter=15)
    ]
    for other in runs[1:]:
        np.testing.assert_array_equal(other.labels, runs[0].labels)
        assert other.centroids.tobytes() == runs[0].centroids.tobytes()
        assert other.history.tobytes() == runs[0].history.tobytes()
        assert other.n_iter == runs[0].n_iter


@pytest.mark.parametrize("backend", ["numpy", pytest.param("numba", marks=needs_numba)])
def test_update_after_a_reseed_sums_in_the_fused_passes_order(backend):
    """The update's fallback (after labels moved) adds up exactly what a fused pass would."""
    X = wide_data(2 * WIDE_BLOCK_ROWS + 300, seed=2)
    w = np.random.default_rng(3).choice([0.5, 1.0, 2.0], size=len(X))
    rows, _ = in_memory_rows(X, w, get_metric("l2"), backend)
    C = X[:7].astype(np.float64) + 0.25
    rows.assign(C, None)
    fused, weight = rows.update(7)
    rows.relabel(np.array([5]), np.array([int(rows.labels[5])]))  # no real move: the sums must not change
    again, _ = rows.update(7)
    assert again.tobytes() == fused.tobytes()
    sums = blocked_sums(rows.ops, rows.X, rows.w, rows.labels, 7)
    np.testing.assert_array_equal(sums / weight[:, None], fused)
    # the order: blocks in sample order from zero, then block after block
    edges = wide_blocks(len(X))
    assert len(edges) > 3
    want = cluster_sums(X[: edges[1]], w[: edges[1]], rows.labels[: edges[1]], 7)
    for s, e in zip(edges[1:-1], edges[2:], strict=True):
        want += cluster_sums(X[s:e], w[s:e], rows.labels[s:e], 7)
    assert sums.tobytes() == want.tobytes()


@pytest.mark.parametrize("n", [1, 255, 4608, 4609, 8000, 9216, 200_000])
def test_wide_blocks_depend_on_n_alone(n):
    edges = wide_blocks(n)
    assert edges[0] == 0 and edges[-1] == n and all(b > a for a, b in zip(edges, edges[1:], strict=False))
    if n <= WIDE_BLOCK_ROWS:
        assert edges == [0, n]  # one block: plain sample order, as before the fused pass
    else:
        sizes = np.diff(edges)
        assert (sizes[:-1] == sizes[0]).all() and sizes[0] % WIDE_CHUNK_ROWS == 0 and sizes[-1] <= sizes[0]
        assert len(sizes) == max(_memory.WIDE_MIN_BLOCKS, -(-n // WIDE_BLOCK_ROWS)) and sizes[0] <= WIDE_BLOCK_ROWS


def test_up_to_one_block_sums_in_plain_sample_order():
    """Inputs of at most WIDE_BLOCK_ROWS rows sum exactly as before the fused pass (the pinned records)."""
    X = wide_data(WIDE_BLOCK_ROWS, seed=4)
    labels = np.random.default_rng(5).integers(0, 5, size=len(X))
    w = np.ones(len(X))
    assert blocked_sums(_memory_ops(), X, w, labels, 5).tobytes() == cluster_sums(X, w, labels, 5).tobytes()


def _memory_ops():
    from fastclust._backends import resolve_backend

    return resolve_backend("auto")[1]


@needs_numba
def test_a_one_off_assign_holds_no_threads_or_limits_afterwards():
    X = wide_data(2 * WIDE_BLOCK_ROWS)
    C = X[:5]
    before = threading.active_count()
    labels, dist = fc.assign(X, C)
    np.testing.assert_array_equal(labels, fc.assign(X, C, backend="numpy")[0])
    np.testing.assert_array_equal(dist, fc.assign(X, C, backend="numpy")[1])
    assert threading.active_count() == before  # the team of a one-off pass is gone with it
    assert _memory.Assigner  # the module imports without starting anything


def test_blas_limit_is_held_until_the_last_of_overlapping_fits_leaves():
    """BLAS's thread count is process-wide: a fit leaving must not restore it under another one still running."""
    controller = _threads._blas_controller()
    if controller is None or not controller.select(user_api="blas").lib_controllers:
        pytest.skip("no BLAS visible to threadpoolctl")

    def blas_threads() -> int:
        return min(c.num_threads for c in controller.select(user_api="blas").lib_controllers)

    before = blas_threads()
    first, second = _threads._one_blas_thread(), _threads._one_blas_thread()
    first.__enter__()
    second.__enter__()
    assert blas_threads() == 1
    first.__exit__(None, None, None)  # the first fit ends while the second still runs
    assert blas_threads() == 1
    second.__exit__(None, None, None)
    assert blas_threads() == before and _threads._blas_holders == 0


@needs_numba
def test_independent_fits_run_one_after_another_on_numbas_workqueue_layer(monkeypatch):
    """workqueue aborts the process when parallel kernels start from several threads: map_fits then uses one."""
    import numba

    from fastclust import _lowdim

    monkeypatch.setattr(numba.config, "THREADING_LAYER", "workqueue")
    _lowdim._threadsafe_numba.cache_clear()
    try:
        assert _lowdim.fit_workers("numba", 8) == 1
        assert list(_lowdim.map_fits(lambda x: x * x, range(5), "numba")) == [0, 1, 4, 9, 16]
    finally:
        monkeypatch.undo()
        _lowdim._threadsafe_numba.cache_clear()


@needs_numba
def test_workers_of_independent_fits_give_numbas_kernels_one_thread(monkeypatch):
    import numba

    from fastclust import _lowdim

    monkeypatch.setattr(_lowdim, "_threadsafe_numba", lambda: True)
    monkeypatch.setattr(_lowdim, "fit_workers", lambda backend, n: 2)
    seen = list(_lowdim.map_fits(lambda _: numba.get_num_threads(), range(4), "numba"))
    assert seen == [1, 1, 1, 1]


def test_a_small_pass_never_imports_numba():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from fastclust import vq\n"
        "vq.average_cosine(np.ones((3, 2)), np.ones((3, 2)))\n"
        "print('numba' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_wide_fit_with_dropped_clusters_hints_with_renumbered_labels():
    """Dropped clusters renumber the labels with the centres: the next pass's hints stay valid centres."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6000, 16)).astype(np.float32)
    init = X[:8].astype(np.float64).copy()
    init[2], init[5] = 1e3, -1e3  # nobody's nearest: both dropped after the first pass
    fits = [fc.kmeans(X, 8, init=init, empty="drop", backend=b) for b in ("numpy", *(["numba"] * fc.numba_available()))]
    for r in fits:
        assert r.k == 6 and r.stop_reason == "converged" and r.labels.max() == 5
        np.testing.assert_array_equal(r.labels, fits[0].labels)
