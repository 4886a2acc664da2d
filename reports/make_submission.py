"""Build the Gradescope zip: ``KMeans.py``, ``political_blogs_clustering.py`` and the student's image.

    python reports/make_submission.py                       # -> dist/submission.zip
    python reports/make_submission.py --out my.zip --check  # build, then grade it here first

The zip holds three files at its top level and nothing else (no report, no CLI,
no Dask code, no numba). Each module is self-contained: at build time the
numpy-only part of fastclust that the module imports (the closure of its
module-level relative imports, ``_kernels`` left out) is embedded in it as
compressed sources, imported from memory under a private package name (see
``submission/_embedded.py``). So the zip works however the grader copies it:

- (a) unpacked whole into the grader's folder, or
- (b) only its top-level files copied,

with Python 3.10-3.12, numpy, scipy and Pillow, without numba, and whatever
``fastclust`` the grader has installed (another version, or none).

The bytes are reproducible: sorted entries, fixed timestamps and modes, and the
file is written atomically (``fastclust._io.atomic_path``).

``--check`` runs the course-style unittest files of ``tests/autograder/`` against
the built zip in a throwaway folder, in a fresh ``python -I`` with numba made
unimportable, in both copy modes, and prints a score table. The grader's inputs
come from ``--data`` (default ``../shared/data/homework1`` when present); any
missing one is replaced by a stand-in, and the table says which.
"""

from __future__ import annotations

import argparse
import ast
import base64
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import zipfile
import zlib
from pathlib import Path
from typing import Any

from fastclust._io import atomic_path

ROOT = Path(__file__).resolve().parents[1]
SUBMISSION = ROOT / "submission"
PACKAGE_DIR = ROOT / "fastclust"
AUTOGRADER = ROOT / "tests" / "autograder"
DEFAULT_OUT = ROOT / "dist" / "submission.zip"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "homework1"

#: The modules graders import, by the course's file names, and the student's own image.
MODULES = ("KMeans.py", "political_blogs_clustering.py")
IMAGE = "landscape.png"
#: Never embedded: the numba kernels (the embedded copy must run on the numpy reference backend).
LEFT_OUT = frozenset({"_kernels"})
#: Always embedded: the numpy reference kernels, which ``_backends`` imports by name, not by an import statement.
ALWAYS = frozenset({"__init__", "_reference"})

BEGIN = "# fastclust imports: begin"
END = "# fastclust imports: end"
BOOTSTRAP_BEGIN, BOOTSTRAP_END = "# bootstrap: begin", "# bootstrap: end"
#: Every entry's timestamp (the earliest a zip can hold) and mode: bytes depend on content alone.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
ZIP_MODE = 0o100644

COPY_MODES = ("a", "b")
GRADER_IMAGES = ("football.bmp", "beach.bmp", "flower.jpg")


# ---------------------------------------------------------------------------------------------
# what to embed
# ---------------------------------------------------------------------------------------------


def import_block(source: str, name: str) -> tuple[int, int]:
    """Line indices ``(begin, end)`` of the marked fastclust import block of a submission module."""
    lines = source.splitlines()
    begins = [i for i, line in enumerate(lines) if line.startswith(BEGIN)]
    ends = [i for i, line in enumerate(lines) if line.startswith(END)]
    if len(begins) != 1 or len(ends) != 1 or begins[0] > ends[0]:
        raise SystemExit(f"submission/{name}: needs exactly one '{BEGIN}' line followed by one '{END}' line")
    return begins[0], ends[0]


def _module_exists(name: str) -> bool:
    return (PACKAGE_DIR / f"{name}.py").is_file()


def _imported_modules(tree: ast.Module, *, relative: bool) -> set[str]:
    """fastclust modules a module imports at module level (``relative``: ``from .x``, else ``fastclust.x``)."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import) and not relative:
            for alias in node.names:
                if alias.name == "fastclust" or alias.name.startswith("fastclust."):
                    found.add(alias.name.partition(".")[2] or "__init__")
        elif isinstance(node, ast.ImportFrom):
            if relative and node.level == 1:
                base = node.module
            elif not relative and node.level == 0 and node.module and node.module.split(".")[0] == "fastclust":
                base = node.module.partition(".")[2] or None
            else:
                continue
            if base:
                found.add(base)
            else:  # `from . import image`: the names are modules when such files exist
                found.update(a.name for a in node.names if _module_exists(a.name))
    return found


def _forbidden(tree: ast.Module) -> list[str]:
    """Imports that would leave the embedded copy: ``fastclust`` by absolute name (anywhere, also as a
    module-name string), and numba at module level.

    A numba import inside a function is allowed: such code runs only with the numba
    backend, which the embedded copy never has (``_kernels`` is left out); the tests
    check that numba stays out of ``sys.modules`` even where it is installed.
    """
    bad = []
    module_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"[\w.]+", node.value):
            names = [node.value] if node.value.startswith("fastclust.") else []
        for n in names:
            top = n.split(".")[0]
            if top == "fastclust" or (top == "numba" and id(node) in module_level):
                bad.append(f"line {node.lineno}: {n}")
    return bad


def embedded_modules() -> list[str]:
    """The fastclust modules the submission needs: what its modules import, and their module-level closure.

    Imports inside functions are left out (the package's lazy ``KMeans`` estimator
    is never used by the submission); ``LEFT_OUT`` always is, ``ALWAYS`` always in.
    """
    wanted = set(ALWAYS)
    for name in MODULES:
        source = (SUBMISSION / name).read_text(encoding="utf-8")
        begin, end = import_block(source, name)
        block = "\n".join(source.splitlines()[begin : end + 1])
        wanted |= _imported_modules(ast.parse(block), relative=False)
    todo, done = sorted(wanted), set()
    while todo:
        mod = todo.pop()
        if mod in done or mod in LEFT_OUT:
            continue
        path = PACKAGE_DIR / f"{mod}.py"
        if not path.is_file():
            raise SystemExit(f"the submission imports fastclust.{mod}, but {path} does not exist")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bad = _forbidden(tree)
        if bad:
            raise SystemExit(f"{path} cannot be embedded: it imports {', '.join(bad)}")
        done.add(mod)
        todo += sorted(_imported_modules(tree, relative=True) - done)
    return sorted(done)


def payload(modules: list[str]) -> tuple[str, str]:
    """``(package_name, base64_text)``: the modules' sources as zlib-compressed JSON, named by their digest."""
    # the naming rule lives with the importer that checks it
    spec = importlib.util.spec_from_file_location("_fastclust_submission_embedded", SUBMISSION / "_embedded.py")
    assert spec is not None and spec.loader is not None
    importer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(importer)
    sources = {m: (PACKAGE_DIR / f"{m}.py").read_text(encoding="utf-8") for m in modules}
    raw = json.dumps(sources, sort_keys=True, ensure_ascii=True).encode("ascii")
    return importer._embedded_package_name(raw), base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def bootstrap_source() -> str:
    """The importer's code, copied from between the markers of ``submission/_embedded.py``."""
    lines = (SUBMISSION / "_embedded.py").read_text(encoding="utf-8").splitlines()
    begin, end = lines.index(BOOTSTRAP_BEGIN), lines.index(BOOTSTRAP_END)
    return "\n".join(lines[begin + 1 : end]).strip("\n")


def generate_module(name: str, package: str, encoded: str, modules: list[str]) -> str:
    """The zip's self-contained ``name``: the submission module with its import block pointed at the embedded copy."""
    source = (SUBMISSION / name).read_text(encoding="utf-8")
    lines = source.splitlines()
    begin, end = import_block(source, name)
    imports = [
        re.sub(r"^(import|from) fastclust\b", rf"\1 {package}", line) for line in lines[begin + 1 : end] if line.strip()
    ]
    version = re.search(r'__version__ = "([^"]+)"', (PACKAGE_DIR / "__init__.py").read_text(encoding="utf-8"))
    chunks = textwrap.wrap(encoded, 100)
    generated = [
        "# " + "-" * 98,
        f"# Generated by reports/make_submission.py from submission/{name}: everything below up to",
        f"# '# end of generated code' is fastclust {version.group(1) if version else '?'} ({', '.join(modules)}),",
        "# numpy only, embedded so this file needs nothing beside it. It is imported from memory as the",
        f"# private package {package}: an installed fastclust, if any, is left alone.",
        bootstrap_source(),
        "",
        "",
        f'_FASTCLUST_PACKAGE = "{package}"',
        "_FASTCLUST_SOURCES = (",
        *[f'    "{chunk}"' for chunk in chunks],
        ")",
        "_install_embedded_package(_FASTCLUST_PACKAGE, _FASTCLUST_SOURCES, __file__)",
        "# end of generated code " + "-" * 75,
        *imports,
    ]
    text = "\n".join([*lines[:begin], *generated, *lines[end + 1 :]]) + "\n"
    compile(text, name, "exec")  # a broken module must fail the build, not the grader
    return text


def zip_entries() -> dict[str, bytes]:
    """Every file of the zip by name."""
    image = SUBMISSION / IMAGE
    if not image.is_file():
        raise SystemExit(f"{image} is missing: regenerate it with `python submission/default_image.py`")
    modules = embedded_modules()
    package, encoded = payload(modules)
    entries = {name: generate_module(name, package, encoded, modules).encode("utf-8") for name in MODULES}
    entries[IMAGE] = image.read_bytes()
    return entries


def build(out: str | os.PathLike[str] = DEFAULT_OUT) -> Path:
    """Write the zip to ``out`` (atomically) and return its path; the same sources give the same bytes."""
    out = Path(out)
    entries = zip_entries()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever the building machine: part of the bytes
            info.external_attr = ZIP_MODE << 16
            zf.writestr(info, entries[name], compresslevel=9)
    return out


# ---------------------------------------------------------------------------------------------
# grading it here: the grader's folder, the course-style tests, a score table
# ---------------------------------------------------------------------------------------------


def stage(zip_path: str | os.PathLike[str], folder: str | os.PathLike[str], mode: str) -> list[str]:
    """Put the zip's files into the grader's ``folder`` as a grader would; return the names placed.

    ``mode="a"`` unpacks the whole zip; ``mode="b"`` copies only its top-level
    ``*.py`` and data files, one by one, as autograders that glob the submission do.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as zf:
        if mode == "a":
            zf.extractall(folder)
            return sorted(zf.namelist())
        if mode != "b":
            raise ValueError(f"mode must be one of {COPY_MODES}, got {mode!r}")
        placed = []
        for info in zf.infolist():
            top_level = "/" not in info.filename.rstrip("/") and not info.is_dir()
            if top_level and Path(info.filename).suffix.lower() in (".py", ".png", ".bmp", ".jpg", ".txt"):
                (folder / info.filename).write_bytes(zf.read(info))
                placed.append(info.filename)
        return sorted(placed)


def grader_inputs(folder: str | os.PathLike[str], data: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Write the grader's own files into ``folder``: ``football.bmp``, a second colour image, ``data/*.txt``.

    They come from ``data`` (the course folder) when it has them; otherwise
    stand-ins are written. Returns ``{file: where it came from}``.
    """
    folder = Path(folder)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    source = Path(data) if data is not None else DEFAULT_DATA
    origin: dict[str, str] = {}
    images = [n for n in GRADER_IMAGES if (source / n).is_file()]
    if "football.bmp" in images and len(images) >= 2:
        for n in images[:2]:
            shutil.copyfile(source / n, folder / n)
            origin[n] = "course"
    else:
        import sklearn
        from PIL import Image
        from sklearn.datasets import load_sample_image

        Image.fromarray(load_sample_image("china.jpg")).save(folder / "football.bmp")
        shutil.copyfile(Path(sklearn.__file__).parent / "datasets" / "images" / "flower.jpg", folder / "flower.jpg")
        origin["football.bmp"] = "stand-in: scikit-learn's china.jpg"
        origin["flower.jpg"] = "stand-in: scikit-learn's flower.jpg"
    if (source / "nodes.txt").is_file() and (source / "edges.txt").is_file():
        for n in ("nodes.txt", "edges.txt"):
            shutil.copyfile(source / n, folder / "data" / n)
            origin[f"data/{n}"] = "course"
    else:
        from fastclust.demo import write_blog_like_graph

        write_blog_like_graph(folder / "data", seed=0)
        origin["data/nodes.txt"] = origin["data/edges.txt"] = "stand-in: fastclust.demo.write_blog_like_graph"
    return origin


def run_course_tests(
    folder: str | os.PathLike[str], *, block_numba: bool = True, course_data: bool = False, timeout: float = 1200
) -> dict[str, Any]:
    """Run ``tests/autograder``'s course-style tests in ``folder`` in a fresh ``python -I``; return the results.

    The runner and test files are copied into ``folder`` (the grader's source
    folder). ``course_data`` tells the tests whether the inputs are the course's
    (the k = 2 mismatch threshold holds on the real graph only).
    """
    folder = Path(folder)
    shutil.copyfile(AUTOGRADER / "run_autograder.py", folder / "run_autograder.py")
    (folder / "tests").mkdir(exist_ok=True)
    for test_file in sorted(AUTOGRADER.glob("course_*.py")):
        shutil.copyfile(test_file, folder / "tests" / test_file.name)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),
        "GRADER_DATA": "course" if course_data else "stand-in",
    }
    cmd = [sys.executable, "-I", "run_autograder.py", *(["--block-numba"] if block_numba else [])]
    proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"the autograder run failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1])


def score_table(results: dict[str, dict[str, Any]]) -> str:
    """One row per test and a total per copy mode: ``results`` maps a mode's label to its run."""
    labels = list(results)
    # "course_q3.TestKMeansImpl.test_deterministic" -> "q3 deterministic"
    names = [re.sub(r"^course_(\w+)\.\w+\.test_", r"\1 ", t["name"]) for t in next(iter(results.values()))["tests"]]
    width = max([len(n) for n in names] + [9])
    lines = [f"{'test':<{width}}  " + "  ".join(f"{label:>14}" for label in labels)]
    for i, name in enumerate(names):
        cells = []
        for label in labels:
            t = results[label]["tests"][i]
            mark = {"passed": "", "failed": " FAIL", "skipped": " skip"}[t["status"]]
            cells.append(f"{t['score']:g}/{t['max_score']:g}{mark}".rjust(14))
        lines.append(f"{name:<{width}}  " + "  ".join(cells))
    totals = [f"{r['score']:g}/{r['max_score']:g}".rjust(14) for r in results.values()]
    lines.append(f"{'total':<{width}}  " + "  ".join(totals))
    seconds = [f"{r['seconds']:.1f} s".rjust(14) for r in results.values()]
    lines.append(f"{'wall time':<{width}}  " + "  ".join(seconds))
    return "\n".join(lines)


#: Placed in the grader's folder in copy mode (a): a grader's own ``fastclust`` that must never be imported.
DECOY = 'raise ImportError("the grader\'s own fastclust was imported: the submission must use its embedded copy")\n'


def grade(
    zip_path: str | os.PathLike[str], data: str | os.PathLike[str] | None = None
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Grade the zip in throwaway folders, once per copy mode, numba blocked: ``(inputs' origin, results by mode)``.

    In mode (a) the grader's folder also holds a ``fastclust/`` package of its
    own that fails when imported: the submission must not touch it.
    """
    results: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="fastclust-check-") as tmp:
        for mode in COPY_MODES:
            folder = Path(tmp) / f"mode-{mode}"
            origin = grader_inputs(folder, data)
            if mode == "a":
                (folder / "fastclust").mkdir()
                (folder / "fastclust" / "__init__.py").write_text(DECOY)
            stage(zip_path, folder, mode)
            course = all(v == "course" for v in origin.values())
            label = f"({mode}) {'unzip' if mode == 'a' else 'top-level'}"
            results[label] = run_course_tests(folder, block_numba=True, course_data=course)
    return origin, results


def check(zip_path: str | os.PathLike[str], data: str | os.PathLike[str] | None = None) -> int:
    """:func:`grade` the zip and print the score table and every failure; 0 if nothing failed."""
    origin, results = grade(zip_path, data)
    failures = []
    for label, run in results.items():
        failures += [f"{label} {t['name']}:\n{t['output']}" for t in run["tests"] if t["status"] == "failed"]
        leaked = [m for m in ("numba", "fastclust", "sklearn.cluster") if run["modules"][m]]
        if leaked or len(run["modules"]["embedded"]) != 1:
            failures.append(f"{label}: imported {', '.join(leaked) or 'no'} forbidden module(s), {run['modules']}")
    print(f"grader's inputs: {', '.join(f'{k} ({v})' for k, v in origin.items())}")
    python = next(iter(results.values()))["python"]
    print(f"python {python}, numba blocked, one fresh `python -I` per copy mode; (a) beside a decoy fastclust\n")
    print(score_table(results))
    for failure in failures:
        print(f"\n{failure}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="where the zip goes (default dist/submission.zip)"
    )
    parser.add_argument("--check", action="store_true", help="grade the built zip here with the course-style tests")
    parser.add_argument("--data", type=Path, help=f"the course's input files for --check (default {DEFAULT_DATA})")
    args = parser.parse_args(argv)
    path = build(args.out)
    with zipfile.ZipFile(path) as zf:
        listing = ", ".join(f"{i.filename} ({i.file_size:,} B)" for i in zf.infolist())
    print(f"{path}: {listing}")
    return check(path, args.data) if args.check else 0


if __name__ == "__main__":
    sys.exit(main())
