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
import re
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

#: How Q3 recommends one k per image from the two metrics' curves.
RECOMMEND_RULE = (
    "the k with the highest Kneedle score averaged over the metrics, each metric's curve of MSE against "
    "log2 k scaled to [0, 1] on its own; the score is the scaled curve's height above its chord, 0 at the "
    "first and last k"
)
#: A recommended k whose score beats the runner-up's by less than this is called a slim choice.
SLIM_MARGIN = 0.05
#: One (image, k) pair taking at least this share of a metric's total time is named in the timing sentence.
HEAVY_SHARE = 0.3

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
    ``group`` asks the renderings people read (the PDF, ``summary.md``) to write thousands
    with a comma, ``1,490``, as the prose does; the CSVs keep plain digits for programs.
    Identifiers a reader types back into a command (seeds) set it to ``False``.
    ``scale`` divides every value by ``10**scale`` before formatting (the label says so),
    so a column of large numbers keeps one format. ``head`` groups neighbouring
    columns under one heading (``"PSNR (dB)"`` over ``"L2"`` and ``"L1"``).
    """

    key: str
    label: str
    fmt: str = "s"
    role: str = "value"
    group: bool = True
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

    def display_cells(self, roles: Sequence[str] = ("key", "value", "time")) -> list[list[str]]:
        """:meth:`cells` as a reader sees them: thousands grouped with commas where the column asks for it."""
        cols = [c for c in self.columns if c.role in roles]
        return [
            [group_thousands(v) if c.numeric and c.group else v for v, c in zip(row, cols, strict=True)]
            for row in self.cells(roles)
        ]

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


_PLAIN_NUMBER = re.compile(r"([+-]?)(\d+)(\.\d+)?")


def group_thousands(text: str) -> str:
    """``"1490"`` as ``"1,490"``, ``"-12345.50"`` as ``"-12,345.50"``; anything that is not a plain number unchanged.

    The one thousands style of everything a person reads (PDF tables, prose, ``summary.md``):
    prose writes ``f"{n:,}"``, tables go through here.
    """
    m = _PLAIN_NUMBER.fullmatch(text)
    if not m:
        return text
    sign, whole, frac = m.groups()
    return f"{sign}{int(whole):,}{frac or ''}"


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
            Column("seed", "seed", "d", group=False),  # typed back into `fastclust quantize --seed`
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
            "Objective: what the cell's own metric minimises, summed over pixels: squared Euclidean distances "
            "for L2, absolute (Manhattan) distances for L1. The two are in different units, so compare L2 with "
            "L1 by MSE or PSNR, never by objective. "
            "Seconds: the kept run's clustering time, compiled kernels already warm.",
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

    def knee_scores(self, image: str, metric: str) -> list[float]:
        """The Kneedle score of every k for one curve (0 at the first and last k; the knee scores highest).

        The score of :func:`fastclust.image.knee_point`: MSE against the rate log2 k
        (final k), both scaled to [0, 1], and the height of the flipped curve above
        its chord. With fewer than three k there is no knee and every score is 0.
        """
        fits = [self.cell(image, metric, k).result for k in self.ks]
        if len(fits) < 3:
            return [0.0] * len(fits)
        x = np.log2([max(f.k, 1) for f in fits])
        y = np.array([f.mse for f in fits])
        xn = (x - x.min()) / max(float(np.ptp(x)), 1e-300)
        yn = (y - y.min()) / max(float(np.ptp(y)), 1e-300)
        return [float(v) for v in (1.0 - yn) - xn]

    def recommended(self, image: str) -> dict[str, Any]:
        """One k for ``image``: :data:`RECOMMEND_RULE`, with its runner-up and every metric's own knee."""
        scores = {m: self.knee_scores(image, m) for m in self.metrics}
        mean = [float(np.mean([scores[m][i] for m in self.metrics])) for i in range(len(self.ks))]
        knees = {m: self.choose[(image, m)].k for m in self.metrics}
        if len(self.ks) < 3:  # no knee: knee_point's own fallback, the lowest MSE (averaged over metrics)
            mse = [np.mean([self.cell(image, m, k).result.mse for m in self.metrics]) for k in self.ks]
            best = int(np.argmin(mse))
            return {
                "image": image,
                "k": self.ks[best],
                "score": None,
                "runner_k": None,
                "runner_score": None,
                "margin": None,
                "slim": False,
                "knees": knees,
                "scores": mean,
            }
        order = sorted(range(len(self.ks)), key=lambda i: (-mean[i], self.ks[i]))  # a tie keeps the smaller k
        best, runner = order[0], order[1]
        margin = mean[best] - mean[runner]
        return {
            "image": image,
            "k": self.ks[best],
            "score": mean[best],
            "runner_k": self.ks[runner],
            "runner_score": mean[runner],
            "margin": margin,
            "slim": margin < SLIM_MARGIN,
            "knees": knees,
            "scores": mean,
        }

    def choose_table(self) -> Table:
        cols = [
            Column("image", "image", role="key"),
            Column("k", "k", "d", head="recommended"),
            Column("score", "score", ".3f", head="recommended"),
            Column("runner_k", "k", "d", head="runner-up"),
            Column("runner_score", "score", ".3f", head="runner-up"),
            *[Column(f"knee_{m}", m.upper(), "d", head="knee of") for m in self.metrics],
            *[Column(f"psnr_{m}", m.upper(), ".2f", head="PSNR (dB)") for m in self.metrics],
            Column("bits", "index bits", "d"),
        ]
        rows = []
        for name in self.images:
            rec = self.recommended(name)
            row: dict[str, Any] = {
                "image": name,
                "k": rec["k"],
                "score": rec["score"],
                "runner_k": rec["runner_k"],
                "runner_score": rec["runner_score"],
                "bits": int(self.cell(name, self.metrics[0], rec["k"]).result.bits_per_pixel),
            }
            for m in self.metrics:
                row[f"knee_{m}"] = rec["knees"][m]
                row[f"psnr_{m}"] = self.cell(name, m, rec["k"]).result.psnr
            rows.append(row)
        return Table(
            "q3_best_k",
            "Q3: the recommended k per image",
            cols,
            rows,
            note=f"Rule: {RECOMMEND_RULE}. Score: the knee score averaged over the metrics; runner-up: the k that "
            "scores next. Knee of: each metric's own knee. PSNR and index bits (what one pixel's index costs, "
            "⌈log2 k⌉): at the recommended k.",
        )

    def tables(self) -> list[Table]:
        return [self.grid_table(), self.l1_vs_l2_table(), self.choose_table()]

    def commentary(self) -> list[str]:
        """Sentences on L1 against L2 (quality, rounds, time), each from the measured numbers."""
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
        out.append(self.time_commentary(rows))
        return out

    @staticmethod
    def time_commentary(rows: Sequence[Mapping[str, Any]]) -> str:
        """Which metric is faster, pair by pair and in all, and whether one pair decides the total."""
        n = len(rows)
        l1_faster = [r for r in rows if r["sec_l1"] < r["sec_l2"]]
        l1_slower = [r for r in rows if r["sec_l1"] > r["sec_l2"]]
        t_l1, t_l2 = sum(r["sec_l1"] for r in rows), sum(r["sec_l2"] for r in rows)
        it_l1, it_l2 = sum(r["iter_l1"] for r in rows), sum(r["iter_l2"] for r in rows)
        per_l1, per_l2 = t_l1 / max(it_l1, 1) * 1e3, t_l2 / max(it_l2, 1) * 1e3
        named = ", ".join(f"{r['image']} k = {r['k']}" for r in l1_slower)
        slower = f" ({named})" if 0 < len(l1_slower) <= 4 else ""
        more = f" and more in {len(l1_slower)}{slower}" if l1_slower else ""
        s = (
            f"The kept L1 run took less time than the L2 run in {len(l1_faster)} of {n} pairs{more}. In all, L1 "
            f"took {t_l1:.2f} s ({per_l1:.1f} ms per round) and L2 {t_l2:.2f} s ({per_l2:.1f} ms per round)"
        )
        s += (
            f": a round costs more under {'L1' if per_l1 > per_l2 else 'L2'}, "
            f"{'and' if (per_l1 > per_l2) == (t_l1 > t_l2) else 'but'} "
            f"{'L1' if t_l1 < t_l2 else 'L2'} is faster in total."
        )
        if n >= 3 and t_l1 > 0 and t_l2 > 0:
            # the single run that takes the largest share of its metric's total, under either metric
            share, metric, heaviest = max(
                ((r[f"sec_{m}"] / t, m, r) for m, t in (("l2", t_l2), ("l1", t_l1)) for r in rows),
                key=lambda c: c[0],
            )
            if share >= HEAVY_SHARE:
                rest_l1, rest_l2 = t_l1 - heaviest["sec_l1"], t_l2 - heaviest["sec_l2"]
                holds = (rest_l1 < rest_l2) == (t_l1 < t_l2)
                s += (
                    f" One pair weighs heavily: {heaviest['image']} at k = {heaviest['k']} took "
                    f"{heaviest[f'sec_{metric}']:.2f} s under {metric.upper()} "
                    f"({heaviest[f'iter_{metric}']} rounds), {share:.0%} of that metric's total. Without it, "
                    f"L1 took {rest_l1:.2f} s and L2 {rest_l2:.2f} s, "
                    + ("so the order holds." if holds else "so the order reverses: the total rests on that one pair.")
                )
        return s

    def choose_commentary(self) -> list[str]:
        """One recommended k per image, how clear-cut each is, and where the two metrics' knees disagree."""
        recs = [self.recommended(name) for name in self.images]
        if len(self.ks) < 3:
            return [
                f"With only {len(self.ks)} k tried there is no knee: the rule falls back to the lowest MSE, "
                + "; ".join(f"{r['image']}: k = {r['k']}" for r in recs)
                + "."
            ]
        out = ["Recommended: " + "; ".join(f"{r['image']}, k = {r['k']}" for r in recs) + "."]
        slim = [r for r in recs if r["slim"]]
        clear = [r for r in recs if not r["slim"]]
        if slim:
            parts = []
            for r in slim:
                k, rk = r["k"], r["runner_k"]
                lo, hi = min(k, rk), max(k, rk)
                gain = np.mean(
                    [
                        self.cell(r["image"], m, hi).result.psnr - self.cell(r["image"], m, lo).result.psnr
                        for m in self.metrics
                    ]
                )
                bits = math.log2(hi / lo)
                parts.append(
                    f"{r['image']}: {r['score']:.3f} at k = {k} against {r['runner_score']:.3f} at k = {rk}, where "
                    f"k = {hi} buys {gain:+.2f} dB of PSNR for {bits:.3g} more bit{'' if bits == 1 else 's'} per pixel"
                )
            who = "every image" if len(slim) == len(recs) else f"{len(slim)} of {len(recs)} images"
            out.append(
                f"The margin is slim for {who}, so the curve is nearly as bent at the runner-up and either k is "
                "defensible (PSNR averaged over the metrics): " + "; ".join(parts) + "."
            )
        if clear:
            out.append(
                "A clear knee for "
                + "; ".join(
                    f"{r['image']}: {r['score']:.3f} at k = {r['k']} against {r['runner_score']:.3f} at the "
                    f"runner-up k = {r['runner_k']}"
                    for r in clear
                )
                + "."
            )
        if len(self.metrics) > 1:
            agree = [r for r in recs if len(set(r["knees"].values())) == 1]
            differ = [r for r in recs if len(set(r["knees"].values())) > 1]
            parts = []
            if agree:
                parts.append(
                    "the two metrics' own knees agree for "
                    + ", ".join(f"{r['image']} (k = {next(iter(r['knees'].values()))})" for r in agree)
                )
            if differ:
                parts.append(
                    ("and differ for " if agree else "the two metrics' own knees differ for ")
                    + ", ".join(
                        f"{r['image']} ({', '.join(f'{m.upper()} {kk}' for m, kk in r['knees'].items())})"
                        for r in differ
                    )
                    + ", which the averaged score settles"
                )
            out.append(parts[0][0].upper() + " ".join(parts)[1:] + ".")
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
        cols = [Column("what", "", role="key"), Column("count", "count", "d")]
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
        return Table(
            "q4_overall",
            "Q4: overall mismatch rate per k",
            cols,
            self.overall_rows(self.ks),
            note="Seconds: that k's k-means++ fits (10 restarts) on the shared eigenbasis. The eigensolve is done "
            f"once for every k (up to k = {max((*self.ks, *self.tune_ks))}) and is in no row: it took "
            f"{self.basis_seconds:.3f} s. Single wall-clock runs: small differences between rows can be noise.",
        )

    def tune_table(self) -> Table:
        ks, rates = self.curve()
        lowest = min(rates)
        rows = self.overall_rows(self.tune_ks)
        for r in rows:
            r["above_lowest"] = r["overall"] - lowest
            marks = [m for m, hit in (("chosen", r["k"] == self.chosen_k), ("lowest", r["overall"] == lowest)) if hit]
            r["mark"] = ", ".join(marks)
        cols = [
            Column("k", "k", "d", role="key"),
            Column("overall", "overall rate", ".4f"),
            Column("mismatched", "mismatched", "d"),
            Column("above_lowest", "above lowest", ".4f"),
            Column("mark", ""),
        ]
        return Table("q4_tuning", "Q4: overall mismatch rate at every k tried for tuning", cols, rows)

    def tables(self) -> list[Table]:
        return [self.graph_table(), self.overall_table(), self.clusters_table(), self.tune_table()]

    def curve(self) -> tuple[list[int], list[float]]:
        return self.tune_ks, [self.tables_by_k[k].overall for k in self.tune_ks]

    def components(self) -> list[int]:
        """Sizes of the kept graph's connected components, largest first."""
        from scipy.sparse.csgraph import connected_components

        _, comp = connected_components(self.graph.adjacency, directed=False)
        return sorted(np.bincount(comp).tolist(), reverse=True)

    def split_commentary(self) -> list[str]:
        """The smallest k's clusters: does the leading split follow the party labels?"""
        k0 = min(self.ks)
        t = self.tables_by_k[k0]
        parts = [
            f"cluster {r['cluster'] + 1} has {r['size']:,} blogs, {r['size'] - r['mismatches']:,} of them "
            f"{PARTY.get(r['majority'], '?')} (mismatch {r['rate']:.4f})"
            for r in t.rows
        ]
        majorities = {r["majority"] for r in t.rows}
        split = (
            "each party holds the majority of one cluster: the leading spectral split follows party lines"
            if len(majorities) == len(t.rows) == 2
            else "the clusters do not separate the parties"
        )
        return [f"At k = {k0}, {'; '.join(parts)}. So {split}, with overall mismatch {t.overall:.4f}."]

    def tuning_commentary(self) -> list[str]:
        """The shape of the tuning curve and what the rule chose, from the rates (the rule itself is stated once, by the caller)."""
        ks, rates = self.curve()
        rate = dict(zip(ks, rates, strict=True))
        lo_i, hi_i = int(np.argmin(rates)), int(np.argmax(rates))
        k_min, k_max = ks[lo_i], ks[hi_i]
        first, last = ks[0], ks[-1]
        out = [
            f"The overall rate is {rate[first]:.4f} at k = {first} and {rate[last]:.4f} at k = {last}; the lowest is "
            f"{rates[lo_i]:.4f} at k = {k_min} and the highest {rates[hi_i]:.4f} at k = {k_max}."
        ]
        steps = np.diff(rates)
        if len(steps) and (steps <= 0).all():
            out.append(
                "It never rises as k grows over the k tried, so every extra cluster helps a little or not at all."
            )
        elif len(steps) and (steps >= 0).all():
            out.append("It never falls as k grows over the k tried: more clusters only hurt.")
        else:
            rises, falls = int((steps > 0).sum()), int((steps < 0).sum())
            s = f"It does not fall steadily with k: between neighbouring k tried it rises {rises} times and falls {falls} times."
            # the first k past the lowest after which every k tried stays more than the tolerance above it
            later = [k for k in ks if k > k_min]
            far = [k for k in later if rate[k] > rates[lo_i] + self.tolerance]
            tail = next((k for k in later if all(rate[j] > rates[lo_i] + self.tolerance for j in ks if j >= k)), None)
            if tail is not None and len(far) >= 2:
                tail_rates = [rate[j] for j in ks if j >= tail]
                s += (
                    f" Beyond k = {k_min} more clusters hurt: from k = {tail} on, every k tried is more than "
                    f"{self.tolerance} above the lowest ({min(tail_rates):.4f} to {max(tail_rates):.4f})"
                    + (f", and k = {last} is worse than k = {first}." if rate[last] > rate[first] else ".")
                )
            elif rate[last] > rate[first]:
                s += f" k = {last} ends worse than k = {first}."
            out.append(s)
        chosen = self.chosen_k
        t_c, t_l = self.tables_by_k[chosen], self.tables_by_k[k_min]
        s = f"The rule chooses k = {chosen} (rate {rate[chosen]:.4f}"
        if chosen == k_min:
            s += ", the lowest of all)."
        else:
            s += (
                f", {rate[chosen] - rates[lo_i]:.4f} above the lowest): k = {k_min} would mismatch "
                f"{t_c.n_mismatched - t_l.n_mismatched} fewer of the {t_c.n_nodes:,} blogs with "
                f"{k_min - chosen} more clusters."
            )
        out.append(s)
        return out

    def community_commentary(self) -> list[str]:
        """Community structure from the numbers: the two-party split, where pure groups appear, the components."""
        out = []
        k0, k_hi = min(self.ks), max(self.ks)
        two, big = self.tables_by_k[k0], self.tables_by_k[k_hi]
        party_split = len(two.rows) == 2 and {r["majority"] for r in two.rows} == {0, 1}
        if party_split and two.overall < 0.1:
            out.append(
                f"The dominant structure is the two-party split: at k = {k0}, {1 - two.overall:.1%} of the blogs "
                "share their cluster's majority label."
            )
        else:
            out.append(
                f"The party labels explain the clusters only partly: at k = {k0} the overall mismatch is "
                f"{two.overall:.4f}."
            )
        pure = {k: sum(r["rate"] == 0 for r in self.tables_by_k[k].rows) for k in self.ks}
        counts = [f"{pure[k]} of {k} at k = {k}" for k in self.ks]
        without = [k for k in self.ks if pure[k] == 0]
        with_pure = [k for k in self.ks if pure[k] > 0]
        s = f"Clusters with no minority at all: {', '.join(counts)}."
        only_large = bool(without and with_pure and max(without) < min(with_pure))
        if only_large:
            s = (
                f"Pure sub-communities appear only at large k: no cluster is pure up to k = {max(without)}, "
                f"against {', '.join(counts[len(without) :])}."
            )
        out.append(s)
        rates = [self.tables_by_k[k].overall for k in self.ks]
        trend = "rises" if rates[-1] > rates[0] else "falls" if rates[-1] < rates[0] else "stays"
        # "yet" only where purer small clusters and a rising overall rate pull against each other
        but = "Yet the" if only_large and trend == "rises" else "The"
        s = (
            f"{but} overall rate {trend} from {rates[0]:.4f} at k = {k0} to {rates[-1]:.4f} at k = {k_hi}"
            if trend != "stays"
            else f"The overall rate is {rates[0]:.4f} at both k = {k0} and k = {k_hi}"
        )
        mixed = [r for r in big.rows if r["rate"] > 0.1]
        if big.n_mismatched and mixed:
            in_mixed = sum(r["mismatches"] for r in mixed)
            s += (
                f": at k = {k_hi} the mismatched blogs gather in a few mixed clusters, {len(mixed)} of {len(big.rows)} "
                f"with a minority above 10%, which hold {in_mixed} of the {big.n_mismatched} mismatched blogs "
                f"({in_mixed / big.n_mismatched:.0%}); the least pure cluster mismatches "
                f"{max(r['rate'] for r in big.rows):.4f}."
            )
        else:
            s += "."
        out.append(s)
        sizes = self.components()
        if len(sizes) > 1:
            small = sizes[1:]
            cluster_sizes = {r["size"] for r in two.rows}
            s = (
                f"The kept graph has {len(sizes)} connected components: one of {sizes[0]:,} blogs and "
                + ", ".join(f"one of {c:,}" for c in small)
                + "."
            )
            if not cluster_sizes & set(small):
                shown = ", ".join(f"{r['size']:,}" for r in two.rows)
                s += (
                    f" No k = {k0} cluster is a small component on its own (their sizes are {shown}): the leading "
                    "split is the party split, not the graph's disconnection."
                )
            out.append(s)
        return out

    def commentary(self) -> list[str]:
        """Every Q4 sentence: the leading split, the tuning curve, the community structure."""
        return self.split_commentary() + self.tuning_commentary() + self.community_commentary()


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
    (at k = n every blog is its own pure cluster, so the lowest alone is not the goal).
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
            note="MB = 2²⁰ bytes, to 4 decimals. Course rule: float32 = 4 bytes per number, 1 byte per index; "
            "after = codebook (k × d float32) + one index per row.",
        )

    def sweep_table(self) -> Table:
        before_si = self.n * self.d * 4 / 1e6
        cols = [
            Column("k", "k", "d", role="key"),
            Column("before", "MB before", ".4f"),
            Column("after_course", "course rule", ".4f", head="MB after"),
            Column("after_stored", "as stored", ".4f", head="MB after"),
            Column("ratio_course", "course rule", ".2f", head="compression ratio"),
            Column("ratio_stored", "as stored", ".2f", head="compression ratio"),
            Column("index_bytes", "bytes per index, stored", "d"),
            Column("cosine", "average cosine", ".4f"),
            Column("iterations", "iterations", "d"),
            Column("seconds", "seconds", ".3f", role="time"),
        ]
        return Table(
            "q5_sweep",
            "Q5: memory and quality for every k (MB = 2²⁰ bytes)",
            cols,
            [self.memory(k) for k in self.ks],
            note="Course rule: 1 byte per index, whatever k. As stored: an index takes the smallest unsigned "
            "integer that can name every codeword, which for k > 256 is 2 bytes (up to k = 65,536). "
            f"In MB of 10⁶ bytes every size is 1.048576 times larger: the table before is {before_si:.4f} such MB.",
        )

    def tables(self) -> list[Table]:
        return [self.answer_table(), self.sweep_table()]

    def commentary(self) -> list[str]:
        """The quality-memory trade-off, step by step in k, from the sweep's numbers."""
        rows = [self.memory(k) for k in self.ks]
        lo, hi = rows[0], rows[-1]
        out = [
            f"Raising k from {lo['k']} to {hi['k']} {'lifts' if hi['cosine'] >= lo['cosine'] else 'lowers'} the "
            f"average cosine from {lo['cosine']:.4f} to {hi['cosine']:.4f}, while the compressed size grows from "
            f"{lo['after_course']:.4f} to {hi['after_course']:.4f} MB under the course's rule (compression ratio "
            f"{lo['ratio_course']:.2f} down to {hi['ratio_course']:.2f})."
        ]
        if len(rows) > 2:
            out.append(self.step_commentary(rows))
        over = [r for r in rows if r["index_bytes"] > 1]
        if over:
            o = over[0]
            out.append(
                f"At k = {o['k']} the course's 1-byte rule undercounts: an index must tell {o['k']} codewords "
                f"apart, which needs {o['index_bytes']} bytes, so the table as stored takes "
                f"{o['after_stored']:.4f} MB (ratio {o['ratio_stored']:.2f}), not {o['after_course']:.4f} MB."
            )
        return out

    @staticmethod
    def step_commentary(rows: Sequence[Mapping[str, Any]]) -> str:
        """Cosine gained and MB added by each step of k, and whether the gain per MB rises or falls."""
        steps = [
            {
                "from": a["k"],
                "to": b["k"],
                "gain": b["cosine"] - a["cosine"],
                "mb": b["after_course"] - a["after_course"],
            }
            for a, b in zip(rows, rows[1:], strict=False)
        ]
        doubling = all(st["to"] == 2 * st["from"] for st in steps)
        step_name = "doubling of k" if doubling else "step of k"
        gains = ", ".join(f"{st['gain']:+.4f}" for st in steps)
        mbs = ", ".join(f"{st['mb']:.4f}" for st in steps)
        s = f"Step by step, the cosine changes by {gains} and the size by {mbs} MB"
        g = [st["gain"] for st in steps]
        s += (
            f": each {step_name} buys more cosine than the one before"
            if all(b > a for a, b in zip(g, g[1:], strict=False))
            else f": each {step_name} buys less cosine than the one before"
            if all(b < a for a, b in zip(g, g[1:], strict=False))
            else f": the cosine gained per {step_name} neither rises nor falls steadily"
        )
        per_mb = [st["gain"] / st["mb"] for st in steps if st["mb"] > 0]
        if len(per_mb) == len(steps):
            trend = (
                "falls"
                if all(b < a for a, b in zip(per_mb, per_mb[1:], strict=False))
                else "rises"
                if all(b > a for a, b in zip(per_mb, per_mb[1:], strict=False))
                else "neither rises nor falls steadily"
            )
            s += (
                f", while the cosine gained per MB added {trend} (" + ", ".join(f"{v:.3f}" for v in per_mb) + " per MB)"
            )
            if trend == "falls":
                s += ": memory buys quality at a worsening rate"
            elif trend == "rises":
                s += ": memory buys quality at an improving rate over these k"
        return s + "."


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
            Column("n_train", "training images", "d"),
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
            Column("n_train", "training images", "d"),
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

    def trend_commentary(self) -> str:
        """How accuracy moves with k for each start: rising at every step, or not, said as it is."""
        curves: dict[str, list[tuple[int, float]]] = {}
        for r in self.sweep_rows:
            curves.setdefault(r["init"], []).append((r["k"], r["accuracy"]))
        rising = [name for name, c in curves.items() if _rises([a for _, a in sorted(c)])]
        lo = min(r["accuracy"] for r in self.sweep_rows)
        hi = max(r["accuracy"] for r in self.sweep_rows)
        span = f"accuracy ranges from {lo:.4f} to {hi:.4f} over the sweep"
        if len(rising) == len(curves):
            return (
                f"Accuracy rises with every step of k for every start ({span}): more centroids capture more "
                "ways of writing each digit."
            )
        dips = []
        for name, c in curves.items():
            c = sorted(c)
            down = [f"{b[0]}" for a, b in zip(c, c[1:], strict=False) if b[1] <= a[1]]
            if down:
                dips.append(f"{name} at k = {', '.join(down)}")
        return (
            f"Accuracy does not rise at every step of k for every start ({span}): it fails to rise for "
            + "; ".join(dips)
            + "."
        )

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
        ties = [k for k in by_k if k not in wins_g and k not in wins_p]
        out.append(
            f"Across k = {', '.join(map(str, by_k))} on the same {self.n_subset:,} images, the Gaussian start is more "
            f"accurate at {_which_ks(wins_g, len(by_k))} and the data-point start at {_which_ks(wins_p, len(by_k))}"
            + (f"; they are equally accurate at {_which_ks(ties, len(by_k))}." if ties else ".")
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
                f"{' (' + ', '.join(map(str, kpp)) + ')' if kpp else ''}."
            )
        out.append(self.trend_commentary())
        for r in self.full_rows:
            sub = by_k.get(r["k"], {}).get("k-means++")
            vs = f", against {sub['accuracy']:.4f} with {self.n_subset:,} images" if sub else ""
            out.append(
                f"With all {r['n_train']:,} training images, k-means++ at k = {r['k']} reaches {r['accuracy']:.4f}{vs}."
            )
        return out


def _which_ks(ks: Sequence[int], n_all: int) -> str:
    """``ks`` as prose: "no k", "every k" or "k = 10 and 20" (never "0 k (none)")."""
    if not ks:
        return "no k"
    if len(ks) == n_all:
        return "every k"
    names = [str(k) for k in ks]
    return "k = " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1])


def _rises(values: Sequence[float]) -> bool:
    return all(b > a for a, b in zip(values, values[1:], strict=False))


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
