"""Issue 15 at the engine floor: hostile input gets a FastclustError naming the argument, or the right answer.

Every row of the table is one probe: the call, the exception type, and a pattern its message
must match (the argument's name, and why). Nothing may be printed. Then the magnitude
probes (data x 10^e for e in [-300, 300] gives the unscaled labels or a FastclustError), the
extreme-weight probes. The Dask probes are in tests/test_bad_input_dask.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastclust as fc
from fastclust import FastclustError

RNG = np.random.default_rng(0)
Y = RNG.normal(size=(60, 2))
TWO_GROUPS = np.r_[np.zeros((5, 1)), np.full((5, 1), 10.0)]


def _fitted() -> fc.KMeans:
    return fc.KMeans(3, random_state=0).fit(Y)


CASES = [
    # item 11: masked arrays refused (np.asarray would drop the mask), complex weights refused
    ("masked X", lambda: fc.kmeans(np.ma.masked_array(Y, mask=Y > 1), 3), r"X is a masked array"),
    ("masked X, assign", lambda: fc.assign(np.ma.masked_array(Y, mask=Y > 1), Y[:3]), r"X is a masked array"),
    ("masked X, estimator", lambda: fc.KMeans(3).fit(np.ma.masked_array(Y, mask=Y > 1)), r"X is a masked array"),
    (
        "masked sample_weight",
        lambda: fc.kmeans(Y, 3, sample_weight=np.ma.masked_array(np.ones(60), mask=np.arange(60) < 3)),
        r"sample_weight is a masked array",
    ),
    ("complex sample_weight", lambda: fc.kmeans(Y, 3, sample_weight=np.ones(60) * (1 + 1j)), r"sample_weight.*complex"),
    ("string sample_weight", lambda: fc.kmeans(Y, 3, sample_weight=["1"] * 60), r"sample_weight must be numeric"),
    # item 11 / 19: KMeans.score weights
    ("score negative weights", lambda: _fitted().score(Y, sample_weight=-np.ones(60)), r"sample_weight.*negative"),
    ("score wrong-length weights", lambda: _fitted().score(Y, sample_weight=np.ones(3)), r"sample_weight.*shape"),
    # item 19: string / object init arrays, distinct_rows on 1-D input
    ("string init", lambda: fc.kmeans(Y, 2, init=np.array([["a", "b"]] * 2)), r"init array must be numeric"),
    ("object init", lambda: fc.kmeans(Y, 2, init=np.array([[1, 2]] * 2, dtype=object)), r"init array must be numeric"),
    ("complex init", lambda: fc.kmeans(Y, 2, init=np.ones((2, 2)) * 1j), r"init array must be real"),
    ("init of the wrong shape", lambda: fc.kmeans(Y, 2, init=np.ones((3, 2))), r"init array must have shape"),
    ("init with NaN", lambda: fc.kmeans(Y, 2, init=np.full((2, 2), np.nan)), r"init array contains 4 non-finite"),
    ("distinct_rows 1-D", lambda: fc.distinct_rows(np.arange(5)), r"X must be 2-D"),
    ("distinct_rows strings", lambda: fc.distinct_rows(np.array([["a"]])), r"X must be numeric"),
    ("distinct_rows weights", lambda: fc.distinct_rows(Y, sample_weight=np.ones(3)), r"sample_weight.*shape"),
    # item 1: overflow of the objective is refused, never reported as inf
    (
        "objective beyond float64",
        lambda: fc.kmeans(RNG.normal(size=(50, 2)) * 1e300, 3, seed=0),
        r"objective of this fit exceeds float64's range.*divide X",
    ),
    # item 17: weights whose weighted objective cannot be represented
    (
        "weights of 1e308",
        lambda: fc.kmeans(Y, 3, seed=0, sample_weight=np.full(60, 1e308)),
        r"objective.*exceeds float64's range.*sample_weight",
    ),
    (
        "seeding: bad oversampling",
        lambda: fc.initial_centroids(Y, 3, init="k-means||", oversampling=-1),
        "oversampling",
    ),
    ("seeding: bad rounds", lambda: fc.initial_centroids(Y, 3, init="k-means||", init_rounds=0), "init_rounds"),
    ("seeding: bad init", lambda: fc.initial_centroids(Y, 3, init="kmeans"), "init='kmeans'"),
]


@pytest.mark.parametrize("call, pattern", [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_table(call, pattern, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a refusal comes as an error, not as a warning and a wrong answer
        with pytest.raises(FastclustError, match=pattern):
            call()
    assert capsys.readouterr() == ("", "")


# --- item 1: magnitudes -------------------------------------------------------------------------


def test_overflow_example_from_the_issue_gives_two_clusters():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = fc.kmeans(TWO_GROUPS * 1e160, 2, seed=0)
    assert res.k == 2 and res.converged and np.isfinite(res.objective)
    np.testing.assert_allclose(np.sort(res.centroids.ravel()), [0.0, 1e161], rtol=1e-15)
    est = fc.KMeans(2, random_state=0).fit(TWO_GROUPS * 1e160)
    assert est.cluster_centers_.shape == (2, 1) and np.isfinite(est.inertia_)
    np.testing.assert_array_equal(est.predict(TWO_GROUPS * 1e160), est.labels_)
    assert np.isfinite(est.transform(TWO_GROUPS * 1e160)).all()


def test_underflow_example_from_the_issue_keeps_every_distinct_row():
    X = np.random.default_rng(0).normal(size=(100, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # was: "only 1 distinct rows", k = 1
        tiny = fc.kmeans(X * 1e-310, 3, seed=0)
    assert tiny.k == 3 and tiny.converged
    np.testing.assert_array_equal(tiny.labels, fc.kmeans(X, 3, seed=0).labels)


@pytest.mark.parametrize("metric", ["l2", "l1"])
def test_float32_blas_path_at_extreme_scale(metric):
    rng = np.random.default_rng(1)
    X = (rng.normal(size=(4500, 20)) + rng.integers(0, 3, size=(4500, 1)) * 4).astype(np.float32)
    base = fc.kmeans(X, 3, metric=metric, init=X[:3])
    big = fc.kmeans(X * np.float32(1e25), 3, metric=metric, init=X[:3] * np.float32(1e25))
    np.testing.assert_array_equal(big.labels, base.labels)


@st.composite
def separated(draw):
    """Well-separated groups (no near-ties), an init inside them, and a power of ten."""
    k = draw(st.integers(1, 4))
    d = draw(st.integers(1, 3))
    sizes = draw(st.lists(st.integers(1, 8), min_size=k, max_size=k))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    centres = np.arange(k)[:, None] * 100.0 + np.zeros(d)
    X = np.vstack([c + rng.uniform(-1, 1, size=(s, d)) for c, s in zip(centres, sizes, strict=True)])
    return X, centres + 0.5, draw(st.sampled_from(["l2", "l1"])), draw(st.integers(-300, 300))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(separated())
def test_scaling_the_data_by_a_power_of_ten_keeps_the_labels_or_refuses(problem):
    X, init, metric, e = problem
    base = fc.kmeans(X, init.shape[0], metric=metric, init=init)
    scale = 10.0**e
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            res = fc.kmeans(X * scale, init.shape[0], metric=metric, init=init * scale)
    except FastclustError as exc:
        assert "exceeds float64's range" in str(exc)
        return
    np.testing.assert_array_equal(res.labels, base.labels)
    assert res.k == base.k and res.converged and np.isfinite(res.objective)


def test_extreme_weights_give_the_unweighted_labels():
    X = np.random.default_rng(2).normal(size=(80, 2))
    base = fc.kmeans(X, 3, seed=0)
    for w in (1e300, 1e-300, 5e-324):
        res = fc.kmeans(X, 3, seed=0, sample_weight=np.full(80, w))
        np.testing.assert_array_equal(res.labels, base.labels)
        assert res.objective == pytest.approx(base.objective * w, rel=1e-9)
