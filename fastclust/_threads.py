"""The thread policy of the wide (BLAS) path: how many threads a pass gets, and how they share it.

The rule, in five parts (issue 14):

1. **Parallel only where a round's work pays for it.** A pass gets one thread
   per :data:`PARALLEL_WORK` of its work, counted in multiply-adds of products
   (``n * d * (k + 24)`` for the wide path's fused pass, see
   :data:`fastclust._memory.WIDE_EXTRA_COLUMNS`),
   capped by the thread budget and by the number of units the pass splits into;
   below ``2 * PARALLEL_WORK`` it runs in the caller's thread, with no wake-up
   and no join. On a busy machine a thread the OS did not schedule holds up
   every join it takes part in; the threshold keeps joins to passes long enough
   that one late thread costs a small fraction of them (calibration:
   ``python reports/benchmark.py threads``).
2. **The budget is numba's thread count** (``NUMBA_NUM_THREADS``, or
   ``numba.set_num_threads`` in the calling thread): the one knob a user has;
   ``numba.set_num_threads(1)`` makes every fit single-threaded.
3. **Units are handed out dynamically.** Threads take the next unit from a
   shared counter, the caller's thread works too, and a pass waits only for the
   units in progress, never for a thread that has not started: a preempted
   thread delays a round by the one unit it holds, not by a fixed share of it.
4. **Set up once per fit.** A :class:`Team` (the helper threads) and the BLAS
   limit (one BLAS thread per thread of ours: the team is the parallelism) live
   for a :func:`session`, which the Lloyd loop holds for a whole fit; a pass
   outside any session sets them up for itself.
5. **A Dask task is one thread** (:func:`task_scope`): dask's workers and
   threads already fill the cores, and tasks sharing a process must not race on
   BLAS's process-wide thread count.

Nothing here imports numba at import time.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Any

__all__ = [
    "NUMPY_ELEMENT_WORK",
    "PARALLEL_WORK",
    "Team",
    "budget",
    "in_task",
    "map_units",
    "session",
    "task_scope",
    "threads_for",
]

#: Multiply-adds of products per thread below which an extra thread does not pay. 2^26 is about
#: 1.5 ms of single-threaded sgemm on the 2-core reference machine (a Zen 4 EPYC VM, ~45
#: GFLOP/s per core in 256-row chunks): a pass shorter than two of these runs in one thread.
#: Calibrated with ``python reports/benchmark.py threads``: below it a second thread gains less
#: than a quarter on a quiet machine and loses on a loaded one (see that table).
PARALLEL_WORK = 2**26


#: What one element of a row-wise numpy pass (a handful of ufuncs and a row reduction over
#: float64 temporaries in cache) costs, in multiply-adds of products: ~3 ns against ~0.023 ns.
NUMPY_ELEMENT_WORK = 128


_local = threading.local()


@contextmanager
def task_scope() -> Iterator[None]:
    """Mark the calling thread as running one task of many (a Dask block task): :func:`budget` is 1 and
    passes neither start threads nor touch BLAS's (process-wide) thread count, which concurrent tasks
    in one process would race on. Dask's workers and threads are the parallelism."""
    before = getattr(_local, "in_task", False)
    _local.in_task = True
    try:
        yield
    finally:
        _local.in_task = before


def in_task() -> bool:
    """True inside :func:`task_scope`."""
    return bool(getattr(_local, "in_task", False))


def budget() -> int:
    """The most threads a pass may use: numba's thread count in the calling thread (1 without numba,
    and inside :func:`task_scope`)."""
    if in_task():
        return 1
    try:
        import numba
    except ImportError:  # pragma: no cover - the numpy backend never asks for more than one
        return 1
    return max(1, int(numba.get_num_threads()))


def threads_for(work: float, units: int, limit: int | None = None) -> int:
    """Threads for a pass of ``work`` multiply-adds split into ``units`` independent units (rule 1 and 2)."""
    if work < 2 * PARALLEL_WORK:  # before budget(): a small pass never imports numba (cold start)
        return 1
    cap = budget() if limit is None else limit
    return max(1, min(cap, units, int(work // PARALLEL_WORK)))


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries, built once: building it reads /proc."""
    try:
        # numba's np.dot calls scipy's BLAS, a library of its own in the wheels: load it before looking.
        import scipy.linalg.cython_blas  # noqa: F401
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        return None
    return ThreadpoolController()


class _Units:
    """One pass's units, handed out one at a time; records the first failure and stops handing out."""

    def __init__(self, task: Callable[[int], None], n: int) -> None:
        self.task = task
        self.n = n
        self.next = 0
        self.left = n
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.done = threading.Event()
        if n == 0:
            self.done.set()

    def drain(self) -> None:
        """Run units until none is left (the body of every thread of the pass)."""
        while True:
            with self.lock:
                unit = self.next
                if unit >= self.n:
                    return
                self.next += 1
            try:
                self.task(unit)
            except BaseException as exc:  # re-raised in the caller; the rest of the pass is skipped
                with self.lock:
                    if self.error is None:
                        self.error = exc
                    self.left -= self.n - self.next
                    self.next = self.n
            finally:
                with self.lock:
                    self.left -= 1
                    if self.left == 0:
                        self.done.set()


class Team:
    """Up to ``size`` threads (the caller and ``size - 1`` helpers, started on first need) that share passes."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._pool: ThreadPoolExecutor | None = None

    def run(self, task: Callable[[int], None], n_units: int, threads: int) -> None:
        """``task(u)`` for every ``u`` in ``range(n_units)``, on up to ``threads`` threads (rule 3).

        Units are taken in increasing order. Returns when every unit has run; the
        first exception a unit raised is re-raised here, and no later unit starts.
        """
        threads = min(threads, self.size, n_units)
        if threads <= 1:
            for unit in range(n_units):
                task(unit)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.size - 1, thread_name_prefix="fastclust")
        units = _Units(task, n_units)
        for _ in range(threads - 1):
            self._pool.submit(units.drain)
        units.drain()
        units.done.wait()
        if units.error is not None:
            raise units.error

    def close(self) -> None:
        """Stop the helpers (they are idle: every pass waited for its units)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


_blas_lock = threading.Lock()
_blas_holders = 0
_blas_restore: Any = None


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """BLAS limited to one thread while any fit in this process holds it.

    BLAS's thread count is process-wide: fits entering and leaving on several
    threads must not restore each other's values. The first holder saves and
    limits it, the last one restores it.
    """
    global _blas_holders, _blas_restore
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with _blas_lock:
        if _blas_holders == 0:
            _blas_restore = controller.limit(limits=1, user_api="blas")
        _blas_holders += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_holders -= 1
            if _blas_holders == 0:
                _blas_restore.restore_original_limits()
                _blas_restore = None


@contextmanager
def session(size: int | None = None, *, single_blas: bool = True) -> Iterator[Team]:
    """A :class:`Team` of ``size`` threads (default: :func:`budget`) and, with ``single_blas``, BLAS
    limited to one thread, both for the duration (rule 4)."""
    team = Team(budget() if size is None else size)
    with ExitStack() as stack:
        stack.callback(team.close)
        if single_blas:
            stack.enter_context(_one_blas_thread())
        yield team


def map_units(task: Callable[[int], None], n_units: int, work: float) -> None:
    """``task(u)`` for every ``u`` in ``range(n_units)``, on :func:`threads_for` ``(work, n_units)`` threads.

    For one-off passes outside a fit (numpy releases the GIL in its loops); BLAS is left alone.
    """
    threads = threads_for(work, n_units)
    if threads <= 1:
        for unit in range(n_units):
            task(unit)
        return
    with session(threads, single_blas=False) as team:
        team.run(task, n_units, threads)
