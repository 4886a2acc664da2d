"""Hypothesis properties of the engine on small integer-valued data (exact arithmetic)."""

from __future__ import annotations

import numpy as np
from conftest import BACKENDS
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fastclust as fc


@st.composite
def problems(draw):
    n = draw(st.integers(2, 40))
    d = draw(st.integers(1, 4))
    X = np.array(
        draw(st.lists(st.lists(st.integers(0, 9), min_size=d, max_size=d), min_size=n, max_size=n)), dtype=float
    )
    k = draw(st.integers(1, 6))
    init = X[draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k))] + draw(st.sampled_from([0.0, 0.25]))
    return X, k, init, draw(st.sampled_from(["l2", "l1"])), draw(st.sampled_from(BACKENDS))


def centre_of(X, w, metric):
    if metric == "l2":
        return (w[:, None] * X).sum(0) / w.sum()
    return np.median(np.repeat(X, w.astype(int), axis=0), axis=0)


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(problems())
def test_objective_never_increases_and_labels_in_range(problem):
    X, k, init, metric, backend = problem
    res = fc.kmeans(X, k, metric=metric, init=init, backend=backend)
    assert np.all(np.diff(res.history) <= 1e-9 * max(1.0, res.history[0]))
    assert res.labels.min() >= 0 and res.labels.max() < res.k <= k
    assert res.stop_reason in ("converged", "stalled") and res.converged == (res.stop_reason == "converged")


@SETTINGS
@given(problems())
def test_converged_centroids_are_member_centres_and_a_fixed_point(problem):
    X, k, init, metric, backend = problem
    w = np.ones(len(X))
    res = fc.kmeans(X, k, metric=metric, init=init, backend=backend)
    assume(res.converged)
    for j in range(res.k):
        members = res.labels == j
        assert members.any()
        np.testing.assert_allclose(res.centroids[j], centre_of(X[members], w[members], metric), atol=1e-12)
    again = fc.kmeans(X, res.k, metric=metric, init=res.centroids, backend=backend)
    np.testing.assert_array_equal(again.labels, res.labels)
    np.testing.assert_allclose(again.centroids, res.centroids, atol=1e-12)
    assert again.n_iter == 1 and again.converged


@SETTINGS
@given(problems())
def test_distinct_rows_with_counts_equal_full_data(problem):
    X, k, init, metric, backend = problem
    full = fc.kmeans(X, k, metric=metric, init=init, backend=backend)
    rows, counts, inverse = fc.distinct_rows(X)
    small = fc.kmeans(rows, k, metric=metric, init=init, sample_weight=counts, backend=backend)
    np.testing.assert_array_equal(small.labels[inverse], full.labels)
    np.testing.assert_array_equal(small.centroids, full.centroids)
    assert small.objective == full.objective or abs(small.objective - full.objective) <= 1e-9 * max(1.0, full.objective)
