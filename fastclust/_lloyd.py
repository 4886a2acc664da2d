"""The one Lloyd loop: rounds of update + assignment until the labels stop changing.

It is written against :class:`Rows`, a small interface to wherever the rows live,
with two implementations: :class:`fastclust._memory.InMemoryRows` (an array in this
process) and :class:`fastclust.distributed.DaskRows` (blocks of a dask array, on a
cluster or local threads). So both paths share, line for line, the stop rule
(:class:`StopRule`), the empty-cluster policies (:func:`handle_empty`) and the
order of operations, and differ only in how a pass over the rows is made.

Nothing here warns or prints: the public drivers turn the :class:`Outcome` into
warnings and results.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np

from .errors import FastclustError
from .metrics import Metric

__all__ = ["EMPTY_POLICIES", "Outcome", "Rows", "Step", "StopRule", "handle_empty", "run"]

EMPTY_POLICIES = ("drop", "reseed", "error")


class Step(NamedTuple):
    """What one assignment pass reports."""

    objective: float
    """``sum_i w_i dist(x_i, c_{label_i})`` in the metric's units (squared for L2)."""
    n_changed: int
    """Samples whose label differs from the previous pass's (all of them on the first pass)."""


class Rows(Protocol):
    """The data access the loop needs. Labels live inside the implementation, next to the rows."""

    def assign(self, C: np.ndarray, drift: np.ndarray | None) -> Step:
        """Label every row with its nearest centre in ``C``; ``drift`` (centre moves since the last
        pass, or None) lets an implementation skip samples whose centre provably stays nearest."""
        ...

    def update(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(centres, weight)`` of the current labels: the metric's centres (NaN rows for clusters of
        zero weight) and each cluster's total weight."""
        ...

    def weights(self, k: int) -> np.ndarray:
        """Each cluster's total weight under the current labels."""
        ...

    def farthest(self, m: int) -> np.ndarray:
        """Up to ``m`` global sample indices of positive weight, farthest from their centres first (ties:
        lowest index), none sitting on its centre."""
        ...

    def relabel(self, samples: np.ndarray, clusters: np.ndarray) -> None:
        """Move ``samples`` (global indices) to ``clusters``."""
        ...

    def renumber(self, keep: np.ndarray) -> None:
        """Drop the clusters not in the mask ``keep`` (they have no members) and renumber the rest."""
        ...

    def fingerprint(self) -> bytes:
        """A digest of the current labeling: equal digests mean equal labelings."""
        ...

    # Optional: ``session()``, a context manager :func:`run` holds for the whole fit (the wide
    # path's thread team and BLAS limit, set up once per fit rather than once per round), and
    # ``needs_drift = False`` for an assignment that never reads ``drift`` (it is then not computed).


class StopRule:
    """When the loop ends: the one rule of both paths.

    - ``"converged"``: an assignment changed no label.
    - ``"stalled"``: a labeling repeats without a new minimum of the objective in
      between. Exact ties (frequent with L1) can change labels at an unchanged
      objective; going on through such a plateau is right, but a labeling seen
      twice on it is a cycle. There are finitely many labelings, so with this
      rule the loop provably ends.

    The labeling's fingerprint is asked for only on rounds that did not lower the
    objective, so a run without plateaus never pays for it.
    """

    def __init__(self) -> None:
        self.best = math.inf
        self.plateau: set[bytes] = set()  # labelings seen since the objective last reached a new minimum

    def observe(self, step: Step, fingerprint: Callable[[], bytes]) -> str | None:
        """The stop reason after ``step``, or None to go on."""
        if step.n_changed == 0:
            return "converged"
        if step.objective < self.best:
            self.best = step.objective
            self.plateau.clear()
            return None
        digest = fingerprint()
        if digest in self.plateau:
            return "stalled"
        self.plateau.add(digest)
        return None


def handle_empty(
    rows: Rows, C: np.ndarray, weight: np.ndarray, C_old: np.ndarray, policy: str, round_: int
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the empty-cluster ``policy`` after an update; return ``(C, C_old)`` for the kept clusters.

    ``"error"`` raises; ``"reseed"`` gives each empty cluster the sample farthest from its
    centre (then recomputes the centres); whatever is still empty is dropped (``"drop"``,
    and ``"reseed"`` when no sample is left off its centre), renumbering the labels.
    """
    empty = weight <= 0
    if not empty.any():
        return C, C_old
    if policy == "error":
        raise FastclustError(
            f"cluster(s) {np.flatnonzero(empty).tolist()} became empty in round {round_}; "
            "use empty='drop' or empty='reseed'"
        )
    if policy == "reseed":
        targets = np.flatnonzero(empty)
        samples = rows.farthest(targets.size)
        rows.relabel(samples, targets[: samples.size])
        C, weight = rows.update(C.shape[0])
    if (weight <= 0).any():
        keep = weight > 0
        rows.renumber(keep)
        C, C_old = np.ascontiguousarray(C[keep]), C_old[keep]
    return C, C_old


@dataclass
class Outcome:
    """What the loop ends with (centres in the rows' units; labels stay inside the rows)."""

    centres: np.ndarray
    n_iter: int
    stop_reason: str
    history: list[float] = field(default_factory=list)


def run(
    rows: Rows,
    C: np.ndarray,
    metric: Metric,
    *,
    empty: str = "drop",
    max_iter: int | None = None,
    progress: Callable[[int, float, int], None] | None = None,
) -> Outcome:
    """Lloyd's loop from centres ``C``: assign, then rounds of update + assignment until :class:`StopRule` says stop.

    ``max_iter`` caps the rounds (``stop_reason="max_iter"``); ``progress(round, objective,
    n_changed)`` is called after every round. With ``empty="drop"`` a fit that did not
    converge ends without empty clusters too.
    """
    with getattr(rows, "session", nullcontext)():
        return _run(rows, C, metric, empty, max_iter, progress)


def _run(
    rows: Rows,
    C: np.ndarray,
    metric: Metric,
    empty: str,
    max_iter: int | None,
    progress: Callable[[int, float, int], None] | None,
) -> Outcome:
    rows.assign(C, None)
    stop = StopRule()
    out = Outcome(C, 0, "max_iter")
    needs_drift = getattr(rows, "needs_drift", True)
    while max_iter is None or out.n_iter < max_iter:
        C_old = C
        C, weight = rows.update(C.shape[0])
        C, C_old = handle_empty(rows, C, weight, C_old, empty, out.n_iter + 1)
        step = rows.assign(C, metric.drift(C_old, C) if needs_drift else None)
        out.n_iter += 1
        out.history.append(step.objective)
        if progress is not None:
            progress(out.n_iter, step.objective, step.n_changed)
        reason = stop.observe(step, rows.fingerprint)
        if reason is not None:
            out.stop_reason = reason
            break
    if out.stop_reason != "converged" and empty == "drop":
        weight = rows.weights(C.shape[0])
        if (weight <= 0).any():
            rows.renumber(weight > 0)
            C = np.ascontiguousarray(C[weight > 0])
            # rows of weight 0 in a dropped cluster need a kept centre; every other row keeps its
            # label (its nearest centre is kept), so the objective and the centres stand
            rows.assign(C, None)
    out.centres = C
    return out
