"""The one-command report: a typeset A4 PDF with every deliverable, fed by the same tables as the CSVs.

The heavy tests share one quick build on the embedded defaults (``built``). Tests that need the
PDF skip without the ``typst`` package (the numpy-only tox env does not install it).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import HOMEWORK, ROOT, shared_file

from fastclust import course, report
from fastclust.cli import main
from fastclust.demo import write_blog_like_graph
from fastclust.errors import FastclustError

A4 = (595.28, 841.89)
SEED = 3


def _isolate(mp: pytest.MonkeyPatch, folder: Path) -> None:
    """No course data anywhere: not in $FASTCLUST_DATA, ./data, $FASTCLUST_MNIST or ~/.keras."""
    mp.delenv("FASTCLUST_DATA", raising=False)
    mp.delenv("FASTCLUST_MNIST", raising=False)
    mp.setenv("HOME", str(folder / "home"))
    mp.chdir(folder)


@pytest.fixture
def no_course_data(monkeypatch, tmp_path):
    _isolate(monkeypatch, tmp_path)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One quick report on the embedded defaults, under umask 027, with every progress call recorded."""
    pytest.importorskip("typst", reason="the PDF is typeset with the typst package (extra 'reports')")
    pytest.importorskip("pypdf", reason="reading the PDF back needs pypdf")
    folder = tmp_path_factory.mktemp("report")
    calls: list[tuple[str, int, int]] = []
    old = os.umask(0o027)
    try:
        with pytest.MonkeyPatch.context() as mp:
            _isolate(mp, folder)
            pdf = report.build_report(None, folder / "a", quick=True, seed=SEED, progress=lambda *a: calls.append(a))
    finally:
        os.umask(old)
    import pypdf

    reader = pypdf.PdfReader(pdf)
    text = re.sub(r"\s+", " ", "\n".join(page.extract_text() for page in reader.pages))
    return {"out": folder / "a", "pdf": pdf, "reader": reader, "text": text, "calls": calls, "folder": folder}


@pytest.mark.slow
def test_every_page_is_a4_and_the_homework_order_is_kept(built):
    reader = built["reader"]
    assert len(reader.pages) >= 8
    for i, page in enumerate(reader.pages):
        w, h = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(w - A4[0]) < 1 and abs(h - A4[1]) < 1, f"page {i + 1} is {w} x {h}"
    text = built["text"]
    order = [text.index(s) for s in ("1 Q3 Image compression", "2 Q4 Spectral", "3 Q5 Vector", "4 MNIST", "5 Appendix")]
    assert order == sorted(order)
    first = reader.pages[0].extract_text()
    for item in (
        "Substitutions (4)",
        "seed",
        "command",
        "numpy",
        "typst",
        "china.jpg",
        "generated two-party blog graph",
    ):
        assert item in first, item
    assert "8x8" in first and "stand-in" in first


@pytest.mark.slow
def test_the_pdf_holds_every_required_number(built):
    out, text = built["out"], built["text"]
    grid = _csv(out / "q3_grid.csv")
    seconds = _csv(out / "q3_grid_timings.csv")
    assert len(grid) == 3 * 2 * 2  # 3 images x quick ks (3, 6) x 2 metrics
    for row, t in zip(grid, seconds, strict=True):
        assert (row["image"], row["metric"], row["k"]) == (t["image"], t["metric"], t["k"])
        line = f"{row['image']} {row['metric']} {row['k']} {row['final_k']} {row['seed']} {row['iterations']} {t['seconds']}"
        assert line in text, line
    for row in _csv(out / "q4_overall.csv"):
        assert f"{row['k']} {row['overall']} " in text, row
    assert {r["k"] for r in _csv(out / "q4_overall.csv")} == {"2", "5", "10", "30", "50"}
    answer = _csv(out / "q5_answer.csv")[0]
    for key in ("before", "after_course"):
        assert re.fullmatch(r"\d+\.\d{4}", answer[key]) and answer[key] in text
    for row in _csv(out / "q5_sweep.csv"):
        assert (
            re.fullmatch(r"\d+\.\d{4}", row["after_stored"]) and f"{row['after_course']} {row['after_stored']}" in text
        )
    notebook = _csv(out / "mnist_notebook.csv")
    assert [r["init"] for r in notebook] == ["random Gaussian", "random data points"]
    for row in notebook + _csv(out / "mnist_init_sweep.csv") + _csv(out / "mnist_full.csv"):
        assert row["accuracy"] in text
    assert "8x8 stand-in for MNIST" in text and "notebook's protocol at k = 20" in text


@pytest.mark.slow
def test_tables_are_set_in_a_proportional_font(built):
    """Every table cell's text run is in Libertinus Serif, never a monospace font."""
    out, reader = built["out"], built["reader"]
    cells = {r["seed"] for r in _csv(out / "q3_grid.csv")} | {r["overall"] for r in _csv(out / "q4_overall.csv")}
    fonts: dict[str, set[str]] = {}

    def visit(text, cm, tm, font, size):
        if text.strip() in cells and font:
            fonts.setdefault(text.strip(), set()).add(str(font.get("/BaseFont")))

    for page in reader.pages:
        page.extract_text(visitor_text=visit)
    assert set(fonts) == cells
    used = set().union(*fonts.values())
    assert all("Libertinus" in f for f in used), used
    assert not any(re.search("mono|courier", f, re.I) for f in used)


@pytest.mark.slow
def test_outputs_are_complete_follow_the_umask_and_leave_nothing_behind(built):
    out = built["out"]
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    for name in (
        "report.pdf",
        "report.typ",
        "summary.md",
        "run_timings.csv",
        "q3_grid.csv",
        "q3_grid_timings.csv",
        "q3_l1_vs_l2.csv",
        "q3_best_k.csv",
        "q4_graph.csv",
        "q4_overall.csv",
        "q4_clusters.csv",
        "q4_tuning.csv",
        "q5_answer.csv",
        "q5_sweep.csv",
        "mnist_notebook.csv",
        "mnist_init_sweep.csv",
        "mnist_full.csv",
        "figures/q3_choose_k.svg",
        "figures/q4_tuning.svg",
        "figures/q5_sweep.svg",
        "figures/mnist_accuracy.svg",
        "inputs/nodes.txt",
        "inputs/edges.txt",
    ):
        assert name in names, name
    assert not [n for n in names if n.endswith((".tmp", ".fastclust-tmp"))]
    assert not list(out.glob(".fastclust-run-*")) and not (out / report.INCOMPLETE).exists()
    for p in out.rglob("*"):
        if p.name == ".fastclust-lock":
            continue
        want = 0o750 if p.is_dir() else 0o640  # created under umask 027
        assert stat.S_IMODE(p.stat().st_mode) == want, (p, oct(p.stat().st_mode))
    assert json.loads((out / ".fastclust-manifest.json").read_text()) == sorted(
        names - {".fastclust-manifest.json", ".fastclust-lock"}
    )
    summary = (out / "summary.md").read_text()
    assert "## Q3 Image compression" in summary and "| image | metric | k |" in summary


@pytest.mark.slow
def test_progress_is_label_done_total_with_a_fixed_total(built):
    calls = built["calls"]
    labels = [c[0] for c in calls]
    assert [label for i, label in enumerate(labels) if i == 0 or labels[i - 1] != label] == list(report.STEPS)
    totals = {c[2] for c in calls}
    assert len(totals) == 1
    done = [c[1] for c in calls]
    assert done == sorted(done) and done[0] == 0 and done[-1] == calls[0][2]
    # long steps advance inside: one call per fit
    assert labels.count("Q3 image compression") == 1 + course.plan(True).q3_units(3)


@pytest.mark.slow
def test_same_seed_gives_identical_csvs(built):
    other = built["folder"] / "b"
    with pytest.MonkeyPatch.context() as mp:
        _isolate(mp, built["folder"])
        report.build_report(None, other, quick=True, seed=SEED)
    first = sorted(p.name for p in built["out"].glob("*.csv") if not p.stem.endswith("_timings"))
    assert first == sorted(p.name for p in other.glob("*.csv") if not p.stem.endswith("_timings"))
    for name in first:
        assert (built["out"] / name).read_bytes() == (other / name).read_bytes(), name


@pytest.mark.slow
def test_report_q3_cells_equal_fastclust_quantize(built, tmp_path, capsys):
    grid = _csv(built["out"] / "q3_grid.csv")
    sources = {Path(p).name: p for p in report._bundled_image_paths()}
    for row in (grid[1], grid[-1]):  # an L2 and an L1 cell
        argv = ["quantize", str(sources[row["image"]]), "-k", row["k"], "--metric", row["metric"].lower()]
        capsys.readouterr()
        assert main([*argv, "--seed", row["seed"], "-o", str(tmp_path / "o.png")]) == 0
        m = re.search(r"k=(\d+) .*?(\d+) rounds.*MSE ([\d.]+), PSNR ([\d.]+) dB", capsys.readouterr().out)
        assert m and (m.group(1), m.group(2), m.group(3), m.group(4)) == (
            row["final_k"],
            row["iterations"],
            row["mse"],
            row["psnr"],
        )


@pytest.mark.slow
def test_report_q4_equals_fastclust_spectral(built, capsys):
    inputs = built["out"] / "inputs"
    for row in _csv(built["out"] / "q4_overall.csv"):
        capsys.readouterr()
        argv = ["spectral", str(inputs / "nodes.txt"), str(inputs / "edges.txt"), "-k", row["k"], "--seed", str(SEED)]
        assert main(argv) == 0
        printed = re.search(r"overall mismatch rate: ([\d.]+) \((\d+)/", capsys.readouterr().out)
        assert printed and (printed.group(1), printed.group(2)) == (row["overall"], row["mismatched"]), row


# ---------------------------------------------------------------------------------------------
# a killed or failed run never leaves a mix of old and new files that looks complete
# ---------------------------------------------------------------------------------------------


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_a_failure_while_computing_keeps_the_previous_run_untouched(built, tmp_path, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(built["out"], out)
    before = _snapshot(out)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(course, "q3_study", interrupted)  # after the inputs were staged, before any figure
    _isolate(monkeypatch, tmp_path)
    with pytest.raises(KeyboardInterrupt):
        report.build_report(None, out, quick=True, seed=SEED + 1)
    assert _snapshot(out) == before
    assert not list(out.glob(".fastclust-run-*"))


def _staged(out: Path, files: dict[str, bytes]) -> report._Stage:
    stage = report._Stage(out)
    for rel, data in files.items():
        stage.write_bytes(rel, data)
    return stage


def test_a_kill_while_files_are_moved_leaves_a_marker_and_no_report(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _staged(out, {"a.csv": b"old a", "b.csv": b"old b", "old_only.csv": b"x", "report.pdf": b"%PDF old"}).commit(
        last="report.pdf"
    )
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "a.csv",
        "b.csv",
        "old_only.csv",
        "report.pdf",
    ]
    stage = _staged(out, {"a.csv": b"new a", "b.csv": b"new b", "report.pdf": b"%PDF new"})
    real_replace = os.replace
    moved = []

    def dying_replace(src, dst):
        if Path(src).parent == stage.dir:  # a staged file moving into place (not an atomic write's rename)
            if len(moved) == 1:
                raise KeyboardInterrupt  # the process dies after moving one file
            moved.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(report.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        stage.commit(last="report.pdf")
    monkeypatch.setattr(report.os, "replace", real_replace)
    stage.discard()  # what build_report does on any exception
    assert (out / report.INCOMPLETE).exists() and not (out / "report.pdf").exists()
    assert (out / "a.csv").read_bytes() == b"new a" and (out / "b.csv").read_bytes() == b"old b"
    assert not (out / "old_only.csv").exists()  # files of the replaced run do not linger
    # the next complete run clears the marker
    _staged(out, {"a.csv": b"A", "report.pdf": b"%PDF 3"}).commit(last="report.pdf")
    assert not (out / report.INCOMPLETE).exists() and (out / "report.pdf").read_bytes() == b"%PDF 3"
    assert not (out / "b.csv").exists() and not list(out.glob(".fastclust-run-*"))


@pytest.mark.slow
def test_sigkill_mid_run_leaves_the_previous_run_and_the_next_run_cleans_up(built, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(built["out"], out)
    before = _snapshot(out)
    code = (
        "import sys; sys.path.insert(0, sys.argv[2]); from fastclust.report import build_report; "
        "build_report(None, sys.argv[1], quick=True, seed=9)"
    )
    env = {**os.environ, "HOME": str(tmp_path / "home"), "FASTCLUST_DATA": "", "FASTCLUST_MNIST": ""}
    proc = subprocess.Popen([sys.executable, "-c", code, str(out), str(ROOT)], cwd=tmp_path, env=env)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob(".fastclust-run-*/figures")) and not list(out.glob(".fastclust-run-*/inputs")):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run never started staging"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert list(out.glob(".fastclust-run-*")), "the killed run's staging folder is expected to remain"
    after = {k: v for k, v in _snapshot(out).items() if not k.startswith(".fastclust-run-")}
    assert after == before and not (out / report.INCOMPLETE).exists()
    report._Stage(out).discard()  # the next run's start removes the dead run's staging folder
    assert not list(out.glob(".fastclust-run-*"))


def test_stale_temporary_files_are_removed(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    legacy, fresh = out / ".report.pdf.abc123.tmp", out / ".summary.md.def456.tmp"
    unrelated = out / ".mine.tmp"
    for p in (legacy, fresh, unrelated):
        p.write_bytes(b"half")
    os.utime(legacy, (0, 0))
    os.utime(unrelated, (0, 0))
    report._Stage(out).discard()
    assert not legacy.exists() and fresh.exists() and unrelated.exists()


# ---------------------------------------------------------------------------------------------
# the output folder is checked before anything is computed
# ---------------------------------------------------------------------------------------------


def _read_only_folder(tmp_path: Path, kind: str) -> Path:
    if kind == "chmod":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders; the /sys case covers root")
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        return folder / "out"
    if not Path("/sys").is_dir():
        pytest.skip("no /sys (not Linux)")
    return Path("/sys/fastclust-report-test")


@pytest.mark.parametrize("kind", ["chmod", "sys"])
def test_read_only_out_fails_before_anything_is_computed(tmp_path, monkeypatch, kind):
    pytest.importorskip("typst", reason="build_report checks for typst first")
    out = _read_only_folder(tmp_path, kind)

    def computed(*args, **kwargs):
        raise AssertionError("computing started before the output folder was checked")

    for name in ("warm_up", "q3_study", "q4_study", "q5_study", "mnist_study"):
        monkeypatch.setattr(course, name, computed)
    monkeypatch.setattr(report, "load_inputs", computed)
    _isolate(monkeypatch, tmp_path)
    t0 = time.perf_counter()
    with pytest.raises(FastclustError, match=re.escape(f"--out {out}")):
        report.build_report(None, out, quick=True)
    assert time.perf_counter() - t0 < 5


def test_out_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(FastclustError, match="exists and is not a folder"):
        report._Stage(tmp_path / "f")


def test_bad_seed_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(FastclustError, match="seed"):
        report.build_report(None, tmp_path, seed=-1)


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------


def test_missing_data_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FastclustError, match="no such folder"):
        report.find_data_dir(tmp_path / "missing")


def test_data_folder_is_found_relative_to_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTCLUST_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert report.find_data_dir(None) is None
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "nodes.txt").write_text("")
    assert report.find_data_dir(None) == Path("data")


def _fake_mnist(folder: Path, n: int = 30) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    header = bytes([0, 0, 8, 3]) + b"".join(int(x).to_bytes(4, "big") for x in (n, 28, 28))
    (folder / "t10k-images-idx3-ubyte").write_bytes(header + images.tobytes())
    (folder / "t10k-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + n.to_bytes(4, "big") + labels.tobytes())


@pytest.mark.parametrize("where", ["inside", "course layout", "env"])
def test_mnist_is_found_beside_the_course_files(tmp_path, monkeypatch, where):
    monkeypatch.delenv("FASTCLUST_MNIST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    data = tmp_path / "homework1"
    data.mkdir()
    mnist = {"inside": data / "mnist", "course layout": tmp_path / "mnist", "env": tmp_path / "elsewhere"}[where]
    _fake_mnist(mnist)
    if where == "env":
        monkeypatch.setenv("FASTCLUST_MNIST", str(mnist))
    plan = report.locate_inputs(data)
    assert plan.mnist == mnist and not any("MNIST" in s for s in plan.substitutions)
    inputs = report.load_inputs(plan, tmp_path / "work", seed=0)
    assert not inputs.mnist_standin and inputs.digits.images.shape == (30, 28, 28)


def test_every_substitution_is_listed(tmp_path, monkeypatch):
    _isolate(monkeypatch, tmp_path)
    plan = report.locate_inputs(None)
    text = " ".join(plan.substitutions)
    for item in ("no course images", "no nodes.txt/edges.txt", "no AImodel.npy", "no MNIST found"):
        assert item in text


def test_blog_like_graph_uses_the_real_loader(tmp_path):
    from fastclust import graph as fg

    g = fg.load_polblogs(*write_blog_like_graph(tmp_path, seed=0))
    assert (
        g.n_isolated_removed == 40 and g.n_self_loops == 3 and g.n_duplicate_edges > 0 and g.adjacency.shape[0] == 1200
    )


def test_fastclust_warnings_are_recorded_others_pass_through():
    recorded: list[dict[str, str]] = []
    with pytest.warns(DeprecationWarning, match="not ours"):
        with report._recording("step", recorded):
            from fastclust import image as fi

            fi.compress(np.zeros((4, 4, 3), dtype=np.uint8), 3, seed=0)  # one colour: k is reduced, with a warning
            warnings.warn("not ours", DeprecationWarning, stacklevel=1)
    assert len(recorded) == 1 and recorded[0]["step"] == "step" and "k is reduced" in recorded[0]["warning"]


@pytest.mark.slow
def test_quick_report_on_course_data(tmp_path, monkeypatch):
    pytest.importorskip("typst", reason="the PDF is typeset with the typst package")
    folder = shared_file("homework1", "football.bmp").parent
    shared_file("mnist")
    monkeypatch.delenv("FASTCLUST_MNIST", raising=False)  # found through the course layout, DIR/../mnist
    monkeypatch.chdir(tmp_path)
    report.build_report(folder, tmp_path / "out", quick=True, seed=0)
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "620x412" in summary and "parrots.png not found" in summary and str(HOMEWORK) in summary
    assert "MNIST (t10k" in summary and "MNIST's t10k test file" in summary
    assert "stand-in for MNIST" not in summary and "No MNIST was found" not in summary
    assert "1224" in (tmp_path / "out" / "q4_graph.csv").read_text()  # the CSVs keep plain digits
    assert "| nodes kept | 1,224 |" in summary  # what a person reads groups them
    # parrots.png is missing: the course-folder image that replaces it is marked as a substitute
    assert (
        "| Q3 image | " + str(folder / "beach.bmp") + " | 320x214 pixels, in place of parrots.png | substitute"
        in summary
    )
    assert "beach.bmp, from the same folder, stands in for it" in summary
    assert "AImodel.npy was not found" in summary and "fastclust demo-data DIR --seed 0" in summary


def test_progress_calls_label_done_total_and_one_argument_callbacks_get_each_step():
    calls: list[tuple[str, int, int]] = []
    bar = report._Progress(lambda label, done, total: calls.append((label, done, total)), 3)
    bar.step("a")
    bar.tick()
    bar.step("b")
    bar.tick()
    bar.tick()
    assert calls == [("a", 0, 3), ("a", 1, 3), ("b", 1, 3), ("b", 2, 3), ("b", 3, 3)]
    steps: list[str] = []
    old = report._Progress(steps.append, 3)  # fastclust 0.1's progress(step)
    old.step("a")
    old.tick()
    old.step("b")
    old.tick()
    assert steps == ["a", "b"]


def test_files_and_folders_of_a_replaced_run_do_not_linger(tmp_path):
    out = tmp_path / "out"
    (out / "notes").mkdir(parents=True)
    (out / "notes" / "mine.txt").write_text("the user's own file")  # never listed in a manifest: kept
    _staged(out, {"inputs/nodes.txt": b"n", "a.csv": b"a", "report.pdf": b"%PDF 1"}).commit(last="report.pdf")
    _staged(out, {"a.csv": b"a2", "report.pdf": b"%PDF 2"}).commit(last="report.pdf")
    assert not (out / "inputs").exists() and (out / "notes" / "mine.txt").exists()
    assert (out / "a.csv").read_bytes() == b"a2"


# ---------------------------------------------------------------------------------------------
# what a grader reads: substitutions said where they apply, one number style, readable references
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_section_on_a_stand_in_says_so_in_its_text_and_captions(built):
    text, summary = built["text"], (built["out"] / "summary.md").read_text()
    for notice in (
        "No course image was found, so this section runs on stand-ins",
        "No nodes.txt/edges.txt was found, so this section runs on a generated stand-in graph",
        "AImodel.npy was not found, so this section runs on synthetic stand-in embeddings",
        "No MNIST was found",
    ):
        assert notice in text and notice in summary, notice
    for caption in (
        "**Table 11: Q5: memory before and after, and the average cosine, at k = 256 (synthetic stand-in for AImodel.npy)**",
        "(synthetic stand-in for AImodel.npy).](figures/q5_sweep.svg)",
        "Q4: overall mismatch rate per k (generated stand-in graph",
        "Q3: the kept run of every (image, metric, k): best of 2 seeds by objective (stand-in images",
    ):
        assert caption in summary, caption
    assert "fastclust vq AImodel.npy" not in text  # no command names a file this run did not have
    assert (
        f"fastclust demo-data DIR --seed {SEED}" in text and f"fastclust vq DIR/AImodel.npy -k K --seed {SEED}" in text
    )


@pytest.mark.slow
def test_the_named_commands_reproduce_q5_on_the_stand_in(built, tmp_path, capsys):
    """`fastclust demo-data DIR --seed S` writes the report's Q5 table; `fastclust vq` on it gives its rows."""
    assert main(["demo-data", str(tmp_path / "d"), "--seed", str(SEED), "-q"]) == 0
    for row in _csv(built["out"] / "q5_sweep.csv")[:2]:
        capsys.readouterr()
        argv = ["vq", str(tmp_path / "d" / "AImodel.npy"), "-k", row["k"], "--seed", str(SEED)]
        assert main([*argv, "-o", str(tmp_path / "c.npz"), "--json", "-q"]) == 0
        got = json.loads(capsys.readouterr().out)
        assert f"{got['avg_cosine']:.4f}" == row["cosine"] and got["n_iter"] == int(row["iterations"])


@pytest.mark.slow
def test_one_thousands_style_and_one_percent_style(built):
    text, summary = built["text"], (built["out"] / "summary.md").read_text()
    assert "\u2009" not in text and "\u2009" not in summary
    assert "1,240" in text and "| nodes read (nodes.txt) | 1,240 |" in summary
    assert "1240" in (built["out"] / "q4_graph.csv").read_text()
    assert not re.search(r"\d %", text + summary)
    # every number in a summary.md table is grouped, except the seeds a reader types back into a command
    for block in re.findall(r"((?:^\|.*\|\n)+)", summary, flags=re.M):
        lines = block.strip().splitlines()
        header = [h.strip() for h in lines[0].strip("|").split("|")]
        for line in lines[2:]:
            for name, cell in zip(header, [c.strip() for c in line.strip("|").split("|")], strict=False):
                if name != "seed" and re.fullmatch(r"[+-]?\d+(\.\d+)?", cell):
                    assert not re.match(r"[+-]?\d{4}", cell), (name, cell, line)


@pytest.mark.slow
def test_summary_md_carries_the_pdf_tables_with_readable_references(built):
    summary = (built["out"] / "summary.md").read_text()
    assert not re.search(r"\b(table|figure) [a-z0-9_]+[-_][a-z0-9_-]+", summary)  # no raw keys like "table q3_grid"
    assert "Table 4 gives its seed" in summary and "Figure 1, Figure 2 and Figure 3 show" in summary
    for para in summary.split("\n\n"):
        first = para.lstrip("#*_ \n")
        assert not first or not first[0].islower(), para[:80]
    pdf_tables = re.findall(r"Table (\d+):", built["text"])
    md_tables = re.findall(r"^\*\*Table (\d+):", summary, flags=re.M)
    assert md_tables == sorted(set(pdf_tables), key=int)  # the same tables, in the same order
    assert "Q4: overall mismatch rate at every k tried for tuning" in built["text"]


@pytest.mark.slow
def test_q4_rule_is_stated_once_and_the_two_totals_have_two_names(built):
    text = built["text"]
    rule = "the smallest k whose overall mismatch is within 0.01 of the lowest"
    assert text.count(rule) == 1
    assert "falls trivially" not in text and "mostly pure groups" not in text
    timings = _csv(built["out"] / "run_timings.csv")
    assert timings[-1]["step"] == "whole run (wall clock)" and "total" not in [r["step"] for r in timings]
    assert "sum of the steps" in text and "whole run (wall clock)" in text


def _write_png(path: Path, seed: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, size=(8, 12, 3), dtype=np.uint8)).save(path)


def test_an_image_that_replaces_a_missing_course_image_is_marked(tmp_path, monkeypatch):
    _isolate(monkeypatch, tmp_path)
    folder = tmp_path / "hw"
    folder.mkdir()
    for name, seed in (("football.bmp", 0), ("beach.png", 1), ("flower.png", 2)):
        _write_png(folder / name, seed)
    plan = report.locate_inputs(folder)
    assert plan.stands_in_for == {"beach.png": "parrots.png"}
    assert any("beach.png, from that folder, stands in for parrots.png" in s for s in plan.substitutions)
    with pytest.warns(UserWarning, match="MNIST not found"):  # no MNIST in this folder either
        loaded = report.load_inputs(plan, tmp_path / "w")
    rows = {Path(r["source"]).name: r for r in loaded.rows if r["role"] == "Q3 image"}
    assert rows["football.bmp"]["origin"] == rows["flower.png"]["origin"] == "course data"
    assert rows["beach.png"]["origin"] == "substitute (course folder)"
    assert "in place of parrots.png" in rows["beach.png"]["details"]
