"""k-means as a digit classifier: the classic MNIST notebook, reproduced and corrected.

Cluster the training images, label every cluster by the majority digit of its
members, and predict a new image's digit as its nearest centroid's label.
"""

from __future__ import annotations

import gzip
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np

from ._repr import short_repr
from ._validation import as_generator, check_positive_int
from .engine import KMeansResult, assign, kmeans
from .errors import FastclustError


@short_repr
@dataclass
class Digits:
    """Images ``(n, h, w)`` uint8 (0-255), labels ``(n,)`` int64 in 0..9, and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    source: str

    @property
    def X(self) -> np.ndarray:
        """Images flattened to ``(n, h*w)`` float64 rows."""
        return self.images.reshape(len(self.images), -1).astype(np.float64)


def _open(path: Path) -> bytes:
    with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as fh:
        return fh.read()


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format), gzipped or raw, as a uint8 array."""
    path = Path(path)
    try:
        raw = _open(path)
    except OSError as exc:
        raise FastclustError(f"{path}: cannot be read ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise FastclustError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(raw) - offset != expected:
        raise FastclustError(f"{path}: header says {dims} ({expected} bytes) but the file holds {len(raw) - offset}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def _idx_pairs(folder: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for prefix in ("train", "t10k"):
        imgs = sorted(folder.glob(f"{prefix}-images*idx3-ubyte*"))
        labs = sorted(folder.glob(f"{prefix}-labels*idx1-ubyte*"))
        if imgs and labs:
            pairs.append((imgs[0], labs[0]))
    return pairs


def _load_path(path: Path) -> Digits:
    if path.is_dir():
        pairs = _idx_pairs(path)
        if not pairs:
            raise FastclustError(f"{path}: no '*-images-idx3-ubyte[.gz]' / '*-labels-idx1-ubyte[.gz]' pair found")
        images = np.concatenate([read_idx(i) for i, _ in pairs])
        labels = np.concatenate([read_idx(lab) for _, lab in pairs]).astype(np.int64)
        source = ", ".join(i.name for i, _ in pairs)
    elif path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.keys())
            if not {"x_test", "y_test"} <= keys:
                raise FastclustError(
                    f"{path}: a Keras-style mnist.npz needs x_train/y_train/x_test/y_test, has {sorted(keys)}"
                )
            parts = [p for p in ("train", "test") if f"x_{p}" in keys]
            images = np.concatenate([z[f"x_{p}"] for p in parts]).astype(np.uint8)
            labels = np.concatenate([z[f"y_{p}"] for p in parts]).astype(np.int64)
        source = path.name
    elif "idx3" in path.name:
        images = read_idx(path)
        label_path = path.with_name(path.name.replace("images", "labels").replace("idx3", "idx1"))
        if not label_path.exists():
            raise FastclustError(f"{path}: its labels file {label_path.name} is missing")
        labels = read_idx(label_path).astype(np.int64)
        source = path.name
    else:
        raise FastclustError(f"{path}: expected an MNIST folder, an idx3 images file or a Keras mnist.npz")
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise FastclustError(f"{path}: {images.shape[0]} images but labels of shape {labels.shape}")
    if labels.min() < 0 or labels.max() > 9:
        raise FastclustError(f"{path}: labels outside 0..9")
    return Digits(np.ascontiguousarray(images), labels, f"MNIST ({source})")


def load_mnist(path: str | Path | None = None) -> Digits:
    """Load MNIST from, in order: ``path``, ``$FASTCLUST_MNIST``, ``~/.keras/datasets/mnist.npz``.

    ``path`` may be a folder of IDX files (train and/or t10k, gzipped or raw),
    one ``*-images-idx3-ubyte[.gz]`` file (its labels file beside it), or a
    Keras ``mnist.npz``; splits found are concatenated, train first. When none
    exists, falls back, with a warning, to scikit-learn's bundled 8x8 digits
    (1,797 images, values scaled from 0-16 to 0-255): no download ever happens.
    """
    candidates = [Path(p) for p in (path, os.environ.get("FASTCLUST_MNIST")) if p]
    if path is not None and not Path(path).exists():
        raise FastclustError(f"{path}: no such MNIST file or folder")
    candidates.append(Path.home() / ".keras" / "datasets" / "mnist.npz")
    for candidate in candidates:
        if candidate.exists():
            return _load_path(candidate)
    from sklearn.datasets import load_digits

    warnings.warn("MNIST not found; using scikit-learn's bundled 8x8 digits instead", stacklevel=2)
    d = load_digits()
    images = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)
    return Digits(images, d.target.astype(np.int64), "scikit-learn digits (8x8)")


class ClusterClassifier:
    """k-means, then each cluster votes: its label is the majority digit of its members.

    ``predict`` gives each image its nearest centroid's label. Clusters that end
    empty are dropped by the engine, so every centroid has a label; a majority
    tie goes to the smaller digit.
    """

    def __init__(
        self, n_clusters: int = 10, *, init: Any = "k-means++", seed: Any = None, backend: str = "auto"
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.seed = seed
        self.backend = backend

    def fit(self, X: Any, y: Any) -> ClusterClassifier:
        # float32 is exact for pixel values and halves the cost of the BLAS products
        X = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
        y = np.asarray(y, dtype=np.int64)
        if y.shape != (X.shape[0],):
            raise FastclustError(f"y must have shape ({X.shape[0]},), got {y.shape}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.result_: KMeansResult = kmeans(
                X, self.n_clusters, init=self.init, seed=self.seed, backend=self.backend
            )
        n_labels = int(y.max()) + 1
        votes = np.zeros((self.result_.k, n_labels), dtype=np.int64)
        np.add.at(votes, (self.result_.labels, y), 1)
        self.centroid_labels_ = votes.argmax(axis=1)
        self.cluster_centers_ = self.result_.centroids
        return self

    def predict(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
        return self.centroid_labels_[assign(X, self.cluster_centers_, backend=self.backend)[0]]

    def score(self, X: Any, y: Any) -> float:
        """Accuracy on ``(X, y)``."""
        return float(np.mean(self.predict(X) == np.asarray(y)))


def notebook_loss(X: np.ndarray, centroids: np.ndarray, labels: np.ndarray) -> float:
    """What the classic notebook printed as "loss": the mean *un-squared* distance (not the k-means objective)."""
    return float(np.mean(np.linalg.norm(X - centroids[labels], axis=1)))


@short_repr
@dataclass
class ProtocolResult:
    """Both protocols' rows, and the classifiers behind them (for centroid grids)."""

    notebook_rows: list[dict[str, Any]]
    honest_rows: list[dict[str, Any]]
    classifiers: dict[str, ClusterClassifier] = field(repr=False)
    image_shape: tuple[int, int] = (28, 28)


def train_test_split(
    digits: Digits, n_train: int, seed: Any = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded random split: ``(X_train, y_train, X_test, y_test)``."""
    rng = as_generator(seed)
    n_train = check_positive_int(n_train, "n_train")
    if n_train >= len(digits.labels):
        raise FastclustError(f"n_train={n_train} leaves no held-out images (have {len(digits.labels)})")
    order = rng.permutation(len(digits.labels))
    X = digits.X
    return X[order[:n_train]], digits.labels[order[:n_train]], X[order[n_train:]], digits.labels[order[n_train:]]


def notebook_protocol(
    digits: Digits,
    *,
    per_digit: int = 100,
    notebook_k: int = 20,
    ks: Sequence[int] = (10, 20, 50, 100, 200),
    train_fraction: float = 0.8,
    seed: int = 0,
) -> ProtocolResult:
    """The notebook's protocol and the honest one, side by side.

    Notebook: ``per_digit`` training images of each digit, k = ``notebook_k``,
    ``init="random-uniform"`` (Gaussian draws) vs ``init="random"`` (data
    points), accuracy on the held-out images. Honest: all training images
    (``train_fraction`` of the data), k-means++, accuracy for every k in ``ks``.
    Both report the true number of rounds (the notebook printed its loop
    variable, always k - 1) and the real k-means objective next to the
    notebook's mean un-squared distance.
    """
    X_train, y_train, X_test, y_test = train_test_split(digits, int(train_fraction * len(digits.labels)), seed)
    rng = np.random.default_rng(seed)
    small = np.concatenate([rng.permutation(np.flatnonzero(y_train == d))[:per_digit] for d in range(10)])
    classifiers: dict[str, ClusterClassifier] = {}

    def row(name: str, clf: ClusterClassifier, Xt: np.ndarray, seconds: float) -> dict[str, Any]:
        r = clf.result_
        return {
            "protocol": name,
            "init": clf.init,
            "n_train": len(Xt),
            "k": r.k,
            "iterations": r.n_iter,
            "notebook_printed_iterations": clf.n_clusters - 1,
            "objective": r.objective,
            "notebook_loss": notebook_loss(Xt, r.centroids, r.labels),
            "accuracy": clf.score(X_test, y_test),
            "seconds": seconds,
        }

    notebook_rows = []
    for init in ("random-uniform", "random"):
        t0 = perf_counter()
        clf = ClusterClassifier(notebook_k, init=init, seed=seed).fit(X_train[small], y_train[small])
        classifiers[f"notebook-{init}"] = clf
        notebook_rows.append(row("notebook", clf, X_train[small], perf_counter() - t0))
    honest_rows = []
    for k in ks:
        t0 = perf_counter()
        clf = ClusterClassifier(k, seed=seed).fit(X_train, y_train)
        classifiers[f"honest-{k}"] = clf
        honest_rows.append(row("honest", clf, X_train, perf_counter() - t0))
    h, w = digits.images.shape[1:]
    return ProtocolResult(notebook_rows, honest_rows, classifiers, (h, w))


def centroid_images(clf: ClusterClassifier, shape: tuple[int, int] = (28, 28)) -> tuple[np.ndarray, np.ndarray]:
    """Centroids as ``(k, h, w)`` images in [0, 255] with their digit labels: ready for a grid plot."""
    return np.clip(clf.cluster_centers_, 0, 255).reshape(-1, *shape), clf.centroid_labels_.copy()
