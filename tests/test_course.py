"""fastclust.course: the homework's studies return tables whose numbers equal the CLI's and the library's."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from fastclust import course, vq
from fastclust import digits as fd
from fastclust import graph as fg
from fastclust import image as fi
from fastclust import spectral as fs
from fastclust.cli import main
from fastclust.demo import write_blog_like_graph


def _blocky_image(seed: int, h: int = 24, w: int = 36) -> np.ndarray:
    """A small picture with a handful of flat colour regions plus noise: cheap to cluster, not trivial."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(6, 3))
    regions = (np.arange(h)[:, None] // 6 + np.arange(w)[None, :] // 9) % 6
    noisy = base[regions] + rng.integers(-20, 21, size=(h, w, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def test_candidate_seeds_are_plain_distinct_reproducible_integers():
    a = course.candidate_seeds(0, 5)
    assert a == course.candidate_seeds(0, 5) and len(set(a)) == 5
    assert all(type(s) is int and 0 <= s < 1_000_000 for s in a)
    assert a != course.candidate_seeds(1, 5)


def test_format_value_keeps_one_format_per_column():
    col = course.Column("x", "x", ".4f")
    t = course.Table("t", "t", [col], [{"x": 0.072}, {"x": 2.44140625}, {"x": float("inf")}])
    assert [r[0] for r in t.cells()] == ["0.0720", "2.4414", "inf"]
    scaled = course.Column("o", "objective", ".2f", scale=6)
    assert scaled.title == "objective (×10⁶)" and scaled.csv_key == "o_e6"
    assert course.format_value(541_023_012.3, scaled.fmt, scaled.scale) == "541.02"


def test_q3_keeps_the_best_seed_and_reproduces_with_compress_and_quantize(tmp_path, capsys):
    images = {"a.png": _blocky_image(0), "b.png": _blocky_image(1)}
    ticks = []
    study = course.q3_study(images, ks=(3, 5), n_seeds=3, seed=7, tick=lambda: ticks.append(1))
    assert len(ticks) == course.Plan(q3_ks=(3, 5), q3_n_seeds=3).q3_units(2) == 2 * 2 * 2 * 3
    assert study.seeds == course.candidate_seeds(7, 3)
    for (name, metric, k), cell in study.cells.items():
        assert cell.seed in study.seeds and cell.result.objective == min(cell.objectives)
        assert cell.objectives[study.seeds.index(cell.seed)] == cell.result.objective
        again = fi.compress(images[name], k, metric=metric, seed=cell.seed)
        assert (again.n_iter, again.mse, again.psnr) == (cell.result.n_iter, cell.result.mse, cell.result.psnr)
    # `fastclust quantize --seed S` on the same picture gives the cell's rounds, MSE and PSNR
    Image.fromarray(images["b.png"]).save(tmp_path / "b.png")
    capsys.readouterr()
    for metric, k in (("l1", 5), ("l2", 3)):
        cell = study.cell("b.png", metric, k)
        argv = ["quantize", str(tmp_path / "b.png"), "-k", str(k), "--metric", metric, "--seed", str(cell.seed)]
        assert main([*argv, "-o", str(tmp_path / "o.png")]) == 0
        text = capsys.readouterr().out
        m = re.search(r"(\d+) rounds.*MSE ([\d.]+), PSNR ([\d.]+) dB", text)
        assert m, text
        assert int(m.group(1)) == cell.result.n_iter
        assert m.group(2) == f"{cell.result.mse:.2f}" and m.group(3) == f"{cell.result.psnr:.2f}"
    grid = study.grid_table()
    assert grid.header()[:6] == ["image", "metric", "k", "final k", "seed", "iterations"]
    assert len(grid.rows) == 8 and {r["seed"] for r in grid.rows} <= set(study.seeds)
    # the best k comes from the grid's own fits
    ck = study.choose[("a.png", "l2")]
    assert ck.mse == [study.cell("a.png", "l2", k).result.mse for k in (3, 5)]


def test_q3_commentary_is_drawn_from_the_numbers():
    study = course.q3_study({"a.png": _blocky_image(2)}, ks=(2, 4, 6), n_seeds=2, seed=0)
    rows = study.l1_vs_l2_rows()
    l2_wins = sum(r["psnr_l2"] > r["psnr_l1"] for r in rows)
    text = " ".join(study.commentary())
    assert f"in {l2_wins} of {len(rows)} (image, k) pairs" in text
    widest = max(rows, key=lambda r: r["psnr_gap"])
    assert f"{widest['psnr_gap']:.2f} dB" in text and f"k = {widest['k']}" in text
    assert f"{np.median([r['iter_l1'] for r in rows]):g} rounds" in text


@pytest.fixture(scope="module")
def blog_graph(tmp_path_factory):
    folder = tmp_path_factory.mktemp("graph")
    return folder, fg.load_polblogs(*write_blog_like_graph(folder, seed=0))


@pytest.mark.slow
def test_q4_tables_names_and_tuning_rule(blog_graph):
    _, g = blog_graph
    ticks = []
    study = course.q4_study(g, ks=(2, 5), tune_ks=(2, 3, 4), seed=1, tick=lambda: ticks.append(1))
    assert len(ticks) == course.Plan(q4_ks=(2, 5), q4_tune_ks=(2, 3, 4)).q4_units() == 5
    majors = {r["majority"] for r in study.clusters_table().rows}
    assert majors <= {"0 = liberal", "1 = conservative"}
    rates = [study.tables_by_k[k].overall for k in (2, 3, 4)]
    assert study.chosen_k == next(k for k, r in zip((2, 3, 4), rates, strict=True) if r <= min(rates) + 0.01)
    overall = {r["k"]: r["overall"] for r in study.overall_table().rows}
    assert set(overall) == {2, 5} and overall[2] == study.tables_by_k[2].overall
    assert "k = 2" in study.commentary()[0]


@pytest.mark.slow
def test_q4_equals_fastclust_spectral(blog_graph, capsys):
    """The report's Q4 numbers are those of `fastclust spectral` on the same graph and seed."""
    folder, g = blog_graph
    study = course.q4_study(g, ks=(2, 5, 10), tune_ks=(2,), seed=3)
    for k in (2, 5, 10):
        labels = fs.spectral_clustering(g.adjacency, k, laplacian="regularized", seed=3).labels
        assert fs.mismatch_table(labels, g.labels).rows == study.tables_by_k[k].rows
        capsys.readouterr()
        assert (
            main(["spectral", str(folder / "nodes.txt"), str(folder / "edges.txt"), "-k", str(k), "--seed", "3"]) == 0
        )
        printed = re.search(r"overall mismatch rate: ([\d.]+)", capsys.readouterr().out)
        assert printed and printed.group(1) == f"{study.tables_by_k[k].overall:.4f}"


@pytest.mark.slow
def test_q5_memory_course_rule_and_as_stored():
    E = vq.make_embeddings(600, 8, n_topics=6, seed=0)
    ticks = []
    study = course.q5_study(E, ks=(16, 300), main_k=16, seed=2, tick=lambda: ticks.append(1))
    assert len(ticks) == 2
    small, big = study.memory(16), study.memory(300)
    assert small["before"] == 600 * 8 * 4 / 2**20
    assert small["after_course"] == small["after_stored"] == (16 * 8 * 4 + 600) / 2**20
    assert big["index_bytes"] == 2
    assert (
        big["after_course"] == (300 * 8 * 4 + 600 * 1) / 2**20
        and big["after_stored"] == (300 * 8 * 4 + 600 * 2) / 2**20
    )
    ref = vq.compress(E, 16, seed=2)
    assert small["cosine"] == ref.avg_cosine and round(small["after_stored"], 4) == ref.memory_after_mb
    answer = study.answer_table()
    assert answer.cells()[0][1:3] == [f"{small['before']:.4f}", f"{small['after_course']:.4f}"]
    assert any("300" in c and "2 bytes" in c for c in study.commentary())


@pytest.mark.slow
def test_mnist_study_labels_inits_and_shows_the_printed_bug_only_in_the_notebook_table():
    from sklearn.datasets import load_digits

    raw = load_digits()
    digits = fd.Digits(np.rint(raw.images * 255 / 16).astype(np.uint8), raw.target.astype(np.int64), "8x8 test")
    ticks = []
    study = course.mnist_study(
        digits, notebook_k=10, per_digit=20, ks=(5, 10), full_ks=(10,), seed=0, tick=lambda: ticks.append(1)
    )
    plan = course.Plan(mnist_notebook_k=10, mnist_ks=(5, 10), mnist_full_ks=(10,))
    assert len(ticks) == plan.mnist_units() == 3 * 2 + 1
    assert study.standin and "stand-in" in study.label and "stand-in" in study.notebook_table().title
    inits = [r["init"] for r in study.notebook_rows]
    assert inits == ["random Gaussian", "random data points"]
    assert all(r["printed"] == 9 for r in study.notebook_rows)
    assert "printed" in [c.key for c in study.notebook_table().columns]
    assert "printed" not in [c.key for c in study.sweep_table().columns + study.full_table().columns]
    assert {(r["k"], r["init"]) for r in study.sweep_rows} == {
        (k, i) for k in (5, 10) for i in ("random Gaussian", "random data points", "k-means++")
    }
    assert study.centroids.shape[1:] == (8, 8) and len(study.centroid_labels) == study.centroids.shape[0]
    acc = f"{study.notebook_rows[0]['accuracy']:.4f}"
    assert acc in study.commentary()[0]


def test_warm_up_runs_every_code_path():
    assert course.warm_up() >= 0.0
