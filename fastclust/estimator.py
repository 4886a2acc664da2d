"""A scikit-learn estimator around :func:`fastclust.kmeans`."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._memory import distance_matrix
from ._validation import check_weights, refuse_masked
from .engine import assign, kmeans
from .errors import FastclustError
from .metrics import get_metric

__all__ = ["KMeans"]


class KMeans(ClusterMixin, TransformerMixin, BaseEstimator):
    """k-means (``metric="l2"``) or k-medians (``metric="l1"``) with scikit-learn's interface.

    Parameters
    ----------
    n_clusters : int, default 8
    metric : {"l2", "l1"}, default "l2"
    init : {"k-means++", "random", "random-uniform"} or array (n_clusters, n_features)
    random_state : None, int, numpy Generator or RandomState
    empty : {"drop", "reseed", "error"}
        See :func:`fastclust.kmeans`. With ``"drop"`` the fitted model may have
        fewer than ``n_clusters`` centres.
    backend : {"auto", "numba", "numpy"}
    max_iter : int or None
        Safety cap on rounds; None runs until the labels stop changing.

    Attributes
    ----------
    labels_, cluster_centers_, inertia_, n_iter_, n_features_in_, result_
        ``inertia_`` is the fit's objective (squared L2, or L1 for k-medians);
        ``result_`` is the full :class:`fastclust.KMeansResult`.
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        metric: str = "l2",
        init: Any = "k-means++",
        random_state: Any = None,
        empty: str = "drop",
        backend: str = "auto",
        max_iter: int | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.metric = metric
        self.init = init
        self.random_state = random_state
        self.empty = empty
        self.backend = backend
        self.max_iter = max_iter

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> KMeans:
        """Cluster ``X``; ``y`` is ignored."""
        refuse_masked(X, "X")
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        result = kmeans(
            X,
            self.n_clusters,
            metric=self.metric,
            init=self.init,
            seed=self.random_state,
            sample_weight=sample_weight,
            max_iter=self.max_iter,
            empty=self.empty,
            backend=self.backend,
        )
        self.result_ = result
        self.labels_ = result.labels
        self.cluster_centers_ = result.centroids
        self.inertia_ = result.objective
        self.n_iter_ = result.n_iter
        return self

    def _check(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        refuse_masked(X, "X")
        return validate_data(self, X, dtype=[np.float64, np.float32], reset=False)

    def predict(self, X: Any) -> np.ndarray:
        """Index of the nearest fitted centre for every row of ``X``."""
        return assign(self._check(X), self.cluster_centers_, metric=self.metric, backend=self.backend)[0]

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit and return ``labels_``."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def transform(self, X: Any) -> np.ndarray:
        """Distance from every row to every centre: Euclidean (l2) or Manhattan (l1), shape ``(n, k)``.

        Computed in chunks of rows: memory beyond the output stays O(chunk x k).
        """
        return distance_matrix(self._check(X), self.cluster_centers_, get_metric(self.metric), self.backend)

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Minus the objective of ``X`` under the fitted centres (higher is better).

        ``sample_weight`` follows :func:`fastclust.kmeans`'s rules (non-negative, one per row).
        """
        X = self._check(X)
        w = check_weights(sample_weight, X.shape[0])
        value = -float(w @ assign(X, self.cluster_centers_, metric=self.metric, backend=self.backend)[1])
        if not np.isfinite(value):
            raise FastclustError("the score of X exceeds float64's range in X's units: divide X by a constant first")
        return value
