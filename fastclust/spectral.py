"""Spectral clustering written out (the homework's Q4): Laplacian variants, eigenvectors, k-means.

The graph is never densified as a whole: eigenvectors come per connected
component (small components densely, in batches; large ones from
``scipy.sparse.linalg.eigsh`` on sparse operators), and the embedding is
clustered with :func:`fastclust.kmeans`.

Seeds. Every call splits its seed into two child streams (:func:`fastclust._validation.spawn`):
the first starts the eigensolver, the second draws the k-means starts. The
eigenvectors are made canonical (solved to machine precision, a fixed sign,
a fixed order among equal eigenvalues), so the first ``k`` vectors of a
``k_max`` solve equal a ``k`` solve to rounding. Hence, for an integer seed,
``spectral_clustering(A, k, seed=s)`` and
``spectral_clustering(A, k, basis=spectral_basis(A, k_max, seed=s), seed=s)``
give the same labels for every ``k_max >= k``: the report, the CLI and
:func:`tune_k` print the same numbers.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import eigsh

from ._repr import short_repr
from ._validation import as_generator, check_choice, check_positive_int, spawn
from .engine import kmeans
from .errors import FastclustError

__all__ = [
    "DENSE_MAX_NODES",
    "LAPLACIANS",
    "MismatchTable",
    "SpectralBasis",
    "SpectralResult",
    "TuneK",
    "compare_laplacians",
    "mismatch_table",
    "n_components_from_laplacian",
    "spectral_basis",
    "spectral_clustering",
    "spectral_embedding",
    "tune_k",
]

LAPLACIANS = ("unnormalized", "symmetric", "random-walk", "regularized", "score", "score+")
#: Connected components up to this many nodes are solved densely (``numpy.linalg.eigh``, batched
#: by size: exact and independent of k); larger ones by ``eigsh`` to machine precision.
DENSE_MAX_NODES = 256
#: Floats per batch of dense component matrices (32 MB): bounds memory with many small components.
_BATCH_FLOATS = 1 << 22
#: Eigenvalues closer than this (relative to the spectrum's bound) are ordered as equal: by
#: component, then by position, so rounding noise never reorders a repeated eigenvalue.
_TIE_RESOLUTION = 1e-12
_TAU_LAPLACIANS = ("regularized", "score+")


@short_repr
@dataclass
class SpectralResult:
    """Labels, the embedding they came from, and the eigenvalues behind it.

    ``converged`` and ``stop_reason`` are those of the k-means run that was kept
    (the lowest objective of ``n_init``).
    """

    labels: np.ndarray
    embedding: np.ndarray
    eigenvalues: np.ndarray
    seconds: float
    laplacian: str
    objective: float = field(default=math.nan)
    converged: bool = True
    stop_reason: str = "converged"


def _check_adjacency(A: Any) -> sp.csr_matrix:
    """A validated adjacency matrix: square, non-empty, real, finite, non-negative, symmetric (CSR float64)."""
    if isinstance(A, np.ma.MaskedArray):
        raise FastclustError("A is a masked array: the mask would be ignored; fill or drop the masked entries first")
    if A is None or isinstance(A, (str, bytes)):
        raise FastclustError(f"A must be a square matrix (a scipy sparse matrix or 2-D array), got {A!r}")
    if not sp.issparse(A):
        A = np.asarray(A)
        if A.ndim != 2:
            raise FastclustError(f"A must be a square matrix, got shape {A.shape}")
    dtype = np.dtype(A.dtype)
    if dtype.hasobject or not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        raise FastclustError(f"A must be numeric, got dtype {dtype}")
    if np.issubdtype(dtype, np.complexfloating):
        raise FastclustError(f"A must be real, got complex dtype {dtype}: an adjacency matrix holds edge weights")
    A = sp.csr_matrix(A, dtype=np.float64)
    if A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise FastclustError(f"A must be a non-empty square matrix, got shape {A.shape}")
    A.eliminate_zeros()
    if not np.isfinite(A.data).all() or (A.data < 0).any():
        raise FastclustError("A must have finite, non-negative weights")
    if A.nnz and abs(A - A.T).max() > 1e-12 * max(1.0, abs(A).max()):
        raise FastclustError("A must be symmetric (an undirected graph): symmetrise it first, e.g. A.maximum(A.T)")
    return A


def _check_has_edges(A: sp.csr_matrix) -> np.ndarray:
    """The weighted degrees of ``A``; refuses a graph without an edge between two distinct nodes."""
    off_diagonal = A.nnz - int(np.count_nonzero(A.diagonal()))
    if off_diagonal == 0:
        what = "only self-loops" if A.nnz else "all weights are zero"
        raise FastclustError(
            f"A has no edge between two distinct nodes ({what}; {A.shape[0]} nodes): "
            "spectral clustering needs a graph with edges"
        )
    with np.errstate(over="ignore"):  # an overflow becomes the error below, not a RuntimeWarning as well
        degree = np.asarray(A.sum(axis=1)).ravel()
    if not np.isfinite(degree).all():
        raise FastclustError("A's weighted degrees overflow float64: rescale the weights")
    return degree


def _check_tau(tau: Any, laplacian: str) -> float | None:
    if tau is None:
        return None
    if laplacian not in _TAU_LAPLACIANS:
        raise FastclustError(f"tau applies only to laplacian 'regularized' or 'score+', not {laplacian!r}")
    if isinstance(tau, (bool, np.bool_)) or not isinstance(tau, numbers.Real):
        raise FastclustError(f"tau must be a real number, got {tau!r} ({type(tau).__name__})")
    value = float(tau)
    if not math.isfinite(value) or value < 0:
        raise FastclustError(f"tau must be finite and >= 0, got {value}")
    return value


# ---------------------------------------------------------------------------------------------
# eigenpairs, one connected component at a time
# ---------------------------------------------------------------------------------------------


def _order_keys(vals: np.ndarray, mode: str, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Quantised sort keys (ascending = wanted first): a primary and a tie-break."""
    if mode == "largest":
        primary, secondary = -vals, np.zeros_like(vals)
    elif mode == "smallest":
        primary, secondary = vals, np.zeros_like(vals)
    else:  # "magnitude": +x before -x (bipartite components have both)
        primary, secondary = -np.abs(vals), -vals
    step = scale * _TIE_RESOLUTION
    return np.rint(primary / step).astype(np.int64), np.rint(secondary / step).astype(np.int64)


def _canonical_signs(vecs: np.ndarray) -> np.ndarray:
    """Flip each column so its first entry of (near) largest magnitude is positive: a fixed sign per vector."""
    if vecs.size == 0:
        return vecs
    mag = np.abs(vecs)
    first = np.argmax(mag >= (1.0 - 1e-6) * mag.max(axis=0, keepdims=True), axis=0)
    signs = np.sign(vecs[first, np.arange(vecs.shape[1])])
    return vecs * np.where(signs == 0, 1.0, signs)


class _Candidates:
    """Eigenpairs proposed by the components, kept as blocks; the best ``k`` are chosen at the end."""

    def __init__(self, mode: str, scale: float) -> None:
        self.mode, self.scale = mode, scale
        self.blocks: list[tuple[np.ndarray, np.ndarray]] = []  # (nodes (B, s), vecs (B, s, kc))
        # per block, one row per candidate: (key, tie-break key, component, rank in component, block, row, column)
        self.columns: list[np.ndarray] = []
        self.values: list[np.ndarray] = []

    def add(self, comps: np.ndarray, nodes: np.ndarray, vals: np.ndarray, vecs: np.ndarray, k: int) -> None:
        """Components ``comps`` (B,) on ``nodes`` (B, s) with all (or their extreme) eigenpairs ``vals`` (B, m)."""
        q, q2 = _order_keys(vals, self.mode, self.scale)
        idx = np.broadcast_to(np.arange(vals.shape[1]), vals.shape)
        order = np.lexsort((idx, q2, q), axis=-1)[:, :k]  # each component's own best k, in the global order
        rows = np.arange(vals.shape[0])[:, None]
        kc = order.shape[1]
        block = len(self.blocks)
        self.blocks.append((nodes, np.take_along_axis(vecs, order[:, None, :], axis=2)))
        self.columns.append(
            np.stack(
                [
                    q[rows, order].ravel(),
                    q2[rows, order].ravel(),
                    np.repeat(comps, kc),
                    np.tile(np.arange(kc), comps.size),
                    np.full(comps.size * kc, block),
                    np.repeat(np.arange(comps.size), kc),
                    np.tile(np.arange(kc), comps.size),
                ],
                axis=1,
            )
        )
        self.values.append(vals[rows, order].ravel())

    def best(self, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` wanted eigenvalues and their ``(n, k)`` eigenvectors (zero outside their component)."""
        cols = np.concatenate(self.columns)
        vals = np.concatenate(self.values)
        pick = np.lexsort((cols[:, 3], cols[:, 2], cols[:, 1], cols[:, 0]))[:k]
        out = np.zeros((n, pick.size))
        for j, i in enumerate(pick):
            nodes, vecs = self.blocks[cols[i, 4]]
            out[nodes[cols[i, 5]], j] = vecs[cols[i, 5], :, cols[i, 6]]
        return vals[pick], _canonical_signs(out)


def _solve(
    M: sp.csr_matrix, k: int, mode: str, scale: float, comp: np.ndarray, n_comp: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` extreme eigenpairs of the symmetric ``M``, whose nonzeros stay within components ``comp``.

    ``mode``: ``"largest"`` (algebraic), ``"smallest"`` (algebraic; ``scale`` must bound the
    spectrum from above) or ``"magnitude"``. ``M`` is block diagonal by component, so its
    eigenpairs are the union of the blocks': solving each block finds every copy of a repeated
    eigenvalue (one per component), where one Krylov solve over the whole graph, started from a
    single vector, finds only one. The result depends on ``k`` only through how many pairs are
    kept: the first ``k`` of a ``k_max`` solve are a ``k`` solve, to rounding.
    """
    n = M.shape[0]
    sizes = np.bincount(comp, minlength=n_comp)
    by_comp = np.argsort(comp, kind="stable")  # nodes grouped by component, ascending within each
    first = np.concatenate([[0], np.cumsum(sizes)])
    large = np.flatnonzero(sizes > DENSE_MAX_NODES)
    # every large component's start vector is drawn up front, in component order, whatever k is:
    # a k solve and a k_max solve start each Krylov space from the same vector
    starts = {int(c): rng.uniform(-1.0, 1.0, size=int(sizes[c])) for c in large}
    cands = _Candidates(mode, scale)

    small = np.flatnonzero(sizes <= DENSE_MAX_NODES)
    if small.size:
        coo = M.tocoo()
        inside = sizes[comp[coo.row]] <= DENSE_MAX_NODES
        row, col, data = coo.row[inside], coo.col[inside], coo.data[inside]
        local = np.empty(n, dtype=np.int64)
        local[by_comp] = np.arange(n) - first[comp[by_comp]]
        entry_size = sizes[comp[row]]
        for s in np.unique(sizes[small]):
            s = int(s)
            comps = small[sizes[small] == s]
            nodes = by_comp[first[comps][:, None] + np.arange(s)]  # (m, s)
            pos = np.full(n_comp, -1, dtype=np.int64)
            pos[comps] = np.arange(comps.size)
            mine = entry_size == s
            p = pos[comp[row[mine]]]
            o = np.argsort(p, kind="stable")
            p, r, c, d = p[o], local[row[mine][o]], local[col[mine][o]], data[mine][o]
            batch = max(1, _BATCH_FLOATS // (s * s))
            for b0 in range(0, comps.size, batch):
                b1 = min(comps.size, b0 + batch)
                lo, hi = np.searchsorted(p, [b0, b1])
                stack = np.zeros((b1 - b0, s, s))
                stack[p[lo:hi] - b0, r[lo:hi], c[lo:hi]] = d[lo:hi]
                vals, vecs = np.linalg.eigh(stack)
                cands.add(comps[b0:b1], nodes[b0:b1], vals, vecs, k)

    whole = large.size == 1 and sizes[large[0]] == n  # a connected graph: no need to copy M
    for c in large:
        s = int(sizes[c])
        nodes = by_comp[first[c] : first[c] + s]
        Mc = M if whole else M[nodes][:, nodes]
        kc = min(k, s)
        if kc >= s - 1:  # eigsh needs k < s - 1; a component this small relative to k is cheap densely
            vals, vecs = np.linalg.eigh(Mc.toarray())
        else:
            solve_kw: dict[str, Any] = {"k": kc, "v0": starts[int(c)], "tol": 0.0, "maxiter": max(10_000, 20 * s)}
            if mode == "smallest":  # the smallest of M are the largest of (scale I - M)
                shifted = (sp.identity(s, format="csr") * scale - Mc).tocsr()
                vals, vecs = eigsh(shifted, which="LA", **solve_kw)
                vals = scale - vals
            else:
                vals, vecs = eigsh(Mc, which="LA" if mode == "largest" else "LM", **solve_kw)
        cands.add(np.array([c]), nodes[None, :], vals[None, :], vecs[None, :, :], k)
    return cands.best(k, n)


@short_repr
@dataclass
class SpectralBasis:
    """Eigenpairs of one Laplacian variant for up to ``k_max`` clusters, computed once.

    The top ``k`` eigenvectors are the first ``k`` of the top ``k_max``, so every
    ``k <= k_max`` reuses one eigensolve (what :func:`tune_k` and
    :func:`compare_laplacians` rely on). ``tau`` is the regularisation used
    (``None`` for variants without one).
    """

    laplacian: str
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    scale: np.ndarray | None
    tau: float | None = None

    @property
    def k_max(self) -> int:
        """The largest k this basis serves."""
        return int(self.eigenvectors.shape[1])

    @property
    def n_nodes(self) -> int:
        """Nodes of the graph it was computed for."""
        return int(self.eigenvectors.shape[0])

    def embedding(self, k: int) -> np.ndarray:
        """The ``(n, k)`` embedding (``(n, k - 1)`` for SCORE; one zero column when k = 1)."""
        k = check_positive_int(k, "k")
        if k > self.k_max:
            raise FastclustError(f"k={k} exceeds the k_max={self.k_max} this basis was computed for")
        vecs = self.eigenvectors[:, :k]
        n = vecs.shape[0]
        if self.laplacian == "unnormalized":
            return vecs.copy()
        if self.laplacian in ("score", "score+"):
            if k == 1:
                return np.zeros((n, 1))
            first = vecs[:, 0] * np.sign(vecs[:, 0].sum() or 1.0)
            safe = np.where(np.abs(first) > 1e-12, first, np.inf)  # nodes outside the giant component: ratio 0
            bound = math.log(n)
            return np.clip(vecs[:, 1:] / safe[:, None], -bound, bound)
        if self.laplacian == "random-walk":
            assert self.scale is not None
            return vecs * self.scale[:, None]
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.where(norms > 0, norms, 1.0)


def _basis(A: Any, k_max: Any, laplacian: Any, tau: Any, rng: np.random.Generator) -> SpectralBasis:
    check_choice(laplacian, "laplacian", LAPLACIANS)
    k_max = check_positive_int(k_max, "k")
    tau_value = _check_tau(tau, laplacian)
    A = _check_adjacency(A)
    n = A.shape[0]
    if k_max > n:
        raise FastclustError(f"k={k_max} exceeds the number of nodes ({n})")
    degree = _check_has_edges(A)
    n_comp, comp = connected_components(A, directed=False)
    if laplacian == "unnormalized":
        # smallest of L = D - A; 2 max degree + 1 bounds its spectrum (Gershgorin)
        L = (sp.diags(degree) - A).tocsr()
        vals, vecs = _solve(L, k_max, "smallest", 2.0 * float(degree.max()) + 1.0, comp, n_comp, rng)
        return SpectralBasis(laplacian, vals, vecs, None)
    if laplacian == "score":
        vals, vecs = _solve(A, k_max, "magnitude", float(degree.max()), comp, n_comp, rng)
        return SpectralBasis(laplacian, vals, vecs, None)
    if laplacian in _TAU_LAPLACIANS:
        if tau_value is None:
            tau_value = float(degree.mean() if laplacian == "regularized" else 0.1 * degree.max())
        total = degree + tau_value
    else:
        total = degree
    # a node without edges (tau = 0, or no regularisation) has no direction to scale: 0, not 1/0
    scale = np.where(total > 0, 1.0 / np.sqrt(np.where(total > 0, total, 1.0)), 0.0)
    M = (sp.diags(scale) @ A @ sp.diags(scale)).tocsr()
    vals, vecs = _solve(M, k_max, "largest", 1.0, comp, n_comp, rng)
    return SpectralBasis(laplacian, vals, vecs, scale, tau_value)


def spectral_basis(
    A: Any, k_max: int, laplacian: str = "regularized", *, tau: float | None = None, seed: Any = None
) -> SpectralBasis:
    """Eigenpairs behind the spectral embedding of every ``k <= k_max``.

    - ``"unnormalized"``: the smallest eigenvectors of ``L = D - A``.
    - ``"symmetric"`` (Ng, Jordan & Weiss): top eigenvectors of ``D^-1/2 A D^-1/2``, rows normalised.
    - ``"random-walk"`` (Shi & Malik): ``D^-1/2`` times those, i.e. eigenvectors of ``D^-1 A``.
    - ``"regularized"`` (Qin & Rohe 2013): ``D`` replaced by ``D + tau I`` (``tau`` = mean
      degree by default), rows normalised: robust to tiny components and low-degree nodes.
    - ``"score"`` (Jin 2015): top eigenvectors of ``A``; entry-wise ratios of eigenvectors
      2..k to the first, clipped at ``±log n``: cancels degree heterogeneity.
    - ``"score+"`` (Jin, Ke & Luo 2021): SCORE ratios on the regularized matrix with
      ``tau = 0.1 * max degree``. Best at k = 2 on the political blogs, poor at larger k.

    Eigenvalues are those of the Laplacian (ascending) for ``"unnormalized"`` and of
    the (normalised) adjacency (descending) otherwise. A disconnected graph is solved
    component by component, so a repeated eigenvalue (one copy per component) is
    found in full. ``seed``'s first child stream starts the eigensolver (see the
    module docstring): the same integer seed gives the basis that
    :func:`spectral_clustering` computes for itself.

    Raises
    ------
    FastclustError
        For a malformed or edgeless ``A``, ``k_max`` above the node count, an unknown
        ``laplacian``, or ``tau`` that is not finite and ``>= 0`` (or given to a
        variant that has no ``tau``).
    """
    eig_rng, _ = spawn(seed, 2)
    return _basis(A, k_max, laplacian, tau, eig_rng)


def spectral_embedding(
    A: Any, k: int, laplacian: str = "regularized", *, tau: float | None = None, seed: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``(n, k)`` (``k - 1`` for SCORE) spectral embedding and its eigenvalues; see :func:`spectral_basis`."""
    basis = spectral_basis(A, k, laplacian, tau=tau, seed=seed)
    return basis.embedding(k), basis.eigenvalues


def spectral_clustering(
    A: Any,
    k: int,
    *,
    laplacian: str | None = None,
    tau: float | None = None,
    n_init: int = 10,
    seed: Any = None,
    backend: str = "auto",
    basis: SpectralBasis | None = None,
) -> SpectralResult:
    """Spectral clustering of an undirected graph into ``k`` groups.

    Embeds the nodes (:func:`spectral_basis`) and runs k-means++ on the rows
    ``n_init`` times, keeping the lowest objective. Clusters are numbered in the
    order of their first node (node 0 is always in cluster 0). ``laplacian`` defaults to
    ``"regularized"``, the variant that copes with the political-blogs graph's
    tiny components and heavy-tailed degrees.

    Pass a precomputed ``basis`` (``k_max >= k``) to reuse one eigensolve across
    several k. The Laplacian and ``tau`` were fixed when it was computed: giving a
    different ``laplacian`` or ``tau`` here is refused rather than ignored, and
    ``A`` (which may then be ``None``) must have the basis's node count. With the
    same integer ``seed`` the labels equal those computed without a basis.
    """
    t0 = perf_counter()
    k = check_positive_int(k, "k")
    n_init = check_positive_int(n_init, "n_init")
    eig_rng, km_rng = spawn(seed, 2)
    if basis is None:
        basis = _basis(A, k, "regularized" if laplacian is None else laplacian, tau, eig_rng)
    else:
        _check_basis_arguments(basis, A, laplacian, tau)
    emb = basis.embedding(k)
    # Rows that are exactly zero (nodes of components that none of the first k eigenvectors reaches)
    # have no direction: every unit-length k-means++ start is at distance 1 from them, a tie that the
    # eigenvectors' last bits would break. They sit out the fit and then join the centre nearest the
    # origin, where Lloyd's assignment would put them too.
    placed = np.abs(emb).max(axis=1) > 0
    labels = np.zeros(emb.shape[0], dtype=np.int64)
    objective, converged, stop_reason = 0.0, True, "converged"
    if placed.any():
        rows = emb if placed.all() else emb[placed]
        best = None
        for _ in range(n_init):
            res = kmeans(rows, k, init="k-means++", seed=km_rng, backend=backend)
            # Several starts often reach the same partition, numbered differently, at objectives equal up
            # to rounding: a later run must be better by more than rounding to win, or the winner (and
            # so the numbering) would hang on the last bits of the eigenvectors.
            if best is None or res.objective < best.objective * (1.0 - 1e-9):
                best = res
        assert best is not None
        labels[placed] = best.labels
        sq_norms = (best.centroids**2).sum(axis=1)
        nearest = int(np.argmin(sq_norms))
        labels[~placed] = nearest
        objective = best.objective + float((~placed).sum() * sq_norms[nearest])
        converged, stop_reason = best.converged, best.stop_reason
    return SpectralResult(
        labels=_number_by_first_node(labels),
        embedding=emb,
        eigenvalues=basis.eigenvalues[:k],
        seconds=perf_counter() - t0,
        laplacian=basis.laplacian,
        objective=objective,
        converged=converged,
        stop_reason=stop_reason,
    )


def _number_by_first_node(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters in the order of their first node: one partition, one labelling."""
    present, first = np.unique(labels, return_index=True)
    rank = np.empty(int(present.max()) + 1, dtype=np.int64)
    rank[present[np.argsort(first)]] = np.arange(present.size)
    return rank[labels]


def _check_basis_arguments(basis: Any, A: Any, laplacian: Any, tau: Any) -> None:
    """With a precomputed basis, refuse what would otherwise be silently ignored."""
    if not isinstance(basis, SpectralBasis):
        raise FastclustError(f"basis must be a SpectralBasis (from spectral_basis), got {type(basis).__name__}")
    if laplacian is not None and laplacian != basis.laplacian:
        raise FastclustError(
            f"laplacian={laplacian!r} conflicts with the basis, computed for {basis.laplacian!r}: "
            "leave laplacian out, or compute a basis for it"
        )
    if tau is not None and (basis.tau is None or _check_tau(tau, basis.laplacian) != basis.tau):
        raise FastclustError(
            f"tau={tau!r} conflicts with the basis (computed with tau={basis.tau}): leave tau out, "
            "or compute a basis with it"
        )
    if A is not None:
        shape = A.shape if sp.issparse(A) else np.shape(A)
        if tuple(shape) != (basis.n_nodes, basis.n_nodes):
            raise FastclustError(
                f"A has shape {tuple(shape)} but the basis was computed for {basis.n_nodes} nodes: "
                "pass the same graph, or A=None"
            )


def _reusable_seed(seed: Any) -> int:
    """An integer root seed to pass to several calls, so each spawns the same child streams.

    An integer is returned as is (validated); anything else (None, a Generator) gives one
    draw, so a whole :func:`tune_k` or :func:`compare_laplacians` depends on it once.
    """
    rng = as_generator(seed)  # validates every kind of seed
    if isinstance(seed, numbers.Integral):
        return int(seed)
    return int(rng.integers(0, 2**63 - 1))


@short_repr
@dataclass
class MismatchTable:
    """Per-cluster majority label and mismatch rate, and the overall rate (the course's definitions)."""

    rows: list[dict[str, Any]]
    overall: float
    n_mismatched: int
    n_nodes: int


def _as_labels(values: Any, name: str) -> np.ndarray:
    """A non-empty 1-D array of integer labels (integral floats accepted), as int64."""
    arr = np.asarray(values)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise FastclustError(f"{name} must hold integer labels, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise FastclustError(f"{name} must hold integer labels, got complex dtype {arr.dtype}")
    if arr.ndim != 1:
        raise FastclustError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise FastclustError(f"{name} is empty: there is nothing to compare")
    if not np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_:
        if not np.isfinite(arr).all() or (arr != np.rint(arr)).any():
            raise FastclustError(f"{name} must hold integer labels; found non-integral values")
    return arr.astype(np.int64)


def mismatch_table(labels: Any, truth: Any) -> MismatchTable:
    """Majority label of every cluster and the share of its members that disagree.

    ``rows``: ``cluster, size, majority, mismatches, rate`` per cluster (a tie
    takes the smaller label); ``overall`` = mismatched nodes / all nodes.
    """
    labels = _as_labels(labels, "labels")
    truth = _as_labels(truth, "truth")
    if labels.shape != truth.shape:
        raise FastclustError(f"labels and truth must be 1-D of equal length, got {labels.shape} and {truth.shape}")
    rows = []
    total = 0
    for c in np.unique(labels):
        members = truth[labels == c]
        values, counts = np.unique(members, return_counts=True)
        majority = values[int(np.argmax(counts))]
        wrong = int(members.size - counts.max())
        total += wrong
        rows.append(
            {
                "cluster": int(c),
                "size": int(members.size),
                "majority": int(majority),
                "mismatches": wrong,
                "rate": wrong / members.size,
            }
        )
    return MismatchTable(rows=rows, overall=total / labels.size, n_mismatched=total, n_nodes=int(labels.size))


@short_repr
@dataclass
class TuneK:
    """Overall mismatch for every k and the chosen k."""

    k: int
    ks: list[int]
    overall: list[float]
    tolerance: float
    rule: str


def _check_ks(ks: Iterable[Any], name: str = "ks") -> list[int]:
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Iterable):
        raise FastclustError(f"{name} must be a sequence of integers, got {ks!r}")
    out = [check_positive_int(k, f"{name} entry") for k in ks]
    if not out:
        raise FastclustError(f"{name} is empty: give at least one k")
    return out


def tune_k(
    A: Any,
    truth: Any,
    ks: Iterable[int] = range(2, 51),
    *,
    laplacian: str = "regularized",
    tolerance: float = 0.01,
    seed: Any = 0,
    tau: float | None = None,
    n_init: int = 10,
    backend: str = "auto",
) -> TuneK:
    """Overall mismatch rate for every k, and the smallest k within ``tolerance`` of the best.

    Mismatch falls trivially as k grows (tiny clusters are pure; with k = n it
    is 0), so the lowest rate is not the goal: the smallest k whose rate is
    within ``tolerance`` of the best one explains the labels with the fewest groups.
    One basis serves every k; each k's rate equals that of
    ``spectral_clustering(A, k, laplacian=laplacian, seed=seed, ...)`` for an integer seed.
    """
    ks = _check_ks(ks)
    if isinstance(tolerance, (bool, np.bool_)) or not isinstance(tolerance, numbers.Real):
        raise FastclustError(f"tolerance must be a real number, got {tolerance!r}")
    if not (math.isfinite(float(tolerance)) and tolerance >= 0):
        raise FastclustError(f"tolerance must be finite and >= 0, got {tolerance}")
    root = _reusable_seed(seed)
    basis = spectral_basis(A, max(ks), laplacian, tau=tau, seed=root)
    overall = [
        mismatch_table(
            spectral_clustering(A, k, basis=basis, seed=root, n_init=n_init, backend=backend).labels, truth
        ).overall
        for k in ks
    ]
    best = min(overall)
    chosen = next(k for k, r in zip(ks, overall, strict=True) if r <= best + tolerance)
    return TuneK(
        k=chosen,
        ks=ks,
        overall=overall,
        tolerance=float(tolerance),
        rule=f"smallest k with overall mismatch <= best + {tolerance}",
    )


def n_components_from_laplacian(A: Any) -> tuple[int, np.ndarray]:
    """Connected components of the graph: ``(count, membership)``, counted from the graph itself.

    The count equals the multiplicity of eigenvalue 0 of ``L = D - A`` (its null
    space is spanned by the components' indicator vectors), which
    ``spectral_basis(A, count + 1, "unnormalized").eigenvalues`` illustrates.
    But a floating-point zero needs a tolerance that no fixed rule gets right on
    every graph (a long path's smallest nonzero eigenvalue is ~ 1/n^2), so the
    count and the membership come from a graph traversal
    (``scipy.sparse.csgraph.connected_components``), exact on any graph.
    ``membership[i]`` numbers components in order of their first node.
    """
    A = _check_adjacency(A)
    count, membership = connected_components(A, directed=False)
    return int(count), membership.astype(np.int64)


def compare_laplacians(
    A: Any,
    truth: Any,
    ks: Sequence[int] = (2, 5, 10, 30, 50),
    laplacians: Sequence[str] = LAPLACIANS,
    seed: Any = 0,
    n_init: int = 10,
) -> dict[str, list[float]]:
    """Overall mismatch of every Laplacian variant at every k: ``{laplacian: [rate per k]}``.

    One basis per variant; each rate equals that of a standalone
    ``spectral_clustering(A, k, laplacian=..., seed=seed, n_init=n_init)`` for an integer seed.
    """
    ks = _check_ks(ks)
    if isinstance(laplacians, str) or not list(laplacians):
        raise FastclustError(f"laplacians must be a non-empty sequence of names from {LAPLACIANS}, got {laplacians!r}")
    laplacians = [check_choice(lap, "laplacians entry", LAPLACIANS) for lap in laplacians]
    root = _reusable_seed(seed)
    out = {}
    for lap in laplacians:
        basis = spectral_basis(A, max(ks), lap, seed=root)
        out[lap] = [
            mismatch_table(spectral_clustering(A, k, basis=basis, seed=root, n_init=n_init).labels, truth).overall
            for k in ks
        ]
    return out
