"""Embedding compression (Q5) and the k-means digit classifier."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import shared_file

from fastclust import digits as fd
from fastclust import vq
from fastclust.errors import FastclustError


@pytest.fixture(scope="module")
def table():
    return vq.make_embeddings(3000, 32, n_topics=16, seed=1)


def test_make_embeddings_is_seeded_and_documented_shape():
    a, b = vq.make_embeddings(100, 8, seed=3), vq.make_embeddings(100, 8, seed=3)
    assert a.dtype == np.float32 and a.shape == (100, 8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, vq.make_embeddings(100, 8, seed=4))


@pytest.mark.slow
def test_compress_memory_codes_and_cosine(table):
    r = vq.compress(table, 64, seed=0)
    assert r.codes.dtype == np.uint8 and r.codes.shape == (3000,) and r.codebook.dtype == np.float32
    assert r.memory_before_mb == round(3000 * 32 * 4 / 2**20, 4)
    assert r.memory_after_mb == round((64 * 32 * 4 + 3000) / 2**20, 4)
    assert r.compression_ratio == pytest.approx((3000 * 32 * 4) / (64 * 32 * 4 + 3000))
    R = r.codebook[r.codes].astype(float)
    E = table.astype(float)
    cos = (E * R).sum(1) / np.linalg.norm(E, axis=1) / np.linalg.norm(R, axis=1)
    assert r.avg_cosine == pytest.approx(cos.mean()) and 0.5 < r.avg_cosine < 1


def test_code_dtype_follows_k():
    assert vq.code_dtype(256) == np.uint8 and vq.code_dtype(257) == np.uint16
    assert vq.code_dtype(512) == np.uint16 and vq.code_dtype(65536) == np.uint16 and vq.code_dtype(65537) == np.uint32


@pytest.mark.slow
def test_k_512_needs_two_byte_codes(table):
    assert vq.compress(table, 512, seed=0).codes.dtype == np.uint16


@pytest.mark.slow
def test_sklearn_engine_side_by_side(table):
    ours = vq.compress(table, 32, seed=0)
    theirs = vq.compress(table, 32, seed=0, implementation="sklearn")
    assert theirs.engine == "sklearn" and theirs.k == 32 and theirs.stop_reason in ("converged", "max_iter")
    assert abs(ours.avg_cosine - theirs.avg_cosine) < 0.01


@pytest.mark.slow
def test_sweep_quality_rises_and_ratio_falls_with_k(table):
    rows = vq.sweep(table, ks=(16, 64, 256), seed=0)
    assert [r["k"] for r in rows] == [16, 64, 256]
    assert rows[0]["avg_cosine"] < rows[1]["avg_cosine"] < rows[2]["avg_cosine"]
    assert rows[0]["compression_ratio"] > rows[1]["compression_ratio"] > rows[2]["compression_ratio"]


@pytest.mark.slow
def test_pq_beats_vq_at_equal_code_bytes(table):
    pq = vq.pq_compress(table, 4, 64, seed=0)
    assert pq.codes.shape == (3000, 4) and pq.codebooks.shape == (4, 64, 8)
    assert pq.avg_cosine > vq.compress(table, 64, seed=0).avg_cosine
    rows = vq.compare_vq_pq(table, bytes_per_row=(1, 2), max_vq_k=256)
    assert rows[0]["pq_avg_cosine"] == pytest.approx(rows[0]["vq_avg_cosine"], abs=0.02)
    with pytest.raises(FastclustError, match="must divide"):
        vq.pq_compress(table, 5)


def test_load_embeddings_refuses_pickles_and_bad_rows(tmp_path, table):
    np.save(tmp_path / "ok.npy", table)
    np.testing.assert_array_equal(vq.load_embeddings(tmp_path / "ok.npy"), table)
    np.savez(tmp_path / "ok.npz", embeddings=table, other=np.zeros(3))
    assert vq.load_embeddings(tmp_path / "ok.npz").shape == table.shape
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FastclustError, match="unpickling, which is refused"):
        vq.load_embeddings(tmp_path / "obj.npy")
    bad = table.copy()
    bad[[3, 7]] = np.nan
    bad[9] = 0
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(FastclustError, match=r"2 row\(s\) with NaN or inf; the first is row 3"):
        vq.load_embeddings(tmp_path / "nan.npy")
    with pytest.raises(FastclustError, match=r"1 all-zero row\(s\).*row 9"):
        vq.compress(np.where(np.isnan(bad), 1.0, bad))
    np.save(tmp_path / "int.npy", np.ones((3, 2), dtype=np.int64))
    with pytest.raises(FastclustError, match="must be a float array"):
        vq.load_embeddings(tmp_path / "int.npy")
    np.save(tmp_path / "one_d.npy", np.ones(5, dtype=np.float32))
    with pytest.raises(FastclustError, match="2-D"):
        vq.load_embeddings(tmp_path / "one_d.npy")
    with pytest.raises(FastclustError, match="no such embeddings file"):
        vq.load_embeddings(tmp_path / "missing.npy")


# --- digits ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist():
    return fd.load_mnist(shared_file("mnist"))


def test_mnist_test_split_loads(mnist):
    assert mnist.images.shape == (10_000, 28, 28) and mnist.images.dtype == np.uint8
    assert sorted(np.unique(mnist.labels)) == list(range(10)) and mnist.labels.shape == (10_000,)
    one = fd.load_mnist(shared_file("mnist", "t10k-images-idx3-ubyte.gz"))
    np.testing.assert_array_equal(one.labels, mnist.labels)


def test_fallback_to_bundled_digits_with_warning(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTCLUST_MNIST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.warns(UserWarning, match="bundled 8x8 digits"):
        d = fd.load_mnist()
    assert d.images.shape[1:] == (8, 8) and d.images.max() == 255


def test_bad_mnist_inputs(tmp_path):
    with pytest.raises(FastclustError, match="no such MNIST"):
        fd.load_mnist(tmp_path / "nope")
    (tmp_path / "x-images-idx3-ubyte").write_bytes(
        b"\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02abc"
    )
    with pytest.raises(FastclustError, match="header says"):
        fd.read_idx(tmp_path / "x-images-idx3-ubyte")
    (tmp_path / "bad").write_bytes(b"hello")
    with pytest.raises(FastclustError, match="bad magic"):
        fd.read_idx(tmp_path / "bad")


@pytest.mark.slow
def test_cluster_classifier_on_bundled_digits():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sklearn.datasets import load_digits
    d = load_digits()
    X, y = d.data[:1400], d.target[:1400]
    clf = fd.ClusterClassifier(30, seed=0).fit(X, y)
    assert clf.centroid_labels_.shape == (clf.result_.k,) and set(clf.centroid_labels_) <= set(range(10))
    assert clf.score(d.data[1400:], d.target[1400:]) > 0.75
    imgs, labels = fd.centroid_images(clf, (8, 8))
    assert imgs.shape == (clf.result_.k, 8, 8) and labels.shape == (clf.result_.k,)


@pytest.mark.slow
def test_notebook_protocol_reports_true_iterations_and_objective(mnist):
    small = fd.Digits(mnist.images[:3000], mnist.labels[:3000], mnist.source)
    p = fd.notebook_protocol(small, ks=(10, 50), per_digit=50)
    assert [r["init"] for r in p.notebook_rows] == ["random-uniform", "random"]
    for r in p.notebook_rows + p.honest_rows:
        assert r["iterations"] >= 1 and r["objective"] > 0 and 0 < r["accuracy"] <= 1
        assert r["notebook_printed_iterations"] == r["k"] - 1 or r["k"] < 20
    assert p.honest_rows[1]["accuracy"] > p.honest_rows[0]["accuracy"]
    assert p.honest_rows[-1]["accuracy"] > 0.7  # 2,400 training images, k=50: about 0.77


# --- scale, seeds, warnings and results (issues 13 and 15: items 8, 10, 11) ----------------------


@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_float32_normalisation_survives_extreme_scales(table, scale):
    # float32 squares overflowed at 1e30 (k = 1, cosine 0) and underflowed at 1e-30 ("inf" rows)
    small = table[:400]
    ref = vq.compress(small, 8, seed=0)
    scaled = (small.astype(np.float64) * scale).astype(np.float32)
    r = vq.compress(scaled, 8, seed=0)
    assert r.k == 8 and r.avg_cosine == pytest.approx(ref.avg_cosine, abs=1e-4)
    np.testing.assert_array_equal(r.codes, ref.codes)
    assert vq.average_cosine(scaled, scaled) == pytest.approx(1.0)


def test_average_cosine_in_float64_extremes():
    E = np.array([[1e200, 1e200], [1e-300, -1e-300]])
    assert vq.average_cosine(E, E) == pytest.approx(1.0)
    assert vq.average_cosine(E, -E) == pytest.approx(-1.0)
    assert vq.average_cosine(E, np.zeros_like(E)) == 0.0  # a zero-length reconstruction counts as cosine 0


def test_sklearn_path_honours_numpy_and_generator_seeds(table):
    small = table[:500]
    a = vq.compress(small, 8, seed=np.int64(3), implementation="sklearn")
    b = vq.compress(small, 8, seed=3, implementation="sklearn")
    np.testing.assert_array_equal(a.codes, b.codes)  # np.int64 was dropped (random_state=None)
    c = vq.compress(small, 8, seed=np.random.default_rng(5), implementation="sklearn")
    d = vq.compress(small, 8, seed=np.random.default_rng(5), implementation="sklearn")
    np.testing.assert_array_equal(c.codes, d.codes)  # a Generator was dropped too: not reproducible
    assert a.converged in (True, False) and a.stop_reason in ("converged", "max_iter")


@pytest.mark.parametrize("implementation", ["fastclust", "sklearn"])
@pytest.mark.parametrize("seed, message", [("x", "seed must be None"), (-1, "seed must be a non-negative")])
def test_bad_seeds_are_refused_on_both_paths(table, implementation, seed, message):
    with pytest.raises(FastclustError, match=message):
        vq.compress(table[:100], 4, seed=seed, implementation=implementation)


def test_pq_seed_rule_and_results(table):
    with pytest.raises(FastclustError, match="seed must be a non-negative integer, got -1"):
        vq.pq_compress(table[:100], 2, 4, seed=-1)
    pq = vq.pq_compress(table[:300], 2, 8, seed=0)
    assert pq.converged and pq.stop_reason == "converged" and pq.stop_reasons == ("converged", "converged")


def test_engine_keyword_still_works_with_a_deprecation_warning(table):
    with pytest.warns(DeprecationWarning, match=r"engine=\.\.\.\) is deprecated: use implementation="):
        r = vq.compress(table[:200], 4, seed=0, engine="fastclust")
    assert r.engine == "fastclust"
    with pytest.raises(FastclustError, match="disagree"), pytest.warns(DeprecationWarning):
        vq.compress(table[:200], 4, engine="fastclust", implementation="sklearn")
    with pytest.raises(FastclustError, match=r"implementation='faiss' is not one of"):
        vq.compress(table[:200], 4, implementation="faiss")


def test_fit_warnings_reach_the_caller_and_the_result_records_them(table):
    import fastclust as fc

    with pytest.warns(fc.ConvergenceWarning, match="max_iter=1"):
        r = vq.compress(table, 16, seed=0, max_iter=1)
    assert r.converged is False and r.stop_reason == "max_iter"
    with pytest.warns(fc.ConvergenceWarning):
        pq = vq.pq_compress(table, 2, 16, seed=0, max_iter=1)
    assert not pq.converged and pq.stop_reason == "max_iter"
    few = np.repeat(table[:3], 10, axis=0)
    with pytest.warns(UserWarning, match="k is reduced to 3"):  # was silenced in vq
        assert vq.compress(few, 5, seed=0).k == 3


def test_compare_vq_pq_reports_budgets_that_do_not_divide_d(table):
    rows = vq.compare_vq_pq(table[:80, :30], (1, 4, 2), max_vq_k=16, max_iter=5)
    assert [r["bytes_per_row"] for r in rows] == [1, 4, 2]  # every budget keeps its row, in order
    assert np.isnan(rows[1]["pq_avg_cosine"]) and rows[1]["pq_note"] == "m=4 does not divide d=30: no PQ at this budget"
    assert rows[0]["pq_note"] == "" and 0 < rows[0]["pq_avg_cosine"] <= 1 and rows[1]["vq_avg_cosine"] > 0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda E: vq.compare_vq_pq(E, (0,)), r"bytes_per_row entry must be an integer >= 1, got 0"),
        (lambda E: vq.compare_vq_pq(E, ()), r"bytes_per_row is empty"),
        (lambda E: vq.compare_vq_pq(E, 2), r"bytes_per_row must be a sequence"),
        (lambda E: vq.average_cosine(E, E[:5]), r"E and reconstruction must have the same shape"),
        (lambda E: vq.average_cosine(E[0], E[0]), r"E must be a non-empty 2-D table"),
        (lambda E: vq.average_cosine(E, E.astype(complex)), r"reconstruction must be a real numeric table"),
        (lambda E: vq.make_embeddings(10, 4, noise=float("nan")), r"noise must be finite and >= 0, got nan"),
        (lambda E: vq.make_embeddings(10, 4, noise=-1.0), r"noise must be finite and >= 0"),
        (lambda E: vq.make_embeddings(10, 4, seed=-3), r"seed must be a non-negative integer"),
        (lambda E: vq.compress(np.ma.masked_equal(E, 0)), r"embeddings is a masked array"),
        (lambda E: vq.compress(E.astype(complex)), r"must be a float array, got dtype complex128"),
        (lambda E: vq.compress(E, 4, implementation="sklearn", init="random-uniform"), r"not available with"),
    ],
)
def test_vq_argument_misuse_is_refused(table, call, message):
    with pytest.raises(FastclustError, match=message):
        call(table[:50])


# --- digits: labels, inputs and the .npz rule (items 6, 7, 13, 19) -------------------------------


@pytest.fixture(scope="module")
def small_digits():
    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 255, size=(3, 16))
    y = np.repeat([0, 1, 2], 20)
    X = np.clip(centres[y] + rng.normal(0, 5, size=(60, 16)), 0, 255)
    return X, y


@pytest.mark.parametrize(
    "y, message",
    [
        (lambda y: y - 1, r"y must hold labels >= 0; index 0 holds"),  # wrapped around through np.add.at
        (lambda y: y + 0.5, r"y must hold whole-number labels; 60 are not .* they would be truncated"),
        (lambda y: np.where(y == 2, 10**10, y), r"y holds label 10000000000 at index 40: class labels must be <="),
        (lambda y: y.astype(str), r"y must hold integer class labels, got dtype <U"),
        (lambda y: y.astype(bool), r"y must hold integer class labels, got dtype bool"),
        (lambda y: y[:-1], r"y must have shape \(60,\), got \(59,\)"),
        (lambda y: np.where(y == 2, np.nan, y), r"y must hold whole-number labels"),
    ],
)
def test_classifier_refuses_bad_labels(small_digits, y, message):
    X, labels = small_digits
    with pytest.raises(FastclustError, match=message):
        fd.ClusterClassifier(3, seed=0).fit(X, y(labels))


def test_classifier_refuses_bad_inputs_and_use_before_fit(small_digits):
    X, y = small_digits
    clf = fd.ClusterClassifier(3, seed=0)
    for call in (lambda: clf.predict(X), lambda: clf.converged, lambda: clf.score(X, y)):
        with pytest.raises(FastclustError, match="not fitted yet: call fit"):
            call()
    with pytest.raises(FastclustError, match=r"X is empty"):
        clf.fit(np.zeros((0, 16)), np.zeros(0, dtype=int))
    with pytest.raises(FastclustError, match=r"X must be numeric"):
        clf.fit(np.full((60, 16), "a"), y)
    with pytest.raises(FastclustError, match=r"X must be \(n, d\) rows or \(n, h, w\) images"):
        clf.fit(np.arange(5.0), np.arange(5))
    clf.fit(X, y)
    with pytest.raises(FastclustError, match=r"X has 4 features per row, the fit had 16"):
        clf.predict(np.zeros((2, 4)))


def test_classifier_large_labels_and_votes(small_digits):
    X, y = small_digits
    clf = fd.ClusterClassifier(3, seed=0).fit(X, (y * 1000).astype(np.float64))  # whole floats accepted
    assert sorted(clf.centroid_labels_.tolist()) == [0, 1000, 2000]
    assert clf.score(X, y * 1000) == 1.0 and clf.converged and clf.stop_reason == "converged"
    images = X.reshape(60, 4, 4)  # images are flattened
    assert (fd.ClusterClassifier(3, seed=0).fit(images, y).predict(images) == y).all()


def test_classifier_lets_engine_warnings_through(small_digits):
    X, y = small_digits
    with pytest.warns(UserWarning, match="k is reduced"):
        clf = fd.ClusterClassifier(5, seed=0).fit(np.repeat(X[:2], 5, axis=0), np.repeat(y[:2], 5))
    assert clf.result_.k == 2  # two distinct rows


def _keras_npz(path, x, y):
    np.savez(path, x_train=x[:4], y_train=y[:4], x_test=x[4:], y_test=y[4:])
    return path


@pytest.mark.parametrize(
    "x, expected, note",
    [
        (np.full((6, 2, 2), 0.5), 128, "float pixels in [0, 1] scaled by 255"),  # was astype(uint8): 0
        (np.full((6, 2, 2), 200.0), 200, "float pixels in [0, 255] rounded"),
        (np.full((6, 2, 2), 200, dtype=np.int16), 200, None),
    ],
)
def test_mnist_npz_pixels_follow_the_stated_rule(tmp_path, x, expected, note):
    d = fd.load_mnist(_keras_npz(tmp_path / "mnist.npz", x, np.arange(6) % 10))
    assert d.images.dtype == np.uint8 and (d.images == expected).all()
    assert (note in d.source) if note else ";" not in d.source


@pytest.mark.parametrize(
    "x, y, message",
    [
        (np.full((6, 2, 2), 300, dtype=np.int16), np.arange(6), r"\[x_train\]: integer pixels must lie in 0\.\.255"),
        (np.full((6, 2, 2), -0.5), np.arange(6), r"float pixels must lie in \[0, 1\] or \[0, 255\]"),
        (np.full((6, 2, 2), np.nan), np.arange(6), r"NaN or inf"),
        (np.zeros((6, 2, 2), dtype=complex), np.arange(6), r"pixels must be integers or floats"),
        (np.zeros((6, 2, 2)), np.arange(6) + 0.5, r"\[y_train\]: labels must be whole numbers"),
        (np.zeros((6, 2, 2)), np.arange(6) + 5, r"\[y_test\]: labels outside 0\.\.9"),
    ],
)
def test_mnist_npz_refuses_bad_pixels_and_labels(tmp_path, x, y, message):
    with pytest.raises(FastclustError, match=message):
        fd.load_mnist(_keras_npz(tmp_path / "mnist.npz", x, y))


def test_load_mnist_on_a_fifo_does_not_block(tmp_path, monkeypatch):
    import os

    os.mkfifo(tmp_path / "mnist.npz")
    with pytest.raises(FastclustError, match=r"mnist\.npz: not a regular file or folder"):
        fd.load_mnist(tmp_path / "mnist.npz")
    monkeypatch.setenv("FASTCLUST_MNIST", str(tmp_path / "mnist.npz"))
    with pytest.raises(FastclustError, match="not a regular file or folder"):
        fd.load_mnist()
    os.mkfifo(tmp_path / "t10k-images-idx3-ubyte")
    with pytest.raises(FastclustError, match="not a regular file"):
        fd.read_idx(tmp_path / "t10k-images-idx3-ubyte")


def test_truncated_gzip_idx_is_a_clear_error(tmp_path):
    import gzip

    payload = gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x04" + bytes(4))
    (tmp_path / "cut-labels-idx1-ubyte.gz").write_bytes(payload[:-6])
    with pytest.raises(FastclustError, match=r"cut-labels-idx1-ubyte\.gz: cannot be read"):
        fd.read_idx(tmp_path / "cut-labels-idx1-ubyte.gz")
