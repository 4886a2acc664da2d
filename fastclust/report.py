"""Every homework deliverable in one call: figures, tables and a multi-page PDF.

Used by ``python reports/run_all.py`` and ``fastclust report``. The library does
not print: progress goes to an optional callback, which the two front ends turn
into a progress bar. Outputs are written atomically (temp file + rename), the
PDF last, so an interrupted run never leaves a report that looks complete.
Tables are deterministic for a given seed (byte-identical across runs);
wall-clock seconds live only in files whose name ends in ``_timings``.
"""

from __future__ import annotations

import csv
import io
import os
import platform
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np

from . import digits as fd
from . import graph as fg
from . import image as fi
from . import spectral as fs
from . import vq
from .demo import write_blog_like_graph
from .errors import FastclustError

COURSE_IMAGES = ("football.bmp", "parrots.png")
IMAGE_SUFFIXES = (".bmp", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".webp")
Q4_KS = (2, 5, 10, 30, 50)


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------


@dataclass
class Inputs:
    """What the report runs on, and every substitution made for a missing course file."""

    images: dict[str, np.ndarray]
    nodes: Path
    edges: Path
    embeddings: np.ndarray
    digits: fd.Digits
    sources: list[str] = field(default_factory=list)
    substitutions: list[str] = field(default_factory=list)


def find_data_dir(data: str | Path | None) -> Path | None:
    """``data``, else ``$FASTCLUST_DATA``, else the repo's ``data/`` if it holds a course file."""
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
    repo_data = Path(__file__).resolve().parents[1] / "data"
    names = [*COURSE_IMAGES, "nodes.txt", "edges.txt", "AImodel.npy"]
    if repo_data.is_dir() and any((repo_data / n).exists() for n in names):
        return repo_data
    return None


def _bundled_images() -> dict[str, np.ndarray]:
    import matplotlib
    from sklearn.datasets import load_sample_image

    hopper = fi.load_image(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
    return {
        "china.jpg": load_sample_image("china.jpg"),
        "flower.jpg": load_sample_image("flower.jpg"),
        "grace_hopper.jpg": hopper,
    }


def resolve_inputs(data: str | Path | None, work_dir: Path, seed: int = 0) -> Inputs:
    """Find the course files (see :func:`find_data_dir`); substitute embedded defaults for missing ones."""
    folder = find_data_dir(data)
    subs: list[str] = []
    sources: list[str] = [f"data folder: {folder}" if folder else "data folder: none (embedded defaults)"]

    images: dict[str, np.ndarray] = {}
    if folder is not None:
        named = [folder / n for n in COURSE_IMAGES if (folder / n).exists()]
        others = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p not in named)
        for p in (named + others)[:3]:
            images[p.name] = fi.load_image(p)
        missing = [n for n in COURSE_IMAGES if not (folder / n).exists()]
        if missing and images:
            subs.append(f"course image(s) {', '.join(missing)} not found: used {', '.join(images)} from {folder}")
    if not images:
        images = _bundled_images()
        subs.append("no course images: used scikit-learn's china.jpg and flower.jpg and matplotlib's grace_hopper.jpg")
    sources.append(f"images: {', '.join(f'{k} {v.shape[1]}x{v.shape[0]}' for k, v in images.items())}")

    if folder is not None and (folder / "nodes.txt").exists() and (folder / "edges.txt").exists():
        nodes, edges = folder / "nodes.txt", folder / "edges.txt"
    else:
        nodes, edges = write_blog_like_graph(work_dir / "inputs", seed)
        subs.append("no nodes.txt/edges.txt: used a generated two-party blog graph (1,240 blogs) in the same format")
    sources.append(f"graph: {nodes}, {edges}")

    emb_path = folder / "AImodel.npy" if folder is not None else None
    if emb_path is not None and emb_path.exists():
        embeddings = vq.load_embeddings(emb_path)
    else:
        embeddings = vq.make_embeddings(10_000, 64, n_topics=32, seed=seed)
        subs.append(
            "no AImodel.npy: used seeded synthetic embeddings (10,000 x 64, 32 topics; fastclust.vq.make_embeddings)"
        )
    sources.append(f"embeddings: {embeddings.shape[0]:,} x {embeddings.shape[1]} {embeddings.dtype}")

    mnist_dir = folder / "mnist" if folder is not None else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        digits = fd.load_mnist(mnist_dir if mnist_dir is not None and mnist_dir.exists() else None)
    if any("bundled" in str(w.message) for w in caught):
        subs.append("no MNIST found: used scikit-learn's bundled 8x8 digits")
    sources.append(f"digits: {digits.source}, {len(digits.labels):,} images")
    return Inputs(images, nodes, edges, embeddings, digits, sources, subs)


# ---------------------------------------------------------------------------------------------
# atomic output
# ---------------------------------------------------------------------------------------------


def _atomic_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return "inf" if np.isinf(v) else f"{float(v):.6g}"
    if isinstance(v, (np.integer,)):
        return str(int(v))
    return str(v)


class Outputs:
    """Collects tables, figures and summary sections; writes each file atomically."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.figures: list[tuple[str, Any]] = []
        self.tables: list[tuple[str, str, list[dict[str, Any]]]] = []
        self.sections: list[str] = []

    def table(self, name: str, title: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(list(rows[0]))
        for r in rows:
            writer.writerow([_fmt(v) for v in r.values()])
        _atomic_bytes(self.out / f"{name}.csv", buf.getvalue().encode())
        self.tables.append((name, title, rows))

    def figure(self, name: str, fig: Any) -> None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
        _atomic_bytes(self.out / f"{name}.png", buf.getvalue())
        self.figures.append((name, fig))

    def text(self, markdown: str) -> None:
        self.sections.append(markdown)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_fmt(r[h]) for h in head) + " |" for r in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# the sections
# ---------------------------------------------------------------------------------------------


def _q3(inputs: Inputs, out: Outputs, quick: bool, seed: int) -> None:
    import matplotlib.pyplot as plt

    ks = (3, 6) if quick else fi.DEFAULT_KS
    images = {name: fi.prepare_image(img) for name, img in inputs.images.items()}
    grid = fi.q3_grid(images, ks=ks, seeds=(seed,))
    out.table(
        "q3_results",
        "Q3: iterations, final k and quality per (image, k, metric)",
        [{k: v for k, v in r.items() if not k.startswith("seconds")} for r in grid.rows],
    )
    out.table(
        "q3_timings",
        "Q3: seconds per (image, k, metric)",
        [
            {
                "image": r["image"],
                "metric": r["metric"],
                "k": r["k"],
                "seconds": r["seconds"],
                "iterations": r["iterations"],
            }
            for r in grid.rows
        ],
    )
    for name, prep in images.items():
        fig, axes = plt.subplots(2, len(ks) + 1, figsize=(2.6 * (len(ks) + 1), 4.6))
        for row, metric in enumerate(("l2", "l1")):
            axes[row, 0].imshow(prep.rgb)
            axes[row, 0].set_title("original" if row == 0 else "", fontsize=8)
            axes[row, 0].set_ylabel(metric.upper())
            for col, k in enumerate(ks, start=1):
                r = grid.results[(name, k, metric)]
                axes[row, col].imshow(r.image)
                axes[row, col].set_title(f"{metric.upper()} k={k}: {r.psnr:.1f} dB", fontsize=8)
        for ax in axes.ravel():
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(f"Q3 {name}: reconstructions (L2 top, L1 bottom)")
        fig.tight_layout()
        out.figure(f"q3_{Path(name).stem}_reconstructions", fig)

    comparison = []
    for name in images:
        for k in ks:
            l2, l1 = grid.results[(name, k, "l2")], grid.results[(name, k, "l1")]
            comparison.append(
                {
                    "image": name,
                    "k": k,
                    "L2 fit: L2 objective": l2.objective,
                    "L1 fit: L2 objective": fi.image_objective(images[name], l1.palette, l1.labels, "l2"),
                    "L2 fit: L1 objective": fi.image_objective(images[name], l2.palette, l2.labels, "l1"),
                    "L1 fit: L1 objective": l1.objective,
                    "L2 PSNR": l2.psnr,
                    "L1 PSNR": l1.psnr,
                    "L2 iterations": l2.n_iter,
                    "L1 iterations": l1.n_iter,
                }
            )
    out.table("q3_l1_vs_l2", "Q3: L1 (k-medians) vs L2 (k-means), same seed", comparison)

    inits = []
    for name, prep in images.items():
        for init in ("random", "k-means++"):  # the grid's fit is the random one: reuse it
            r = (
                grid.results[(name, ks[-1], "l2")]
                if init == "random"
                else fi.compress(prep, ks[-1], init=init, seed=seed)
            )
            inits.append(
                {
                    "image": name,
                    "k": ks[-1],
                    "init": init,
                    "objective": r.objective,
                    "psnr": r.psnr,
                    "iterations": r.n_iter,
                }
            )
    out.table("q3_init_comparison", "Q3: random pixels vs k-means++ initialisation", inits)

    choose = []
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name in images:
        ck = fi.choose_k_from_fits(ks, [grid.results[(name, k, "l2")] for k in ks])  # reuse the grid's L2 fits
        knee = ck.ks.index(ck.k)
        choose.append({"image": name, "chosen k": ck.k, "method": ck.method})
        axes[0].plot(ck.ks, ck.mse, "o-", label=name)
        axes[0].plot([ck.k], [ck.mse[knee]], "k*", markersize=14)
        axes[1].plot(ck.bits_per_pixel, ck.psnr, "o-", label=name)
    axes[0].set(xscale="log", xlabel="k (log scale)", ylabel="MSE", title="Elbow (star: chosen k)")
    axes[1].set(xlabel="bits per pixel (index)", ylabel="PSNR (dB)", title="Rate-distortion")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out.figure("q3_choose_k", fig)
    out.table("q3_choose_k", "Q3: the chosen k per image", choose)
    out.text(
        "## Q3 Image compression\n\nL1 (k-medians, coordinate-wise medians) minimises absolute errors, so it keeps "
        "flat regions crisp but gives up a little MSE/PSNR against L2, which minimises squared error; L1 typically "
        "converges in fewer rounds. k is chosen at the knee of distortion against bits per pixel (log2 k): past it, "
        "each extra bit per pixel buys much less error."
    )


def _q4(inputs: Inputs, out: Outputs, quick: bool, seed: int) -> None:
    import matplotlib.pyplot as plt

    g = fg.load_polblogs(inputs.nodes, inputs.edges)
    out.table(
        "q4_graph",
        "Q4: what the loader kept and dropped",
        [
            {
                "nodes read": g.n_nodes_read,
                "edge lines": g.n_edge_lines,
                "self-loops dropped": g.n_self_loops,
                "duplicate/reciprocal links merged": g.n_duplicate_edges,
                "isolated nodes removed": g.n_isolated_removed,
                "nodes kept": g.adjacency.shape[0],
                "undirected edges": g.n_edges,
                "components": g.n_components,
            }
        ],
    )
    ks = [k for k in Q4_KS if k < g.adjacency.shape[0]]
    basis = fs.spectral_basis(g.adjacency, max(ks), seed=seed)
    rows, overall = [], []
    for k in ks:
        t = fs.mismatch_table(fs.spectral_clustering(g.adjacency, k, basis=basis, seed=seed).labels, g.labels)
        rows += [{"k": k, **r} for r in t.rows]
        overall.append({"k": k, "overall mismatch": t.overall, "mismatched nodes": t.n_mismatched})
    out.table("q4_mismatch_by_cluster", "Q4: majority label and mismatch rate of every cluster", rows)
    out.table("q4_mismatch_overall", "Q4: overall mismatch rate per k", overall)
    tune_ks = range(2, 11) if quick else range(2, 51)
    tk = fs.tune_k(g.adjacency, g.labels, tune_ks, seed=seed, n_init=3)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(tk.ks, tk.overall, "o-", markersize=3)
    ax.axvline(tk.k, color="k", ls="--", label=f"chosen k = {tk.k} ({tk.rule})")
    ax.set(xlabel="k", ylabel="overall mismatch rate", title="Q4: tuning k (regularized Laplacian)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out.figure("q4_tune_k", fig)
    out.table(
        "q4_tune_k",
        "Q4: overall mismatch for every k",
        [{"k": k, "overall mismatch": r} for k, r in zip(tk.ks, tk.overall, strict=True)],
    )
    variants = fs.compare_laplacians(g.adjacency, g.labels, ks, seed=seed, n_init=3)
    out.table(
        "q4_laplacians",
        "Q4: overall mismatch by Laplacian variant",
        [{"laplacian": lap, **{f"k={k}": v for k, v in zip(ks, vals, strict=True)}} for lap, vals in variants.items()],
    )
    out.text(
        f"## Q4 Spectral clustering\n\nChosen k = {tk.k}: {tk.rule}. Mismatch falls trivially as k grows (tiny clusters "
        "are pure), so the smallest k that explains the labels almost as well as any is preferred. The plain "
        "unnormalised Laplacian isolates tiny components and low-degree nodes and is near coin-flipping on this graph; "
        "the regularized Laplacian (degrees + mean degree) is robust to both."
    )


def _q5(inputs: Inputs, out: Outputs, quick: bool, seed: int) -> None:
    import matplotlib.pyplot as plt

    E = inputs.embeddings
    main = vq.compress(E, 256 if E.shape[0] > 256 else E.shape[0] // 2, seed=seed)
    side = vq.compress(E, main.k, seed=seed, engine="sklearn")
    out.table(
        "q5_memory",
        "Q5: memory (MB = 2^20 bytes, 4 decimals) and quality, k = 256",
        [
            {
                "engine": r.engine,
                "k": r.k,
                "memory before MB": f"{r.memory_before_mb:.4f}",
                "memory after MB": f"{r.memory_after_mb:.4f}",
                "compression ratio": r.compression_ratio,
                "average cosine": r.avg_cosine,
                "code dtype": str(r.codes.dtype),
                "iterations": r.n_iter,
            }
            for r in (main, side)
        ],
    )
    ks = [k for k in ((64, 128) if quick else (64, 128, 256, 512)) if k < E.shape[0]]
    rows = vq.sweep(E, ks, seed=seed)
    out.table("q5_sweep", "Q5: sweep over k", [{k: v for k, v in r.items() if k != "seconds"} for r in rows])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].plot([r["k"] for r in rows], [r["compression_ratio"] for r in rows], "o-")
    axes[0].set(xlabel="k", ylabel="compression ratio", title="Compression vs k", xscale="log", xticks=ks)
    axes[1].plot([r["k"] for r in rows], [r["avg_cosine"] for r in rows], "o-")
    axes[1].set(xlabel="k", ylabel="average cosine", title="Quality vs k", xscale="log", xticks=ks)
    for ax in axes:
        ax.set_xticklabels([str(k) for k in ks])
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out.figure("q5_sweep", fig)
    out.table(
        "q5_vq_vs_pq",
        "Q5: VQ vs PQ at equal code bytes per row (VQ codebook capped at 1,024 rows; at most 50 rounds)",
        vq.compare_vq_pq(E, (1, 2) if quick else (1, 2, 4, 8), seed=seed, max_vq_k=1024, max_iter=50),
    )
    out.text(
        "## Q5 Vector quantization\n\nCodes use the smallest unsigned type that holds k: 1 byte up to k = 256, "
        "2 bytes from k = 257 (so the course's '1 byte per index' is wrong at k = 512). Memory counts codebook "
        "(float32) plus codes, in MB of 2^20 bytes. Rows are normalised before clustering: embeddings are compared by "
        "cosine, so direction is what must survive. PQ spends the same code bytes on several small codebooks and "
        "represents far more distinct vectors."
    )


def _digits(inputs: Inputs, out: Outputs, quick: bool, seed: int) -> None:
    import matplotlib.pyplot as plt

    digits = inputs.digits
    if quick and len(digits.labels) > 3000:
        digits = fd.Digits(digits.images[:3000], digits.labels[:3000], digits.source)
    ks = (10, 20, 50) if quick else (10, 20, 50, 100, 200)
    p = fd.notebook_protocol(digits, ks=ks, per_digit=50 if quick else 100, seed=seed)
    strip = ("seconds",)
    out.table(
        "mnist_protocols",
        "MNIST: the notebook's protocol vs the honest one",
        [{k: v for k, v in r.items() if k not in strip} for r in p.notebook_rows + p.honest_rows],
    )
    clf = p.classifiers["honest-20"] if "honest-20" in p.classifiers else next(iter(p.classifiers.values()))
    imgs, labels = fd.centroid_images(clf, p.image_shape)
    cols = 10
    rows_n = int(np.ceil(len(imgs) / cols))
    fig, axes = plt.subplots(rows_n, cols, figsize=(cols * 1.1, rows_n * 1.25))
    for ax, i in zip(np.atleast_1d(axes).ravel(), range(rows_n * cols), strict=True):
        ax.axis("off")
        if i < len(imgs):
            ax.imshow(imgs[i], cmap="gray_r")
            ax.set_title(str(labels[i]), fontsize=9)
    fig.suptitle(f"MNIST: k = {len(imgs)} centroids with their majority digit")
    fig.tight_layout()
    out.figure("mnist_centroids", fig)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    hk = [r["k"] for r in p.honest_rows]
    axes[0].plot(hk, [r["objective"] for r in p.honest_rows], "o-")
    axes[0].set(xscale="log", xlabel="k", ylabel="k-means objective (sum of squared distances)", title="Loss vs k")
    axes[1].plot(hk, [r["accuracy"] for r in p.honest_rows], "o-")
    axes[1].set(xscale="log", xlabel="k", ylabel="held-out accuracy", title="Accuracy vs k")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out.figure("mnist_loss_accuracy", fig)
    out.text(
        "## MNIST\n\nThe classic notebook printed 'TOTAL ITERATIONS' from the wrong loop variable (always k - 1) and "
        "reported the mean un-squared distance as its loss; the tables give the true rounds and the real k-means "
        "objective beside it. More clusters capture more writing styles per digit, so held-out accuracy rises with k."
    )


# ---------------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------------


def _text_pages(pdf: Any, title: str, lines: Sequence[str], per_page: int = 70) -> None:
    """Monospace text on A4 pages: prose is wrapped; wide tables get a smaller font, so nothing runs off."""
    import textwrap

    import matplotlib.pyplot as plt

    out: list[str] = []
    for line in lines:
        is_table = line.startswith("|")
        out += [line] if is_table or len(line) <= 120 else textwrap.wrap(line, 120) or [""]
    widest = max((len(line) for line in out), default=1)
    size = min(7.0, 7.0 * 125 / max(widest, 1))  # 125 monospace characters fill the width at 7 pt
    for start in range(0, max(len(out), 1), per_page):
        fig = plt.figure(figsize=(8.27, 11.69))
        fig.text(0.05, 0.97, title, fontsize=13, weight="bold", va="top")
        fig.text(0.05, 0.94, "\n".join(out[start : start + per_page]), fontsize=size, family="monospace", va="top")
        pdf.savefig(fig)
        plt.close(fig)


def machine_description() -> list[str]:
    import matplotlib
    import scipy
    import sklearn

    from ._backends import numba_available

    lines = [
        f"{platform.platform()}",
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"scikit-learn {sklearn.__version__}, matplotlib {matplotlib.__version__}",
    ]
    if numba_available():
        import numba

        lines.append(f"numba {numba.__version__} (kernels compiled)")
    else:
        lines.append("numba not installed: numpy reference backend")
    return lines


STEPS = ("inputs", "Q3 images", "Q4 spectral", "Q5 embeddings", "MNIST", "PDF")


def build_report(
    data: str | Path | None = None,
    out: str | Path = "reports/out",
    *,
    quick: bool = False,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Make every deliverable under ``out``; return the path of ``report.pdf``.

    ``progress(step)`` is called before each of :data:`STEPS`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    t_start = perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.pdf").unlink(missing_ok=True)  # never leave an old report looking like this run's
    notify = progress or (lambda step: None)
    timings: list[dict[str, Any]] = []

    def timed(step: str, fn: Callable[[], Any]) -> Any:
        notify(step)
        t0 = perf_counter()
        result = fn()
        timings.append({"step": step, "seconds": perf_counter() - t0})
        return result

    outputs = Outputs(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # k reduced / convergence notes are in the tables
        inputs = timed("inputs", lambda: resolve_inputs(data, out, seed))
        timed("Q3 images", lambda: _q3(inputs, outputs, quick, seed))
        timed("Q4 spectral", lambda: _q4(inputs, outputs, quick, seed))
        timed("Q5 embeddings", lambda: _q5(inputs, outputs, quick, seed))
        timed("MNIST", lambda: _digits(inputs, outputs, quick, seed))
    notify("PDF")
    total = perf_counter() - t_start
    timings.append({"step": "total (before PDF)", "seconds": total})
    outputs.table("run_timings", "Run time per step", timings)

    summary = ["# fastclust homework report", "", "## Inputs", *[f"- {s}" for s in inputs.sources]]
    summary += [
        "",
        "## Substitutions",
        *([f"- {s}" for s in inputs.substitutions] or ["- none: all course files found"]),
    ]
    for section in outputs.sections:
        summary += ["", section]
    for name, title, rows in outputs.tables:
        summary += ["", f"### {title} (`{name}.csv`)", "", markdown_table(rows)]
    summary += ["", "## Machine", *[f"- {line}" for line in machine_description()]]
    _atomic_bytes(out / "summary.md", ("\n".join(summary) + "\n").encode())

    fd_, tmp = tempfile.mkstemp(dir=out, prefix=".report.pdf.", suffix=".tmp")
    os.close(fd_)
    try:
        with PdfPages(tmp, metadata={"Creator": "fastclust", "CreationDate": None}) as pdf:
            first = [
                "Inputs:",
                *[f"  {s}" for s in inputs.sources],
                "",
                "Substitutions:",
                *([f"  {s}" for s in inputs.substitutions] or ["  none: all course files found"]),
                "",
                f"Mode: {'quick (smaller grids)' if quick else 'full'}, seed {seed}",
                "",
                "Contents: Q3 image compression, Q4 spectral clustering, Q5 vector quantization, MNIST, timings.",
            ]
            _text_pages(pdf, "fastclust: clustering homework report", first)
            for section in outputs.sections:
                _text_pages(pdf, section.splitlines()[0].lstrip("# "), [ln for ln in section.splitlines()[1:]])
            for _, fig in outputs.figures:
                pdf.savefig(fig)
                plt.close(fig)
            for _, title, rows in outputs.tables:
                _text_pages(pdf, title, markdown_table(rows).splitlines())
            final = [f"{t['step']:<22} {t['seconds']:8.2f} s" for t in timings] + [
                "",
                "Machine:",
                *machine_description(),
            ]
            _text_pages(pdf, "Timings and machine", final)
        os.replace(tmp, out / "report.pdf")
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out / "report.pdf"
