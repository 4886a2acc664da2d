"""The distances fastclust clusters by, each described once.

A :class:`Metric` says everything the engine needs to know about a distance: the
code the kernels take, how a centre is updated (mean or coordinate-wise median),
how far a centre moved (the drift the assignment bounds use) and how a distance
scales with the data. Everything else (the engine, the Dask driver, the
estimator, the command line's ``--metric`` choices) reads it from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

from ._codes import MANHATTAN, SQEUCLIDEAN
from ._validation import check_choice

__all__ = ["METRICS", "Metric", "get_metric"]


@dataclass(frozen=True)
class Metric:
    """One distance and what k-means does with it.

    Attributes
    ----------
    name : str
        The public name (``metric=`` everywhere).
    code : int
        What the kernels take (:mod:`fastclust._codes`).
    centre : str
        The centre update that minimises the objective: ``"mean"`` or ``"median"``.
    power : int
        A distance in the metric's units scales as ``scale ** power`` when the data
        is multiplied by ``scale`` (2 for squared Euclidean, 1 for Manhattan).
    description : str
        One line for help texts.
    """

    name: str
    code: int
    centre: str
    power: int
    description: str

    def update(
        self, ops: ModuleType, X: np.ndarray, w: np.ndarray, labels: np.ndarray, weight: np.ndarray, order: np.ndarray
    ) -> np.ndarray:
        """New centres of the clusters in ``labels``: NaN rows for clusters of zero ``weight``.

        ``ops`` is a kernel module; ``weight`` the clusters' total weights;
        ``order`` (medians only) the stable argsort of every column, shape ``(d, n)``.
        """
        if self.centre == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 marks an empty cluster as NaN
                return ops.cluster_sums(X, w, labels, weight.shape[0]) / weight[:, None]
        return ops.cluster_medians(X, w, labels, weight.shape[0], order)

    def drift(self, old: np.ndarray, new: np.ndarray) -> np.ndarray:
        """How far each centre moved, in the distance the assignment bounds use.

        That is the metric's true distance (Euclidean, not squared, for L2): the
        bounds need the triangle inequality.
        """
        diff = np.abs(new - old)
        return np.sqrt((diff * diff).sum(axis=1)) if self.code == SQEUCLIDEAN else diff.sum(axis=1)


_ALL = (
    Metric("l2", SQEUCLIDEAN, "mean", 2, "k-means: squared Euclidean distance, centres are weighted means"),
    Metric("l1", MANHATTAN, "median", 1, "k-medians: Manhattan distance, centres are coordinate-wise weighted medians"),
)
_BY_NAME = {m.name: m for m in _ALL}

#: The metric names, in the order help texts list them (``choices=METRICS`` on a command line).
METRICS: tuple[str, ...] = tuple(_BY_NAME)


def get_metric(metric: str | Metric, name: str = "metric") -> Metric:
    """The :class:`Metric` called ``metric`` (a Metric is returned as is); a FastclustError naming ``name`` otherwise."""
    if isinstance(metric, Metric):
        return metric
    return _BY_NAME[check_choice(metric, name, METRICS)]
