"""The homework's experiments as functions that return tables: Q3, Q4, Q5 and the MNIST study.

Each study takes inputs that are already loaded (images, a :class:`~fastclust.graph.Graph`,
an embedding table, :class:`~fastclust.digits.Digits`) and returns a dataclass of
results with :class:`Table` objects and sentences of commentary derived from the
measured numbers. Nothing here draws, writes files or prints: the report
(:mod:`fastclust.report`) renders these tables to CSV, Markdown and PDF, so every
place shows the same numbers.

Seeds follow one rule. A run seed is split with :func:`fastclust._validation.spawn`
into one child stream per study (:data:`STREAMS`), so reusing a cached result or
adding a study never shifts another study's draws. Where a command-line tool can
repeat a figure, the study uses the plain integer a user would pass to it:

- Q3 draws its candidate seeds (integers) from its stream; each cell keeps the
  best of them, and ``fastclust quantize IMAGE -k K --metric M --seed S`` with
  the reported seed ``S`` reproduces the cell.
- Q4 calls ``spectral_clustering(A, k, laplacian="regularized", seed=seed)``, the
  call ``fastclust spectral`` and the Gradescope class make, reusing one
  eigenbasis across k (same labels by :func:`~fastclust.spectral.spectral_clustering`'s
  contract).
- Q5 calls ``vq.compress(E, k, seed=seed)``, as ``fastclust vq --seed`` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import numpy as np

from . import _warmup, vq
from . import digits as fd
from . import graph as fg
from . import image as fi
from . import spectral as fs
from ._backends import resolve_backend
from ._lowdim import map_fits
from ._validation import check_positive_int, spawn
from .errors import FastclustError

__all__ = [
    "INIT_NAMES",
    "PARTY",
    "STREAMS",
    "Column",
    "MnistStudy",
    "Plan",
    "Q3Cell",
    "Q3Study",
    "Q4Study",
    "Q5Study",
    "Table",
    "candidate_seeds",
    "format_value",
    "ks_text",
    "mnist_study",
    "plan",
    "q3_study",
    "q4_study",
    "q5_study",
    "warm_up",
]

#: One child random stream per study, in this order (``spawn(seed, len(STREAMS))[i]``).
STREAMS = ("q3", "q4", "q5", "mnist")
#: The political-blogs labels (the course's ``nodes.txt``: 0 = liberal, 1 = conservative).
PARTY = {0: "liberal", 1: "conservative"}
#: What each initialisation is, in words (the engine's names are terse).
INIT_NAMES = {"random-uniform": "random Gaussian", "random": "random data points", "k-means++": "k-means++"}
#: The initialisations the MNIST study compares on the notebook's training images (its own first).
SWEEP_INITS = ("random-uniform", "random", "k-means++")

Tick = Callable[[], None]


def _noop() -> None:
    return None


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of a :class:`Table`.

    ``fmt`` is a format spec applied to every value (``"d"``, ``".4f"``, ...; ``"s"``
    for text). ``role`` is ``"key"`` (identifies the row), ``"value"`` (a
    deterministic result) or ``"time"`` (wall-clock seconds: these go to a
    separate ``*_timings.csv`` so the other CSVs are byte-identical for a seed).
    ``group`` asks a typeset rendering to group thousands (the digits stay the same).
    ``scale`` divides every value by ``10**scale`` before formatting (the label says so),
    so a column of large numbers keeps one format. ``head`` groups neighbouring
    columns under one heading (``"PSNR (dB)"`` over ``"L2"`` and ``"L1"``).
    """

    key: str
    label: str
    fmt: str = "s"
    role: str = "value"
    group: bool = False
    scale: int = 0
    head: str = ""

    @property
    def title(self) -> str:
        """The label, with the power of ten the values were divided by."""
        return f"{self.label} (×10{_superscript(self.scale)})" if self.scale else self.label

    @property
    def full_title(self) -> str:
        """The title with its group heading, for renderings with a single header row."""
        return f"{self.head}: {self.title}" if self.head else self.title

    @property
    def csv_key(self) -> str:
        return f"{self.key}_e{self.scale}" if self.scale else self.key

    @property
    def numeric(self) -> bool:
        return self.fmt != "s"


@dataclass
class Table:
    """A titled table: named columns with their formats, and one dict per row."""

    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    note: str = ""

    def cells(self, roles: Sequence[str] = ("key", "value", "time")) -> list[list[str]]:
        """Every row formatted by its column's ``fmt`` (only the columns whose role is in ``roles``)."""
        cols = [c for c in self.columns if c.role in roles]
        return [[format_value(r.get(c.key), c.fmt, c.scale) for c in cols] for r in self.rows]

    def header(self, roles: Sequence[str] = ("key", "value", "time")) -> list[str]:
        return [c.full_title for c in self.columns if c.role in roles]

    @property
    def has_timings(self) -> bool:
        return any(c.role == "time" for c in self.columns)


def ks_text(ks: Sequence[int]) -> str:
    """``2–10, 15, 20`` for ``(2, 3, ..., 10, 15, 20)``: runs of consecutive k shortened."""
    ks = sorted(ks)
    parts: list[str] = []
    i = 0
    while i < len(ks):
        j = i
        while j + 1 < len(ks) and ks[j + 1] == ks[j] + 1:
            j += 1
        parts.append(f"{ks[i]}–{ks[j]}" if j - i >= 2 else ", ".join(map(str, ks[i : j + 1])))
        i = j + 1
    return ", ".join(parts)


def format_value(value: Any, fmt: str, scale: int = 0) -> str:
    """``value / 10**scale`` formatted by ``fmt``; ``None`` is an empty cell, infinities are ``inf``."""
    if value is None:
        return ""
    if fmt == "s":
        return str(value)
    if isinstance(value, (float, np.floating)) and not math.isfinite(float(value)):
        return "inf" if float(value) > 0 else ("-inf" if float(value) < 0 else "nan")
    if fmt.endswith("d"):
        return format(int(value), fmt)
    return format(float(value) / 10.0**scale, fmt)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _superscript(n: int) -> str:
    return str(n).translate(_SUPERSCRIPT)


def _scale_of(values: Sequence[float]) -> int:
    """A power of ten, a multiple of 3, that brings the largest finite ``values`` into [1, 1000)."""
    finite = [abs(float(v)) for v in values if math.isfinite(float(v)) and v != 0]
    if not finite:
        return 0
    return 3 * math.floor(math.log10(max(finite)) / 3)


# ---------------------------------------------------------------------------------------------
# the plan: sizes of every study, fixed before anything runs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What each study runs. :func:`plan` gives the homework's sizes (or the quick ones)."""

    q3_ks: tuple[int, ...] = fi.DEFAULT_KS
    q3_metrics: tuple[str, ...] = ("l2", "l1")
    q3_n_seeds: int = 5
    q4_ks: tuple[int, ...] = (2, 5, 10, 30, 50)
    # every k up to 10, then every 5th: the curve's shape and the rule's choice at a quarter of the fits
    q4_tune_ks: tuple[int, ...] = (*range(2, 11), *range(15, 51, 5))
    q4_tolerance: float = 0.01
    q5_ks: tuple[int, ...] = (64, 128, 256, 512)
    q5_main_k: int = 256
    mnist_notebook_k: int = 20
    mnist_per_digit: int = 100
    mnist_ks: tuple[int, ...] = (10, 20, 50, 100, 200)
    mnist_full_ks: tuple[int, ...] = (20,)
    mnist_max_images: int | None = None
    quick: bool = False

    def q3_units(self, n_images: int) -> int:
        return n_images * len(self.q3_ks) * len(self.q3_metrics) * self.q3_n_seeds

    def q4_units(self) -> int:
        return 1 + len(set(self.q4_ks) | set(self.q4_tune_ks))

    def q5_units(self) -> int:
        return len(self.q5_ks)

    def mnist_units(self) -> int:
        return len(SWEEP_INITS) * len({*self.mnist_ks, self.mnist_notebook_k}) + len(self.mnist_full_ks)


def plan(quick: bool = False) -> Plan:
    """The homework's sizes, or with ``quick`` smaller grids that still exercise every table."""
    if not quick:
        return Plan()
    return Plan(
        q3_ks=(3, 6),
        q3_n_seeds=2,
        q4_tune_ks=tuple(range(2, 11)),
        q5_ks=(64, 128, 256, 512),
        mnist_per_digit=50,
        mnist_ks=(10, 20, 50),
        mnist_full_ks=(20,),
        mnist_max_images=3000,
        quick=True,
    )


# ---------------------------------------------------------------------------------------------
# warming the compiled kernels
# ---------------------------------------------------------------------------------------------


def warm_up() -> float:
    """Compile (or load from numba's cache) every kernel the studies use; return the seconds taken.

    :func:`fastclust._warmup.warm_up` over all its workloads: tiny fits through the
    public API, one per code path the studies take (weighted colours under L2 and
    L1 for Q3, the graph reader and spectral embedding for Q4, wide float32 data
    for Q5, narrow and wide float32 digits with prediction for MNIST). Nothing is
    compiled with the numpy backend, and this returns at once. Timings taken
    afterwards exclude compilation.
    """
    t0 = perf_counter()
    _warmup.warm_up()
    return perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# Q3: image compression
# ---------------------------------------------------------------------------------------------


def candidate_seeds(seed: Any, n: int) -> list[int]:
    """The ``n`` integer seeds every Q3 cell tries: distinct draws in [0, 10^6) from Q3's stream."""
    n = check_positive_int(n, "n")
    rng = spawn(seed, len(STREAMS))[STREAMS.index("q3")]
    return [int(s) for s in rng.choice(1_000_000, size=n, replace=False)]


@dataclass
class Q3Cell:
    """One (image, metric, k) of the grid: the kept (lowest-objective) run and what every seed gave
    (``seconds_all_seeds``: the seeds' fits' wall times added up)."""

    image: str
    metric: str
    k: int
    seed: int
    result: fi.ImageResult = field(repr=False)
    objectives: list[float]
    seconds_all_seeds: float


@dataclass
class Q3Study:
    """The Q3 grid, the L1-vs-L2 facts and the chosen k per image (from the grid's own fits)."""

    images: list[str]
    sizes: dict[str, tuple[int, int, int]]
    ks: list[int]
    metrics: list[str]
    seeds: list[int]
    cells: dict[tuple[str, str, int], Q3Cell]
    choose: dict[tuple[str, str], fi.ChooseK]
    prepared: dict[str, fi.PreparedImage] = field(repr=False)

    def cell(self, image: str, metric: str, k: int) -> Q3Cell:
        return self.cells[(image, metric, k)]

    def grid_table(self) -> Table:
        cols = [
            Column("image", "image", role="key"),
            Column("metric", "metric", role="key"),
            Column("k", "k", "d", role="key"),
            Column("final_k", "final k", "d"),
            Column("seed", "seed", "d"),
            Column("iterations", "iterations", "d"),
            Column("seconds", "seconds", ".3f", role="time"),
            Column("objective", "objective", ".2f", scale=_scale_of([c.result.objective for c in self.cells.values()])),
            Column("mse", "MSE", ".2f"),
            Column("psnr", "PSNR (dB)", ".2f"),
        ]
        rows = []
        for name in self.images:
            for metric in self.metrics:
                for k in self.ks:
                    c = self.cell(name, metric, k)
                    r = c.result
                    rows.append(
                        {
                            "image": name,
                            "metric": metric.upper(),
                            "k": k,
                            "final_k": r.k,
                            "seed": c.seed,
                            "iterations": r.n_iter,
                            "seconds": r.seconds,
                            "objective": r.objective,
                            "mse": r.mse,
                            "psnr": r.psnr,
                        }
                    )
        return Table(
            "q3_grid",
            f"Q3: the kept run of every (image, metric, k): best of {len(self.seeds)} seeds by objective",
            cols,
            rows,
            note=f"Seeds tried in every cell: {', '.join(map(str, self.seeds))}. "
            "Seconds are the kept run's clustering time, compiled kernels already warm.",
        )

    def l1_vs_l2_rows(self) -> list[dict[str, Any]]:
        rows = []
        for name in self.images:
            for k in self.ks:
                l2, l1 = self.cell(name, "l2", k).result, self.cell(name, "l1", k).result
                rows.append(
                    {
                        "image": name,
                        "k": k,
                        "psnr_l2": l2.psnr,
                        "psnr_l1": l1.psnr,
                        "psnr_gap": l2.psnr - l1.psnr,
                        "sharper": "L2" if l2.psnr > l1.psnr else ("L1" if l1.psnr > l2.psnr else "tie"),
                        "iter_l2": l2.n_iter,
                        "iter_l1": l1.n_iter,
                        "sec_l2": l2.seconds,
                        "sec_l1": l1.seconds,
                    }
                )
        return rows

    def l1_vs_l2_table(self) -> Table:
        cols = [
            Column("image", "image", role="key"),
            Column("k", "k", "d", role="key"),
            Column("psnr_l2", "L2", ".2f", head="PSNR (dB)"),
            Column("psnr_l1", "L1", ".2f", head="PSNR (dB)"),
            Column("psnr_gap", "L2 − L1", "+.2f", head="PSNR (dB)"),
            Column("sharper", "higher", head="PSNR (dB)"),
            Column("iter_l2", "L2", "d", head="iterations"),
            Column("iter_l1", "L1", "d", head="iterations"),
            Column("sec_l2", "L2", ".3f", role="time", head="seconds"),
            Column("sec_l1", "L1", ".3f", role="time", head="seconds"),
        ]
        return Table("q3_l1_vs_l2", "Q3: L1 (k-medians) against L2 (k-means), kept runs", cols, self.l1_vs_l2_rows())

    def choose_table(self) -> Table:
        cols = [
            Column("image", "image", role="key"),
            Column("metric", "metric", role="key"),
            Column("k", "chosen k", "d"),
            Column("mse", "MSE", ".2f", head="at the chosen k"),
            Column("psnr", "PSNR (dB)", ".2f", head="at the chosen k"),
            Column("bits", "index bits per pixel", "d", head="at the chosen k"),
        ]
        rows = []
        for name in self.images:
            for metric in self.metrics:
                ck = self.choose[(name, metric)]
                i = ck.ks.index(ck.k)
                rows.append(
                    {
                        "image": name,
                        "metric": metric.upper(),
                        "k": ck.k,
                        "mse": ck.mse[i],
                        "psnr": ck.psnr[i],
                        "bits": int(ck.bits_per_pixel[i]),
                    }
                )
        return Table("q3_best_k", "Q3: the chosen k per image and metric", cols, rows, note=fi.ChooseK.method)

    def tables(self) -> list[Table]:
        return [self.grid_table(), self.l1_vs_l2_table(), self.choose_table()]

    def commentary(self) -> list[str]:
        """Sentences on L1 against L2 and on the chosen k, each from the measured numbers."""
        rows = self.l1_vs_l2_rows()
        n = len(rows)
        l2_wins = [r for r in rows if r["sharper"] == "L2"]
        l1_wins = [r for r in rows if r["sharper"] == "L1"]
        out = []
        widest = max(rows, key=lambda r: r["psnr_gap"])
        s = (
            f"L2 (k-means) gives the higher PSNR in {len(l2_wins)} of {n} (image, k) pairs and L1 (k-medians) in "
            f"{len(l1_wins)}. The widest gap is {widest['psnr_gap']:.2f} dB ({widest['image']}, k = {widest['k']}: "
            f"{widest['psnr_l2']:.2f} dB against {widest['psnr_l1']:.2f} dB)"
        )
        if l1_wins:
            best_l1 = min(l1_wins, key=lambda r: r["psnr_gap"])
            s += (
                f"; L1 is ahead by up to {-best_l1['psnr_gap']:.2f} dB ({best_l1['image']}, k = {best_l1['k']})"
                ", although L2 is the fit that minimises squared error, because both are local optima."
            )
        else:
            s += ": as expected, since PSNR measures squared error, which is what L2 minimises."
        out.append(s)
        gaps = [r["psnr_gap"] for r in rows]
        out.append(f"Averaged over all pairs, L2 is {np.mean(gaps):+.2f} dB against L1.")
        it_l2 = [r["iter_l2"] for r in rows]
        it_l1 = [r["iter_l1"] for r in rows]
        fewer = sum(a < b for a, b in zip(it_l1, it_l2, strict=True))
        out.append(
            f"L1 converged in fewer rounds in {fewer} of {n} pairs (median {np.median(it_l1):g} rounds against "
            f"{np.median(it_l2):g} for L2)."
        )
        t_l2 = sum(r["sec_l2"] for r in rows)
        t_l1 = sum(r["sec_l1"] for r in rows)
        per_l1 = t_l1 / max(sum(it_l1), 1) * 1e3
        per_l2 = t_l2 / max(sum(it_l2), 1) * 1e3
        dearer = "L1" if per_l1 > per_l2 else "L2"
        out.append(
            f"The kept L1 runs took {t_l1:.2f} s in all, {per_l1:.1f} ms per round, and the L2 runs {t_l2:.2f} s, "
            f"{per_l2:.1f} ms per round: a round costs more under {dearer}, and "
            f"{'L1' if t_l1 < t_l2 else 'L2'} is faster overall."
        )
        return out

    def choose_commentary(self) -> list[str]:
        out = []
        for metric in self.metrics:
            picks = [f"{name}: k = {self.choose[(name, metric)].k}" for name in self.images]
            out.append(f"{metric.upper()}: " + "; ".join(picks) + ".")
        return out


def q3_study(
    images: Mapping[str, Any],
    *,
    ks: Sequence[int] = fi.DEFAULT_KS,
    metrics: Sequence[str] = ("l2", "l1"),
    n_seeds: int = 5,
    seed: Any = 0,
    tick: Tick | None = None,
) -> Q3Study:
    """Compress every image at every k under every metric, ``n_seeds`` seeds per cell, keeping the best.

    "Best" is the lowest objective of the cell's own metric (a tie keeps the
    earlier seed). The candidate seeds are :func:`candidate_seeds` (the same for
    every cell). The chosen k per image and metric applies
    :func:`fastclust.image.choose_k_from_fits` to the kept runs: no extra fits.
    ``tick()`` is called after every fit. The fits are independent and run a few at
    a time, on numba's thread count (one with the numpy backend); a cell's
    ``seconds_all_seeds`` adds up its fits' own wall times.
    """
    tick = tick or _noop
    ks = [check_positive_int(k, "ks entry") for k in ks]
    if not images or not ks or not metrics:
        raise FastclustError("q3_study needs at least one image, one k and one metric")
    seeds = candidate_seeds(seed, n_seeds)
    prepared = {name: fi.prepare_image(img, name=f"image {name!r}") for name, img in images.items()}
    grid = [(name, metric, k) for name in prepared for metric in metrics for k in ks]

    def fit(job: tuple[tuple[str, str, int], int]) -> fi.ImageResult:
        (name, metric, k), s = job
        return fi.compress(prepared[name], k, metric=metric, seed=s)

    # independent fits, a few at a time (see fastclust._lowdim.map_fits): same results, less wall time
    fits = map_fits(fit, [(cell, s) for cell in grid for s in seeds], resolve_backend("auto")[0])
    cells: dict[tuple[str, str, int], Q3Cell] = {}
    for name, metric, k in grid:
        best: tuple[int, fi.ImageResult] | None = None
        objectives = []
        seconds = 0.0
        for s in seeds:
            res = next(fits)
            objectives.append(res.objective)
            seconds += res.seconds
            if best is None or res.objective < best[1].objective:
                best = (s, res)
            tick()
        assert best is not None
        cells[(name, metric, k)] = Q3Cell(name, metric, k, best[0], best[1], objectives, seconds)
    choose = {
        (name, metric): fi.choose_k_from_fits(ks, [cells[(name, metric, k)].result for k in ks])
        for name in prepared
        for metric in metrics
    }
    sizes = {name: p.rgb.shape for name, p in prepared.items()}
    return Q3Study(list(prepared), sizes, ks, list(metrics), seeds, cells, choose, prepared)


# ---------------------------------------------------------------------------------------------
# Q4: spectral clustering of the political blogs
# ---------------------------------------------------------------------------------------------


@dataclass
class Q4Study:
    """Mismatch tables for every k the study ran, the tuning curve and the chosen k."""

    graph: fg.Graph = field(repr=False)
    ks: list[int]
    tune_ks: list[int]
    tables_by_k: dict[int, fs.MismatchTable]
    seconds_by_k: dict[int, float]
    basis_seconds: float
    chosen_k: int
    tolerance: float
    seed: int
    laplacian: str = "regularized"

    @property
    def rule(self) -> str:
        return (
            f"the smallest k whose overall mismatch is within {self.tolerance} of the lowest over the k tried "
            f"({ks_text(self.tune_ks)})"
        )

    def graph_table(self) -> Table:
        g = self.graph
        rows = [
            {"what": "nodes read (nodes.txt)", "count": g.n_nodes_read},
            {"what": "edge lines read (edges.txt)", "count": g.n_edge_lines},
            {"what": "self-loops dropped", "count": g.n_self_loops},
            {"what": "repeated or reciprocal links merged", "count": g.n_duplicate_edges},
            {"what": "nodes without edges removed", "count": g.n_isolated_removed},
            {"what": "nodes kept", "count": g.adjacency.shape[0]},
            {"what": "undirected edges kept", "count": g.n_edges},
            {"what": "connected components of the kept graph", "count": g.n_components},
            {"what": "kept nodes labelled 0 = liberal", "count": int((g.labels == 0).sum())},
            {"what": "kept nodes labelled 1 = conservative", "count": int((g.labels == 1).sum())},
        ]
        cols = [Column("what", "", role="key"), Column("count", "count", "d", group=True)]
        return Table("q4_graph", "Q4: what the loader read, dropped and kept", cols, rows)

    def clusters_table(self) -> Table:
        cols = [
            Column("k", "k", "d", role="key"),
            Column("cluster", "cluster", "d", role="key"),
            Column("size", "size", "d"),
            Column("majority", "majority label"),
            Column("mismatches", "nodes", "d", head="mismatched"),
            Column("rate", "rate", ".4f", head="mismatched"),
        ]
        rows = []
        for k in self.ks:
            for r in self.tables_by_k[k].rows:
                rows.append(
                    {
                        "k": k,
                        "cluster": r["cluster"] + 1,
                        "size": r["size"],
                        "majority": f"{r['majority']} = {PARTY.get(r['majority'], '?')}",
                        "mismatches": r["mismatches"],
                        "rate": r["rate"],
                    }
                )
        return Table(
            "q4_clusters",
            "Q4: majority label and mismatch rate of every cluster (clusters numbered 1..k)",
            cols,
            rows,
            note="Majority label: 0 = liberal, 1 = conservative (nodes.txt); a tie goes to 0.",
        )

    def overall_rows(self, ks: Sequence[int]) -> list[dict[str, Any]]:
        rows = []
        for k in ks:
            t = self.tables_by_k[k]
            rows.append(
                {
                    "k": k,
                    "overall": t.overall,
                    "mismatched": t.n_mismatched,
                    "nodes": t.n_nodes,
                    "liberal": sum(r["majority"] == 0 for r in t.rows),
                    "conservative": sum(r["majority"] == 1 for r in t.rows),
                    "seconds": self.seconds_by_k[k],
                }
            )
        return rows

    def overall_table(self) -> Table:
        cols = [
            Column("k", "k", "d", role="key"),
            Column("overall", "overall mismatch rate", ".4f"),
            Column("mismatched", "mismatched", "d", head="nodes"),
            Column("nodes", "all", "d", head="nodes"),
            Column("liberal", "0 = liberal", "d", head="clusters by majority label"),
            Column("conservative", "1 = conservative", "d", head="clusters by majority label"),
            Column("seconds", "seconds", ".3f", role="time"),
        ]
        return Table("q4_overall", "Q4: overall mismatch rate per k", cols, self.overall_rows(self.ks))

    def tune_table(self) -> Table:
        cols = [
            Column("k", "k", "d", role="key"),
            Column("overall", "overall mismatch rate", ".4f"),
            Column("mismatched", "mismatched nodes", "d"),
        ]
        return Table(
            "q4_tuning", f"Q4: tuning k ({self.rule})", cols, self.overall_rows(self.tune_ks), note=f"rule: {self.rule}"
        )

    def tables(self) -> list[Table]:
        return [self.graph_table(), self.overall_table(), self.clusters_table(), self.tune_table()]

    def curve(self) -> tuple[list[int], list[float]]:
        return self.tune_ks, [self.tables_by_k[k].overall for k in self.tune_ks]

    def commentary(self) -> list[str]:
        out = []
        k0 = min(self.ks)
        t = self.tables_by_k[k0]
        parts = [
            f"cluster {r['cluster'] + 1} has {r['size']} blogs, {r['size'] - r['mismatches']} of them "
            f"{PARTY.get(r['majority'], '?')} (mismatch {r['rate']:.4f})"
            for r in t.rows
        ]
        majorities = {r["majority"] for r in t.rows}
        split = (
            "each party holds the majority of one cluster: the leading spectral split follows party lines"
            if len(majorities) == len(t.rows) == 2
            else "the clusters do not separate the parties"
        )
        out.append(f"At k = {k0}, {'; '.join(parts)}. So {split}, with overall mismatch {t.overall:.4f}.")
        ks, rates = self.curve()
        best_i = int(np.argmin(rates))
        k_hi = max(self.ks)
        out.append(
            f"More clusters barely help: the overall rate is {self.tables_by_k[k0].overall:.4f} at k = {k0} and "
            f"{self.tables_by_k[k_hi].overall:.4f} at k = {k_hi}; the lowest over the k tried is "
            f"{rates[best_i]:.4f} at k = {ks[best_i]}. By {self.rule}, the chosen k is {self.chosen_k}."
        )
        big = self.tables_by_k[k_hi]
        pure = sum(r["rate"] == 0 for r in big.rows)
        mixed = [r for r in big.rows if r["rate"] > 0.1]
        in_mixed = sum(r["mismatches"] for r in mixed)
        worst = max(big.rows, key=lambda r: (r["rate"], r["size"]))
        s = (
            f"At k = {k_hi}, {pure} of {len(big.rows)} clusters are pure and {len(mixed)} have a minority above 10 %; "
            f"the least pure (cluster {worst['cluster'] + 1}, {worst['size']} blogs) mismatches {worst['rate']:.4f}."
        )
        if big.n_mismatched and mixed:
            s += (
                f" Those {len(mixed)} mixed clusters hold {in_mixed} of the {big.n_mismatched} mismatched blogs "
                f"({in_mixed / big.n_mismatched:.0%})."
            )
        out.append(s)
        two = self.tables_by_k[k0]
        if two.overall < 0.1 and len(mixed) <= len(big.rows) // 4:
            out.append(
                f"So the graph has two dominant communities that follow the party labels ({1 - two.overall:.1%} of "
                f"blogs agree with their cluster's majority at k = {k0}); more clusters split each party into "
                "smaller, mostly pure groups, and the blogs that disagree sit in a few mixed clusters."
            )
        else:
            out.append(
                f"The party labels explain the clusters only partly (overall mismatch {two.overall:.4f} at k = {k0}, "
                f"{len(mixed)} of {len(big.rows)} clusters mixed at k = {k_hi})."
            )
        return out


def _tune_choice(ks: Sequence[int], rates: Sequence[float], tolerance: float) -> int:
    best = min(rates)
    return next(k for k, r in zip(ks, rates, strict=True) if r <= best + tolerance)


def q4_study(
    graph: fg.Graph,
    *,
    ks: Sequence[int] = (2, 5, 10, 30, 50),
    tune_ks: Sequence[int] = tuple(range(2, 51)),
    tolerance: float = 0.01,
    seed: int = 0,
    tick: Tick | None = None,
) -> Q4Study:
    """Spectral clustering (regularized Laplacian) of the blogs at every k of ``ks`` and ``tune_ks``.

    Each k runs ``spectral_clustering(A, k, laplacian="regularized", seed=seed,
    basis=basis)`` with one ``basis = spectral_basis(A, max k, seed=seed)``, i.e.
    the labels of ``fastclust spectral -k K --seed seed``. The tuning rule picks
    the smallest k whose overall mismatch is within ``tolerance`` of the lowest
    (mismatch falls trivially as k grows, so the lowest is not the goal).
    ``tick()`` is called after the eigensolve and after every k.
    """
    tick = tick or _noop
    n = graph.adjacency.shape[0]
    ks = [check_positive_int(k, "ks entry") for k in ks]
    tune_ks = [check_positive_int(k, "tune_ks entry") for k in tune_ks]
    too_big = [k for k in (*ks, *tune_ks) if k >= n]
    if too_big:
        raise FastclustError(f"k={max(too_big)} needs a graph of more than {max(too_big)} nodes (it has {n})")
    all_ks = sorted(set(ks) | set(tune_ks))
    t0 = perf_counter()
    basis = fs.spectral_basis(graph.adjacency, max(all_ks), "regularized", seed=seed)
    basis_seconds = perf_counter() - t0
    tick()
    tables, seconds = {}, {}
    for k in all_ks:
        res = fs.spectral_clustering(graph.adjacency, k, laplacian="regularized", seed=seed, basis=basis)
        tables[k] = fs.mismatch_table(res.labels, graph.labels)
        seconds[k] = res.seconds
        tick()
    chosen = _tune_choice(tune_ks, [tables[k].overall for k in tune_ks], tolerance)
    return Q4Study(graph, ks, tune_ks, tables, seconds, basis_seconds, chosen, tolerance, int(seed))


# ---------------------------------------------------------------------------------------------
# Q5: vector quantization of an embedding table
# ---------------------------------------------------------------------------------------------


@dataclass
class Q5Study:
    """One VQ fit per k, with memory under the course's rule and as actually stored."""

    n: int
    d: int
    ks: list[int]
    main_k: int
    results: dict[int, vq.VQResult] = field(repr=False)
    seed: int

    def memory(self, k: int) -> dict[str, Any]:
        r = self.results[k]
        n, d = self.n, self.d
        index_bytes = int(r.codes.dtype.itemsize)
        before = n * d * 4 / vq.MB
        after_course = (r.k * d * 4 + n * 1) / vq.MB
        after_stored = (r.k * d * 4 + n * index_bytes) / vq.MB
        return {
            "k": k,
            "final_k": r.k,
            "before": before,
            "after_course": after_course,
            "ratio_course": before / after_course,
            "index_bytes": index_bytes,
            "after_stored": after_stored,
            "ratio_stored": before / after_stored,
            "cosine": r.avg_cosine,
            "iterations": r.n_iter,
            "seconds": r.seconds,
        }

    def answer_table(self) -> Table:
        cols = [
            Column("k", "k", "d", role="key"),
            Column("before", "MB before", ".4f"),
            Column("after_course", "MB after", ".4f"),
            Column("ratio_course", "compression ratio", ".2f"),
            Column("cosine", "average cosine", ".4f"),
        ]
        return Table(
            "q5_answer",
            f"Q5: memory before and after, and the average cosine, at k = {self.main_k}",
            cols,
            [self.memory(self.main_k)],
            note="MB = 2^20 bytes, to 4 decimals. Course rule: float32 = 4 bytes per number, 1 byte per index; "
            "after = codebook (k x d float32) + one index per row.",
        )

    def sweep_table(self) -> Table:
        cols = [
            Column("k", "k", "d", role="key"),
            Column("before", "MB before", ".4f"),
            Column("after_course", "course rule, 1-byte index", ".4f", head="MB after"),
            Column("after_stored", "index as stored", ".4f", head="MB after"),
            Column("index_bytes", "bytes per index as stored", "d"),
            Column("ratio_course", "ratio, course rule", ".2f"),
            Column("cosine", "average cosine", ".4f"),
            Column("iterations", "iterations", "d"),
            Column("seconds", "seconds", ".3f", role="time"),
        ]
        return Table(
            "q5_sweep",
            "Q5: memory and quality for every k (MB = 2^20 bytes)",
            cols,
            [self.memory(k) for k in self.ks],
            note="For k > 256 a 1-byte index cannot name every codeword: the stored column uses the "
            "smallest unsigned integer that can (2 bytes up to k = 65,536).",
        )

    def tables(self) -> list[Table]:
        return [self.answer_table(), self.sweep_table()]

    def commentary(self) -> list[str]:
        rows = [self.memory(k) for k in self.ks]
        lo, hi = rows[0], rows[-1]
        out = [
            f"Raising k from {lo['k']} to {hi['k']} lifts the average cosine from {lo['cosine']:.4f} to "
            f"{hi['cosine']:.4f}, while the compressed size grows from {lo['after_course']:.4f} to "
            f"{hi['after_course']:.4f} MB under the course's rule (ratio {lo['ratio_course']:.2f} down to "
            f"{hi['ratio_course']:.2f})."
        ]
        if len(rows) > 2:
            gains = [f"{b['cosine'] - a['cosine']:+.4f}" for a, b in zip(rows, rows[1:], strict=False)]
            out.append(
                f"Each doubling of k buys less: the cosine changes by {', '.join(gains)} in turn, while every "
                f"doubling adds {rows[1]['after_course'] - rows[0]['after_course']:.4f} MB or more of codebook."
            )
        over = [r for r in rows if r["index_bytes"] > 1]
        if over:
            o = over[0]
            out.append(
                f"At k = {o['k']} the course's 1-byte rule undercounts: an index must tell {o['k']} codewords "
                f"apart, which needs {o['index_bytes']} bytes, so the table as stored takes "
                f"{o['after_stored']:.4f} MB, not {o['after_course']:.4f} MB."
            )
        return out


def q5_study(
    E: Any,
    *,
    ks: Sequence[int] = (64, 128, 256, 512),
    main_k: int = 256,
    seed: int = 0,
    tick: Tick | None = None,
) -> Q5Study:
    """``vq.compress(E, k, seed=seed)`` for every k (the call ``fastclust vq --seed`` makes).

    The answer at ``main_k`` is the sweep's own fit. A k larger than the table
    has rows raises :class:`FastclustError`.
    """
    tick = tick or _noop
    E = vq.check_embeddings(E)
    ks = [check_positive_int(k, "ks entry") for k in ks]
    if main_k not in ks:
        ks = sorted({*ks, check_positive_int(main_k, "main_k")})
    too_big = [k for k in ks if k > E.shape[0]]
    if too_big:
        raise FastclustError(f"k={max(too_big)} exceeds the embedding table's {E.shape[0]} rows")
    results = {}
    for k in ks:
        results[k] = vq.compress(E, k, seed=seed)
        tick()
    return Q5Study(int(E.shape[0]), int(E.shape[1]), ks, main_k, results, int(seed))


# ---------------------------------------------------------------------------------------------
# MNIST: k-means as a classifier, the classic notebook's protocol and a fuller one
# ---------------------------------------------------------------------------------------------


@dataclass
class MnistStudy:
    """The notebook's protocol, its init comparison across k, and k-means++ on the full training split."""

    label: str
    standin: bool
    image_shape: tuple[int, int]
    n_images: int
    n_train: int
    n_test: int
    n_subset: int
    notebook_k: int
    ks: list[int]
    full_ks: list[int]
    notebook_rows: list[dict[str, Any]]
    sweep_rows: list[dict[str, Any]]
    full_rows: list[dict[str, Any]]
    centroids: np.ndarray = field(repr=False)
    centroid_labels: np.ndarray = field(repr=False)
    centroid_source: str = ""

    def notebook_table(self) -> Table:
        cols = [
            Column("init", "initialisation", role="key"),
            Column("n_train", "training images", "d", group=True),
            Column("k", "k", "d"),
            Column("final_k", "final k", "d"),
            Column("iterations", "true", "d", head="iterations"),
            Column("printed", "printed", "d", head="iterations"),
            Column("objective", "objective", ".2f", scale=_scale_of([r["objective"] for r in self.notebook_rows])),
            Column("notebook_loss", "notebook 'loss'", ".2f"),
            Column("accuracy", "accuracy", ".4f"),
            Column("seconds", "seconds", ".3f", role="time"),
        ]
        return Table(
            "mnist_notebook",
            f"{self.label}: the notebook's protocol at k = {self.notebook_k}",
            cols,
            self.notebook_rows,
            note="Printed: what the notebook printed as its iteration count (its loop variable, always k − 1). "
            "Objective: the k-means sum of squared distances; the notebook's 'loss' is its mean un-squared distance. "
            "Accuracy: on the held-out images.",
        )

    def sweep_table(self) -> Table:
        cols = [
            Column("k", "k", "d", role="key"),
            Column("init", "initialisation", role="key"),
            Column("final_k", "final k", "d"),
            Column("iterations", "iterations", "d"),
            Column("objective", "objective", ".2f", scale=_scale_of([r["objective"] for r in self.sweep_rows])),
            Column("accuracy", "accuracy", ".4f"),
            Column("seconds", "seconds", ".3f", role="time"),
        ]
        return Table(
            "mnist_init_sweep",
            f"{self.label}: random Gaussian, random data-point and k-means++ initialisation across k "
            f"({self.n_subset:,} training images, as the notebook)",
            cols,
            self.sweep_rows,
        )

    def full_table(self) -> Table:
        cols = [
            Column("k", "k", "d", role="key"),
            Column("init", "initialisation", role="key"),
            Column("n_train", "training images", "d", group=True),
            Column("final_k", "final k", "d"),
            Column("iterations", "iterations", "d"),
            Column("objective", "objective", ".2f", scale=_scale_of([r["objective"] for r in self.full_rows])),
            Column("accuracy", "accuracy", ".4f"),
            Column("seconds", "seconds", ".3f", role="time"),
        ]
        return Table(
            "mnist_full",
            f"{self.label}: k-means++ on the whole training split ({self.n_train:,} images)",
            cols,
            self.full_rows,
        )

    def tables(self) -> list[Table]:
        return [self.notebook_table(), self.sweep_table(), self.full_table()]

    def accuracy_curves(self) -> dict[str, tuple[list[int], list[float]]]:
        """Accuracy against k per initialisation (and training-set size): what the accuracy figure plots."""
        curves: dict[str, tuple[list[int], list[float]]] = {}
        for r in self.sweep_rows:
            name = f"{r['init']} ({self.n_subset:,} images)"
            curves.setdefault(name, ([], []))
            curves[name][0].append(r["k"])
            curves[name][1].append(r["accuracy"])
        if self.full_rows:
            name = f"k-means++ ({self.n_train:,} images)"
            curves[name] = ([r["k"] for r in self.full_rows], [r["accuracy"] for r in self.full_rows])
        return curves

    def commentary(self) -> list[str]:
        g, p = self.notebook_rows
        out = [
            f"At the notebook's k = {self.notebook_k}, {g['init']} reaches a held-out accuracy of "
            f"{g['accuracy']:.4f} and {p['init']} {p['accuracy']:.4f}, on {self.n_test:,} held-out images. "
            f"They took {g['iterations']} and {p['iterations']} rounds; the notebook would have printed "
            f"{g['printed']} for both."
        ]
        if g["final_k"] < self.notebook_k or p["final_k"] < self.notebook_k:
            out.append(
                f"Clusters that emptied were dropped: final k {g['final_k']} (Gaussian) and {p['final_k']} (data points)."
            )
        by_k: dict[int, dict[str, dict[str, Any]]] = {}
        for r in self.sweep_rows:
            by_k.setdefault(r["k"], {})[r["init_code"]] = r
        wins_g = [k for k, v in by_k.items() if v["random-uniform"]["accuracy"] > v["random"]["accuracy"]]
        wins_p = [k for k, v in by_k.items() if v["random"]["accuracy"] > v["random-uniform"]["accuracy"]]
        out.append(
            f"Across k = {', '.join(map(str, by_k))} on the same {self.n_subset:,} images, the Gaussian start is more "
            f"accurate at {len(wins_g)} k ({', '.join(map(str, wins_g)) or 'none'}) and the data-point start at "
            f"{len(wins_p)} ({', '.join(map(str, wins_p)) or 'none'})."
        )
        shrunk = [
            v["random-uniform"] for v in by_k.values() if v["random-uniform"]["final_k"] < v["random-uniform"]["k"]
        ]
        if shrunk:
            lost = ", ".join(f"{r['k'] - r['final_k']} at k = {r['k']}" for r in shrunk)
            out.append(
                f"Gaussian draws can start far from every image, so clusters empty and are dropped: {lost}. "
                "Data points and k-means++ start on real images."
            )
        if all("k-means++" in v for v in by_k.values()):
            best = {k: max(v.values(), key=lambda r: r["accuracy"])["init"] for k, v in by_k.items()}
            kpp = [k for k, name in best.items() if name == "k-means++"]
            out.append(
                f"k-means++ is the most accurate of the three at {len(kpp)} of {len(by_k)} k"
                f"{' (' + ', '.join(map(str, kpp)) + ')' if kpp else ''}; accuracy rises with k for every start, from "
                f"{min(r['accuracy'] for r in self.sweep_rows):.4f} to {max(r['accuracy'] for r in self.sweep_rows):.4f}: "
                "more centroids capture more ways of writing each digit."
            )
        for r in self.full_rows:
            sub = by_k.get(r["k"], {}).get("k-means++")
            vs = f", against {sub['accuracy']:.4f} with {self.n_subset:,} images" if sub else ""
            out.append(
                f"With all {r['n_train']:,} training images, k-means++ at k = {r['k']} reaches {r['accuracy']:.4f}{vs}."
            )
        return out


def mnist_study(
    digits: fd.Digits,
    *,
    label: str | None = None,
    standin: bool | None = None,
    notebook_k: int = 20,
    per_digit: int = 100,
    ks: Sequence[int] = (10, 20, 50, 100, 200),
    full_ks: Sequence[int] = (20,),
    max_images: int | None = None,
    train_fraction: float = 0.8,
    seed: Any = 0,
    tick: Tick | None = None,
) -> MnistStudy:
    """k-means as a digit classifier (majority label per cluster), three ways.

    1. The notebook's protocol: ``per_digit`` training images of each digit,
       k = ``notebook_k``, random Gaussian init (the notebook's) against random
       data points; with the iteration count the notebook printed (k − 1).
    2. The same two initialisations, and k-means++, on the same images across ``ks``.
    3. k-means++ on the whole training split, at each of ``full_ks``.

    All accuracies are on the same held-out split (``1 - train_fraction`` of the
    images). ``max_images`` keeps only the first images (quick runs).
    ``standin`` marks data that is not MNIST (its tables then say so); by
    default, anything that is not 28x28 is a stand-in.
    """
    tick = tick or _noop
    notebook_k = check_positive_int(notebook_k, "notebook_k")
    per_digit = check_positive_int(per_digit, "per_digit")
    if not 0 < train_fraction < 1:
        raise FastclustError(f"train_fraction must lie in (0, 1), got {train_fraction}")
    if max_images is not None and len(digits.labels) > max_images:
        digits = fd.Digits(digits.images[:max_images], digits.labels[:max_images], digits.source)
    shape = (int(digits.images.shape[1]), int(digits.images.shape[2]))
    if standin is None:
        standin = shape != (28, 28)
    if label is None:
        label = f"8x8 stand-in for MNIST ({digits.source})" if standin else "MNIST"
    split_rng, subset_rng, fit_rng = spawn(spawn(seed, len(STREAMS))[STREAMS.index("mnist")], 3)
    X_train, y_train, X_test, y_test = fd.train_test_split(digits, int(train_fraction * len(digits.labels)), split_rng)
    X_train, X_test = X_train.astype(np.float32), X_test.astype(np.float32)  # exact for 0..255 pixels
    small = np.concatenate([subset_rng.permutation(np.flatnonzero(y_train == d))[:per_digit] for d in range(10)])
    X_small, y_small = X_train[small], y_train[small]

    sweep_ks = sorted({*ks, notebook_k})
    plan_fits = [("notebook", k, init) for k in sweep_ks for init in SWEEP_INITS]
    plan_fits += [("full", k, "k-means++") for k in full_ks]
    fit_seeds = dict(zip(plan_fits, spawn(fit_rng, len(plan_fits)), strict=True))

    def fit(which: str, k: int, init: str) -> tuple[fd.ClusterClassifier, dict[str, Any]]:
        Xt, yt = (X_small, y_small) if which == "notebook" else (X_train, y_train)
        t0 = perf_counter()
        clf = fd.ClusterClassifier(k, init=init, seed=fit_seeds[(which, k, init)]).fit(Xt, yt)
        seconds = perf_counter() - t0
        r = clf.result_
        row = {
            "init": INIT_NAMES[init],
            "init_code": init,
            "n_train": len(Xt),
            "k": k,
            "final_k": r.k,
            "iterations": r.n_iter,
            "objective": r.objective,
            "accuracy": clf.score(X_test, y_test),
            "seconds": seconds,
        }
        tick()
        return clf, row

    sweep_rows, notebook_rows = [], []
    notebook_clf = None
    for k in sweep_ks:
        for init in SWEEP_INITS:
            clf, row = fit("notebook", k, init)
            sweep_rows.append(row)
            if k == notebook_k and init in ("random-uniform", "random"):  # the notebook's comparison
                notebook_clf = clf
                notebook_rows.append(
                    {
                        **row,
                        "printed": notebook_k - 1,
                        "notebook_loss": fd.notebook_loss(X_small, clf.result_.centroids, clf.result_.labels),
                    }
                )
    sweep_rows = [r for r in sweep_rows if r["k"] in ks]
    full_rows = []
    full_clfs = {}
    for k in full_ks:
        full_clfs[k], row = fit("full", k, "k-means++")
        full_rows.append(row)
    # the centroid picture: k-means++ on every training image at the notebook's k if it ran, else the
    # first full fit, else the notebook's own data-point fit
    if full_clfs:
        centroid_clf = full_clfs.get(notebook_k, next(iter(full_clfs.values())))
        source = f"k-means++, k = {centroid_clf.result_.k}, {len(X_train):,} training images"
    else:
        assert notebook_clf is not None
        centroid_clf = notebook_clf
        source = f"random data points, k = {centroid_clf.result_.k}, {len(X_small):,} training images"
    imgs, labels = fd.centroid_images(centroid_clf, shape)
    return MnistStudy(
        label=label,
        standin=bool(standin),
        image_shape=shape,
        n_images=len(digits.labels),
        n_train=len(X_train),
        n_test=len(X_test),
        n_subset=len(X_small),
        notebook_k=notebook_k,
        ks=list(ks),
        full_ks=list(full_ks),
        notebook_rows=notebook_rows,
        sweep_rows=sweep_rows,
        full_rows=full_rows,
        centroids=imgs,
        centroid_labels=labels,
        centroid_source=source,
    )
