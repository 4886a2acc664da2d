"""Generated stand-ins for the course's input files, in the course's own formats.

A fresh clone has no course data: these writers produce files that the real
loaders read exactly as they read the course's, so every example and every
report step has something to run on (``fastclust demo-data DIR`` writes them
all). Everything is seeded and written atomically (:mod:`fastclust._io`).

=================  ======================================================  ==============================
file               what it is                                              read by
=================  ======================================================  ==============================
``china.bmp``      scikit-learn's sample photo, 640x427, as a 24-bit BMP   :func:`fastclust.image.load_image`
                   (the course's ``football.bmp`` is a 24-bit BMP too)
``nodes.txt``,     a generated two-party blog graph                        :func:`fastclust.graph.load_polblogs`
``edges.txt``      (:func:`write_blog_like_graph`)
``AImodel.npy``    seeded synthetic embeddings, 10,000 x 64 float32        :func:`fastclust.vq.load_embeddings`
                   (:func:`fastclust.vq.make_embeddings`)
=================  ======================================================  ==============================
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from . import graph as fg
from . import vq
from ._io import atomic_write_bytes, atomic_write_text
from ._landscape import LANDSCAPE_HEIGHT, LANDSCAPE_WIDTH, make_landscape
from ._validation import spawn
from .errors import FastclustError

__all__ = [
    "DEMO_FILES",
    "LANDSCAPE_HEIGHT",
    "LANDSCAPE_WIDTH",
    "make_landscape",
    "write_blog_like_graph",
    "write_demo_data",
    "write_demo_embeddings",
    "write_demo_image",
]

#: What :func:`write_demo_data` writes: role -> file name.
DEMO_FILES = {"image": "china.bmp", "nodes": "nodes.txt", "edges": "edges.txt", "embeddings": "AImodel.npy"}


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


def write_demo_image(path: str | Path) -> Path:
    """scikit-learn's sample photo ``china.jpg`` (640x427 RGB) saved at ``path``, format by suffix.

    ``.bmp`` gives a 24-bit BMP, the format of the course's ``football.bmp``.
    The photo ships inside scikit-learn: nothing is downloaded.
    """
    from PIL import Image
    from sklearn.datasets import load_sample_image

    path = Path(path)
    buf = io.BytesIO()
    try:
        Image.fromarray(load_sample_image("china.jpg")).save(
            buf, format=Image.registered_extensions()[path.suffix.lower()]
        )
    except KeyError:
        raise FastclustError(f"{path}: unknown image format {path.suffix!r} (use .bmp, .png, ...)") from None
    return atomic_write_bytes(path, buf.getvalue())


def write_demo_embeddings(path: str | Path, seed: int = 0) -> Path:
    """The report's stand-in for ``AImodel.npy`` (10,000 x 64 float32, 32 topics) saved as ``.npy`` at ``path``."""
    buf = io.BytesIO()
    # the same draw resolve_inputs makes when AImodel.npy is missing, so a report run on these
    # files gives the report's embedded-default tables
    np.save(buf, vq.make_embeddings(10_000, 64, n_topics=32, seed=seed), allow_pickle=False)
    return atomic_write_bytes(path, buf.getvalue())


def write_demo_data(folder: str | Path, *, seed: int = 0, overwrite: bool = False) -> dict[str, Path]:
    """Write every stand-in of :data:`DEMO_FILES` into ``folder`` (created if needed).

    Returns ``{"image": ..., "nodes": ..., "edges": ..., "embeddings": ...}``.

    Raises
    ------
    FastclustError
        When one of the files already exists and ``overwrite`` is false (checked
        before anything is written: a folder of real course data is never
        half-replaced by stand-ins).
    """
    folder = Path(folder)
    paths = {role: folder / name for role, name in DEMO_FILES.items()}
    if not overwrite:
        present = [p for p in paths.values() if p.exists()]
        if present:
            raise FastclustError(
                f"{present[0]} already exists; demo data never replaces files unless asked to (--force, overwrite=True)"
            )
    folder.mkdir(parents=True, exist_ok=True)
    write_demo_image(paths["image"])
    write_blog_like_graph(folder, seed)
    write_demo_embeddings(paths["embeddings"], seed)
    return paths
