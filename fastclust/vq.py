"""Embedding-table compression by vector quantization (the homework's Q5).

A table of ``n`` float32 rows costs ``4 n d`` bytes. Vector quantization keeps a
``k``-row codebook and one code per row: ``4 k d + n * bytes(code)`` bytes.
Memory is reported in MB with 1 MB = 2^20 bytes, rounded to 4 decimals.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np

from ._validation import check_choice, check_positive_int
from .engine import kmeans
from .errors import FastclustError

MB = float(2**20)


def make_embeddings(
    n: int = 10_000, d: int = 64, n_topics: int = 32, noise: float = 0.5, seed: int | None = 0
) -> np.ndarray:
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
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(n_topics, d))
    mu /= np.linalg.norm(mu, axis=1, keepdims=True)
    topic = rng.integers(0, n_topics, size=n)
    rows = mu[topic] + noise * rng.normal(size=(n, d)) / np.sqrt(d)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    rows *= rng.lognormal(0.0, 0.25, size=(n, 1))
    return rows.astype(np.float32)


def check_embeddings(E: Any, name: str = "embeddings") -> np.ndarray:
    """A 2-D float table with finite, non-zero rows, as float32 (or float64 if given so)."""
    arr = np.asarray(E)
    if arr.dtype == object:
        raise FastclustError(f"{name} is an object array; a numeric float array is needed")
    if not np.issubdtype(arr.dtype, np.floating):
        raise FastclustError(f"{name} must be a float array, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise FastclustError(f"{name} must be a non-empty 2-D table (rows, dims), got shape {arr.shape}")
    bad_rows = ~np.isfinite(arr).all(axis=1)
    if bad_rows.any():
        raise FastclustError(
            f"{name} has {int(bad_rows.sum())} row(s) with NaN or inf; the first is row {int(np.argmax(bad_rows))}"
        )
    zero_rows = ~(arr != 0).any(axis=1)
    if zero_rows.any():
        raise FastclustError(
            f"{name} has {int(zero_rows.sum())} all-zero row(s) (no direction to compare by cosine); "
            f"the first is row {int(np.argmax(zero_rows))}"
        )
    return np.ascontiguousarray(arr if arr.dtype in (np.float32, np.float64) else arr.astype(np.float32))


def load_embeddings(path: str | Path) -> np.ndarray:
    """Read an embedding table from ``.npy`` or ``.npz`` (never unpickling: a pickled file can run code).

    An ``.npz`` must hold one array, or one named ``embeddings``.
    """
    path = Path(path)
    if not path.is_file():
        raise FastclustError(f"{path}: no such embeddings file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as exc:  # object arrays need pickle: refused on purpose
        raise FastclustError(f"{path}: cannot be read without unpickling ({exc}); save it as a float array") from exc
    except OSError as exc:
        raise FastclustError(f"{path}: not a .npy/.npz file ({exc})") from exc
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.keys())
            if "embeddings" in keys:
                arr = loaded["embeddings"]
            elif len(keys) == 1:
                arr = loaded[keys[0]]
            else:
                raise FastclustError(f"{path}: holds arrays {keys}; name the table 'embeddings'")
    else:
        arr = loaded
    return check_embeddings(arr, name=str(path))


def code_dtype(k: int) -> np.dtype:
    """The smallest unsigned integer type that can index ``k`` codewords.

    uint8 up to k = 256, uint16 up to 65,536. (The course's "1 byte per index"
    holds only up to k = 256: at k = 512 each code needs 2 bytes.)
    """
    for dtype in (np.uint8, np.uint16, np.uint32):
        if k <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


def _unit_rows(E: np.ndarray) -> np.ndarray:
    return (E / np.linalg.norm(E, axis=1, keepdims=True)).astype(E.dtype, copy=False)


def average_cosine(E: np.ndarray, reconstruction: np.ndarray) -> float:
    """Mean cosine similarity between each row and its reconstruction (the course's formula)."""
    E = np.asarray(E, dtype=np.float64)
    R = np.asarray(reconstruction, dtype=np.float64)
    num = (E * R).sum(axis=1)
    den = np.linalg.norm(E, axis=1) * np.linalg.norm(R, axis=1)
    return float(np.mean(num / np.where(den > 0, den, 1.0)))


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


def _fit_codebook(
    X: np.ndarray, k: int, engine: str, seed: Any, max_iter: int | None, init: Any
) -> tuple[np.ndarray, np.ndarray, int]:
    if engine == "fastclust":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # k reduced / max_iter: visible through .k and .n_iter
            res = kmeans(X, k, init=init, seed=seed, max_iter=max_iter)
        return res.centroids, res.labels, res.n_iter
    from sklearn.cluster import KMeans

    sk_init = (
        init if isinstance(init, str) and init != "k-means++" else ("k-means++" if isinstance(init, str) else init)
    )
    km = KMeans(
        k, init=sk_init, n_init=1, random_state=seed if isinstance(seed, int) else None, max_iter=max_iter or 300
    )
    km.fit(X)
    return km.cluster_centers_, km.labels_, int(km.n_iter_)


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
    )


def compress(
    E: Any,
    k: int = 256,
    *,
    normalize: bool = True,
    engine: str = "fastclust",
    seed: Any = None,
    max_iter: int | None = None,
    init: Any = "k-means++",
    client: Any = None,
) -> VQResult:
    """Quantize an embedding table to a ``k``-row codebook and one code per row.

    ``normalize=True`` clusters unit-length rows: embeddings are compared by
    cosine, so direction is what must survive; without it, long rows dominate
    the squared-error objective and short rows get coarse codewords. The
    codebook then holds mean directions (scale-free), and the cosine of a row to
    its codeword is unaffected by the row's length.

    ``engine="sklearn"`` uses scikit-learn's KMeans (allowed by the course for
    this part) so the two can be reported side by side.

    ``E`` may be a dask array (millions of rows): the codebook is then fitted by
    :func:`fastclust.distributed.kmeans` (k-means|| init; ``client`` is an optional
    ``distributed.Client``) and ``codes`` is returned as a dask array, to stream
    to zarr or npy.
    """
    from .distributed import _is_dask_array

    if _is_dask_array(E):
        check_choice(engine, "engine", ("fastclust",))
        return _compress_dask(E, check_positive_int(k, "k"), normalize, seed, max_iter, init, client)
    t0 = perf_counter()
    E = check_embeddings(E)
    k = check_positive_int(k, "k")
    check_choice(engine, "engine", ("fastclust", "sklearn"))
    if k > E.shape[0]:
        raise FastclustError(f"k={k} exceeds the number of rows ({E.shape[0]})")
    X = _unit_rows(E) if normalize else E
    centroids, labels, n_iter = _fit_codebook(X, k, engine, seed, max_iter, init)
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
        avg_cosine=average_cosine(E, codebook[codes]),
        seconds=perf_counter() - t0,
        engine=engine,
        normalize=normalize,
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
            }
        )
    return rows


@dataclass
class PQResult:
    """Product quantization: ``m`` sub-vectors, one ``k``-entry codebook each."""

    codebooks: np.ndarray  # (m, k, d/m) float32
    codes: np.ndarray  # (n, m)
    m: int
    k: int
    memory_after_mb: float
    compression_ratio: float
    avg_cosine: float
    seconds: float

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
    d = E.shape[1]
    if d % m:
        raise FastclustError(f"m={m} must divide the dimension d={d}")
    X = _unit_rows(E) if normalize else E
    step = d // m
    books, codes = [], []
    rng = np.random.default_rng(seed)
    for j in range(m):
        part = np.ascontiguousarray(X[:, j * step : (j + 1) * step])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            res = kmeans(part, min(k, part.shape[0]), seed=rng, max_iter=max_iter)
        book = np.zeros((k, step), dtype=np.float32)
        book[: res.k] = res.centroids
        books.append(book)
        codes.append(res.labels)
    codebooks = np.stack(books)
    code_arr = np.stack(codes, axis=1).astype(code_dtype(k))
    before = E.shape[0] * d * 4 / MB
    after = (codebooks.nbytes + code_arr.nbytes) / MB
    out = PQResult(codebooks, code_arr, m, k, round(after, 4), before / after, 0.0, 0.0)
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
    """VQ against PQ at equal bytes of code per row.

    PQ with ``b`` bytes per row is ``m = b`` sub-vectors of 256 codewords. Plain VQ
    with ``b`` bytes per row could index ``256^b`` codewords; it is capped at
    ``max_vq_k`` (and the row count), since a larger codebook costs more than it
    saves. Memory after includes the codebooks in both.
    """
    E = check_embeddings(E)
    rows = []
    vq_fits: dict[int, VQResult] = {}  # the cap makes several byte budgets share one VQ fit
    for b in bytes_per_row:
        if E.shape[1] % b:
            continue
        pq = pq_compress(E, b, 256, seed=seed, max_iter=max_iter)
        vq_k = int(min(256**b, max_vq_k, E.shape[0]))
        if vq_k not in vq_fits:
            vq_fits[vq_k] = compress(E, vq_k, seed=seed, max_iter=max_iter)
        vq = vq_fits[vq_k]
        rows.append(
            {
                "bytes_per_row": b,
                "vq_k": vq.k,
                "vq_memory_mb": vq.memory_after_mb,
                "vq_avg_cosine": vq.avg_cosine,
                "pq_m": b,
                "pq_memory_mb": pq.memory_after_mb,
                "pq_avg_cosine": pq.avg_cosine,
            }
        )
    return rows
