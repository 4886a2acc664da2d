"""fastclust: fast, exact k-means and k-medians, with the homework's applications on top.

Importing this package never imports numba: the compiled kernels load on first
use, and the pure-numpy reference backend is used where numba is not installed.
"""

from __future__ import annotations

from typing import Any

from ._backends import numba_available
from .engine import KMeansResult, assign, distinct_rows, kmeans
from .errors import ConvergenceWarning, FastclustError
from .metrics import METRICS
from .seeding import INITS, initial_centroids


def _version() -> str:
    """The installed distribution's version; the Gradescope zip vendors these sources without metadata."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fastclust")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = _version()


def __getattr__(name: str) -> Any:  # the estimator pulls in scikit-learn: load it only when asked for
    if name == "KMeans":
        from .estimator import KMeans

        return KMeans
    raise AttributeError(f"module 'fastclust' has no attribute {name!r}")


__all__ = [
    "INITS",
    "METRICS",
    "ConvergenceWarning",
    "FastclustError",
    "KMeans",
    "KMeansResult",
    "__version__",
    "assign",
    "distinct_rows",
    "initial_centroids",
    "kmeans",
    "numba_available",
]
