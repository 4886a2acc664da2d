"""Every homework deliverable in one call: a typeset A4 PDF, its figures, CSV tables and summary.md.

Used by ``python reports/run_all.py`` and ``fastclust report``. This module is the
renderer only: every number comes from :mod:`fastclust.course`, which returns
tables; the CSVs, ``summary.md`` and the PDF are all written from those same
tables, so they cannot disagree.

Why Typst (through the ``typst`` Python package) and not ReportLab's Platypus:

- the wheel bundles the compiler and its fonts (Libertinus Serif, New Computer
  Modern Math), so the PDF is the same on every machine and needs no LaTeX;
- figures and tables are numbered, captioned and cross-referenced by the
  typesetter (``@fig-...`` becomes "Figure 3"), which Platypus leaves to hand-kept
  counters;
- tables repeat their header row across page breaks, align numeric columns and
  use tabular lining figures; long tables break across pages inside a figure;
- plots go in as SVG, i.e. as vector graphics (Platypus needs svglib or
  rasterising for that), and formulas use real math typesetting;
- the document source (``report.typ``) is left beside the PDF, so a student can
  edit the text and recompile with ``typst compile report.typ``.

Outputs, and what a killed run leaves
-------------------------------------
The output folder is checked for writability before anything is computed. A
run writes everything into a hidden staging folder inside ``out``
(``.fastclust-run-*``); only when the PDF has been made does it move the files
into place. During that move (milliseconds) a file named ``INCOMPLETE`` marks
the folder, and the old ``report.pdf`` is gone; the new ``report.pdf`` arrives
last and the marker is then removed. So a kill while computing leaves the
previous run untouched, and a kill while moving leaves the marker and no PDF:
never a mix of old and new tables that looks complete. Staging folders of
killed runs and stale temporary files are removed by the next run. Every file
is written through :mod:`fastclust._io`, with the user's umask.

Progress
--------
``progress(label, done, total)`` is called at the start of every step (``label``
is one of :data:`STEPS`) and after every unit of work inside it (one fit, one
figure). ``total`` is fixed before the first call; ``done`` counts the units
finished so far, and equals ``total`` at the last call.

Warnings
--------
Warnings that fastclust itself raises during a run (a k reduced because colours
ran out, a fallback to a stand-in) are recorded and listed in the report's
appendix; any other warning is passed on unchanged.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import os
import platform
import re
import shlex
import shutil
import socket
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np

from . import __version__, vq
from . import course as fc_course
from . import digits as fd
from . import graph as fg
from . import image as fi
from ._io import atomic_write_bytes, atomic_write_text, remove_stale_temps
from .course import Column, Table
from .demo import write_blog_like_graph
from .errors import FastclustError

__all__ = [
    "COURSE_IMAGES",
    "STEPS",
    "InputPlan",
    "Inputs",
    "build_report",
    "find_data_dir",
    "find_mnist",
    "load_inputs",
    "locate_inputs",
    "machine_description",
]

COURSE_IMAGES = ("football.bmp", "parrots.png")
IMAGE_SUFFIXES = (".bmp", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".webp")
#: The steps of a run, in order: the ``label`` passed to ``progress(label, done, total)``.
STEPS = (
    "compiling kernels",
    "inputs",
    "Q3 image compression",
    "Q4 spectral clustering",
    "Q5 vector quantization",
    "MNIST study",
    "figures",
    "typesetting",
)
#: Marks an output folder whose files are being replaced (see the module docstring).
INCOMPLETE = "INCOMPLETE"
_STAGE_PREFIX = ".fastclust-run-"
_MANIFEST = ".fastclust-manifest.json"
_LOCK = ".fastclust-lock"
#: Files the report wrote before it kept a manifest: removed when a run replaces them.
_LEGACY_OUTPUTS = (
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
)
ProgressFn = Callable[[str, int, int], None]
#: The appendix table's last row (its timed steps added up) and run_timings.csv's (start to finish):
#: two different totals, so two different names.
_STEP_SUM = "sum of the steps"
_WALL_CLOCK = "whole run (wall clock)"


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------


def find_data_dir(data: str | Path | None) -> Path | None:
    """``data``, else ``$FASTCLUST_DATA``, else ``./data`` (in the current folder) if it holds a course file."""
    if data is not None:
        path = Path(data)
        if not path.is_dir():
            raise FastclustError(f"--data {path}: no such folder")
        return path
    env = os.environ.get("FASTCLUST_DATA")
    if env:
        if not Path(env).is_dir():
            raise FastclustError(f"$FASTCLUST_DATA={env}: no such folder")
        return Path(env)
    local = Path("data")
    names = [*COURSE_IMAGES, "nodes.txt", "edges.txt", "AImodel.npy"]
    if local.is_dir() and any((local / n).exists() for n in names):
        return local
    return None


def find_mnist(folder: Path | None) -> tuple[Path | None, str]:
    """Where MNIST is: ``folder/mnist``, ``folder/../mnist`` (the course layout), ``$FASTCLUST_MNIST``, Keras's cache.

    Returns ``(path, how it was found)``, or ``(None, "")`` when there is none
    (the 8x8 stand-in is then used).
    """
    if folder is not None:
        for candidate, how in (
            (folder / "mnist", "beside the course files"),
            (folder.parent / "mnist", "the course layout, DIR/../mnist"),
        ):
            if candidate.exists():
                return candidate, how
    env = os.environ.get("FASTCLUST_MNIST")
    if env:
        return Path(env), "$FASTCLUST_MNIST"
    keras = Path.home() / ".keras" / "datasets" / "mnist.npz"
    if keras.exists():
        return keras, "the Keras cache"
    return None, ""


@dataclass
class InputPlan:
    """Where every input comes from, decided before anything is loaded or computed."""

    folder: Path | None
    image_paths: list[Path]
    nodes: Path | None  # None: a generated graph
    edges: Path | None
    embeddings: Path | None  # None: seeded synthetic embeddings
    mnist: Path | None  # None: the 8x8 stand-in
    mnist_how: str
    substitutions: list[str] = field(default_factory=list)
    #: image file name -> the course image it stands in for (a folder without parrots.png, say)
    stands_in_for: dict[str, str] = field(default_factory=dict)


def _bundled_image_paths() -> list[Path]:
    import matplotlib
    import sklearn.datasets

    sk = Path(sklearn.datasets.__file__).parent / "images"
    return [sk / "china.jpg", sk / "flower.jpg", Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"]


def locate_inputs(data: str | Path | None) -> InputPlan:
    """Find the course files (see :func:`find_data_dir`, :func:`find_mnist`) and list every substitution."""
    folder = find_data_dir(data)
    subs: list[str] = []
    paths: list[Path] = []
    stands_in_for: dict[str, str] = {}
    if folder is not None:
        named = [folder / n for n in COURSE_IMAGES if (folder / n).is_file()]
        others = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p not in named)
        paths = (named + others)[:3]
        missing = [n for n in COURSE_IMAGES if not (folder / n).is_file()]
        # the course names two images and leaves the third free: the folder's other images, in name
        # order, first fill the missing named ones; what is left over is the free third image
        extra = [p for p in paths if p not in named]
        for course_name, p in zip(missing, extra, strict=False):
            stands_in_for[p.name] = course_name
        if missing and paths:
            parts = [f"{name}, from that folder, stands in for {c}" for name, c in stands_in_for.items()]
            parts += [f"no image left to stand in for {c}" for c in missing if c not in stands_in_for.values()]
            subs.append(f"course image {', '.join(missing)} not found in {folder}: {'; '.join(parts)}")
    if not paths:
        paths = _bundled_image_paths()
        subs.append(
            "no course images: used scikit-learn's sample photos china.jpg and flower.jpg and matplotlib's "
            "grace_hopper.jpg"
        )
    nodes = edges = None
    if folder is not None and (folder / "nodes.txt").is_file() and (folder / "edges.txt").is_file():
        nodes, edges = folder / "nodes.txt", folder / "edges.txt"
    else:
        subs.append(
            "no nodes.txt/edges.txt: used a generated two-party blog graph (1,240 blogs, 40 without links) "
            "in the same format (fastclust.demo.write_blog_like_graph), saved under inputs/"
        )
    emb = folder / "AImodel.npy" if folder is not None and (folder / "AImodel.npy").is_file() else None
    if emb is None:
        subs.append(
            "no AImodel.npy: used seeded synthetic embeddings, 10,000 x 64 float32 around 32 topics "
            "(fastclust.vq.make_embeddings)"
        )
    mnist, how = find_mnist(folder)
    if mnist is None:
        subs.append("no MNIST found: used scikit-learn's bundled 8x8 digits (1,797 images) as a stand-in")
    return InputPlan(folder, paths, nodes, edges, emb, mnist, how, subs, stands_in_for)


def _image_origin(plan: InputPlan, path: Path) -> str:
    """Table 2's origin of a Q3 image: the course's own, a course-folder image in place of a missing one, or bundled."""
    if plan.folder is None or path.parent != plan.folder:
        return "substitute (bundled sample photo)"
    if path.name in plan.stands_in_for:
        return "substitute (course folder)"
    return "course data"


@dataclass
class Inputs:
    """What the report runs on (loaded), with a description of every source."""

    plan: InputPlan
    images: dict[str, np.ndarray]
    graph: fg.Graph
    nodes: Path
    edges: Path
    embeddings: np.ndarray
    digits: fd.Digits
    mnist_standin: bool
    rows: list[dict[str, str]] = field(default_factory=list)

    @property
    def substitutions(self) -> list[str]:
        return self.plan.substitutions


def load_inputs(plan: InputPlan, work_dir: Path, seed: int = 0, shown_dir: Path | None = None) -> Inputs:
    """Load everything :func:`locate_inputs` found; write the generated graph (if needed) under ``work_dir/inputs``.

    ``shown_dir`` is where ``work_dir``'s files will end up (the report names that path).
    """
    rows: list[dict[str, str]] = []
    images: dict[str, np.ndarray] = {}
    for p in plan.image_paths:
        images[p.name] = fi.load_image(p)
        h, w = images[p.name].shape[:2]
        rows.append(
            {
                "role": "Q3 image",
                "source": str(p),
                "details": f"{w}x{h} pixels"
                + (f", in place of {plan.stands_in_for[p.name]}" if p.name in plan.stands_in_for else ""),
                "origin": _image_origin(plan, p),
            }
        )
    if plan.nodes is not None and plan.edges is not None:
        nodes, edges, origin = plan.nodes, plan.edges, "course data"
        shown_nodes, shown_edges = nodes, edges
    else:
        nodes, edges = write_blog_like_graph(work_dir / "inputs", seed)
        origin = "substitute (generated)"
        base = (shown_dir or work_dir) / "inputs"
        shown_nodes, shown_edges = base / "nodes.txt", base / "edges.txt"
    graph = fg.load_polblogs(nodes, edges)
    rows.append(
        {
            "role": "Q4 graph",
            "source": f"{shown_nodes}, {shown_edges.name}",
            "details": f"{graph.n_nodes_read:,} nodes read, {graph.adjacency.shape[0]:,} kept, {graph.n_edges:,} edges",
            "origin": origin,
        }
    )
    if plan.embeddings is not None:
        embeddings = vq.load_embeddings(plan.embeddings)
        source, origin = str(plan.embeddings), "course data"
    else:
        embeddings = vq.make_embeddings(10_000, 64, n_topics=32, seed=seed)
        source, origin = f"fastclust.vq.make_embeddings(10000, 64, n_topics=32, seed={seed})", "substitute (generated)"
    rows.append(
        {
            "role": "Q5 embeddings",
            "source": source,
            "details": f"{embeddings.shape[0]:,} x {embeddings.shape[1]} {embeddings.dtype}",
            "origin": origin,
        }
    )
    if plan.mnist is not None:
        digits = fd.load_mnist(plan.mnist)
        standin = False
        source, origin = f"{plan.mnist} ({plan.mnist_how})", "course data"
    else:
        digits = fd.load_mnist(None)  # warns that it falls back: recorded by the caller
        standin = True
        source, origin = "sklearn.datasets.load_digits (8x8)", "substitute (stand-in)"
    h, w = digits.images.shape[1:]
    rows.append(
        {
            "role": "MNIST study",
            "source": source,
            "details": f"{len(digits.labels):,} images {w}x{h}: {digits.source}",
            "origin": origin,
        }
    )
    return Inputs(plan, images, graph, nodes, edges, embeddings, digits, standin, rows)


# ---------------------------------------------------------------------------------------------
# the output folder: checked first, staged, committed last
# ---------------------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _remove_stale_stages(out: Path, older_than: float = 86400.0) -> None:
    """Staging folders of runs that were killed: their process is gone, or they are a day old."""
    for stage in out.glob(f"{_STAGE_PREFIX}*"):
        if not stage.is_dir():
            continue
        try:
            owner = json.loads((stage / ".owner").read_text())
            mine = owner.get("host") == socket.gethostname()
            dead = mine and not _pid_alive(int(owner.get("pid", -1)))
        except (OSError, ValueError):
            dead = False
        try:
            old = time.time() - stage.stat().st_mtime >= older_than
        except FileNotFoundError:
            continue
        if dead or old:
            shutil.rmtree(stage, ignore_errors=True)


def _remove_legacy_temps(out: Path, older_than: float = 3600.0) -> None:
    """Temporary files the report made before :mod:`fastclust._io` existed (``.report.pdf.XXXX.tmp``)."""
    now = time.time()
    names = ("report.pdf", "summary.md", *_LEGACY_OUTPUTS)
    for tmp in out.glob(".*.tmp"):
        if not any(tmp.name.startswith(f".{n}.") for n in names):
            continue
        with contextlib.suppress(FileNotFoundError):
            if now - tmp.stat().st_mtime >= older_than:
                tmp.unlink()


class _Stage:
    """A run's private folder inside ``out``; :meth:`commit` moves its files into ``out``."""

    def __init__(self, out: Path) -> None:
        if out.exists() and not out.is_dir():
            raise FastclustError(f"--out {out}: exists and is not a folder")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FastclustError(f"--out {out}: cannot create the folder ({exc.strerror or exc})") from exc
        self.out = out
        try:
            _remove_stale_stages(out)
            remove_stale_temps(out)
            _remove_legacy_temps(out)
            token = f"{os.getpid()}-{os.urandom(4).hex()}"
            self.dir = out / f"{_STAGE_PREFIX}{token}"
            self.dir.mkdir(mode=0o700)
            atomic_write_text(self.dir / ".owner", json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
        except OSError as exc:
            raise FastclustError(f"--out {out}: cannot write there ({exc.strerror or exc})") from exc
        self.files: list[str] = []

    def path(self, rel: str) -> Path:
        p = self.dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def write_bytes(self, rel: str, data: bytes) -> None:
        atomic_write_bytes(self.path(rel), data)
        self.files.append(rel)

    def write_text(self, rel: str, text: str) -> None:
        self.write_bytes(rel, text.encode("utf-8"))

    def adopt(self, rel: str) -> None:
        """Count a file something else wrote into the stage (the generated graph) as an output."""
        self.files.append(rel)

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def commit(self, last: str) -> None:
        """Move every staged file into ``out``, ``last`` at the very end; see the module docstring."""
        out = self.out
        with _locked(out / _LOCK):
            atomic_write_text(
                out / INCOMPLETE,
                "A fastclust report run is replacing the files in this folder. If this file is still here, that "
                "run was interrupted: the folder may mix files of two runs. Run the report again.\n",
            )
            (out / last).unlink(missing_ok=True)
            previous = _read_manifest(out)
            new = set(self.files)
            for rel in sorted(previous - new):
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                    (out / rel).unlink()
                with contextlib.suppress(OSError):  # a folder the old run made and this one does not use
                    if (out / rel).parent != out:
                        (out / rel).parent.rmdir()
            for rel in self.files:
                if rel == last:
                    continue
                dest = out / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.dir / rel, dest)
            atomic_write_text(out / _MANIFEST, json.dumps(sorted(new), indent=0) + "\n")
            os.replace(self.dir / last, out / last)
            (out / INCOMPLETE).unlink()
        self.discard()


def _read_manifest(out: Path) -> set[str]:
    try:
        names = json.loads((out / _MANIFEST).read_text())
    except (OSError, ValueError):
        names = list(_LEGACY_OUTPUTS)  # a folder written before manifests existed
    return {n for n in names if isinstance(n, str) and ".." not in Path(n).parts and not Path(n).is_absolute()}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock while files are moved, so two runs into one folder never interleave."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, moves are still atomic one by one
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# progress and recorded warnings
# ---------------------------------------------------------------------------------------------


def _takes_one_argument(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` is an old-style ``progress(step)`` callback (one positional parameter)."""
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: assume the current protocol
        return False
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) == 1


class _Progress:
    """Drives ``progress(label, done, total)``; a one-argument callback gets ``progress(label)`` at step starts.

    The one-argument form is the protocol of fastclust 0.1 (``fastclust report`` used it); it is
    kept so a front end written for it still works, without the advance inside steps.
    """

    def __init__(self, fn: ProgressFn | Callable[[str], None] | None, total: int) -> None:
        self.fn = fn
        self.legacy = fn is not None and _takes_one_argument(fn)
        self.total = total
        self.done = 0
        self.label = ""

    def _call(self, at_step_start: bool) -> None:
        if self.fn is None:
            return
        if self.legacy:
            if at_step_start:
                self.fn(self.label)  # type: ignore[call-arg]
        else:
            self.fn(self.label, self.done, self.total)  # type: ignore[call-arg]

    def step(self, label: str) -> None:
        self.label = label
        self._call(at_step_start=True)

    def tick(self) -> None:
        self.done += 1
        self._call(at_step_start=False)


_PACKAGE_DIR = Path(__file__).resolve().parent


@contextlib.contextmanager
def _recording(step: str, into: list[dict[str, str]]) -> Iterator[None]:
    """Record the warnings fastclust raises in ``step`` (shown in the report); re-issue every other one."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        ours = issubclass(w.category, UserWarning) and Path(w.filename).resolve().is_relative_to(_PACKAGE_DIR)
        if ours:
            into.append({"step": step, "warning": f"{w.category.__name__}: {w.message}"})
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


# ---------------------------------------------------------------------------------------------
# figures: vector plots with matplotlib (no pyplot state), pictures as PNG
# ---------------------------------------------------------------------------------------------

_RC: Any = {
    "svg.fonttype": "path",
    "svg.hashsalt": "fastclust",
    "font.size": 8,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.markersize": 4,
}
_CM = 1 / 2.54


def _svg(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def _k_axis(ax: Any, ks: Sequence[int], *, log: bool = True) -> None:
    """An x axis of k with exactly the ks as ticks, written as integers: no colliding log-scale labels."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    if log:
        ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(list(ks)))
    ax.xaxis.set_major_formatter(FixedFormatter([str(k) for k in ks]))
    ax.xaxis.set_minor_locator(NullLocator())


def _fig_choose_k(q3: fc_course.Q3Study) -> bytes:
    """One panel per image: MSE against k (log2 axis = rate), each metric's knee and the recommended k.

    Per-image panels keep the knees of different images apart; the two metrics' knees get
    different shapes (a filled star, an open diamond), so they stay visible where they coincide.
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    n = len(q3.images)
    styles = {"l2": ("-", "o", "*", 12, "C0"), "l1": ("--", "s", "D", 9, "C1")}
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(17 * _CM, 6.4 * _CM), layout="constrained")
        axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
        for ax, name in zip(axes, q3.images, strict=True):
            rec = q3.recommended(name)
            ax.axvspan(rec["k"] / 1.15, rec["k"] * 1.15, color="0.85", zorder=0)
            for metric in q3.metrics:
                line, marker, knee_marker, size, colour = styles.get(metric, ("-", "o", "X", 9, "C2"))
                ck = q3.choose[(name, metric)]
                ax.plot(ck.ks, ck.mse, line, marker=marker, markersize=3.5, color=colour)
                j = ck.ks.index(ck.k)
                filled = metric == "l2"
                ax.plot(
                    [ck.k],
                    [ck.mse[j]],
                    knee_marker,
                    markersize=size,
                    markerfacecolor=colour if filled else "none",
                    markeredgecolor="black" if filled else colour,
                    markeredgewidth=0.8 if filled else 1.6,
                    zorder=3 if filled else 4,
                )
            _k_axis(ax, q3.ks)
            ax.set_title(f"{name}\nrecommended k = {rec['k']}", fontsize=8)
            ax.set_xlabel("k (log2 scale)")
        axes[0].set_ylabel("MSE per channel")
        axes[0].set_ylim(bottom=0)
        names = {"l2": "L2 (k-means)", "l1": "L1 (k-medians)"}
        handles: list[Any] = []
        for metric in q3.metrics:
            line, marker, _, _, colour = styles.get(metric, ("-", "o", "X", 9, "C2"))
            handles.append(Line2D([], [], ls=line, marker=marker, markersize=3.5, color=colour, label=names[metric]))
        for metric in q3.metrics:
            _, _, knee_marker, size, colour = styles.get(metric, ("-", "o", "X", 9, "C2"))
            filled = metric == "l2"
            handles.append(
                Line2D(
                    [],
                    [],
                    ls="",
                    marker=knee_marker,
                    markersize=size * 0.8,
                    markerfacecolor=colour if filled else "none",
                    markeredgecolor="black" if filled else colour,
                    markeredgewidth=0.8 if filled else 1.6,
                    label=f"knee of {metric.upper()}",
                )
            )
        handles.append(Patch(color="0.85", label="recommended k"))
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
        return _svg(fig)


def _fig_q4_tuning(q4: fc_course.Q4Study) -> bytes:
    import matplotlib
    from matplotlib.figure import Figure

    ks, rates = q4.curve()
    with matplotlib.rc_context(_RC):
        # drawn for two thirds of the text width: it sits beside the table of its numbers
        fig = Figure(figsize=(10.4 * _CM, 6.6 * _CM), layout="constrained")
        ax = fig.subplots()
        ax.plot(ks, rates, "o-", markersize=3, label="overall mismatch rate")
        best = min(rates)
        ax.axhline(best + q4.tolerance, color="grey", ls=":", label=f"lowest + {q4.tolerance}")
        ax.axvline(q4.chosen_k, color="black", ls="--", label=f"chosen k = {q4.chosen_k}")
        table_ks = [k for k in q4.ks if k in ks]
        ax.plot(table_ks, [q4.tables_by_k[k].overall for k in table_ks], "s", color="C3", label="k in the tables")
        # ticks at k values that were tried: every k if few, else the first and every 5th
        ticks = ks if len(ks) <= 12 else sorted({ks[0], *[k for k in ks if k % 5 == 0]})
        if len(ticks) > 12:
            ticks = sorted({ks[0], *[k for k in ks if k % 10 == 0]})
        _k_axis(ax, ticks, log=False)
        ax.set(xlabel="k (clusters)", ylabel="overall mismatch rate")
        ax.set_ylim(0, max(rates) * 1.18)  # headroom: the highest point stays clear of the frame
        fig.legend(loc="outside lower center", ncols=2, frameon=False)
        return _svg(fig)


def _fig_q5(q5: fc_course.Q5Study) -> bytes:
    import matplotlib
    from matplotlib.figure import Figure

    rows = [q5.memory(k) for k in q5.ks]
    ks = [r["k"] for r in rows]
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(17 * _CM, 6.2 * _CM), layout="constrained")
        ax1, ax2 = fig.subplots(1, 2)
        ax1.plot(ks, [r["after_course"] for r in rows], "o-", label="course rule (1-byte index)")
        ax1.plot(ks, [r["after_stored"] for r in rows], "s--", label="index as stored")
        _k_axis(ax1, ks)
        ax1.set(xlabel="k (codewords, log scale)", ylabel="memory after (MB)", title="(a) memory after compression")
        ax1.legend(frameon=False)
        ax2.plot(ks, [r["cosine"] for r in rows], "o-", color="C2")
        _k_axis(ax2, ks)
        ax2.set(xlabel="k (codewords, log scale)", ylabel="average cosine similarity", title="(b) quality")
        return _svg(fig)


def _fig_mnist_accuracy(mn: fc_course.MnistStudy) -> bytes:
    import matplotlib
    from matplotlib.figure import Figure

    curves = mn.accuracy_curves()
    ks = sorted({k for xs, _ in curves.values() for k in xs})
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(17 * _CM, 6.2 * _CM), layout="constrained")
        ax = fig.subplots()
        for (name, (xs, ys)), marker in zip(curves.items(), "o^s", strict=False):
            ax.plot(xs, ys, "-", marker=marker, label=name)
        _k_axis(ax, ks)
        ax.set(xlabel="k (clusters, log scale)", ylabel="held-out accuracy")
        fig.legend(loc="outside right center", frameon=False)
        return _svg(fig)


def _png(arr: np.ndarray) -> bytes:
    """An RGB or grey picture as PNG (fast zlib level: pictures are big and the PDF recompresses nothing)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="png", compress_level=1)
    return buf.getvalue()


def _palette_png(labels: np.ndarray, palette: np.ndarray) -> bytes:
    """A k-colour reconstruction stored as the palette image it is: exact colours, a fraction of the bytes."""
    from PIL import Image

    if palette.shape[0] > 256:
        return _png(np.clip(np.rint(palette), 0, 255).astype(np.uint8)[labels])
    img = Image.fromarray(labels.astype(np.uint8), mode="P")
    img.putpalette(np.clip(np.rint(palette), 0, 255).astype(np.uint8).ravel().tolist())
    buf = io.BytesIO()
    img.save(buf, format="png", compress_level=6)
    return buf.getvalue()


def _stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", Path(name).stem).strip("_").lower() or "image"


# ---------------------------------------------------------------------------------------------
# Typst source
# ---------------------------------------------------------------------------------------------


class M(str):
    """Raw Typst markup (references, emphasis); a plain ``str`` is always inserted as literal text."""


def _lit(text: str) -> str:
    """A Typst string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _txt(text: str) -> str:
    """Literal text inside markup (``;`` ends the embedded expression)."""
    return "#" + _lit(text) + ";"


def _para(*parts: str) -> str:
    return "".join(p if isinstance(p, M) else _txt(p) for p in parts) + "\n\n"


def _label(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")


_MINUS = str.maketrans({"-": "−"})
_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _pdf_cell(value: str, col: Column) -> str:
    """A displayed cell (thousands already grouped, see :meth:`Table.display_cells`) with true minus signs."""
    return value.translate(_MINUS) if col.numeric else value


def _typst_header(cols: Sequence[Column]) -> str:
    """One header row, or two when columns are grouped under a shared heading (with a rule under each group)."""
    if not any(c.head for c in cols):
        if not any(c.title for c in cols):
            return ""
        return "table.header(" + ", ".join(f"[*{_txt(c.title)}*]" for c in cols) + "), table.hline(stroke: 0.5pt),"
    top: list[str] = []
    rules: list[str] = []
    i = 0
    while i < len(cols):
        c = cols[i]
        if not c.head:
            top.append(f"table.cell(rowspan: 2, align: bottom + {'right' if c.numeric else 'left'})[*{_txt(c.title)}*]")
            i += 1
            continue
        j = i
        while j < len(cols) and cols[j].head == c.head:
            j += 1
        top.append(f"table.cell(colspan: {j - i}, align: center)[*{_txt(c.head)}*]")
        rules.append(f"table.hline(y: 1, start: {i}, end: {j}, stroke: 0.4pt)")
        i = j
    second = [f"[*{_txt(c.title)}*]" for c in cols if c.head]
    return "table.header(" + ", ".join(top + rules + second) + "), table.hline(stroke: 0.5pt),"


def _typst_grid(
    cols: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    widths: Sequence[str] | None = None,
    inset_x: str = "4pt",
    rules_between_keys: bool = False,
) -> str:
    """A ``#table`` of displayed cells, with the header row(s) that repeat across page breaks."""
    columns = f"({', '.join(widths)},)" if widths else str(len(cols))
    aligns = ", ".join("right" if c.numeric else "left" for c in cols)
    body_rows = []
    previous_key: str | None = None
    for cells in rows:
        # a thin rule between groups of rows sharing the first key (MNIST's k, Q3's image) in long tables
        first = cells[0]
        if rules_between_keys and previous_key is not None and first != previous_key and cols[0].role == "key":
            body_rows.append("table.hline(stroke: 0.3pt + luma(160)),")
        previous_key = first
        body_rows.append(", ".join(_lit(_pdf_cell(v, c)) for v, c in zip(cells, cols, strict=True)) + ",")
    return (
        f"table(columns: {columns}, align: ({aligns},), stroke: none, inset: (x: {inset_x}, y: 2.4pt),\n"
        f"    table.hline(stroke: 0.8pt), {_typst_header(cols)}\n    "
        + "\n    ".join(body_rows)
        + "\n    table.hline(stroke: 0.8pt))"
    )


def _typst_table(
    table: Table,
    *,
    label: str | None = None,
    roles: Sequence[str] = ("key", "value", "time"),
    size: str = "8.5pt",
    widths: Sequence[str] | None = None,
) -> str:
    cols = [c for c in table.columns if c.role in roles]
    grid = "#" + _typst_grid(cols, table.display_cells(roles), widths=widths, rules_between_keys=len(table.rows) > 12)
    note = f"\n  #block(width: 100%, text(size: 7.5pt)[{_txt(table.note)}])" if table.note else ""
    lab = f" <{label or 'tab-' + _label(table.name)}>"
    fig = f"#figure(kind: table, caption: [{_txt(table.title)}])[\n  #set text(size: {size})\n  {grid}{note}\n]{lab}\n"
    # long tables may break across pages (their header repeats); short ones move whole, caption included
    if len(table.rows) > 45:
        fig = f"#[\n#show figure: set block(breakable: true)\n{fig}]\n"
    return fig + "\n"


def _typst_blocks(
    table: Table,
    *,
    label: str | None = None,
    size: str = "7.5pt",
    small: int = 12,
) -> str:
    """One sub-table per value of the first key column (Q4's k), laid out in two balanced columns.

    Groups of up to ``small`` rows are stacked into two columns of about equal height, under the
    caption, and move as one piece (a caption is never left alone at the foot of a page). A larger
    group follows as its two halves side by side, titled as the table's continuation; it may break
    across pages, its headers repeated. Every block carries its own header, so the layout is the
    same on every page (a flowing two-column table leaves a half-empty column on its last page).
    """
    key, *rest = [c for c in table.columns if c.role in ("key", "value", "time")]
    groups: dict[str, list[list[str]]] = {}
    for cells in table.display_cells():
        groups.setdefault(cells[0], []).append(cells[1:])
    lab = label or f"tab-{_label(table.name)}"

    def block(title: str, rows: Sequence[Sequence[str]]) -> str:
        return f'[#text(weight: "bold")[{title}] #v(-0.4em) #{_typst_grid(rest, rows, inset_x="3pt")}]'

    stacks: list[list[str]] = [[], []]
    heights = [0, 0]
    big: list[tuple[str, list[list[str]]]] = []
    for value, rows in groups.items():
        if len(rows) <= small:
            i = heights.index(min(heights))
            stacks[i].append(block(_txt(f"{key.label} = {value}"), rows))
            heights[i] += len(rows) + 3  # a block's header and title take about three rows
        else:
            big.append((value, rows))
    note = f"\n  #block(width: 100%, text(size: 7.5pt)[{_txt(table.note)}])" if table.note else ""
    first = ""
    if any(stacks):
        cells = [f"stack(spacing: 0.8em, {', '.join(st)})" if st else "[]" for st in stacks]
        first = f"#grid(columns: (1fr, 1fr), column-gutter: 14pt, align: top, {', '.join(cells)})"
    out = (
        f"#figure(kind: table, caption: [{_txt(table.title)}])[\n  #set text(size: {size})\n  {first}{note}\n]"
        f" <{lab}>\n\n"
    )
    if big:
        cells = []
        for value, rows in big:
            half = (len(rows) + 1) // 2
            for part in (rows[:half], rows[half:]):
                title = (
                    _txt(f"{key.label} = {value}, {rest[0].label}s {part[0][0]}–{part[-1][0]} (")
                    + f"@{lab}"
                    + (_txt(" continued)") if first else _txt(")"))
                )
                cells.append(block(title, part))
        out += (
            f"#[#set text(size: {size})\n#grid(columns: (1fr, 1fr), column-gutter: 14pt, row-gutter: 0.9em, "
            f"align: top, {', '.join(cells)})]\n\n"
        )
    return out


def _typst_figure(path: str, caption: str, label: str, width: str = "100%") -> str:
    return f"#figure(image({_lit(path)}, width: {width}), caption: [{_txt(caption)}]) <{label}>\n\n"


_PREAMBLE = r"""
#set document(title: "Clustering homework report")
#set page(paper: "a4", margin: (x: 2cm, top: 2cm, bottom: 2.2cm),
  header: context { if counter(page).get().first() > 1 [
    #set text(size: 8pt, fill: luma(90))
    Clustering homework report #h(1fr) #hydra-title
  ] },
  footer: context [#set text(size: 8pt, fill: luma(90)); #h(1fr) page #counter(page).display() of #counter(page).final().first() #h(1fr)])
#set text(font: "Libertinus Serif", size: 10.5pt, lang: "en", number-type: "lining")
#set par(justify: true, leading: 0.6em)
#set heading(numbering: "1.1")
#show heading.where(level: 1, outlined: true): it => { pagebreak(weak: true); v(0.2em); it; v(0.3em) }
#show figure.where(kind: table): set figure.caption(position: top)
#show figure.caption: set text(size: 9pt)
#show table: set text(number-width: "tabular", hyphenate: false)
#show table: set par(justify: false)
#show list: set par(justify: false)
#show link: set text(fill: rgb("#1a4f8a"))
#set figure(gap: 0.6em)
#show raw: set text(font: "DejaVu Sans Mono", size: 8.5pt)
"""
# the running header names the current section without a package: the last level-1 heading so far
_PREAMBLE = _PREAMBLE.replace(
    "#hydra-title",
    "#{ let sel = heading.where(level: 1, outlined: true); "
    "let here-page = here().page(); "
    "let on = query(sel).filter(h => h.location().page() == here-page); "
    "let before = query(sel.before(here())); "
    "if on.len() > 0 { on.first().body } else if before.len() > 0 { before.last().body } }",
)


# ---------------------------------------------------------------------------------------------
# the document
# ---------------------------------------------------------------------------------------------


def _versions() -> list[dict[str, str]]:
    from importlib import metadata

    rows = [
        {"package": "Python", "version": platform.python_version()},
        {"package": "fastclust", "version": __version__},
    ]
    for dist in ("numpy", "scipy", "scikit-learn", "numba", "matplotlib", "pillow", "typst"):
        try:
            v = metadata.version(dist)
        except metadata.PackageNotFoundError:
            v = "not installed"
        rows.append({"package": dist, "version": v})
    return rows


def machine_description() -> list[dict[str, str]]:
    """What the run ran on: ``[{"what": ..., "value": ...}]`` (platform, CPU, cores, memory, load, backend)."""
    from ._backends import numba_available

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    cores = str(os.cpu_count())
    if hasattr(os, "sched_getaffinity"):
        cores += f" ({len(os.sched_getaffinity(0))} usable by this process)"
    rows = [
        {"what": "platform", "value": platform.platform()},
        {"what": "CPU", "value": cpu},
        {"what": "logical cores", "value": cores},
    ]
    if mem:
        rows.append({"what": "memory", "value": mem})
    if hasattr(os, "getloadavg"):
        rows.append(
            {"what": "load average (1, 5, 15 min) at the end", "value": ", ".join(f"{x:.2f}" for x in os.getloadavg())}
        )
    if numba_available():
        import numba

        rows.append({"what": "kernels", "value": f"numba {numba.__version__}, {numba.get_num_threads()} threads"})
    else:
        rows.append({"what": "kernels", "value": "numpy reference backend (numba not installed)"})
    return rows


def _command(data: str | Path | None, out: Path, quick: bool, seed: int) -> str:
    """The command line that made this report, as a user would type it again."""
    argv = list(sys.argv)
    name = Path(argv[0]).name if argv else ""
    if name == "run_all.py":
        script = Path(argv[0])
        with contextlib.suppress(ValueError):
            script = script.resolve().relative_to(Path.cwd())
        return shlex.join(["python", str(script), *argv[1:]])
    if name in ("fastclust", "__main__.py") and "report" in argv[1:2]:
        return shlex.join(["fastclust" if name == "fastclust" else "python -m fastclust", *argv[1:]]).replace(
            "'python -m fastclust'", "python -m fastclust"
        )
    args = [f"{data!r}", f"{str(out)!r}", f"quick={quick}", f"seed={seed}"]
    return f"fastclust.report.build_report({', '.join(args)})  (called from {name or 'Python'})"


def _kv_table(name: str, title: str, rows: list[dict[str, str]], k: str, v: str, klabel: str, vlabel: str) -> Table:
    return Table(name, title, [Column(k, klabel, role="key"), Column(v, vlabel)], rows)


@dataclass
class _Doc:
    """The document as Typst source (``parts``) and as Markdown (``md``), built in one pass.

    Tables and figures are numbered in order of appearance, as Typst numbers them (tables and
    figures separately), so ``summary.md`` can say "Table 4" where the PDF does. References in
    the Markdown are resolved when it is written (:meth:`markdown`), since text may refer to a
    table that comes later.
    """

    parts: list[str] = field(default_factory=list)
    md: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    numbers: dict[str, str] = field(default_factory=dict)

    def _number(self, label: str, kind: str) -> str:
        n = sum(v.startswith(kind) for v in self.numbers.values()) + 1
        self.numbers[label] = f"{kind} {n}"
        return self.numbers[label]

    def heading(self, text: str, level: int = 1) -> None:
        self.parts.append("=" * level + " " + _txt(text) + "\n\n")
        self.md.append("#" * (level + 1) + " " + text + "\n")

    def para(self, *parts: str) -> None:
        self.parts.append(_para(*parts))
        self.md.append("".join(_md_text(p) for p in parts) + "\n")

    def table(self, table: Table, *, blocks: bool = False, **kwargs: Any) -> None:
        """A numbered table; ``blocks`` sets it as one sub-table per value of its first key (:func:`_typst_blocks`)."""
        self.parts.append(_typst_blocks(table, **kwargs) if blocks else _typst_table(table, **kwargs))
        self.tables.append(table)
        number = self._number(kwargs.get("label") or f"tab-{_label(table.name)}", "Table")
        self.md.append(_md_table(table, number))

    def figure_beside_table(self, path: str, caption: str, label: str, table: Table, **kwargs: Any) -> None:
        """A plot and the table of its numbers side by side: they read together and stay on one page."""
        figure = _typst_figure(path, caption, label)
        # a float: at the top or bottom of this page if it fits, else atop the next, while the text
        # flows on (a fixed block that does not fit would leave the rest of this page blank)
        self.parts.append(
            "#place(auto, float: true, clearance: 1.2em, grid(columns: (3fr, 2fr), column-gutter: 12pt, "
            f"align: horizon,\n[{figure}], [{_typst_table(table, **kwargs)}]))\n\n"
        )
        self.md.append(f"![{self._number(label, 'Figure')}: {caption}]({path})\n")
        self.tables.append(table)
        self.md.append(_md_table(table, self._number(f"tab-{_label(table.name)}", "Table")))

    def figure(self, path: str, caption: str, label: str, width: str = "100%") -> None:
        self.parts.append(_typst_figure(path, caption, label, width))
        self.md.append(f"![{self._number(label, 'Figure')}: {caption}]({path})\n")

    def raw(self, markup: str, md: str = "", figure_label: str = "") -> None:
        """Typst markup as is; ``figure_label`` numbers it as a figure, and ``md`` may say ``{number}``."""
        self.parts.append(markup)
        number = self._number(figure_label, "Figure") if figure_label else ""
        if md:
            self.md.append(md.replace("{number}", number))

    def markdown(self) -> str:
        """``summary.md``: references become "Table 4", "Figure 2", as in the PDF."""

        def resolve(m: re.Match[str]) -> str:
            label = f"{m.group(1)}-{m.group(2)}"
            return self.numbers.get(label, f"{'table' if m.group(1) == 'tab' else 'figure'} {m.group(2)}")

        return re.sub(r"@(tab|fig)-([A-Za-z0-9_-]*[A-Za-z0-9])", resolve, "\n".join(self.md))


_STUDY_PREFIXES = ("q3_", "q4_", "q5_", "mnist_")


def _md_text(part: str) -> str:
    """Markup as Markdown: references stay ``@tab-...`` until :meth:`_Doc.markdown`; math is written out plainly."""
    if isinstance(part, M):
        text = str(part)
        words = re.findall(r"#box\[`([^`]*)`\]", text)
        if words:  # a command of :func:`_cmd`
            return "`" + " ".join(words) + "`"
        text = re.sub(r"#super\[(\d+)\]", lambda m: m.group(1).translate(_SUPERSCRIPT), text)
        if text.startswith("$") and text.endswith("$"):  # Typst math, written out plainly
            text = text.strip("$").replace("tau", "τ").replace("\\/", "/")
        return text.replace("*", "**") if text.strip() == "*" else text
    return part


def _md_table(table: Table, number: str) -> str:
    header = table.header()
    cols = table.columns
    source = f" (`{table.name}.csv`)" if table.name.startswith(_STUDY_PREFIXES) else ""
    title = f"{number}: {table.title}" if table.title else number
    lines = [f"**{title}**{source}", "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---:" if c.numeric else "---" for c in cols) + "|")
    lines += ["| " + " | ".join(r) + " |" for r in table.display_cells()]
    if table.note:
        lines += ["", f"_{table.note}_"]
    return "\n".join(lines) + "\n"


def _cmd(text: str) -> M:
    """A command set as code that breaks only between its words: never inside ``-k`` or a path."""
    return M(" ".join(f"#box[{_raw(word)}]" for word in text.split(" ")))


def _raw(text: str) -> str:
    """Inline Typst raw text (backticks in ``text`` are not expected: commands and paths)."""
    return f"`{text}`"


def _ref(kind: str, name: str) -> M:
    return M(f"@{kind}-{_label(name)}")


def _refs(refs: Sequence[M]) -> list[str]:
    """``A``, ``A and B``, ``A, B and C``."""
    out: list[str] = []
    for i, r in enumerate(refs):
        if i:
            out.append(" and " if i == len(refs) - 1 else ", ")
        out.append(r)
    return out


@dataclass
class _Results:
    inputs: Inputs
    plan: fc_course.Plan
    seed: int
    quick: bool
    command: str
    q3: fc_course.Q3Study
    q4: fc_course.Q4Study
    q5: fc_course.Q5Study
    mnist: fc_course.MnistStudy
    compile_seconds: float
    timings: list[dict[str, Any]]
    recorded: list[dict[str, str]]
    started: datetime


def _page_one(doc: _Doc, r: _Results, out: Path) -> None:
    title = "Clustering homework: image compression, spectral clustering, vector quantization and MNIST"
    doc.raw(
        f'#align(center)[#set par(justify: false); #text(size: 16pt, weight: "bold", hyphenate: false)[{_txt(title)}]\n#v(0.3em)\n'
        f"#text(size: 10pt)[{_txt(f'Made by fastclust {__version__} on {r.started:%Y-%m-%d %H:%M} UTC')}]]\n#v(0.6em)\n",
        f"# {title}\n\nMade by fastclust {__version__} on {r.started:%Y-%m-%d %H:%M} UTC.\n",
    )
    mode = "full" if not r.quick else "quick (smaller grids, for a smoke test: not the homework's sizes)"
    p = r.plan
    doc.para(
        _ref("tab", "run"),
        " gives the command that made this report and its seed, ",
        _ref("tab", "inputs"),
        " every input with the substitutions made for missing course files, and ",
        _ref("tab", "versions"),
        " the package versions. The timings and the machine are in the appendix.",
    )
    run_rows = [
        {"what": "command", "value": r.command},
        {"what": "working folder", "value": str(Path.cwd())},
        {"what": "output folder", "value": str(out)},
        {"what": "seed", "value": f"{r.seed} (each study draws from its own child stream of it)"},
        {"what": "mode", "value": mode},
        {
            "what": "sizes",
            "value": f"Q3 k = {', '.join(map(str, p.q3_ks))}, best of {p.q3_n_seeds} seeds; Q4 k = "
            f"{', '.join(map(str, p.q4_ks))}, tuned over {fc_course.ks_text(p.q4_tune_ks)}; Q5 k = "
            f"{', '.join(map(str, p.q5_ks))}; MNIST k = {', '.join(map(str, p.mnist_ks))}",
        },
    ]
    doc.table(
        _kv_table("run", "The run that made this report", run_rows, "what", "value", "", ""),
        size="8.5pt",
        widths=("auto", "1fr"),
    )
    inputs = Table(
        "inputs",
        "Inputs, and whether each is the course's file or a substitute",
        [
            Column("role", "used for", role="key"),
            Column("source", "source"),
            Column("details", "details"),
            Column("origin", "origin"),
        ],
        r.inputs.rows,
    )
    doc.table(inputs, size="8pt", widths=("auto", "1fr", "auto", "auto"))
    subs = r.inputs.substitutions
    if subs:
        doc.para(f"Substitutions ({len(subs)}): every input below replaces a course file that was not found.")
        doc.raw("".join(f"- {_txt(s)}\n" for s in subs) + "\n", "".join(f"- {s}\n" for s in subs))
    else:
        doc.para("Substitutions: none. Every course file was found.")
    doc.table(
        _kv_table("versions", "Package versions", _versions(), "package", "version", "package", "version"), size="8pt"
    )
    doc.raw("#outline(depth: 1, indent: 1em)\n\n")


def _titled(table: Table, about: str) -> Table:
    """``table`` with ``about`` (what stands in for a course file) added to its caption: PDF and summary.md alike."""
    return dataclasses.replace(table, title=f"{table.title} ({about})") if about else table


def _about(caption: str, about: str) -> str:
    """A figure caption that says what stands in for a course file, before its closing full stop."""
    return f"{caption.removesuffix('.')} ({about})." if about else caption


def _standins(r: _Results) -> dict[str, str]:
    """Per section, a short phrase naming the stand-in it runs on ("" where the course's file was used)."""
    plan = r.inputs.plan
    bundled = plan.folder is None or any(p.parent != plan.folder for p in plan.image_paths)
    q3 = (
        "stand-in images"
        if bundled
        else "; ".join(f"{name} stands in for {c}" for name, c in plan.stands_in_for.items())
    )
    return {
        "q3": q3,
        "q4": "" if plan.nodes is not None else "generated stand-in graph",
        "q5": "" if plan.embeddings is not None else "synthetic stand-in for AImodel.npy",
    }


def _image_about(plan: InputPlan, name: str, about: str) -> str:
    """What one Q3 picture stands in for: only the image that replaces a course image says so."""
    if about.startswith("stand-in"):
        return "a stand-in image, not the course's"
    return f"stands in for {plan.stands_in_for[name]}" if name in plan.stands_in_for else ""


def _notice(text: str) -> list[str]:
    """A bold lead sentence that says a section does not run on the course's file."""
    return [M("*"), text, M("* ")]


def _q3_section(doc: _Doc, r: _Results, figs: dict[str, str]) -> None:
    q3 = r.q3
    about = _standins(r)["q3"]
    plan = r.inputs.plan
    doc.heading("Q3 Image compression")
    notice: list[str] = []
    if about.startswith("stand-in"):
        notice = _notice(
            "No course image was found, so this section runs on stand-ins: "
            + ", ".join(p.name for p in plan.image_paths)
            + ", sample photos that ship with scikit-learn and matplotlib."
        )
    elif plan.stands_in_for:
        notice = _notice(
            "; ".join(
                f"{c} was not found, so {name}, from the same folder, stands in for it"
                for name, c in plan.stands_in_for.items()
            )
            + "."
        )
    sizes = "; ".join(
        f"{name}: {q3.sizes[name][1]}x{q3.sizes[name][0]} pixels, {len(q3.prepared[name].counts):,} distinct colours"
        for name in q3.images
    )
    doc.para(
        *notice,
        f"Each image is compressed to k colours for k = {', '.join(map(str, q3.ks))} by k-means (L2: squared "
        "Euclidean distance, centroids are means) and k-medians (L1: Manhattan distance, centroids are "
        "coordinate-wise medians). The initial centroids are k distinct random pixels; a run stops when an "
        "assignment round changes no label, and the iterations column counts those rounds. Clusters that "
        f"empty are dropped, so the final k can be smaller. Images: {sizes}. "
        f"Every cell was run with {len(q3.seeds)} seeds ({', '.join(map(str, q3.seeds))}) and the run with the "
        "lowest objective of its own metric is kept; ",
        _ref("tab", "q3_grid"),
        " gives its seed, iterations and seconds (compiled kernels warmed up first, so no compilation is "
        "timed). The command ",
        _cmd("fastclust quantize IMAGE -k K --metric M --seed S"),
        " repeats any cell. ",
        *_refs([_ref("fig", f"q3-{_stem(name)}") for name in q3.images]),
        " show the kept reconstructions.",
    )
    for name in q3.images:
        one = _image_about(plan, name, about)
        doc.raw(_recon_figure(q3, name, figs, one), _recon_markdown(q3, name, figs, one), f"fig-q3-{_stem(name)}")
    doc.table(_titled(q3.grid_table(), about), size="8pt")
    doc.heading("L1 against L2", 2)
    doc.para(
        _ref("tab", "q3_l1_vs_l2"),
        " sets the two metrics side by side for every (image, k). ",
        *[c + " " for c in q3.commentary()],
    )
    doc.table(_titled(q3.l1_vs_l2_table(), about), size="8pt")
    doc.heading("Choosing k", 2)
    doc.para(
        "Method: the elbow of distortion against rate. For every image the kept L2 and L1 runs of ",
        _ref("tab", "q3_grid"),
        " give the MSE at each k (no extra fits). The rate is log2 k bits per pixel, what an index costs "
        "(a whole-bit index rounds it up); the candidate ks double, so they are equally spaced in rate. "
        "Each metric's curve of MSE against log2 k is scaled to [0, 1] on both axes, and every k is scored by "
        "the curve's height above the chord from the first to the last k (Kneedle, Satopää et al. 2011): the "
        "knee, the k that scores highest, is where one more bit per pixel stops buying a comparable drop in "
        "error. One k per image: the k whose score, averaged over L2 and L1, is highest. A lead of less than "
        f"{fc_course.SLIM_MARGIN} over the runner-up is called slim. ",
        _ref("fig", "q3-choose-k"),
        " plots the curves with each metric's knee and the recommended k; ",
        _ref("tab", "q3_best_k"),
        " lists the scores. ",
        *[c + " " for c in q3.choose_commentary()],
    )
    doc.figure(
        figs["q3_choose_k"],
        _about(
            "Q3: choosing k, distortion against rate. One panel per image: MSE against k on a log2 axis, so each "
            "step is one more bit per pixel; L2 solid, L1 dashed. Filled star: the knee of L2; open diamond: the "
            "knee of L1 (the two shapes overlap where both knees fall on one k); grey band: the recommended k.",
            about,
        ),
        "fig-q3-choose-k",
    )
    doc.table(_titled(q3.choose_table(), about), size="8.5pt")


def _recon_markdown(q3: fc_course.Q3Study, name: str, figs: dict[str, str], about: str = "") -> str:
    suffix = f" ({about})" if about else ""
    lines = [
        f"**{{number}}: {name}, the original and the kept reconstructions{suffix}** "
        f"![original]({figs[f'q3:{name}:original']})",
        "",
        "| | " + " | ".join(f"k = {k}" for k in q3.ks) + " |",
        "|---|" + "---|" * len(q3.ks),
    ]
    for metric in q3.metrics:
        cells = [
            f"![{metric.upper()} k={k}]({figs[f'q3:{name}:{metric}:{k}']}) {q3.cell(name, metric, k).result.psnr:.2f} dB"
            for k in q3.ks
        ]
        lines.append(f"| {metric.upper()} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _recon_figure(q3: fc_course.Q3Study, name: str, figs: dict[str, str], about: str = "") -> str:
    n = len(q3.ks)
    h, w = q3.sizes[name][:2]
    # tall pictures are sized by height, so a portrait's figure is no taller than a landscape's
    size = "width: 100%" if h <= 0.8 * w else f"height: {17.0 / (n + 1) * 0.72:.2f}cm"
    cells = ["[]"] + [f"[#text(size: 8pt)[{_txt(f'k = {k}')}]]" for k in q3.ks]
    first = True
    for metric in q3.metrics:
        if first:
            cells.append(
                f"grid.cell(rowspan: {len(q3.metrics)}, align: horizon)"
                f"[#stack(spacing: 2pt, image({_lit(figs[f'q3:{name}:original'])}, {size}), "
                f"text(size: 7.5pt)[{_txt('original')}])]"
            )
            first = False
        for k in q3.ks:
            res = q3.cell(name, metric, k).result
            cells.append(
                f"[#stack(spacing: 2pt, image({_lit(figs[f'q3:{name}:{metric}:{k}'])}, {size}), "
                f"text(size: 7pt)[{_txt(f'{metric.upper()}: {res.psnr:.2f} dB'.replace('-', '−'))}])]"
            )
    body = ", ".join(cells)
    caption = _about(
        f"Q3: {name}, the original and its kept reconstructions, L2 (k-means) in the upper row and L1 (k-medians) "
        f"in the lower, with their PSNR.",
        about,
    )
    return (
        f"#figure(grid(columns: {n + 1}, column-gutter: 3pt, row-gutter: 7pt, align: center, {body}), "
        f"caption: [{_txt(caption)}]) <fig-q3-{_stem(name)}>\n\n"
    )


def _q4_section(doc: _Doc, r: _Results, figs: dict[str, str], out: Path) -> None:
    q4 = r.q4
    about = _standins(r)["q4"]
    doc.heading("Q4 Spectral clustering of the political blogs")
    if about:
        saved = out / "inputs"
        notice = [
            *_notice(
                "No nodes.txt/edges.txt was found, so this section runs on a generated stand-in graph: every "
                "number below is about it, not the political blogs."
            ),
            "It is a two-party blog graph in the course's file format, made by ",
            _cmd("fastclust.demo.write_blog_like_graph"),
            f" (seed {r.seed}) and saved as {saved / 'nodes.txt'} and {saved / 'edges.txt'}. ",
        ]
        nodes, edges = shlex.quote(str(saved / "nodes.txt")), shlex.quote(str(saved / "edges.txt"))
    else:
        notice = []
        nodes, edges = "nodes.txt", "edges.txt"
    doc.para(
        *notice,
        "The graph is read from nodes.txt and edges.txt; links become undirected edges, repeated and reciprocal "
        "links merge, self-loops are dropped, and blogs without any link are removed (they carry no information "
        "for a graph method). ",
        _ref("tab", "q4_graph"),
        " counts what was kept. Clustering uses the regularized normalized Laplacian (Qin and Rohe 2013): the "
        "top k eigenvectors of ",
        M("$(D + tau I)^(-1\\/2) A (D + tau I)^(-1\\/2)$"),
        " with ",
        M("$tau$"),
        " the mean degree, rows scaled to unit length, then k-means++ with 10 restarts, keeping the lowest "
        f"objective. The seed is {q4.seed}; each k gives exactly the labels of ",
        _cmd(f"fastclust spectral {nodes} {edges} -k K --seed {q4.seed}"),
        " and of the Gradescope class. Each cluster's majority label is the label most of its blogs carry (0 = "
        "liberal, 1 = conservative); its mismatch rate is the share of its blogs with the other label, and the "
        "overall rate is mismatched blogs over all kept blogs.",
    )
    doc.table(_titled(q4.graph_table(), about), size="8.5pt")
    doc.para(
        _ref("tab", "q4_overall"),
        f" gives the overall rate for k = {', '.join(map(str, q4.ks))}, and ",
        _ref("tab", "q4_clusters"),
        " (with the discussion of community structure) every cluster's majority label and mismatch rate. ",
        *[c + " " for c in q4.split_commentary()],
    )
    doc.table(_titled(q4.overall_table(), about), size="8.5pt")
    doc.heading("Tuning k", 2)
    doc.para(
        f"Rule: {q4.rule}. At k = n every blog would be a pure cluster of its own and the rate 0, so the lowest "
        "rate alone is not the aim: the rule keeps the fewest clusters that do almost as well as any k tried. ",
        _ref("fig", "q4-tuning"),
        " plots the curve and ",
        _ref("tab", "q4_tuning"),
        " lists it. ",
        *[c + " " for c in q4.tuning_commentary()],
    )
    doc.figure_beside_table(
        figs["q4_tuning"],
        _about(
            f"Q4: overall mismatch rate against k (regularized Laplacian, seed {q4.seed}); "
            f"dashed: the chosen k = {q4.chosen_k}; dotted: the lowest rate + {q4.tolerance}; squares: the k "
            "whose clusters are tabulated above.",
            about,
        ),
        "fig-q4-tuning",
        _titled(q4.tune_table(), about),
        size="7.5pt",
    )
    doc.heading("What the clusters say about the blogs", 2)
    doc.para(
        _ref("tab", "q4_clusters"),
        " lists every cluster of every k. ",
        *[c + " " for c in q4.community_commentary()],
    )
    doc.table(_titled(q4.clusters_table(), about), size="7.5pt", blocks=True)


def _q5_section(doc: _Doc, r: _Results, figs: dict[str, str]) -> None:
    q5 = r.q5
    about = _standins(r)["q5"]
    plan = r.inputs.plan
    doc.heading("Q5 Vector quantization of an embedding table")
    if about:
        notice = [
            *_notice(
                "AImodel.npy was not found, so this section runs on synthetic stand-in embeddings: every number "
                "below is about them, not the course's table."
            ),
            "They are ",
            _cmd(f"fastclust.vq.make_embeddings(10000, 64, n_topics=32, seed={r.seed})"),
            ": unit directions around 32 topics, with varied lengths. ",
        ]
        again = [
            _cmd(f"fastclust demo-data DIR --seed {r.seed}"),
            " writes this same table as DIR/AImodel.npy (with the other stand-ins), and ",
            _cmd(f"fastclust vq DIR/AImodel.npy -k K --seed {q5.seed} -o codes.npz"),
            " then gives this section's codebook for each k",
        ]
    else:
        notice = []
        again = [
            _cmd(f"fastclust vq {shlex.quote(str(plan.embeddings))} -k K --seed {q5.seed} -o codes.npz"),
            " gives the same codebook for each k",
        ]
    doc.para(
        *notice,
        f"The table has {q5.n:,} rows of {q5.d} float32 numbers. Vector quantization keeps a codebook of k rows and "
        "one index per row. Rows are scaled to unit length before clustering, because embeddings are compared by "
        "cosine: direction is what must survive. The codebook comes from k-means++ and Lloyd rounds to "
        f"convergence (seed {q5.seed}); ",
        *again,
        ". Memory follows the course's rule: 4 bytes per float32 number, 1 byte per index, MB = ",
        M("2#super[20]"),
        " bytes, to 4 decimals; the average cosine is the mean cosine similarity of each row to its codeword. ",
        _ref("tab", "q5_answer"),
        f" answers the question at k = {q5.main_k}; ",
        _ref("tab", "q5_sweep"),
        " and ",
        _ref("fig", "q5"),
        f" cover k = {', '.join(map(str, q5.ks))}.",
    )
    doc.table(_titled(q5.answer_table(), about), size="9pt")
    doc.table(_titled(q5.sweep_table(), about), size="8pt")
    doc.figure(
        figs["q5"],
        _about(
            "Q5: (a) memory after compression against k, under the course's 1-byte rule and as "
            "stored; (b) average cosine similarity against k.",
            about,
        ),
        "fig-q5",
    )
    doc.heading("The trade-off", 2)
    doc.para(*[c + " " for c in q5.commentary()])


def _mnist_section(doc: _Doc, r: _Results, figs: dict[str, str]) -> None:
    mn = r.mnist
    name = "MNIST" if not mn.standin else "MNIST study on an 8x8 stand-in"
    doc.heading(f"{name}: k-means as a digit classifier")
    if mn.standin:
        doc.para(
            *_notice(
                "No MNIST was found, so this section runs on scikit-learn's 8x8 digits, a stand-in: every "
                "number and title below is about those, not MNIST."
            ),
            "Point the report at MNIST with --data DIR (DIR/mnist or DIR/../mnist) or $FASTCLUST_MNIST.",
        )
    h, w = mn.image_shape
    source = r.inputs.digits.source
    file = re.search(r"\(([^()]*)\)", source)
    origin = f"MNIST's t10k test file ({file.group(1) if file else source})" if "t10k" in source else source
    kept = (
        f"the first {mn.n_images:,} images"
        if mn.n_images < len(r.inputs.digits.labels)
        else f"the {mn.n_images:,} images"
    )
    doc.para(
        f"Data: {kept} of {origin}, {w}x{h} pixels, split at random into {mn.n_train:,} for "
        f"training and {mn.n_test:,} held out. Each cluster is labelled with the majority digit of its training "
        "images, and a held-out image is predicted as its nearest centroid's label. The classic notebook trains on "
        f"{mn.n_subset // 10} images of each digit ({mn.n_subset:,} in all) with k = {mn.notebook_k} and starts from "
        "random Gaussian centroids (each pixel drawn with the data's mean and standard deviation). ",
        _ref("tab", "mnist_notebook"),
        " repeats that protocol next to a start from random data points, with the iteration count the notebook "
        "printed beside the true one. ",
        _ref("tab", "mnist_init_sweep"),
        " compares the two starts, and k-means++, across k on the same images, and ",
        _ref("tab", "mnist_full"),
        " trains k-means++ on the whole training split. ",
        _ref("fig", "mnist-accuracy"),
        " plots all three; ",
        _ref("fig", "mnist-centroids"),
        " shows the centroids.",
    )
    doc.table(mn.notebook_table(), size="8pt")
    doc.table(mn.sweep_table(), size="8pt")
    doc.table(mn.full_table(), size="8pt")
    doc.figure(
        figs["mnist_accuracy"],
        f"{mn.label}: held-out accuracy against k for each initialisation.",
        "fig-mnist-accuracy",
    )
    doc.raw(
        _centroid_figure(mn, figs),
        f"{{number}}: {mn.label}: the centroids ({mn.centroid_source}), with the digit each predicts: "
        + " ".join(f"![{label}]({figs[f'mnist:centroid:{i}']})" for i, label in enumerate(mn.centroid_labels))
        + "\n",
        "fig-mnist-centroids",
    )
    doc.heading("Findings", 2)
    doc.para(*[c + " " for c in mn.commentary()])


def _centroid_figure(mn: fc_course.MnistStudy, figs: dict[str, str]) -> str:
    cells = []
    for i, label in enumerate(mn.centroid_labels):
        cells.append(
            f"[#stack(spacing: 2pt, image({_lit(figs[f'mnist:centroid:{i}'])}, width: 100%), "
            f"text(size: 7pt)[{_txt(f'digit {label}')}])]"
        )
    caption = f"{mn.label}: the centroids ({mn.centroid_source}) with the digit each one predicts."
    return (
        f"#figure(grid(columns: 10, column-gutter: 4pt, row-gutter: 7pt, align: center, {', '.join(cells)}), "
        f"caption: [{_txt(caption)}]) <fig-mnist-centroids>\n\n"
    )


def _appendix(doc: _Doc, r: _Results) -> None:
    doc.heading("Appendix: the run")
    timing = Table(
        "run_timings",
        "Wall-clock seconds per step (compiled kernels already warm)",
        [
            Column("step", "step", role="key"),
            Column("seconds", "seconds", ".2f", role="time"),
            Column("what", "what it covers"),
        ],
        r.timings,
        note="Typesetting this PDF and writing the files come after this table was made. run_timings.csv times "
        f"them too: its last row, '{_WALL_CLOCK}', runs from start to finish, compilation included, so it is "
        "larger than this table's sum.",
    )
    doc.para(
        _ref("tab", "run_timings"),
        " gives the time of every step. Kernel compilation (or loading numba's cache) is not in it: ",
        _ref("tab", "compile"),
        f" gives it, {r.compile_seconds:.2f} s before the first timed step. ",
        _ref("tab", "machine"),
        " describes the machine. Per-run seconds are in ",
        _ref("tab", "q3_grid"),
        ", ",
        _ref("tab", "q4_overall"),
        ", ",
        _ref("tab", "q5_sweep"),
        " and the MNIST tables.",
    )
    doc.table(timing, size="8.5pt")
    compile_table = Table(
        "compile",
        "Kernel compilation, timed separately",
        [Column("what", "", role="key"), Column("seconds", "seconds", ".2f", role="time")],
        [{"what": "compile or load the numba kernels (tiny warm-up fits)", "seconds": r.compile_seconds}],
    )
    doc.table(compile_table, size="8.5pt")
    if r.recorded:
        counts: dict[tuple[str, str], int] = {}
        for w in r.recorded:
            counts[(w["step"], w["warning"])] = counts.get((w["step"], w["warning"]), 0) + 1
        rows = [{"step": s, "warning": m, "times": n} for (s, m), n in counts.items()]
        doc.para("During the run fastclust raised these warnings (", _ref("tab", "warnings"), "):")
        doc.table(
            Table(
                "warnings",
                "Warnings raised during the run",
                [Column("step", "step", role="key"), Column("warning", "warning"), Column("times", "times", "d")],
                rows,
            ),
            size="8pt",
        )
    else:
        doc.para("During the run fastclust raised no warnings.")
    doc.table(
        _kv_table("machine", "The machine", machine_description(), "what", "value", "", ""),
        size="8.5pt",
        widths=("auto", "1fr"),
    )


def _document(r: _Results, figs: dict[str, str], out: Path) -> _Doc:
    doc = _Doc()
    _page_one(doc, r, out)
    _q3_section(doc, r, figs)
    _q4_section(doc, r, figs, out)
    _q5_section(doc, r, figs)
    _mnist_section(doc, r, figs)
    _appendix(doc, r)
    return doc


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------


def _csv_bytes(table: Table, roles: Sequence[str]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    cols = [c for c in table.columns if c.role in roles]
    writer.writerow([c.csv_key for c in cols])
    writer.writerows(table.cells(roles))
    return buf.getvalue().encode("utf-8")


def _write_tables(stage: _Stage, tables: Sequence[Table]) -> None:
    """``NAME.csv`` holds the deterministic columns, ``NAME_timings.csv`` the wall-clock ones."""
    for t in tables:
        if any(c.role == "value" for c in t.columns):
            stage.write_bytes(f"{t.name}.csv", _csv_bytes(t, ("key", "value")))
        if t.has_timings:
            stage.write_bytes(f"{t.name.removesuffix('_timings')}_timings.csv", _csv_bytes(t, ("key", "time")))


def _typst_pdf(source: str, root: Path) -> bytes:
    try:
        import typst
    except ImportError as exc:  # pragma: no cover - checked at the start of build_report
        raise FastclustError("the PDF needs the 'typst' package: pip install 'fastclust[reports]'") from exc
    main = root / "report.typ"
    return typst.compile(str(main), root=str(root), ignore_system_fonts=True)


def _require_typst() -> None:
    try:
        import typst  # noqa: F401
    except ImportError:
        raise FastclustError(
            "the report's PDF is typeset with Typst: install it with pip install 'fastclust[reports]' (or pip install typst)"
        ) from None


def build_report(
    data: str | Path | None = None,
    out: str | Path = "reports/out",
    *,
    quick: bool = False,
    seed: int = 0,
    progress: ProgressFn | Callable[[str], None] | None = None,
) -> Path:
    """Make every deliverable under ``out`` (relative to the current folder); return the path of ``report.pdf``.

    ``progress(label, done, total)``: see the module docstring and :data:`STEPS`.
    Raises :class:`FastclustError` before computing anything if ``out`` cannot be
    written, a ``data`` folder is missing, Typst is not installed, or ``seed``
    is not a non-negative integer.
    """
    t_start = perf_counter()
    started = datetime.now(timezone.utc)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise FastclustError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    _require_typst()
    out = Path(out)
    input_plan = locate_inputs(data)  # a wrong --data fails here, before the output folder is touched
    stage = _Stage(out)  # a read-only --out fails here, before anything is computed
    try:
        return _run(stage, input_plan, data, out, quick, seed, progress, t_start, started)
    except BaseException:
        stage.discard()
        raise


def _run(
    stage: _Stage,
    input_plan: InputPlan,
    data: str | Path | None,
    out: Path,
    quick: bool,
    seed: int,
    progress: ProgressFn | Callable[[str], None] | None,
    t_start: float,
    started: datetime,
) -> Path:
    plan = fc_course.plan(quick)
    n_images = len(input_plan.image_paths)
    n_figures = 4 + n_images * (1 + len(plan.q3_metrics) * len(plan.q3_ks)) + 1  # plots, pictures, centroid tiles
    units = {
        "inputs": 1,
        "compiling kernels": 1,
        "Q3 image compression": plan.q3_units(n_images),
        "Q4 spectral clustering": plan.q4_units(),
        "Q5 vector quantization": plan.q5_units(),
        "MNIST study": plan.mnist_units(),
        "figures": n_figures,
        "typesetting": 2,
    }
    bar = _Progress(progress, sum(units.values()))
    timings: list[dict[str, Any]] = []
    recorded: list[dict[str, str]] = []

    def timed(label: str, what: str, fn: Callable[[], Any]) -> Any:
        bar.step(label)
        t0 = perf_counter()
        with _recording(label, recorded):
            result = fn()
        timings.append({"step": label, "seconds": perf_counter() - t0, "what": what})
        return result

    def inputs_step() -> Inputs:
        loaded = load_inputs(input_plan, stage.dir, seed, shown_dir=out)
        if input_plan.nodes is None:
            stage.adopt("inputs/nodes.txt")
            stage.adopt("inputs/edges.txt")
        bar.tick()
        return loaded

    # compile (or load from numba's cache) every kernel first, so no timed step includes compilation
    bar.step("compiling kernels")
    t0 = perf_counter()
    with _recording("compiling kernels", recorded):
        fc_course.warm_up()
    compile_seconds = perf_counter() - t0
    bar.tick()

    inputs: Inputs = timed("inputs", "find and load the inputs (and generate the missing ones)", inputs_step)

    q3 = timed(
        "Q3 image compression",
        f"{n_images} images x {len(plan.q3_ks)} k x {len(plan.q3_metrics)} metrics x {plan.q3_n_seeds} seeds",
        lambda: fc_course.q3_study(
            inputs.images, ks=plan.q3_ks, metrics=plan.q3_metrics, n_seeds=plan.q3_n_seeds, seed=seed, tick=bar.tick
        ),
    )
    q4 = timed(
        "Q4 spectral clustering",
        f"one eigensolve, then {len(set(plan.q4_ks) | set(plan.q4_tune_ks))} values of k (10 restarts each)",
        lambda: fc_course.q4_study(
            inputs.graph, ks=plan.q4_ks, tune_ks=plan.q4_tune_ks, tolerance=plan.q4_tolerance, seed=seed, tick=bar.tick
        ),
    )
    q5 = timed(
        "Q5 vector quantization",
        f"one codebook per k = {', '.join(map(str, plan.q5_ks))}",
        lambda: fc_course.q5_study(inputs.embeddings, ks=plan.q5_ks, main_k=plan.q5_main_k, seed=seed, tick=bar.tick),
    )
    mn = timed(
        "MNIST study",
        f"{plan.mnist_units()} classifier fits",
        lambda: fc_course.mnist_study(
            inputs.digits,
            standin=inputs.mnist_standin,
            notebook_k=plan.mnist_notebook_k,
            per_digit=plan.mnist_per_digit,
            ks=plan.mnist_ks,
            full_ks=plan.mnist_full_ks,
            max_images=plan.mnist_max_images,
            seed=seed,
            tick=bar.tick,
        ),
    )
    figs: dict[str, str] = timed(
        "figures", "plots as SVG, pictures as PNG", lambda: _write_figures(stage, q3, q4, q5, mn, bar)
    )
    timings.append(
        {"step": _STEP_SUM, "seconds": sum(t["seconds"] for t in timings), "what": "the steps above, no compilation"}
    )
    results = _Results(
        inputs,
        plan,
        seed,
        quick,
        _command(data, out, quick, seed),
        q3,
        q4,
        q5,
        mn,
        compile_seconds,
        timings,
        recorded,
        started,
    )
    bar.step("typesetting")
    t0 = perf_counter()
    doc = _document(results, figs, out)
    source = _PREAMBLE + "".join(doc.parts)
    stage.write_text("report.typ", source)
    pdf = _typst_pdf(source, stage.dir)
    bar.tick()
    typeset_seconds = perf_counter() - t0
    # the studies' tables; the run's own (command, paths, machine, timings) are in summary.md and run_timings.csv
    _write_tables(stage, [t for t in doc.tables if t.name.startswith(_STUDY_PREFIXES)])
    run_rows = [
        {"step": "compiling kernels", "seconds": compile_seconds},
        *[{"step": t["step"], "seconds": t["seconds"]} for t in timings if t["step"] != _STEP_SUM],
        {"step": "typesetting", "seconds": typeset_seconds},
        {"step": _WALL_CLOCK, "seconds": perf_counter() - t_start},
    ]
    run_table = Table(
        "run", "", [Column("step", "step", role="key"), Column("seconds", "seconds", ".3f", role="time")], run_rows
    )
    stage.write_bytes("run_timings.csv", _csv_bytes(run_table, ("key", "time")))
    stage.write_text("summary.md", doc.markdown())
    stage.write_bytes("report.pdf", pdf)
    stage.commit(last="report.pdf")
    bar.tick()
    return out / "report.pdf"


def _write_figures(
    stage: _Stage,
    q3: fc_course.Q3Study,
    q4: fc_course.Q4Study,
    q5: fc_course.Q5Study,
    mn: fc_course.MnistStudy,
    bar: _Progress,
) -> dict[str, str]:
    figs: dict[str, str] = {}

    def put(key: str, rel: str, data: bytes) -> None:
        stage.write_bytes(rel, data)
        figs[key] = rel

    for name in q3.images:
        stem = _stem(name)
        put(f"q3:{name}:original", f"figures/q3_{stem}_original.png", _png(q3.prepared[name].rgb))
        bar.tick()
        for metric in q3.metrics:
            for k in q3.ks:
                put(
                    f"q3:{name}:{metric}:{k}",
                    f"figures/q3_{stem}_{metric}_k{k}.png",
                    _png(q3.cell(name, metric, k).result.image),
                )
                bar.tick()
    put("q3_choose_k", "figures/q3_choose_k.svg", _fig_choose_k(q3))
    bar.tick()
    put("q4_tuning", "figures/q4_tuning.svg", _fig_q4_tuning(q4))
    bar.tick()
    put("q5", "figures/q5_sweep.svg", _fig_q5(q5))
    bar.tick()
    put("mnist_accuracy", "figures/mnist_accuracy.svg", _fig_mnist_accuracy(mn))
    bar.tick()
    for i, img in enumerate(mn.centroids):
        tile = (255 - np.clip(np.rint(img), 0, 255)).astype(np.uint8)  # dark ink on white paper
        scale = max(1, 112 // tile.shape[0])
        put(
            f"mnist:centroid:{i}",
            f"figures/mnist_centroid_{i:03d}.png",
            _png(np.kron(tile, np.ones((scale, scale), dtype=np.uint8))),
        )
    bar.tick()
    return figs
