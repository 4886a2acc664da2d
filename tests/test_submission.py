"""The Gradescope deliverables: ``KMeansImpl`` (Q3), ``PoliticalBlogsClustering`` (Q4) and the zip carrying them.

The zip is graded as a grader would: unpacked (or its top-level files copied) into
an empty folder beside the grader's own files, the course-style unittest files of
``tests/autograder/`` run in a fresh ``python -I`` with numba unimportable. The
repository's modules are loaded from their files (``submission`` is not an
installed package) and checked against the command line, number for number.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.util
import json
import re
import stat
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import HOMEWORK, ROOT, shared_file
from PIL import Image

from fastclust import FastclustError
from fastclust._io import umask
from fastclust.cli import main as cli_main
from fastclust.demo import write_blog_like_graph

SUBMISSION = ROOT / "submission"
ZIP_NAMES = ["KMeans.py", "landscape.png", "political_blogs_clustering.py"]


def load(path: Path, name: str) -> ModuleType:
    """Import a file by its path, without touching ``sys.path``."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ms() -> ModuleType:
    return load(ROOT / "reports" / "make_submission.py", "fastclust_make_submission")


@pytest.fixture(scope="module")
def km() -> ModuleType:
    return load(SUBMISSION / "KMeans.py", "fastclust_submission_KMeans")


@pytest.fixture(scope="module")
def pb() -> ModuleType:
    return load(SUBMISSION / "political_blogs_clustering.py", "fastclust_submission_polblogs")


@pytest.fixture(scope="module")
def built(ms, tmp_path_factory) -> Path:
    return ms.build(tmp_path_factory.mktemp("zip") / "submission.zip")


@pytest.fixture(scope="module")
def blog_files(tmp_path_factory) -> tuple[Path, Path]:
    return write_blog_like_graph(tmp_path_factory.mktemp("blogs"), seed=1)


def embedded_sources(module_text: str) -> tuple[str, dict[str, str]]:
    """``(package, sources)`` read back from a generated module's payload."""
    tree = ast.parse(module_text)
    values = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id.startswith("_FASTCLUST_")
    }
    raw = zlib.decompress(base64.b64decode(values["_FASTCLUST_SOURCES"]))
    return values["_FASTCLUST_PACKAGE"], json.loads(raw)


# ---------------------------------------------------------------------------------------------
# the zip itself
# ---------------------------------------------------------------------------------------------


def test_zip_holds_the_two_modules_and_the_image_at_top_level(built):
    with zipfile.ZipFile(built) as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == ZIP_NAMES  # sorted, nothing else
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) and i.external_attr >> 16 == 0o100644 for i in infos)
        assert zf.read("landscape.png") == (SUBMISSION / "landscape.png").read_bytes()
        texts = [zf.read(n).decode() for n in ZIP_NAMES if n.endswith(".py")]
    for text in texts:
        assert not re.search(r"^\s*(import|from) (fastclust|numba|sklearn|dask)\b", text, re.M), "a real import left"


def test_build_is_reproducible_and_the_command_honours_out(ms, built, tmp_path):
    again = ms.build(tmp_path / "again.zip")
    assert again.read_bytes() == built.read_bytes()
    out = tmp_path / "deep" / "folder" / "mine.zip"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "reports" / "make_submission.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == built.read_bytes() and "KMeans.py" in proc.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask()  # atomic_path's mode, not mkstemp's 0600
    assert [p.name for p in out.parent.iterdir()] == ["mine.zip"]  # no temporary file left


def test_modules_embed_fastclusts_numpy_only_code_byte_for_byte(ms, built):
    with zipfile.ZipFile(built) as zf:
        (pkg_a, src_a), (pkg_b, src_b) = (embedded_sources(zf.read(n).decode()) for n in ZIP_NAMES[::2])
    assert pkg_a == pkg_b and src_a == src_b  # one name, one copy per process
    assert sorted(src_a) == ms.embedded_modules()
    assert {"__init__", "_backends", "_reference", "engine", "errors", "graph", "image", "spectral"} <= set(src_a)
    assert not {"_kernels", "cli", "report", "distributed", "estimator", "vq", "digits", "demo"} & set(src_a)
    for name, source in src_a.items():
        assert source == (ROOT / "fastclust" / f"{name}.py").read_text(encoding="utf-8"), name
        imported = [a.name for n in ast.parse(source).body if isinstance(n, ast.Import) for a in n.names]
        imported += [n.module or "" for n in ast.parse(source).body if isinstance(n, ast.ImportFrom)]
        assert not any(m.split(".")[0] in ("numba", "fastclust") for m in imported), name


def test_an_altered_payload_is_refused(ms, built):
    importer = load(SUBMISSION / "_embedded.py", "fastclust_submission_importer")
    with zipfile.ZipFile(built) as zf:
        package, _ = embedded_sources(zf.read("KMeans.py").decode())
    other = base64.b64encode(zlib.compress(json.dumps({"__init__": "X = 1\n"}).encode())).decode()
    with pytest.raises(ImportError, match="altered"):
        importer._install_embedded_package(package, other, "KMeans.py")
    assert package not in sys.modules


def test_the_default_image_is_its_generators_output(km):
    generator = load(SUBMISSION / "default_image.py", "fastclust_submission_default_image")
    with Image.open(SUBMISSION / "landscape.png") as opened:
        pixels = np.asarray(opened)
    expected = generator.make_landscape()
    assert pixels.shape == expected.shape == (240, 320, 3) and np.array_equal(pixels, expected)
    assert np.array_equal(km.KMeansImpl().load_image(), expected)
    assert len(np.unique(expected.reshape(-1, 3), axis=0)) > 10_000  # full colour, like a photo


# ---------------------------------------------------------------------------------------------
# graded as the grader grades it
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graded(ms, built) -> tuple[dict[str, str], dict[str, dict]]:
    return ms.grade(built, HOMEWORK)


@pytest.mark.slow
def test_course_tests_pass_in_both_copy_modes(ms, graded):
    origin, results = graded
    assert [label[:3] for label in results] == ["(a)", "(b)"]
    course = all(v == "course" for v in origin.values())
    for label, run in results.items():
        failed = [f"{t['name']}\n{t['output']}" for t in run["tests"] if t["status"] == "failed"]
        assert not failed, f"{label}: " + "\n".join(failed)
        skipped = [t["name"] for t in run["tests"] if t["status"] == "skipped"]
        assert skipped == (
            [] if course else ["course_q4.TestPoliticalBlogsClustering.test_two_clusters_match_the_parties"]
        )
        assert len(run["tests"]) >= 15 and run["score"] == run["max_score"] - (0 if course else 2)
        assert run["modules"]["numba"] is False and run["modules"]["fastclust"] is False
        assert run["modules"]["sklearn.cluster"] is False and len(run["modules"]["embedded"]) == 1
        assert run["seconds"] < 300
    table = ms.score_table(results)
    assert table.splitlines()[-2].split()[1:] == [f"{r['score']:g}/{r['max_score']:g}" for r in results.values()]


@pytest.mark.slow
def test_k2_mismatch_on_the_real_graph_is_at_most_006(graded):
    shared_file("homework1", "nodes.txt")
    shared_file("homework1", "edges.txt")
    _, results = graded
    for run in results.values():
        (test,) = [t for t in run["tests"] if t["name"].endswith("test_two_clusters_match_the_parties")]
        assert test["status"] == "passed", test["output"]


PROBE = r"""
import json, sys, traceback
sys.path.insert(0, "")  # the grader's folder, as its run_tests.py would have it
import numpy as np
import KMeans, political_blogs_clustering as P
rng = np.random.default_rng(5)
pixels = rng.integers(0, 256, size=(30, 40, 3)).astype(np.uint8)
fits = {str(n): KMeans.KMeansImpl().compress(pixels, 6, n) for n in (1, 2)}
blogs = P.PoliticalBlogsClustering().find_majority_labels(2)
try:
    KMeans.fc.kmeans([[0.0, float("nan")]], 1)
except ValueError:
    trace = traceback.format_exc()
print(json.dumps({
    "numba": "numba" in sys.modules,
    "fastclust": "fastclust" in sys.modules,
    "embedded": sorted(m for m in sys.modules if m.startswith("_fastclust_embedded_") and "." not in m),
    "shared": KMeans.fc is sys.modules[P.fs.__name__.rpartition(".")[0]],
    "fits": {n: [f["class"].ravel().tolist(), f["centroid"].tolist(), f["additional_args"]["backend"]]
             for n, f in fits.items()},
    "blogs": blogs,
    "trace": trace,
}))
"""


def test_the_zip_never_imports_numba_even_where_it_is_installed(ms, built, km, pb, blog_files, tmp_path):
    folder = tmp_path / "grader"
    ms.stage(built, folder, "b")
    (folder / "data").mkdir()
    for path in blog_files:
        (folder / "data" / path.name).write_bytes(path.read_bytes())
    proc = subprocess.run([sys.executable, "-I", "-c", PROBE], cwd=folder, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["numba"] is False and out["fastclust"] is False  # not blocked here: simply never imported
    assert len(out["embedded"]) == 1 and out["shared"] is True
    # tracebacks show the embedded lines
    assert "_validation.py" in out["trace"] and "raise FastclustError" in out["trace"]
    # the numpy reference inside the zip gives exactly what this process gives (numba where installed)
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, size=(30, 40, 3)).astype(np.uint8)
    for norm in (1, 2):
        here = km.KMeansImpl().compress(pixels, 6, norm)
        labels, centroids, backend = out["fits"][str(norm)]
        assert backend == "numpy"
        assert labels == here["class"].ravel().tolist() and centroids == here["centroid"].tolist()
    assert out["blogs"] == pb.PoliticalBlogsClustering(*blog_files).find_majority_labels(2)


def test_the_default_image_survives_a_grader_that_copies_only_the_modules(built, tmp_path):
    """Only KMeans.py in the grader's folder, python -I, numba blocked: load_image() still gives landscape.png's pixels."""
    folder = tmp_path / "py_only"
    folder.mkdir()
    with zipfile.ZipFile(built) as zf:
        (folder / "KMeans.py").write_bytes(zf.read("KMeans.py"))
    probe = (
        "import sys; sys.modules['numba'] = None; sys.path.insert(0, '.')\n"
        "import hashlib, KMeans\n"
        "img = KMeans.KMeansImpl().load_image()\n"
        "print(img.shape, img.dtype, hashlib.sha256(img.tobytes()).hexdigest())\n"
        "try:\n    KMeans.KMeansImpl().load_image('mine.png')\nexcept ValueError as e:\n    print('refused', 'mine.png' in str(e))\n"
    )
    proc = subprocess.run([sys.executable, "-I", "-c", probe], cwd=folder, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with Image.open(SUBMISSION / "landscape.png") as opened:
        pixels = np.asarray(opened.convert("RGB"))
    want = f"{pixels.shape} uint8 {hashlib.sha256(pixels.tobytes()).hexdigest()}"
    assert proc.stdout.splitlines() == [want, "refused True"]


# ---------------------------------------------------------------------------------------------
# one source for every number: the classes give the command line's figures
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", [2, 1])
def test_compress_gives_fastclust_quantizes_figures(km, norm, tmp_path, capsys):
    image = tmp_path / "small.png"
    Image.fromarray(km.KMeansImpl().load_image()[100:160, 150:230]).save(image)
    metric = {2: "l2", 1: "l1"}[norm]
    out_png = tmp_path / "out.png"
    assert cli_main(["quantize", str(image), "-k", "5", "--metric", metric, "--seed", "0", "-o", str(out_png)]) == 0
    match = re.search(r"k=(\d+) \((l[12])\), (\d+) rounds", capsys.readouterr().out)
    assert match
    res = km.KMeansImpl().compress(km.KMeansImpl().load_image(image), 5, norm)
    assert np.array_equal(res["img"], np.asarray(Image.open(out_png)))
    assert (res["additional_args"]["k_final"], res["additional_args"]["metric"]) == (int(match[1]), match[2])
    assert res["number_of_iterations"] == int(match[3]) and res["additional_args"]["seed"] == 0


def parse_spectral_table(text: str) -> tuple[list[tuple[int, float]], float]:
    """``[(majority, rate)]`` and the overall rate from the exact counts ``fastclust spectral`` prints."""
    rows = [tuple(map(int, m)) for m in re.findall(r"^\s*(\d+)\s+(\d+)\s+([01])\s+(\d+)\s+[\d.]+$", text, re.M)]
    overall = re.search(r"overall mismatch rate: [\d.]+ \((\d+)/(\d+)\)", text)
    assert rows and overall
    return [(majority, wrong / size) for _, size, majority, wrong in rows], int(overall[1]) / int(overall[2])


@pytest.mark.parametrize(
    ("data", "k"),
    [
        ("generated", 2),
        pytest.param("generated", 5, marks=pytest.mark.slow),
        pytest.param("course", 2, marks=pytest.mark.slow),
        pytest.param("course", 5, marks=pytest.mark.slow),
    ],
)
def test_find_majority_labels_gives_fastclust_spectrals_figures(pb, blog_files, data, k, capsys):
    if data == "course":
        files = (shared_file("homework1", "nodes.txt"), shared_file("homework1", "edges.txt"))
    else:
        files = blog_files
    assert cli_main(["spectral", str(files[0]), str(files[1]), "-k", str(k)]) == 0
    rows, overall = parse_spectral_table(capsys.readouterr().out)
    out = pb.PoliticalBlogsClustering(*files).find_majority_labels(k)
    assert out["overall_mismatch_rate"] == round(overall, 2)
    assert out["mismatch_rates"] == [{"majority_index": m, "mismatch_rate": round(r, 2)} for m, r in rows]
    assert all(type(r["majority_index"]) is int and type(r["mismatch_rate"]) is float for r in out["mismatch_rates"])
    if data == "course" and k == 2:
        assert out["overall_mismatch_rate"] <= 0.06


def test_files_are_found_in_the_graders_places_in_order(pb, blog_files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    for path in blog_files:
        (tmp_path / path.name).write_bytes(path.read_bytes())
    assert pb.PoliticalBlogsClustering().files() == (Path("nodes.txt").resolve(), Path("edges.txt").resolve())
    for path in blog_files:  # data/ in the cwd comes before the cwd
        (tmp_path / "data" / path.name).write_bytes(path.read_bytes())
    assert pb.PoliticalBlogsClustering().files()[0] == tmp_path / "data" / "nodes.txt"
    assert pb.search_folders() == [SUBMISSION / "data", SUBMISSION, tmp_path / "data", tmp_path]


# ---------------------------------------------------------------------------------------------
# the output contract, in this process (the course-style files check it again inside the zip)
# ---------------------------------------------------------------------------------------------


def test_every_pixel_form_keeps_its_shape_and_its_clusters(km):
    crop = km.KMeansImpl().load_image()[60:100, 0:50]
    alpha = np.arange(crop.size // 3).reshape(crop.shape[:2]) % 256
    impl = km.KMeansImpl()
    ref = impl.compress(crop, 4)
    for pixels in (crop.astype(np.int16), crop.astype(np.float32), crop.reshape(-1, 3), np.dstack([crop, alpha])):
        out = impl.compress(pixels, 4)
        assert out["img"].shape == pixels.shape and out["img"].dtype == np.uint8
        assert np.array_equal(out["class"], ref["class"]) and np.array_equal(out["centroid"], ref["centroid"])
    rgba = impl.compress(np.dstack([crop, alpha]), 4)["img"]
    assert np.array_equal(rgba[..., 3], alpha) and np.array_equal(rgba[..., :3], ref["img"])  # alpha copied, ignored
    grey = impl.compress(crop[..., 0], 3)
    assert grey["img"].shape == crop.shape[:2] and grey["centroid"].shape == (3, 3)
    assert np.array_equal(grey["img"], np.rint(grey["centroid"][grey["class"].ravel() - 1, 0]).reshape(40, 50))
    assert ref["class"].shape == (2000, 1) and ref["class"].dtype == np.int64
    assert set(np.unique(ref["class"])) == {1, 2, 3, 4}
    assert np.array_equal(ref["img"].reshape(-1, 3), np.rint(ref["centroid"]).astype(np.uint8)[ref["class"][:, 0] - 1])
    assert {"k_final", "seed", "metric", "objective", "mse", "psnr", "converged"} <= set(ref["additional_args"])


def test_fractional_values_are_clustered_as_given(km):
    rng = np.random.default_rng(2)
    pixels = rng.uniform(0, 255, size=(25, 3))
    pixels[5] = pixels[6]  # a repeated colour: one distinct row, weight 2
    for norm in (2, 1):
        out = km.KMeansImpl().compress(pixels, 3, norm)
        labels, C = out["class"].ravel() - 1, out["centroid"]
        diff = pixels[:, None, :] - C[None]
        dist = (diff**2).sum(axis=2) if norm == 2 else np.abs(diff).sum(axis=2)
        assert np.array_equal(dist.argmin(axis=1), labels) and out["additional_args"]["converged"]
        for j in range(C.shape[0]):
            centre = pixels[labels == j].mean(axis=0) if norm == 2 else np.median(pixels[labels == j], axis=0)
            np.testing.assert_allclose(C[j], centre, atol=1e-9)
        err = out["img"].astype(float) - pixels
        assert out["additional_args"]["mse"] == pytest.approx(np.mean(err**2))


def test_empty_or_missing_colours_make_k_decrease(km):
    two = np.array([[255, 0, 0]] * 6 + [[0, 0, 255]] * 4, dtype=np.uint8)
    for norm in (2, 1):
        with pytest.warns(UserWarning, match="fewer than k"):
            out = km.KMeansImpl().compress(two, 5, norm)
        assert out["additional_args"]["k_final"] == 2 and out["additional_args"]["k_requested"] == 5
        assert sorted(np.unique(out["class"]).tolist()) == [1, 2]


# ---------------------------------------------------------------------------------------------
# bad input: a FastclustError naming what is wrong
# ---------------------------------------------------------------------------------------------

GOOD = np.zeros((4, 5, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.zeros(6), r"shape \(H, W, 3\), \(H, W, 4\), \(H, W\) or \(n, 3\); got \(6,\)"),
        (np.zeros((2, 2, 2)), r"got \(2, 2, 2\)"),
        (np.zeros((2, 2, 5)), r"got \(2, 2, 5\)"),
        (np.zeros((1, 2, 2, 3)), r"got \(1, 2, 2, 3\)"),
        (np.zeros((0, 3)), "pixels is empty"),
        (np.array([["a", "b", "c"]]), "pixels must hold integer or float values 0-255, got dtype <U1"),
        (np.array([[1, 2, 3]], dtype=object), "got dtype object"),
        (np.ones((2, 3), dtype=bool), "got dtype bool"),
        (np.ones((2, 3), dtype=complex), "got dtype complex128"),
        (np.array([[1.0, np.nan, 3.0]]), r"pixels contains 1 NaN or infinite"),
        (np.array([[1.0, np.inf, 3.0]]), r"pixels contains 1 NaN or infinite"),
        (np.array([[-1, 2, 3]]), r"pixel values must lie in \[0, 255\]; found \[-1, 3\]"),
        (np.array([[1.0, 2.0, 255.5]]), r"found \[1, 255.5\]"),
    ],
)
def test_bad_pixels(km, pixels, message):
    with pytest.raises(FastclustError, match=message):
        km.KMeansImpl().compress(pixels, 2)


BAD_COUNTS = [2.7, np.float64(2.5), "3", None, True, 0, -1, float("nan"), float("inf"), [3], np.array([3])]


@pytest.mark.parametrize("k", BAD_COUNTS, ids=repr)
def test_bad_num_clusters(km, pb, blog_files, k):
    with pytest.raises(FastclustError, match="num_clusters must be a whole number >= 1"):
        km.KMeansImpl().compress(GOOD, k)
    with pytest.raises(FastclustError, match="num_clusters must be a whole number >= 1"):
        pb.PoliticalBlogsClustering(*blog_files).find_majority_labels(k)


@pytest.mark.parametrize("k", [3, 3.0, np.int64(3), np.float32(3.0), np.array(3)], ids=repr)
def test_whole_numbers_of_any_type_are_accepted(km, k):
    two = km.KMeansImpl().compress(np.arange(60).reshape(20, 3), k)
    assert two["additional_args"]["k_requested"] == 3 and type(two["additional_args"]["k_requested"]) is int


@pytest.mark.parametrize("norm", [3, 0, 1.5, "l2", "2", None, True, np.array([2]), float("nan")], ids=repr)
def test_bad_norm_distance(km, norm):
    with pytest.raises(FastclustError, match=r"norm_distance must be 2 \(Euclidean: k-means\) or 1 \(Manhattan"):
        km.KMeansImpl().compress(GOOD, 2, norm)


def test_missing_image_names_every_place_searched(km, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FastclustError, match="image 'sub/nope.png' not found; searched") as err:
        km.KMeansImpl().load_image("sub/nope.png")
    for place in ("sub/nope.png", tmp_path / "nope.png", SUBMISSION / "sub" / "nope.png", SUBMISSION / "nope.png"):
        assert f"\n  {place}\n" in str(err.value) + "\n"
    for place in (tmp_path / "data" / "nope.png", SUBMISSION / "data" / "nope.png"):
        assert str(place) in str(err.value)
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(FastclustError, match="not found"):
        km.KMeansImpl().load_image("folder.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(FastclustError, match="text.png: not a readable image"):
        km.KMeansImpl().load_image("text.png")


def test_images_are_found_in_data_beside_the_cwd(km, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    Image.fromarray(GOOD + 7).save(tmp_path / "data" / "tiny.bmp")
    assert np.array_equal(km.KMeansImpl().load_image("tiny.bmp"), GOOD + 7)
    assert np.array_equal(km.KMeansImpl().load_image(tmp_path / "elsewhere" / "tiny.bmp"), GOOD + 7)


def test_missing_graph_files_list_every_folder(pb, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FastclustError, match="nodes.txt and edges.txt not found together") as err:
        pb.PoliticalBlogsClustering().find_majority_labels()
    for folder in (SUBMISSION / "data", SUBMISSION, tmp_path / "data", tmp_path):
        assert f"\n  {folder}" in str(err.value)
    (tmp_path / "nodes.txt").write_text('1\t"a"\t0\t"x"\n')
    with pytest.raises(FastclustError, match="^edges.txt not found together"):
        pb.PoliticalBlogsClustering(nodes_path=tmp_path / "nodes.txt").find_majority_labels()
    with pytest.raises(FastclustError, match="missing.txt: no such nodes file"):
        pb.PoliticalBlogsClustering(tmp_path / "missing.txt", tmp_path / "nodes.txt").find_majority_labels()


def test_bad_graph_files_and_too_many_clusters(pb, blog_files, tmp_path):
    bad = tmp_path / "nodes.txt"
    bad.write_text('1\t"a"\t0\t"x"\n2\t"b"\tleft\t"x"\n')
    with pytest.raises(FastclustError, match=r"nodes.txt:2: label 'left' is not 0 or 1"):
        pb.PoliticalBlogsClustering(bad, blog_files[1]).find_majority_labels()
    with pytest.raises(FastclustError, match=r"num_clusters=5000 exceeds the 1200 blogs that have links"):
        pb.PoliticalBlogsClustering(*blog_files).find_majority_labels(5000)


def test_the_package_exports_the_two_classes():
    saved = {m: sys.modules.pop(m) for m in list(sys.modules) if m == "submission" or m.startswith("submission.")}
    spec = importlib.util.spec_from_file_location(
        "submission", SUBMISSION / "__init__.py", submodule_search_locations=[str(SUBMISSION)]
    )
    assert spec is not None and spec.loader is not None
    package = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = package  # its relative imports look for it there
    try:
        spec.loader.exec_module(package)
        assert package.__all__ == ["KMeansImpl", "PoliticalBlogsClustering"]
        assert package.KMeansImpl.__module__ == "submission.KMeans"
        assert package.PoliticalBlogsClustering().find_majority_labels.__name__ == "find_majority_labels"
    finally:
        for name in [m for m in sys.modules if m == "submission" or m.startswith("submission.")]:
            del sys.modules[name]
        sys.modules.update(saved)
