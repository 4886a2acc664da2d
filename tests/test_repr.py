"""Readable objects: every result type prints as one short line, never as whole arrays or lists of names."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import HOMEWORK, MNIST, shared_file

import fastclust as fc
from fastclust import digits as fd
from fastclust import graph as fg
from fastclust import image as fi
from fastclust import spectral as fs
from fastclust import vq
from fastclust._repr import MAX_REPR, short_repr, summarize

LIMIT = 300  # issue 16: every repr under 300 characters on the course data


def assert_short(obj, *, not_in=()) -> str:
    text = repr(obj)
    name = type(obj).__name__
    assert len(text) < LIMIT, f"{name} repr is {len(text)} characters: {text}"
    assert text.startswith(f"{name}(") and "\n" not in text, text
    assert "array(" not in text and "[[" not in text and "..." not in text, f"{name} repr dumps an array: {text}"
    # no run of many numbers: a list of values would be an array in disguise
    assert not re.search(r"(-?[\d.e+-]+, ){8,}", text), f"{name} repr lists values: {text}"
    for word in not_in:
        assert word not in text, f"{name} repr shows {word!r}: {text}"
    return text


def all_results(nodes, edges, image, mnist) -> dict[str, object]:
    """One object of every result type, on the given inputs (course data or stand-ins)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # k reduced / bundled digits: not what these tests look at
        g = fg.load_polblogs(nodes, edges)
        prepared = fi.prepare_image(image)
        img = fi.compress(prepared, 16, metric="l1", seed=0)
        spec = fs.spectral_clustering(g.adjacency, 2, seed=0)
        E = vq.make_embeddings(4_000, 32, n_topics=16, seed=0)  # the course's AImodel.npy is not available
        digits = fd.load_mnist(mnist)
        results = {
            "Graph": g,
            "PreparedImage": prepared,
            "ImageResult": img,
            "KMeansResult": img.fit,
            "SpectralResult": spec,
            "SpectralBasis": fs.spectral_basis(g.adjacency, 5, seed=0),
            "MismatchTable": fs.mismatch_table(spec.labels, g.labels),
            "TuneK": fs.tune_k(g.adjacency, g.labels, range(2, 12), seed=0, n_init=1),
            "VQResult": vq.compress(E, 64, seed=0),
            "PQResult": vq.pq_compress(E, 2, 16, seed=0),
            "Digits": digits,
            "ChooseK": fi.choose_k(prepared, (2, 4, 8, 16, 32, 64, 128, 256, 512), seed=0),
            "Q3Grid": fi.q3_grid({"image": prepared}, ks=(3, 6)),
            "ProtocolResult": fd.notebook_protocol(digits, ks=(10,), per_digit=10, notebook_k=10, seed=0),
        }
        if importlib.util.find_spec("dask"):
            import dask.array as da

            from fastclust import distributed as fdist

            results["DaskKMeansResult"] = fdist.kmeans(da.from_array(E, chunks=(1_000, 32)), 8, seed=0)
    return results


@pytest.mark.slow
def test_every_result_repr_is_short_on_the_course_data():
    nodes, edges = shared_file("homework1", "nodes.txt"), shared_file("homework1", "edges.txt")
    image = fi.load_image(shared_file("homework1", "football.bmp"))
    shared_file("mnist")
    results = all_results(nodes, edges, image, MNIST)
    lengths = {name: len(assert_short(obj, not_in=("blogspot", ".com"))) for name, obj in results.items()}
    assert max(lengths.values()) < LIMIT, lengths
    assert HOMEWORK.is_dir()


@pytest.mark.slow
def test_every_result_repr_is_short_on_the_stand_ins(tmp_path):
    from fastclust.demo import write_blog_like_graph

    nodes, edges = write_blog_like_graph(tmp_path)
    image = np.random.default_rng(0).integers(0, 256, size=(60, 80, 3), dtype=np.uint8)
    for obj in all_results(nodes, edges, image, None).values():
        assert_short(obj, not_in=("example.org",))


def test_every_result_dataclass_has_the_short_repr():
    from fastclust import distributed, engine, image, spectral

    modules = [engine, distributed, fg, image, spectral, vq, fd]
    for module in modules:
        for obj in vars(module).values():
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == module.__name__:
                assert obj.__repr__.__module__ == "fastclust._repr", f"{obj.__name__} keeps the generated repr"


def test_a_graph_repr_shows_counts_not_names():
    A = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=float))
    g = fg.Graph(A, np.array([0, 1, 0]), ["a-very-long-blog-name.example"] * 3, np.arange(1, 4), 3, 2, 0, 1, 1, 1, 1)
    text = assert_short(g, not_in=("a-very-long-blog-name",))
    assert (
        "names=list[3 str]" in text and "n_isolated_removed=1" in text and "adjacency=csr float64[3x3, nnz=2]" in text
    )


def test_a_kmeans_result_shows_shapes_k_and_objective():
    res = fc.kmeans(np.arange(40, dtype=float).reshape(20, 2), 3, seed=0)
    text = assert_short(res)
    assert "labels=int64[20]" in text and "centroids=float64[3x2]" in text and "k=3" in text
    assert f"objective={res.objective:.4g}" in text and "initial_centroids" not in text  # repr=False stays hidden


def test_summaries():
    assert summarize(np.zeros((3, 4), dtype=np.float32)) == "float32[3x4]"
    assert summarize(list(range(100))) == "list[100 int]"
    assert summarize([2, 4, 8]) == "[2, 4, 8]"
    assert summarize(["a"] * 50) == "list[50 str]"
    assert summarize({"a": 1}) == "dict[1]"
    assert summarize(0.0) == "0.0" and summarize(np.float64(0.125)) == "0.125" and summarize(np.int64(7)) == "7"
    assert summarize(True) == "True" and summarize(None) == "None"
    assert len(summarize("x" * 1000)) < 60


def test_a_repr_never_grows_past_the_cap():
    @short_repr
    @dataclasses.dataclass
    class Wide:
        a: str = "x" * 40
        b: str = "y" * 40
        c: str = "z" * 40
        d: str = "w" * 40
        e: str = "v" * 40
        f: str = "u" * 40
        g: str = "t" * 40

    text = repr(Wide())
    assert len(text) <= MAX_REPR and text.endswith(", …)") and text.startswith("Wide(a=")


def test_short_repr_only_decorates_dataclasses():
    with pytest.raises(TypeError, match="above @dataclass"):
        short_repr(int)
