"""Embedding-table compression by vector quantization (the homework's Q5).

A table of ``n`` float32 rows costs ``4 n d`` bytes. Vector quantization keeps a
``k``-row codebook and one code per row: ``4 k d + n * bytes(code)`` bytes.
Memory is reported in MB with 1 MB = 2^20 bytes, rounded to 4 decimals.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np

from . import _threads
from ._npyio import load_npy, load_npz, npz_names
from ._repr import short_repr
from ._validation import as_generator, check_choice, check_positive_int
from .engine import kmeans
from .errors import FastclustError

__all__ = [
    "IMPLEMENTATIONS",
    "MB",
    "PQResult",
    "VQResult",
    "average_cosine",
    "check_embeddings",
    "code_dtype",
    "compare_vq_pq",
    "compress",
    "load_embeddings",
    "make_embeddings",
    "pq_compress",
    "sweep",
]

MB = float(2**20)
#: What fits the codebook in :func:`compress` (its ``implementation`` argument).
IMPLEMENTATIONS = ("fastclust", "sklearn")


def make_embeddings(n: int = 10_000, d: int = 64, n_topics: int = 32, noise: float = 0.5, seed: Any = 0) -> np.ndarray:
    """Synthetic embeddings: a seeded mixture of ``n_topics`` directions on the unit sphere.

    Each row is ``r * normalize(mu_t + noise * z / sqrt(d))``, with ``mu_t`` a
    random unit vector (the row's topic, drawn uniformly), ``z`` standard
    normal, and a log-normal length ``r`` (median 1), so rows cluster by
    direction while their lengths vary as learned embeddings' do. float32.
    This stands in for the course's ``AImodel.npy``, which is described as
    synthetic embeddings but not available.
    """
    n = check_positive_int(n, "n")
    d = check_positive_int(d, "d")
    n_topics = check_positive_int(n_topics, "n_topics")
    if isinstance(noise, (bool, np.bool_)) or not isinstance(noise, numbers.Real):
        raise FastclustError(f"noise must be a real number, got {noise!r} ({type(noise).__name__})")
    if not (math.isfinite(float(noise)) and noise >= 0):
        raise FastclustError(f"noise must be finite and >= 0, got {noise}")  # nan gave an all-NaN table
    rng = as_generator(seed)  # the one seed rule; an int gives the same table as default_rng(int)
    mu = rng.normal(size=(n_topics, d))
    mu /= np.linalg.norm(mu, axis=1, keepdims=True)
    topic = rng.integers(0, n_topics, size=n)
    rows = mu[topic] + noise * rng.normal(size=(n, d)) / np.sqrt(d)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    rows *= rng.lognormal(0.0, 0.25, size=(n, 1))
    return rows.astype(np.float32)


#: Rows per step of the row-wise passes below: their float64 temporaries stay near 1 MB (in
#: cache), where whole-table temporaries of a 200k x 64 table cost 100 MB each.
_ROW_CHUNK_BYTES = 2**20


def _row_chunks(n: int, d: int) -> range:
    """Start rows of the chunks a row-wise pass over an ``(n, d)`` table takes."""
    return range(0, n, max(256, _ROW_CHUNK_BYTES // (8 * max(d, 1))))


def _by_chunks(shape: tuple[int, ...], task: Callable[[slice], None]) -> None:
    """``task(rows)`` for every chunk of rows of a table of ``shape``, on the threads the pass pays for
    (:mod:`fastclust._threads`; numpy releases the GIL in its loops). Chunks write disjoint rows."""
    n, d = shape
    chunks = _row_chunks(n, d)
    _threads.map_units(
        lambda u: task(slice(chunks[u], chunks[u] + chunks.step)), len(chunks), n * d * _threads.NUMPY_ELEMENT_WORK
    )


def check_embeddings(E: Any, name: str = "embeddings") -> np.ndarray:
    """A 2-D float table with finite, non-zero rows, as float32 (or float64 if given so)."""
    if isinstance(E, np.ma.MaskedArray):
        raise FastclustError(f"{name} is a masked array: the mask would be ignored; drop or fill the masked rows")
    arr = np.asarray(E)
    if arr.dtype.hasobject:
        raise FastclustError(f"{name} is an object array; a numeric float array is needed")
    if not np.issubdtype(arr.dtype, np.floating):
        raise FastclustError(f"{name} must be a float array, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise FastclustError(f"{name} must be a non-empty 2-D table (rows, dims), got shape {arr.shape}")
    bad_rows = np.empty(arr.shape[0], dtype=bool)
    zero_rows = np.empty(arr.shape[0], dtype=bool)

    def check(rows: slice) -> None:  # chunk by chunk: no table-sized boolean temporaries
        part = arr[rows]
        bad_rows[rows] = ~np.isfinite(part).all(axis=1)
        zero_rows[rows] = ~(part != 0).any(axis=1)

    _by_chunks(arr.shape, check)
    if bad_rows.any():
        raise FastclustError(
            f"{name} has {int(bad_rows.sum())} row(s) with NaN or inf; the first is row {int(np.argmax(bad_rows))}"
        )
    if zero_rows.any():
        raise FastclustError(
            f"{name} has {int(zero_rows.sum())} all-zero row(s) (no direction to compare by cosine); "
            f"the first is row {int(np.argmax(zero_rows))}"
        )
    return np.ascontiguousarray(arr if arr.dtype in (np.float32, np.float64) else arr.astype(np.float32))


def load_embeddings(path: str | Path) -> np.ndarray:
    """Read an embedding table from ``.npy`` or ``.npz`` (never unpickling: a pickled file can run code).

    An ``.npz`` must hold one array, or one named ``embeddings``. The file's
    first bytes decide how it is read, not its name; a file that is neither
    (a text table, an image) is refused with a message saying what it looks like,
    and a damaged one (empty, truncated, a header promising more data than the
    file holds, an object array) with one naming the fault.
    """
    path = Path(path)
    if not path.is_file():  # a FIFO would block
        raise FastclustError(f"{path}: not a regular file" if path.exists() else f"{path}: no such embeddings file")
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK"):
        names = npz_names(path, "embeddings")
        if "embeddings" in names:
            key = "embeddings"
        elif len(names) == 1:
            key = names[0]
        elif not names:
            raise FastclustError(f"{path}: the .npz archive holds no arrays")
        else:
            raise FastclustError(f"{path}: holds arrays {names}; name the table 'embeddings'")
        arr = load_npz(path, "embeddings", [key])[key]
        return check_embeddings(arr, name=f"{path}[{key}]")
    return check_embeddings(load_npy(path, "embeddings"), name=str(path))


def code_dtype(k: int) -> np.dtype:
    """The smallest unsigned integer type that can index ``k`` codewords.

    uint8 up to k = 256, uint16 up to 65,536. (The course's "1 byte per index"
    holds only up to k = 256: at k = 512 each code needs 2 bytes.)
    """
    for dtype in (np.uint8, np.uint16, np.uint32):
        if k <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


def _row_norms(X: np.ndarray) -> np.ndarray:
    """Euclidean norms of the rows of a float64 ``X``, free of overflow and underflow.

    Each row is divided by its largest magnitude before squaring: float32 rows
    of 1e30 (or float64 rows of 1e200) would square to inf, rows of 1e-30 to 0.
    """
    top = np.abs(X).max(axis=1)
    safe = np.where(top > 0, top, 1.0)
    return top * np.sqrt(((X / safe[:, None]) ** 2).sum(axis=1))


def _unit_rows(E: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, computed in float64 and returned in ``E``'s dtype (chunk by chunk:
    each row's arithmetic is the whole table's, without its 100 MB temporaries)."""
    out = np.empty(E.shape, dtype=E.dtype)

    def scale(rows: slice) -> None:
        X = np.asarray(E[rows], dtype=np.float64)
        out[rows] = X / _row_norms(X)[:, None]

    _by_chunks(E.shape, scale)
    return out


def _check_table(value: Any, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.hasobject or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise FastclustError(f"{name} must be a real numeric table, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.size == 0:
        raise FastclustError(f"{name} must be a non-empty 2-D table, got shape {arr.shape}")
    return arr


def _unit_or_zero(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(X / |x| row by row, mask of rows of positive length)`` for a float64 ``X``; zero rows stay 0."""
    norms = _row_norms(X)
    ok = norms > 0
    if ok.all():
        return X / norms[:, None], ok
    U = np.zeros_like(X)
    U[ok] = X[ok] / norms[ok, None]
    return U, ok


def _cosines(E: np.ndarray, R: np.ndarray, codes: np.ndarray | None = None, *, checked: bool = False) -> np.ndarray:
    """Each row's cosine to its reconstruction, ``R[codes]`` (or ``R`` row by row), 0 for a zero row.

    Chunk by chunk in float64, each row exactly as a whole-table computation of
    ``((X / |x|) * (R / |r|)).sum(axis=1)`` would; a codebook's rows are normalised
    once rather than once per row using them. ``checked``: E is known finite.
    """
    if codes is not None:
        book = R.astype(np.float64)
        if not np.isfinite(book).all():
            raise FastclustError("E and reconstruction must be finite")
        unit_book, ok_book = _unit_or_zero(book)
    cos = np.empty(E.shape[0])

    def cosines(rows: slice) -> None:
        X = E[rows].astype(np.float64)
        if codes is None:
            Rc = R[rows].astype(np.float64)
            finite = bool(np.isfinite(Rc).all()) and (checked or bool(np.isfinite(X).all()))
        else:
            finite = checked or bool(np.isfinite(X).all())
        if not finite:
            raise FastclustError("E and reconstruction must be finite")
        unit_x, ok = _unit_or_zero(X)
        if codes is None:
            unit_r, ok_r = _unit_or_zero(Rc)
        else:
            unit_r, ok_r = unit_book[codes[rows]], ok_book[codes[rows]]
        c = (unit_x * unit_r).sum(axis=1)
        c[~(ok & ok_r)] = 0.0
        cos[rows] = c

    _by_chunks(E.shape, cosines)
    return cos


def average_cosine(E: Any, reconstruction: Any) -> float:
    """Mean cosine similarity between each row and its reconstruction (the course's formula).

    A row or reconstruction of zero length counts as cosine 0. Both tables must
    have the same shape.
    """
    X = _check_table(E, "E")
    R = _check_table(reconstruction, "reconstruction")
    if X.shape != R.shape:
        raise FastclustError(f"E and reconstruction must have the same shape, got {X.shape} and {R.shape}")
    return float(np.mean(_cosines(X, R)))


@short_repr
@dataclass
class VQResult:
    """A quantized table: ``codebook[codes]`` approximates the rows (in direction, if normalised)."""

    codebook: np.ndarray
    codes: np.ndarray
    k: int
    n_iter: int
    memory_before_mb: float
    memory_after_mb: float
    compression_ratio: float
    avg_cosine: float
    seconds: float
    engine: str
    normalize: bool
    #: Whether the codebook fit ended with labels unchanged, and why it stopped (``"converged"``,
    #: ``"max_iter"`` or ``"stalled"``); ``None`` where the fitting path does not report it.
    converged: bool | None = None
    stop_reason: str | None = None


def _sklearn_random_state(seed: Any) -> int | None:
    """scikit-learn's ``random_state`` for a fastclust seed: ints as they are, Generators by one draw."""
    rng = as_generator(seed)  # the one seed rule: bad seeds raise FastclustError here
    if seed is None:
        return None
    if isinstance(seed, numbers.Integral):
        return int(seed)
    return int(rng.integers(0, 2**31 - 1))


def _fit_codebook(
    X: np.ndarray, k: int, implementation: str, seed: Any, max_iter: int | None, init: Any
) -> tuple[np.ndarray, np.ndarray, int, bool, str]:
    """``(centroids, labels, n_iter, converged, stop_reason)``; warnings (k reduced, max_iter) reach the caller."""
    if implementation == "fastclust":
        res = kmeans(X, k, init=init, seed=seed, max_iter=max_iter)
        return res.centroids, res.labels, res.n_iter, res.converged, res.stop_reason
    from sklearn.cluster import KMeans

    if isinstance(init, str) and init not in ("k-means++", "random"):
        raise FastclustError(
            f"init={init!r} is not available with implementation='sklearn' (use 'k-means++', 'random')"
        )
    cap = max_iter or 300
    km = KMeans(k, init=init, n_init=1, random_state=_sklearn_random_state(seed), max_iter=cap)
    km.fit(X)
    n_iter = int(km.n_iter_)
    converged = n_iter < cap  # scikit-learn stops early only when the centres stop moving
    return km.cluster_centers_, km.labels_, n_iter, converged, "converged" if converged else "max_iter"


def _compress_dask(
    E: Any, k: int, normalize: bool, seed: Any, max_iter: int | None, init: Any, client: Any
) -> VQResult:
    """:func:`compress` for a dask array: the fit runs block by block; codes stay a dask array."""
    import dask.array as da

    from .distributed import kmeans as dask_kmeans

    t0 = perf_counter()
    if E.ndim != 2 or not np.issubdtype(E.dtype, np.floating):
        raise FastclustError(f"embeddings must be a 2-D float dask array, got shape {E.shape}, dtype {E.dtype}")
    norms = da.sqrt((E.astype(np.float64) ** 2).sum(axis=1))
    checks = [(~da.isfinite(E).all(axis=1)).sum(), (norms == 0).sum()]
    n_bad, n_zero = client.compute(checks, sync=True) if client is not None else da.compute(*checks)
    if n_bad:
        raise FastclustError(f"embeddings have {int(n_bad)} row(s) with NaN or inf")
    if n_zero:
        raise FastclustError(f"embeddings have {int(n_zero)} all-zero row(s) (no direction to compare by cosine)")
    X = (E / norms[:, None].astype(E.dtype)) if normalize else E
    if isinstance(init, str):
        init = "k-means||" if init == "k-means++" else init
    # k reduced / max_iter warnings reach the caller: the library silences none of its own
    res = dask_kmeans(X, k, init=init, seed=seed, max_iter=max_iter, client=client)
    codebook = np.ascontiguousarray(res.centroids, dtype=np.float32)
    codes: Any = res.labels.to_dask().astype(code_dtype(codebook.shape[0]))
    recon = codes.map_blocks(
        lambda c: codebook[c], new_axis=1, chunks=(codes.chunks[0], (codebook.shape[1],)), dtype=np.float32
    )
    cos = (E.astype(np.float64) * recon).sum(axis=1) / (norms * da.sqrt((recon.astype(np.float64) ** 2).sum(axis=1)))
    avg = cos.mean()
    avg_cosine = float(client.compute(avg, sync=True) if client is not None else avg.compute())
    n, d = E.shape
    before = n * d * 4 / MB
    after = (codebook.nbytes + n * codes.dtype.itemsize) / MB
    return VQResult(
        codebook=codebook,
        codes=codes,
        k=int(codebook.shape[0]),
        n_iter=res.n_iter,
        memory_before_mb=round(before, 4),
        memory_after_mb=round(after, 4),
        compression_ratio=before / after,
        avg_cosine=avg_cosine,
        seconds=perf_counter() - t0,
        engine="fastclust-dask",
        normalize=normalize,
        converged=res.converged,
        stop_reason=res.stop_reason,
    )


def compress(
    E: Any,
    k: int = 256,
    *,
    normalize: bool = True,
    implementation: str = "fastclust",
    seed: Any = None,
    max_iter: int | None = None,
    init: Any = "k-means++",
    client: Any = None,
    engine: str | None = None,
) -> VQResult:
    """Quantize an embedding table to a ``k``-row codebook and one code per row.

    ``normalize=True`` clusters unit-length rows: embeddings are compared by
    cosine, so direction is what must survive; without it, long rows dominate
    the squared-error objective and short rows get coarse codewords. The
    codebook then holds mean directions (scale-free), and the cosine of a row to
    its codeword is unaffected by the row's length.

    ``implementation="sklearn"`` uses scikit-learn's KMeans (allowed by the course
    for this part) so the two can be reported side by side; its ``random_state`` is
    the integer seed, or one draw from a Generator seed. ``engine=`` is the old
    name of ``implementation=`` (it clashed with the module :mod:`fastclust.engine`):
    it still works, with a :class:`DeprecationWarning`.

    ``E`` may be a dask array (millions of rows): the codebook is then fitted by
    :func:`fastclust.distributed.kmeans` (k-means|| init; ``client`` is an optional
    ``distributed.Client``) and ``codes`` is returned as a dask array, to stream
    to zarr or npy.

    Warnings of the fit (k reduced, max_iter reached) reach the caller; the result
    records ``converged`` and ``stop_reason``.
    """
    from .distributed import _is_dask_array

    if engine is not None:
        warnings.warn(
            "vq.compress(engine=...) is deprecated: use implementation=... (engine is also a module's name)",
            DeprecationWarning,
            stacklevel=2,
        )
        if implementation != "fastclust" and implementation != engine:
            raise FastclustError(f"engine={engine!r} and implementation={implementation!r} disagree: give one")
        implementation = engine
    if _is_dask_array(E):
        check_choice(implementation, "implementation", ("fastclust",))
        return _compress_dask(E, check_positive_int(k, "k"), normalize, seed, max_iter, init, client)
    t0 = perf_counter()
    E = check_embeddings(E)
    k = check_positive_int(k, "k")
    check_choice(implementation, "implementation", IMPLEMENTATIONS)
    if k > E.shape[0]:
        raise FastclustError(f"k={k} exceeds the number of rows ({E.shape[0]})")
    X = _unit_rows(E) if normalize else E
    centroids, labels, n_iter, converged, stop_reason = _fit_codebook(X, k, implementation, seed, max_iter, init)
    codebook = np.ascontiguousarray(centroids, dtype=np.float32)
    codes = labels.astype(code_dtype(codebook.shape[0]))
    before = E.shape[0] * E.shape[1] * 4 / MB  # the table as float32
    after = (codebook.nbytes + codes.nbytes) / MB
    return VQResult(
        codebook=codebook,
        codes=codes,
        k=int(codebook.shape[0]),
        n_iter=n_iter,
        memory_before_mb=round(before, 4),
        memory_after_mb=round(after, 4),
        compression_ratio=before / after,
        avg_cosine=float(np.mean(_cosines(E, codebook, codes, checked=True))),  # = average_cosine(E, codebook[codes])
        seconds=perf_counter() - t0,
        engine=implementation,
        normalize=normalize,
        converged=converged,
        stop_reason=stop_reason,
    )


def sweep(E: Any, ks: Sequence[int] = (64, 128, 256, 512), **kwargs: Any) -> list[dict[str, Any]]:
    """One row per k: memory after (MB), compression ratio, average cosine, seconds, code bytes."""
    rows = []
    for k in ks:
        r = compress(E, k, **kwargs)
        rows.append(
            {
                "k": r.k,
                "memory_before_mb": r.memory_before_mb,
                "memory_after_mb": r.memory_after_mb,
                "compression_ratio": r.compression_ratio,
                "avg_cosine": r.avg_cosine,
                "seconds": r.seconds,
                "bytes_per_code": r.codes.dtype.itemsize,
                "n_iter": r.n_iter,
                "stop_reason": r.stop_reason,
            }
        )
    return rows


@short_repr
@dataclass
class PQResult:
    """Product quantization: ``m`` sub-vectors, one ``k``-entry codebook each.

    ``stop_reasons`` holds each sub-vector's fit's; ``converged`` is true when all
    converged, and ``stop_reason`` is ``"converged"`` or the first other reason.
    """

    codebooks: np.ndarray  # (m, k, d/m) float32
    codes: np.ndarray  # (n, m)
    m: int
    k: int
    memory_after_mb: float
    compression_ratio: float
    avg_cosine: float
    seconds: float
    converged: bool = True
    stop_reason: str = "converged"
    stop_reasons: tuple[str, ...] = field(default=())

    def reconstruct(self) -> np.ndarray:
        """The approximated (unit-length-row) table, shape ``(n, d)``."""
        return np.concatenate([self.codebooks[j][self.codes[:, j]] for j in range(self.m)], axis=1)


def pq_compress(
    E: Any, m: int, k: int = 256, *, normalize: bool = True, seed: Any = 0, max_iter: int | None = None
) -> PQResult:
    """Product quantization (Jégou et al. 2011): split each row into ``m`` parts, quantize each part.

    Costs ``m`` codes per row (``m`` bytes for k <= 256) and ``m`` small
    codebooks: with the same bytes per row as plain VQ it represents ``k^m``
    distinct vectors instead of one codebook's worth, which is why production
    systems ship it.
    """
    t0 = perf_counter()
    E = check_embeddings(E)
    m = check_positive_int(m, "m")
    k = check_positive_int(k, "k")
    rng = as_generator(seed)  # before the work: a bad seed is refused at once
    d = E.shape[1]
    if d % m:
        raise FastclustError(f"m={m} must divide the dimension d={d}")
    X = _unit_rows(E) if normalize else E
    step = d // m
    books, codes, reasons = [], [], []
    for j in range(m):
        part = np.ascontiguousarray(X[:, j * step : (j + 1) * step])
        # one stream across the parts, drawn in order (the same codebooks as before the seed rule)
        res = kmeans(part, min(k, part.shape[0]), seed=rng, max_iter=max_iter)
        book = np.zeros((k, step), dtype=np.float32)
        book[: res.k] = res.centroids
        books.append(book)
        codes.append(res.labels)
        reasons.append(res.stop_reason)
    codebooks = np.stack(books)
    code_arr = np.stack(codes, axis=1).astype(code_dtype(k))
    before = E.shape[0] * d * 4 / MB
    after = (codebooks.nbytes + code_arr.nbytes) / MB
    out = PQResult(
        codebooks=codebooks,
        codes=code_arr,
        m=m,
        k=k,
        memory_after_mb=round(after, 4),
        compression_ratio=before / after,
        avg_cosine=0.0,
        seconds=0.0,
        converged=all(r == "converged" for r in reasons),
        stop_reason=next((r for r in reasons if r != "converged"), "converged"),
        stop_reasons=tuple(reasons),
    )
    out.avg_cosine = average_cosine(E, out.reconstruct())
    out.seconds = perf_counter() - t0
    return out


def compare_vq_pq(
    E: Any,
    bytes_per_row: Sequence[int] = (1, 2, 4, 8),
    *,
    seed: Any = 0,
    max_vq_k: int = 4096,
    max_iter: int | None = None,
) -> list[dict[str, Any]]:
    """VQ against PQ at equal bytes of code per row: one row per budget, in the order given.

    PQ with ``b`` bytes per row is ``m = b`` sub-vectors of 256 codewords. Plain VQ
    with ``b`` bytes per row could index ``256^b`` codewords; it is capped at
    ``max_vq_k`` (and the row count), since a larger codebook costs more than it
    saves. Memory after includes the codebooks in both.

    PQ needs ``b`` to divide the dimension ``d``. A budget that does not still
    gets its row (VQ does not care): its PQ columns are NaN and ``pq_note`` says
    why (empty when PQ ran), so no budget disappears from the table.
    """
    E = check_embeddings(E)
    if isinstance(bytes_per_row, (str, bytes)) or not isinstance(bytes_per_row, Iterable):
        raise FastclustError(f"bytes_per_row must be a sequence of integers, got {bytes_per_row!r}")
    budgets = [check_positive_int(b, "bytes_per_row entry") for b in bytes_per_row]
    if not budgets:
        raise FastclustError("bytes_per_row is empty: give at least one budget")
    max_vq_k = check_positive_int(max_vq_k, "max_vq_k")
    d = E.shape[1]
    rows = []
    vq_fits: dict[int, VQResult] = {}  # the cap makes several byte budgets share one VQ fit
    for b in budgets:
        vq_k = int(min(256**b, max_vq_k, E.shape[0]))
        if vq_k not in vq_fits:
            vq_fits[vq_k] = compress(E, vq_k, seed=seed, max_iter=max_iter)
        vq = vq_fits[vq_k]
        row = {
            "bytes_per_row": b,
            "vq_k": vq.k,
            "vq_memory_mb": vq.memory_after_mb,
            "vq_avg_cosine": vq.avg_cosine,
            "pq_m": b,
            "pq_memory_mb": math.nan,
            "pq_avg_cosine": math.nan,
            "pq_note": f"m={b} does not divide d={d}: no PQ at this budget",
        }
        if d % b == 0:
            pq = pq_compress(E, b, 256, seed=seed, max_iter=max_iter)
            row.update(pq_memory_mb=pq.memory_after_mb, pq_avg_cosine=pq.avg_cosine, pq_note="")
        rows.append(row)
    return rows
