"""Graphs for spectral clustering: the political-blogs reader and generated test graphs."""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ._backends import resolve_backend
from ._repr import short_repr
from ._validation import as_generator, check_positive_int
from .errors import FastclustError

__all__ = ["Graph", "csr_from_edges", "load_polblogs", "make_block_graph", "make_two_block_graph"]


@short_repr
@dataclass
class Graph:
    """An undirected graph with a 0/1 label per node, and an account of what was dropped.

    Attributes
    ----------
    adjacency : scipy.sparse.csr_matrix
        Symmetric, 0/1, no self-loops, over the kept nodes.
    labels : (n,) int64
        The 0/1 label of every kept node (polblogs: 0 liberal, 1 conservative).
    names : list[str]
        Node names (blog urls) of the kept nodes.
    node_ids : (n,) int64
        Original 1-based ids of the kept nodes.
    n_nodes_read, n_edge_lines, n_self_loops, n_duplicate_edges, n_isolated_removed : int
        What the files held and what was dropped on purpose (duplicates count
        repeated and reciprocal links: one undirected edge remains of each).
    n_edges : int
        Undirected edges kept.
    n_components : int
        Connected components of the kept graph.
    """

    adjacency: sp.csr_matrix
    labels: np.ndarray
    names: list[str]
    node_ids: np.ndarray
    n_nodes_read: int
    n_edge_lines: int
    n_self_loops: int
    n_duplicate_edges: int
    n_isolated_removed: int
    n_edges: int
    n_components: int


#: Field names of a ``nodes.txt`` record, for messages.
_NODE_FIELDS = ("id", "url", "label", "sources")
#: A node id: ASCII digits only. ``int()`` alone would also take ``1_3``, ``+13``, `` 13 `` and
#: other scripts' digits (``١٣``), turning a typo into a real, wrong node.
_ID = re.compile(r"[0-9]+")
_MAX_ID = 2**63 - 1  # node ids are stored as int64


def _read_text(path: Path, what: str) -> str:
    """The whole file as text (UTF-8, an optional BOM skipped); a decoding error names its line."""
    if not path.is_file():  # also refuses FIFOs and devices, which would block or never end
        raise FastclustError(f"{path}: no such {what} file" if not path.exists() else f"{path}: not a regular file")
    raw = path.read_bytes()
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise FastclustError(
            f"{path}:{line_no}: not UTF-8 text (byte {raw[exc.start : exc.start + 1]!r} at column {column}: {exc.reason})"
        ) from None


def _parse_id(token: str, where: str, what: str = "node id") -> int:
    """A non-negative ASCII-digit integer that fits int64, else a FastclustError at ``where``."""
    if not _ID.fullmatch(token):
        raise FastclustError(f"{where}: {what} {token!r} is not an integer (ASCII digits 0-9 only)")
    if len(token) > 19 or int(token) > _MAX_ID:  # the length test first: never int() a megabyte of digits
        raise FastclustError(f"{where}: {what} {token[:30]}{'...' if len(token) > 30 else ''} exceeds 2**63 - 1")
    return int(token)


def _quote_problem(path: Path, text: str, line_no: int, reached: int, error: Exception | None) -> str:
    """The message for a record whose quoting breaks: the field at fault, on the record's first line."""
    line = io.StringIO(text, newline="").readlines()[line_no - 1].rstrip("\r\n")
    # the first field with an odd number of quotes opened the quote that never closed on this line
    field = next((j for j, cell in enumerate(line.split("\t")) if cell.count('"') % 2), None)
    where = "" if field is None else f" in field {field + 1} ({_field_name(field)})"
    if reached > line_no:
        return f"{path}:{line_no}: unterminated quote{where}: it runs on to line {reached}"
    return f"{path}:{line_no}: malformed quoting{where} ({error})"


def _field_name(index: int) -> str:
    return _NODE_FIELDS[index] if index < len(_NODE_FIELDS) else f"extra field {index + 1}"


def _read_nodes(path: Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    ids, names, labels = [], [], []
    text = _read_text(path, "nodes")
    # csv with tab delimiter and quotes: a '#' inside a url (row 129: '&#38;') is just text. strict: a quote
    # followed by anything but a tab is an error, not a silently merged field
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quotechar='"', strict=True)
    last = 0
    while True:
        line_no = last + 1  # the record's first line: the one to report, even if a quote ran past it
        try:
            row = next(reader)
            error = None
        except StopIteration:
            break
        except csv.Error as exc:
            row, error = [], exc
        if error is not None or reader.line_num > line_no:
            # A quote left open runs on through the next line(s): read leniently it would swallow the
            # next node(s) into this record, silently. A node record is one line.
            raise FastclustError(_quote_problem(path, text, line_no, reader.line_num, error)) from None
        last = reader.line_num
        if not row or all(not c.strip() for c in row):
            raise FastclustError(f"{path}:{line_no}: empty line")
        if len(row) < 3:
            raise FastclustError(
                f"{path}:{line_no}: expected id<TAB>url<TAB>label[<TAB>sources], got {len(row)} field(s)"
            )
        node_id = _parse_id(row[0].strip(" "), f"{path}:{line_no}")
        if row[2].strip() not in ("0", "1"):
            raise FastclustError(f"{path}:{line_no}: label {row[2]!r} is not 0 or 1")
        ids.append(node_id)
        names.append(row[1])
        labels.append(int(row[2]))
    if not ids:
        raise FastclustError(f"{path}: empty nodes file")
    id_arr = np.asarray(ids, dtype=np.int64)
    if np.unique(id_arr).size != id_arr.size:
        dup = int(id_arr[np.flatnonzero(np.diff(np.sort(id_arr)) == 0)[0]])
        raise FastclustError(f"{path}: node id {dup} appears more than once")
    return id_arr, names, np.asarray(labels, dtype=np.int64)


def _read_edges(path: Path, known: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    text = _read_text(path, "edges")
    src, dst = [], []
    for line_no, line in enumerate(io.StringIO(text), start=1):
        parts = line.split()
        if len(parts) != 2:
            raise FastclustError(f"{path}:{line_no}: expected 'source<TAB>target', got {line.rstrip()!r}")
        where = f"{path}:{line_no}"
        a, b = _parse_id(parts[0], where), _parse_id(parts[1], where)
        for node in (a, b):
            if node not in known:
                raise FastclustError(f"{where}: edge names unknown node {node}")
        src.append(known[a])
        dst.append(known[b])
    if not src:
        raise FastclustError(f"{path}: empty edges file")
    return np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)


def _as_node_indices(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise FastclustError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise FastclustError(f"{name} must hold integer node indices, got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > _MAX_ID:
        raise FastclustError(f"{name} holds index {int(arr.max())} beyond int64")
    return arr.astype(np.int64, copy=False)


def csr_from_edges(
    src: np.ndarray, dst: np.ndarray, n: int, *, backend: str = "auto"
) -> tuple[sp.csr_matrix, int, int]:
    """Symmetric 0/1 CSR from directed 0-based edges: ``(A, n_self_loops, n_duplicates)``.

    Every index must lie in ``0 .. n-1``: the compiled kernel writes rows by
    index without checking (an index past ``n`` would corrupt memory), so this
    driver checks once, in O(edges), and raises :class:`FastclustError` naming
    the first bad edge.
    """
    n = check_positive_int(n, "n", minimum=0)
    if n > 3_037_000_499:  # the kernel keys a pair as u * n + v in int64
        raise FastclustError(f"n={n} is too large: node pairs are keyed as u * n + v in int64")
    src = _as_node_indices(src, "src")
    dst = _as_node_indices(dst, "dst")
    if src.shape != dst.shape:
        raise FastclustError(f"src and dst must have the same length, got {src.size} and {dst.size}")
    if src.size:
        bad = (src < 0) | (src >= n) | (dst < 0) | (dst >= n)
        if bad.any():
            e = int(np.argmax(bad))
            raise FastclustError(
                f"edge {e} ({int(src[e])} -> {int(dst[e])}) has a node index outside 0..{n - 1} "
                f"({int(bad.sum())} such edge(s))"
            )
    _, ops = resolve_backend(backend)
    indptr, indices, n_self, n_dup = ops.edges_to_csr(np.ascontiguousarray(src), np.ascontiguousarray(dst), n)
    A = sp.csr_matrix((np.ones(indices.size), indices, indptr), shape=(n, n))
    return A, int(n_self), int(n_dup)


def load_polblogs(
    nodes_path: str | Path, edges_path: str | Path, *, keep_isolated: bool = False, backend: str = "auto"
) -> Graph:
    """Read the political-blogs network (``nodes.txt`` / ``edges.txt``) as an undirected graph.

    ``nodes.txt`` is ``id<TAB>"url"<TAB>label<TAB>"sources"`` with 1-based ids;
    ``edges.txt`` is ``source<TAB>target``. Links are symmetrised, duplicates and
    self-loops dropped (and counted), and nodes left without an edge removed
    unless ``keep_isolated``. Any malformed line raises :class:`FastclustError`
    naming the file and line.
    """
    nodes_path, edges_path = Path(nodes_path), Path(edges_path)
    ids, names, labels = _read_nodes(nodes_path)
    known = {int(node_id): i for i, node_id in enumerate(ids)}
    src, dst = _read_edges(edges_path, known)
    A, n_self, n_dup = csr_from_edges(src, dst, ids.size, backend=backend)
    if A.nnz == 0 and not keep_isolated:
        # every line was a self-loop: without this the caller would get a 0-node graph and a puzzling
        # "empty matrix" error from whatever it does next
        raise FastclustError(
            f"{edges_path}: no edge joins two distinct nodes (all {src.size} line(s) are self-loops, dropped): "
            "nothing is left to cluster"
        )
    keep = np.ones(ids.size, dtype=bool) if keep_isolated else np.diff(A.indptr) > 0
    A = A[keep][:, keep].tocsr()
    n_components = int(connected_components(A, directed=False)[0])
    return Graph(
        adjacency=A,
        labels=labels[keep],
        names=[nm for nm, kept in zip(names, keep, strict=True) if kept],
        node_ids=ids[keep],
        n_nodes_read=int(ids.size),
        n_edge_lines=int(src.size),
        n_self_loops=n_self,
        n_duplicate_edges=n_dup,
        n_isolated_removed=int((~keep).sum()),
        n_edges=int(A.nnz // 2),
        n_components=n_components,
    )


def _check_real(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise FastclustError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(float(value)):
        raise FastclustError(f"{name} must be finite, got {value}")
    return float(value)


def make_block_graph(
    n: int = 1000,
    n_blocks: int = 2,
    *,
    mean_degree: float = 20.0,
    mixing: float = 0.1,
    seed: Any = 0,
    backend: str = "auto",
) -> tuple[sp.csr_matrix, np.ndarray]:
    """A degree-corrected block random graph with known labels ``0 .. n_blocks-1``.

    Node propensities are heavy-tailed (Pareto), as blog link counts are; about a
    fraction ``mixing`` of the edges runs between blocks, and the graph has about
    ``n * mean_degree / 2`` undirected edges (fewer after duplicates).
    Returns ``(A, labels)`` with ``A`` symmetric 0/1 CSR without self-loops.
    """
    n = check_positive_int(n, "n")
    n_blocks = check_positive_int(n_blocks, "n_blocks")
    if n < n_blocks:
        raise FastclustError(f"need n >= n_blocks, got n={n}, n_blocks={n_blocks}")
    mean_degree = _check_real(mean_degree, "mean_degree")
    mixing = _check_real(mixing, "mixing")
    if not 0.0 < mean_degree < n:
        raise FastclustError(f"mean_degree must lie in (0, n={n}), got {mean_degree}")
    if not 0.0 <= mixing < 1.0:
        raise FastclustError(f"mixing must lie in [0, 1), got {mixing}")
    rng = as_generator(seed)  # the one seed rule: an int gives the same draws as default_rng(int)
    labels = np.arange(n) * n_blocks // n
    theta = rng.pareto(2.5, size=n) + 1.0
    cdf = np.cumsum(theta)
    cdf /= cdf[-1]
    # draw pairs by propensity, keep all within-block pairs and enough between-block ones
    p_between = 1.0 - 1.0 / n_blocks  # share of random pairs that cross blocks
    keep_between = 1.0 if p_between == 0 else min(1.0, mixing / (1.0 - mixing) * (1.0 - p_between) / p_between)
    kept_share = (1.0 - p_between) + p_between * keep_between
    m = int(n * mean_degree / 2 / kept_share)
    # sorted draws make searchsorted walk the cdf in order (2x faster on 10^7 draws);
    # permuting one side keeps the pairs independent
    u = np.minimum(np.searchsorted(cdf, np.sort(rng.random(m))), n - 1)
    v = np.minimum(np.searchsorted(cdf, np.sort(rng.random(m))), n - 1)[rng.permutation(m)]
    keep = (labels[u] == labels[v]) | (rng.random(m) < keep_between)
    A, _, _ = csr_from_edges(u[keep], v[keep], n, backend=backend)
    return A, labels


def make_two_block_graph(n: int = 1000, **kwargs: object) -> tuple[sp.csr_matrix, np.ndarray]:
    """Two blocks: :func:`make_block_graph` with ``n_blocks=2`` (a blog-like left/right split)."""
    return make_block_graph(n, 2, **kwargs)  # type: ignore[arg-type]
