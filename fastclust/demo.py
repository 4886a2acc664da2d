"""Generated stand-ins for the course's input files, in the course's own formats.

A fresh clone has no course data: these writers produce files that the real
loaders read exactly as they read the course's, so every example and every
report step has something to run on. Everything is seeded and written
atomically (:mod:`fastclust._io`).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from . import graph as fg
from ._io import atomic_write_text
from ._validation import spawn

__all__ = ["write_blog_like_graph"]


def write_blog_like_graph(folder: str | Path, seed: int = 0) -> tuple[Path, Path]:
    """A generated two-party blog graph in the exact ``nodes.txt`` / ``edges.txt`` format.

    1,200 linked blogs plus 40 without links, directed links with reciprocal
    duplicates and a few self-loops, so the real loader's every path runs.
    Returns ``(nodes_path, edges_path)`` inside ``folder`` (created if needed).
    """
    # The graph's own draws keep the integer seed (the same graph as before this module
    # existed); the file layout draws from a child stream of its own.
    A, labels = fg.make_two_block_graph(1200, mean_degree=26, mixing=0.06, seed=seed)
    (rng,) = spawn(seed, 1)
    n_isolated = 40
    n = labels.size + n_isolated
    labels = np.concatenate([labels, rng.integers(0, 2, n_isolated)])
    order = rng.permutation(n)  # interleave isolated nodes and both parties
    node_id = np.empty(n, dtype=np.int64)
    node_id[order] = np.arange(1, n + 1)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    nodes_path, edges_path = folder / "nodes.txt", folder / "edges.txt"
    by_id = np.argsort(node_id)
    nodes = io.StringIO()
    for i in by_id:
        nid = int(node_id[i])
        nodes.write(f'{nid}\t"blog{nid:04d}.example.org/#{"lr"[labels[i]]}"\t{labels[i]}\t"Generated"\n')
    coo = A.tocoo()
    src, dst = coo.row[coo.row < coo.col], coo.col[coo.row < coo.col]
    flip = rng.random(src.size) < 0.5
    src, dst = np.where(flip, dst, src), np.where(flip, src, dst)
    both = rng.random(src.size) < 0.15  # reciprocal links, as real blogs have
    loops = rng.choice(1200, 3, replace=False)
    edges = io.StringIO()
    for a, b in zip(src, dst, strict=True):
        edges.write(f"{node_id[a]}\t{node_id[b]}\n")
    for a, b in zip(src[both], dst[both], strict=True):
        edges.write(f"{node_id[b]}\t{node_id[a]}\n")
    for a in loops:
        edges.write(f"{node_id[a]}\t{node_id[a]}\n")
    # edges first, nodes last: a reader that sees the new nodes.txt also sees its edges.txt
    atomic_write_text(edges_path, edges.getvalue())
    atomic_write_text(nodes_path, nodes.getvalue())
    return nodes_path, edges_path
