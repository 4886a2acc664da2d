"""fastclust: fast, exact k-means and k-medians, with the homework's applications on top.

Importing this package never imports numba: the compiled kernels load on first
use, and the pure-numpy reference backend is used where numba is not installed.
"""

from __future__ import annotations

from ._backends import numba_available
from .engine import ConvergenceWarning, KMeansResult, assign, distinct_rows, kmeans
from .errors import FastclustError

__version__ = "0.1.0"


def __getattr__(name: str):  # the estimator pulls in scikit-learn: load it only when asked for
    if name == "KMeans":
        from .estimator import KMeans

        return KMeans
    raise AttributeError(f"module 'fastclust' has no attribute {name!r}")


__all__ = [
    "ConvergenceWarning",
    "FastclustError",
    "KMeans",
    "KMeansResult",
    "assign",
    "distinct_rows",
    "kmeans",
    "numba_available",
    "__version__",
]
