"""The homework's functions with the signatures the course suggests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import fastclust as fc
from fastclust import graph as fg
from fastclust import image as fi
from fastclust import spectral as fs
from fastclust import vq
from fastclust._validation import check_data
from fastclust.errors import FastclustError


def _pixels(pixels: Any) -> np.ndarray:
    """(n, 3) or (H, W, 3) pixels with values 0-255, any numeric dtype -> (n, 3) float64."""
    arr = np.asarray(pixels)
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = arr.reshape(-1, 3)
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] == 0:
        raise FastclustError(f"pixels must have shape (n, 3) or (H, W, 3), got {np.shape(pixels)}")
    return check_data(arr, name="pixels")


def kmeans(pixels: Any, k: Any, norm: str = "l2", seed: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Cluster pixel colours: ``(cls, centroid)``.

    ``cls`` is an ``(n, 1)`` int64 column of cluster numbers 1..k'; ``centroid`` is
    ``(k', 3)`` float64 in [0, 255], with k' < k when clusters emptied (dropped, as
    the course asks). ``norm="l1"`` uses the Manhattan distance (k-medians).
    Random initial centroids are random pixels (``seed`` makes them repeatable).
    """
    X = _pixels(pixels)
    if X.min() < 0 or X.max() > 255:
        raise FastclustError(f"pixel values must lie in [0, 255]; found [{X.min():g}, {X.max():g}]")
    metric = {"l2": "l2", "euclidean": "l2", "l1": "l1", "manhattan": "l1"}.get(str(norm).lower())
    if metric is None:
        raise FastclustError(f"norm={norm!r} is not 'l2' or 'l1'")
    if np.array_equal(X, np.rint(X)):  # integer colours: the fast exact path
        colours, counts, inverse = fi.distinct_colours(X.astype(np.uint8).reshape(-1, 1, 3))
    else:
        colours, counts, inverse = fc.distinct_rows(X)
    res = fc.kmeans(colours, int(k), metric=metric, init="random", seed=seed, sample_weight=counts)
    cls = (res.labels[inverse] + 1).reshape(-1, 1)
    return cls, res.centroids


def kmedians(pixels: Any, k: Any, seed: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`kmeans` with the Manhattan distance (coordinate-wise medians)."""
    return kmeans(pixels, k, norm="l1", seed=seed)


def spectral_clustering(
    nodes_path: str | Path, edges_path: str | Path, k: Any, seed: Any = 0, laplacian: str = "regularized"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluster the political-blogs graph: ``(cluster, truth, node_ids)``, one entry per kept node.

    ``cluster`` is 1..k, ``truth`` the 0/1 labels and ``node_ids`` the original
    1-based ids (nodes without edges are removed, as the course allows).
    """
    g = fg.load_polblogs(nodes_path, edges_path)
    res = fs.spectral_clustering(g.adjacency, int(k), laplacian=laplacian, seed=seed)
    return res.labels + 1, g.labels, g.node_ids


def mismatch_rates(cluster: Any, truth: Any) -> tuple[np.ndarray, float]:
    """Per-cluster ``[cluster, size, majority label, mismatch rate]`` rows, and the overall rate."""
    t = fs.mismatch_table(np.asarray(cluster).ravel(), np.asarray(truth).ravel())
    rows = np.array([[r["cluster"], r["size"], r["majority"], r["rate"]] for r in t.rows], dtype=np.float64)
    return rows, t.overall


def compress_embeddings(E: Any, k: Any = 256, seed: Any = 0) -> dict[str, Any]:
    """Vector-quantize an embedding table: codebook, codes, memory before/after (MB, 4 decimals), avg cosine."""
    r = vq.compress(E, int(k), seed=seed)
    return {
        "codebook": r.codebook,
        "codes": r.codes,
        "memory_before_mb": r.memory_before_mb,
        "memory_after_mb": r.memory_after_mb,
        "compression_ratio": r.compression_ratio,
        "avg_cosine": r.avg_cosine,
    }
