"""k-means as a digit classifier: the classic MNIST notebook, reproduced and corrected.

Cluster the training images, label every cluster by the majority digit of its
members, and predict a new image's digit as its nearest centroid's label.
"""

from __future__ import annotations

import gzip
import math
import os
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np

from ._npyio import load_npz
from ._repr import short_repr
from ._validation import as_generator, check_data, check_positive_int
from .engine import KMeansResult, assign, kmeans
from .errors import FastclustError

__all__ = [
    "MAX_LABEL",
    "ClusterClassifier",
    "Digits",
    "ProtocolResult",
    "centroid_images",
    "load_mnist",
    "notebook_loss",
    "notebook_protocol",
    "read_idx",
    "train_test_split",
]

#: The largest class label :class:`ClusterClassifier` accepts: labels are class indices, and a
#: label like 10**10 is a bug upstream (it once meant a 224 GiB vote table).
MAX_LABEL = 2**31 - 1


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
    if not path.is_file():  # a FIFO would block
        raise FastclustError(f"{path}: not a regular file" if path.exists() else f"{path}: no such IDX file")
    try:
        raw = _open(path)
    except (OSError, EOFError, zlib.error) as exc:  # a cut .gz ends in EOFError, a damaged one in zlib.error
        raise FastclustError(f"{path}: cannot be read ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise FastclustError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    offset = 4 + 4 * ndim
    if ndim == 0 or len(raw) < offset:
        raise FastclustError(f"{path}: IDX header of {ndim} dimension(s) is missing or cut")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = math.prod(dims)  # a Python int: no overflow whatever the header claims
    if len(raw) - offset != expected:
        raise FastclustError(f"{path}: header says {dims} ({expected} bytes) but the file holds {len(raw) - offset}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def _pixels_uint8(arr: np.ndarray, label: str) -> tuple[np.ndarray, str]:
    """Images as uint8 by the stated rule, and a note when they were scaled.

    Integers must lie in 0..255. Floats must be finite and non-negative: if none
    exceeds 1 they are taken as [0, 1] intensities and scaled by 255; if none
    exceeds 255 they are rounded. Anything else is refused, never wrapped or cut.
    """
    if arr.dtype == np.uint8:
        return arr, ""
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise FastclustError(f"{label}: pixels must be integers or floats, got dtype {arr.dtype}")
    if arr.size == 0:
        return arr.astype(np.uint8), ""
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise FastclustError(f"{label}: {int((~np.isfinite(arr)).sum())} pixel value(s) are NaN or inf")
    lo, hi = float(arr.min()), float(arr.max())
    if np.issubdtype(arr.dtype, np.integer):
        if lo < 0 or hi > 255:
            raise FastclustError(f"{label}: integer pixels must lie in 0..255, found {lo:g}..{hi:g} ({arr.dtype})")
        return arr.astype(np.uint8), ""
    if lo < 0 or hi > 255:
        raise FastclustError(f"{label}: float pixels must lie in [0, 1] or [0, 255], found [{lo:g}, {hi:g}]")
    if hi <= 1.0:
        return np.rint(arr * 255.0).astype(np.uint8), "float pixels in [0, 1] scaled by 255"
    return np.rint(arr).astype(np.uint8), "float pixels in [0, 255] rounded"


def _digit_labels(arr: np.ndarray, label: str) -> np.ndarray:
    """Labels as int64 in 0..9; non-integral values are refused, never truncated."""
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise FastclustError(f"{label}: labels must be integers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating) and (~np.isfinite(arr) | (arr != np.rint(arr))).any():
        raise FastclustError(f"{label}: labels must be whole numbers 0..9; found non-integral values")
    if arr.size and (arr.min() < 0 or arr.max() > 9):
        raise FastclustError(f"{label}: labels outside 0..9 (found {arr.min():g}..{arr.max():g})")
    return arr.astype(np.int64)


def _idx_pairs(folder: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for prefix in ("train", "t10k"):
        imgs = sorted(folder.glob(f"{prefix}-images*idx3-ubyte*"))
        labs = sorted(folder.glob(f"{prefix}-labels*idx1-ubyte*"))
        if imgs and labs:
            pairs.append((imgs[0], labs[0]))
    return pairs


def _load_path(path: Path) -> Digits:
    if not (path.is_dir() or path.is_file()):  # a FIFO or a device would block the reader
        raise FastclustError(f"{path}: not a regular file or folder")
    if path.is_dir():
        pairs = _idx_pairs(path)
        if not pairs:
            raise FastclustError(f"{path}: no '*-images-idx3-ubyte[.gz]' / '*-labels-idx1-ubyte[.gz]' pair found")
        images = np.concatenate([read_idx(i) for i, _ in pairs])
        labels = np.concatenate([read_idx(lab) for _, lab in pairs]).astype(np.int64)
        source = ", ".join(i.name for i, _ in pairs)
    elif path.suffix == ".npz":
        z = load_npz(path, "MNIST")  # no unpickling; a cut or damaged archive is a FastclustError
        keys = set(z)
        if not {"x_test", "y_test"} <= keys:
            raise FastclustError(
                f"{path}: a Keras-style mnist.npz needs x_train/y_train/x_test/y_test, has {sorted(keys)}"
            )
        parts = [p for p in ("train", "test") if f"x_{p}" in keys and f"y_{p}" in keys]
        converted = [_pixels_uint8(z[f"x_{p}"], f"{path}[x_{p}]") for p in parts]
        images = np.concatenate([img for img, _ in converted])
        labels = np.concatenate([_digit_labels(z[f"y_{p}"], f"{path}[y_{p}]") for p in parts])
        notes = sorted({note for _, note in converted if note})
        source = path.name + (f"; {', '.join(notes)}" if notes else "")
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
    Keras ``mnist.npz``; splits found are concatenated, train first. Pixels of a
    ``.npz`` that are not uint8 follow a stated rule: integers must lie in 0..255;
    floats in [0, 1] are scaled by 255, floats in [0, 255] rounded, anything else
    refused (the rule used is named in ``source``). When none
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


def _as_rows(X: Any, name: str = "X") -> np.ndarray:
    """Images ``(n, h, w)`` or rows ``(n, d)`` as a validated float32 ``(n, d)`` table."""
    if isinstance(X, np.ma.MaskedArray):
        raise FastclustError(f"{name} is a masked array: the mask would be ignored")
    try:
        arr = np.asarray(X)
    except ValueError as exc:  # ragged nested lists
        raise FastclustError(f"{name} could not be converted to an array: {exc}") from None
    if arr.ndim < 2:
        raise FastclustError(f"{name} must be (n, d) rows or (n, h, w) images, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.size == 0:
        raise FastclustError(f"{name} is empty (shape {arr.shape})")
    # float32 is exact for pixel values and halves the cost of the BLAS products
    return check_data(arr.reshape(arr.shape[0], -1), name).astype(np.float32, copy=False)


def _class_labels(y: Any, n: int, name: str = "y") -> np.ndarray:
    """Class labels as int64: integers (or whole floats) in ``0 .. MAX_LABEL``, one per sample."""
    try:
        arr = np.asarray(y)
    except ValueError as exc:
        raise FastclustError(f"{name} could not be converted to an array: {exc}") from None
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise FastclustError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise FastclustError(f"{name} must have shape ({n},), got {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr) | (arr != np.rint(arr))
        if bad.any():
            raise FastclustError(
                f"{name} must hold whole-number labels; {int(bad.sum())} are not (first at index "
                f"{int(np.argmax(bad))}: {arr[int(np.argmax(bad))].item()!r}); they would be truncated"
            )
    if (arr < 0).any():
        first = int(np.argmax(arr < 0))
        raise FastclustError(f"{name} must hold labels >= 0; index {first} holds {arr[first].item()!r}")
    if (arr > MAX_LABEL).any():
        first = int(np.argmax(arr > MAX_LABEL))
        raise FastclustError(
            f"{name} holds label {arr[first].item()!r} at index {first}: class labels must be <= 2**31 - 1"
        )
    return arr.astype(np.int64)


class ClusterClassifier:
    """k-means, then each cluster votes: its label is the majority digit of its members.

    ``predict`` gives each image its nearest centroid's label. Clusters that end
    empty are dropped by the engine, so every centroid has a label; a majority
    tie goes to the smaller label. Labels must be integers ``>= 0`` (whole-number
    floats are accepted; anything that would be truncated or wrap is refused).
    ``converged`` and ``stop_reason`` report how the k-means fit ended; its
    warnings (k reduced, max_iter) reach the caller.
    """

    def __init__(
        self, n_clusters: int = 10, *, init: Any = "k-means++", seed: Any = None, backend: str = "auto"
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.seed = seed
        self.backend = backend

    def fit(self, X: Any, y: Any) -> ClusterClassifier:
        """Cluster ``X`` (rows or images) and label every cluster by its members' majority in ``y``."""
        X = _as_rows(X)
        y = _class_labels(y, X.shape[0])
        self.result_: KMeansResult = kmeans(X, self.n_clusters, init=self.init, seed=self.seed, backend=self.backend)
        # Majority per cluster from the (cluster, label) pairs that occur: no table of k x (max label + 1)
        pairs, counts = np.unique(np.stack([self.result_.labels, y]), axis=1, return_counts=True)
        order = np.lexsort((pairs[1], -counts, pairs[0]))  # per cluster: most votes first, then smaller label
        first = order[np.r_[True, pairs[0][order][1:] != pairs[0][order][:-1]]]
        self.centroid_labels_ = pairs[1][first]
        self.cluster_centers_ = self.result_.centroids
        return self

    def _fitted(self) -> KMeansResult:
        if not hasattr(self, "result_"):
            raise FastclustError("this ClusterClassifier is not fitted yet: call fit(X, y) first")
        return self.result_

    @property
    def converged(self) -> bool:
        """True when the k-means fit ended with the labels unchanged."""
        return self._fitted().converged

    @property
    def stop_reason(self) -> str:
        """Why the k-means fit stopped: ``"converged"``, ``"max_iter"`` or ``"stalled"``."""
        return self._fitted().stop_reason

    def predict(self, X: Any) -> np.ndarray:
        """The label of each row's nearest centroid."""
        self._fitted()
        X = _as_rows(X)
        if X.shape[1] != self.cluster_centers_.shape[1]:
            raise FastclustError(f"X has {X.shape[1]} features per row, the fit had {self.cluster_centers_.shape[1]}")
        return self.centroid_labels_[assign(X, self.cluster_centers_, backend=self.backend)[0]]

    def score(self, X: Any, y: Any) -> float:
        """Accuracy on ``(X, y)``."""
        predicted = self.predict(X)
        return float(np.mean(predicted == _class_labels(y, predicted.shape[0])))


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
    seed: Any = 0,
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
    rng = as_generator(seed)  # the one seed rule; an int draws what default_rng(int) drew
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
