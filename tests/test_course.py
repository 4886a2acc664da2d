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


# ---------------------------------------------------------------------------------------------
# commentary never contradicts its numbers
# ---------------------------------------------------------------------------------------------


def test_one_thousands_style_for_readers_plain_digits_for_programs():
    assert course.group_thousands("1490") == "1,490"
    assert course.group_thousands("-12345.50") == "-12,345.50"
    assert course.group_thousands("+0.15") == "+0.15" and course.group_thousands("inf") == "inf"
    t = course.Table(
        "t",
        "t",
        [course.Column("n", "n", "d"), course.Column("seed", "seed", "d", group=False), course.Column("x", "x", ".2f")],
        [{"n": 16715, "seed": 942934, "x": 1479.93}],
    )
    assert t.display_cells() == [["16,715", "942934", "1,479.93"]]
    assert t.cells() == [["16715", "942934", "1479.93"]]  # the CSVs keep plain digits


@pytest.mark.parametrize("seed", [0, 5])
def test_q3_recommends_one_k_per_image_by_its_stated_rule(seed):
    images = {"a.png": _blocky_image(3), "b.png": _blocky_image(4, h=30, w=30)}
    study = course.q3_study(images, ks=(2, 4, 8, 16), n_seeds=1, seed=seed)
    table = study.choose_table()
    assert [r["image"] for r in table.rows] == list(images)  # exactly one row, one k, per image
    text = " ".join(study.choose_commentary())
    for row in table.rows:
        name = row["image"]
        # each metric's own score peaks at the k fastclust.image.knee_point chose
        for m in study.metrics:
            scores = study.knee_scores(name, m)
            assert study.ks[int(np.argmax(scores))] == study.choose[(name, m)].k == row[f"knee_{m}"]
        mean = np.mean([study.knee_scores(name, m) for m in study.metrics], axis=0)
        rec = study.recommended(name)
        assert row["k"] == rec["k"] == study.ks[int(np.argmax(mean))]
        assert row["score"] == pytest.approx(mean.max())
        second = sorted(mean)[-2]
        assert row["runner_score"] == pytest.approx(second)
        assert rec["slim"] == (mean.max() - second < course.SLIM_MARGIN)
        said = {s.split(" ")[1]: s for s in study.choose_commentary() if s.startswith(("The margin", "A clear"))}
        where = said["margin"] if rec["slim"] else said["clear"]
        assert re.search(rf"\b{re.escape(name)}: {row['score']:.3f} at k = {row['k']}\b", where), text
        other = said.get("clear" if rec["slim"] else "margin", "")
        assert f"{name}:" not in other, text
        assert f"{name}, k = {row['k']}" in text


def test_q3_with_two_ks_says_there_is_no_knee():
    study = course.q3_study({"a.png": _blocky_image(5)}, ks=(3, 6), n_seeds=1, seed=0)
    text = " ".join(study.choose_commentary())
    assert "no knee" in text and "slim" not in text
    assert len(study.choose_table().rows) == 1


def _pair(image, k, sec_l2, sec_l1, it_l2=10, it_l1=5):
    return {"image": image, "k": k, "sec_l2": sec_l2, "sec_l1": sec_l1, "iter_l2": it_l2, "iter_l1": it_l1}


def test_q3_time_sentence_names_slower_pairs_and_an_outlier_that_decides_the_total():
    rows = [
        _pair("a", 3, 0.10, 0.15),
        _pair("a", 6, 0.20, 0.15),
        _pair("a", 12, 3.00, 0.30, it_l2=400),  # one slow L2 run: most of L2's total
        _pair("b", 3, 0.10, 0.20),
    ]
    text = course.Q3Study.time_commentary(rows)
    assert "less time than the L2 run in 2 of 4 pairs and more in 2 (a k = 3, b k = 3)" in text
    assert "L1 is faster in total" in text
    assert "One pair weighs heavily: a at k = 12" in text
    assert "the order reverses" in text  # without it, L2 (0.40 s) beats L1 (0.50 s)
    even = [_pair("a", k, 0.2, 0.1) for k in (3, 6, 12)]
    text = course.Q3Study.time_commentary(even)
    assert "weighs heavily" in text and "the order holds" in text  # a third each: at the threshold
    # the heavy pair may be the faster metric's: it is named all the same
    l1_outlier = [_pair("a", 3, 0.5, 0.1), _pair("a", 6, 0.6, 0.1), _pair("a", 12, 0.6, 2.0), _pair("b", 3, 0.5, 0.1)]
    text = course.Q3Study.time_commentary(l1_outlier)
    assert "L2 is faster in total" in text and "a at k = 12 took 2.00 s under L1" in text and "reverses" in text
    spread = [_pair("a", k, 0.2 + 0.01 * k, 0.1) for k in range(10)]
    assert "weighs heavily" not in course.Q3Study.time_commentary(spread)


def _q5_rows(ks, cosines, d=64, n=10_000):
    return [{"k": k, "cosine": c, "after_course": (k * d * 4 + n) / 2**20} for k, c in zip(ks, cosines, strict=True)]


def test_q5_step_sentence_follows_the_numbers():
    growing = course.Q5Study.step_commentary(_q5_rows((64, 128, 256, 512), (0.8975, 0.9005, 0.9044, 0.9095)))
    assert "+0.0030, +0.0039, +0.0051" in growing
    assert "each doubling of k buys more cosine than the one before" in growing
    assert "buys less" not in growing
    assert "the cosine gained per MB added falls" in growing  # MB per doubling doubles, gains grow less
    shrinking = course.Q5Study.step_commentary(_q5_rows((64, 128, 256), (0.80, 0.86, 0.88)))
    assert "each doubling of k buys less cosine than the one before" in shrinking
    mixed = course.Q5Study.step_commentary(_q5_rows((10, 20, 50, 100), (0.80, 0.82, 0.85, 0.86)))
    assert "step of k" in mixed and "doubling" not in mixed
    assert "neither rises nor falls steadily" in mixed


def _fake_q4(rates: dict[int, float], chosen: int, tolerance: float = 0.01) -> course.Q4Study:
    n = 1000
    tables = {k: fs.MismatchTable([], r, round(r * n), n) for k, r in rates.items()}
    ks = list(rates)
    return course.Q4Study(None, ks[:2], ks, tables, dict.fromkeys(ks, 0.0), 0.0, chosen, tolerance, 0)  # type: ignore[arg-type]


def test_q4_tuning_sentences_follow_the_curve():
    course_like = {2: 0.0539, 3: 0.0915, 4: 0.0694, 5: 0.0719, 6: 0.0531, 7: 0.0523, 8: 0.0572, 9: 0.0711, 10: 0.0654}
    chosen = course._tune_choice(list(course_like), list(course_like.values()), 0.01)
    study = _fake_q4(course_like, chosen)
    text = " ".join(study.tuning_commentary())
    assert chosen == 2 and "The rule chooses k = 2" in text
    assert "lowest is 0.0523 at k = 7 and the highest 0.0915 at k = 3" in text
    assert "does not fall steadily" in text and "falls trivially" not in text and "barely help" not in text
    assert "from k = 9 on, every k tried is more than 0.01 above the lowest" in text
    assert study.rule not in text  # the caller states the rule, once
    falling = {2: 0.30, 3: 0.20, 4: 0.15, 5: 0.14}
    text = " ".join(_fake_q4(falling, 4).tuning_commentary())
    assert "never rises" in text and "does not fall steadily" not in text
    assert "k = 5 would mismatch 10 fewer" in text


@pytest.mark.slow
def test_q4_community_sentences_come_from_the_cluster_tables(blog_graph):
    _, g = blog_graph
    study = course.q4_study(g, ks=(2, 10, 30), tune_ks=(2, 3), seed=0)
    text = " ".join(study.community_commentary())
    assert "mostly pure groups" not in text
    pure = {k: sum(r["rate"] == 0 for r in study.tables_by_k[k].rows) for k in study.ks}
    for k, n in pure.items():
        if n:
            assert f"{n} of {k} at k = {k}" in text, text
    sizes = study.components()
    assert sum(sizes) == g.adjacency.shape[0] and len(sizes) == g.n_components
    assert ("connected components" in text) == (len(sizes) > 1)
    two = study.tables_by_k[2]
    assert f"{1 - two.overall:.1%}" in text or "only partly" in text


def test_mnist_trend_sentence_says_where_accuracy_does_not_rise():
    def rows(accs):
        return [
            {"k": k, "init": init, "accuracy": a}
            for init, series in accs.items()
            for k, a in zip((10, 20, 50), series, strict=True)
        ]

    study = course.MnistStudy.__new__(course.MnistStudy)
    study.sweep_rows = rows({"random Gaussian": (0.5, 0.6, 0.7), "k-means++": (0.5, 0.55, 0.6)})
    assert study.trend_commentary().startswith("Accuracy rises with every step of k for every start")
    study.sweep_rows = rows({"random Gaussian": (0.5, 0.6, 0.58), "k-means++": (0.5, 0.55, 0.6)})
    text = study.trend_commentary()
    assert "does not rise at every step" in text and "random Gaussian at k = 50" in text
    assert "k-means++ at" not in text


def test_which_ks_reads_as_prose():
    from fastclust.course import _which_ks

    assert _which_ks([], 5) == "no k"
    assert _which_ks([10, 20, 50, 100, 200], 5) == "every k"
    assert _which_ks([20], 5) == "k = 20"
    assert _which_ks([10, 50, 200], 5) == "k = 10, 50 and 200"
