"""The one-command report: every output, determinism, atomic writes, inputs and substitutions."""

from __future__ import annotations

import pytest
from conftest import HOMEWORK, MNIST, shared_file

from fastclust import report
from fastclust.demo import write_blog_like_graph
from fastclust.errors import FastclustError

EXPECTED = {
    "report.pdf",
    "summary.md",
    "q3_results.csv",
    "q3_timings.csv",
    "q3_l1_vs_l2.csv",
    "q3_choose_k.csv",
    "q3_choose_k.png",
    "q3_init_comparison.csv",
    "q4_graph.csv",
    "q4_mismatch_by_cluster.csv",
    "q4_mismatch_overall.csv",
    "q4_tune_k.csv",
    "q4_tune_k.png",
    "q4_laplacians.csv",
    "q5_memory.csv",
    "q5_sweep.csv",
    "q5_sweep.png",
    "q5_vq_vs_pq.csv",
    "mnist_protocols.csv",
    "mnist_centroids.png",
    "mnist_loss_accuracy.png",
    "run_timings.csv",
}


@pytest.fixture
def no_course_data(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTCLUST_DATA", raising=False)
    monkeypatch.delenv("FASTCLUST_MNIST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(report, "find_data_dir", lambda data: None if data is None else report.Path(data))


@pytest.mark.slow
def test_quick_report_on_embedded_defaults_is_complete_and_deterministic(tmp_path, no_course_data):
    steps = []
    pdf = report.build_report(None, tmp_path / "a", quick=True, seed=3, progress=steps.append)
    assert steps == list(report.STEPS)
    names = {p.name for p in (tmp_path / "a").iterdir() if p.is_file()}
    assert EXPECTED <= names and not any(n.endswith(".tmp") for n in names)
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.read_bytes().count(b"/Type /Page") >= 20
    summary = (tmp_path / "a" / "summary.md").read_text()
    for text in (
        "china.jpg",
        "grace_hopper.jpg",
        "generated two-party blog graph",
        "synthetic embeddings",
        "8x8 digits",
    ):
        assert text in summary
    report.build_report(None, tmp_path / "b", quick=True, seed=3)
    for csv_file in sorted((tmp_path / "a").glob("*.csv")):
        if csv_file.stem.endswith("_timings"):
            continue
        assert csv_file.read_bytes() == (tmp_path / "b" / csv_file.name).read_bytes(), csv_file.name


def test_interrupted_run_leaves_no_report(tmp_path, no_course_data, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.pdf").write_bytes(b"%PDF old")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "_q3", boom)
    with pytest.raises(KeyboardInterrupt):
        report.build_report(None, out, quick=True)
    assert not (out / "report.pdf").exists() and not list(out.glob("*.tmp"))


def test_blog_like_graph_uses_the_real_loader(tmp_path):
    from fastclust import graph as fg

    g = fg.load_polblogs(*write_blog_like_graph(tmp_path, seed=0))
    assert (
        g.n_isolated_removed == 40 and g.n_self_loops == 3 and g.n_duplicate_edges > 0 and g.adjacency.shape[0] == 1200
    )


def test_missing_data_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FastclustError, match="no such folder"):
        report.find_data_dir(tmp_path / "missing")


@pytest.mark.slow
def test_quick_report_on_course_data(tmp_path, monkeypatch):
    folder = shared_file("homework1", "football.bmp").parent
    monkeypatch.setenv("FASTCLUST_MNIST", str(MNIST))
    report.build_report(folder, tmp_path, quick=True, seed=0)
    summary = (tmp_path / "summary.md").read_text()
    assert "football.bmp 620x412" in summary and "parrots.png not found" in summary and str(HOMEWORK) in summary
    assert "MNIST (t10k" in summary and "1224" in (tmp_path / "q4_graph.csv").read_text()
