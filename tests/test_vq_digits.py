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
    theirs = vq.compress(table, 32, seed=0, engine="sklearn")
    assert theirs.engine == "sklearn" and theirs.k == 32
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
    with pytest.raises(FastclustError, match="without unpickling"):
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
