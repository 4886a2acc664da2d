"""Run a command's compiled code paths once, on tiny inputs, before the work that gets timed.

numba compiles a kernel the first time it is called with a new combination of
argument types, or loads it from its on-disk cache (about 0.3 s for all of
them). On a cold cache that first call takes 5-10 s, and a fit timed around it
reports compilation as clustering time. The command line calls
:func:`warm_up` first, so the seconds it prints are the fit's alone.

Only the public API is called: the same entry points, dtypes and code paths
(narrow loops, the chunked-BLAS path for wide data, L1 medians) that the real
work takes, on inputs small enough that a warm call costs milliseconds.
"""

from __future__ import annotations

import os

import numpy as np

from ._backends import numba_available

__all__ = ["WORKLOADS", "jit_active", "warm_up"]

#: What :func:`warm_up` knows how to prepare, by the command (or report study) that needs it.
WORKLOADS = ("image-l2", "image-l1", "graph", "spectral", "vq", "digits")


def jit_active() -> bool:
    """True when fits will run numba-compiled kernels (numba installed and JIT not disabled)."""
    if not numba_available():
        return False
    import numba

    return not getattr(numba.config, "DISABLE_JIT", False) and os.environ.get("NUMBA_DISABLE_JIT", "0") in ("", "0")


def _image(metric: str) -> None:
    from . import image

    rgb = np.random.default_rng(0).integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    image.compress(rgb, 4, metric=metric, seed=0)  # same init and weights as a real compress


def _graph() -> None:
    from . import graph

    graph.csr_from_edges(np.array([0, 1, 2]), np.array([1, 2, 0]), 3)


def _spectral() -> None:
    from . import graph, spectral
    from .engine import kmeans

    A, _ = graph.make_two_block_graph(60, mean_degree=8, seed=0)
    spectral.spectral_clustering(A, 2, n_init=1, seed=0)
    # a large graph embedded in many dimensions takes the engine's wide (BLAS) path: float64 there
    wide = np.random.default_rng(0).normal(size=(4096, 16))
    kmeans(wide, 2, init="k-means++", seed=0)


def _vq() -> None:
    from . import vq

    # float32 rows, >= 4096 x 16: the wide path an embedding table takes
    vq.compress(vq.make_embeddings(4096, 16, n_topics=4, seed=0), 4, seed=0)


def _digits() -> None:
    from .engine import assign, kmeans

    rng = np.random.default_rng(0)
    # small float32 subsets (per-digit samples) stay on the direct path, in float32: their own kernels
    narrow = rng.normal(size=(64, 16)).astype(np.float32)
    for init in ("random-uniform", "random", "k-means++"):
        kmeans(narrow, 3, init=init, seed=0)
    assign(narrow, narrow[:3])
    wide = rng.normal(size=(4096, 16)).astype(np.float32)  # the full training set: the BLAS path, and prediction
    assign(wide, wide[:3])


_RUNNERS = {
    "image-l2": lambda: _image("l2"),
    "image-l1": lambda: _image("l1"),
    "graph": _graph,
    "spectral": _spectral,
    "vq": _vq,
    "digits": _digits,
}


def warm_up(*workloads: str) -> bool:
    """Compile (or load from numba's cache) the kernels behind ``workloads``; all of them if none given.

    Returns False, doing nothing, when no kernel is compiled on this machine
    (numba absent, or ``NUMBA_DISABLE_JIT=1``), else True. Warnings of the tiny
    fits are not silenced here: the caller decides what to show.

    Raises
    ------
    ValueError
        For a name not in :data:`WORKLOADS` (a programming error, not user input).
    """
    unknown = [w for w in workloads if w not in _RUNNERS]
    if unknown:
        raise ValueError(f"unknown warm-up workload(s) {unknown}; choose from {WORKLOADS}")
    if not jit_active():
        return False
    for name in workloads or WORKLOADS:
        _RUNNERS[name]()
    return True
