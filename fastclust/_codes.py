"""The kernels' metric codes, named once.

Compiled kernels take the metric as a plain int (numba specialises on scalars, not on
Python objects); this module is the one place that says which int means what. Both
kernel modules and :mod:`fastclust.metrics` import it, and it imports nothing.
"""

from __future__ import annotations

__all__ = ["MANHATTAN", "SQEUCLIDEAN"]

#: Squared Euclidean distance: k-means, metric ``"l2"``.
SQEUCLIDEAN = 0
#: Manhattan distance: k-medians, metric ``"l1"``.
MANHATTAN = 1
