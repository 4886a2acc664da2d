"""Image compression by clustering colours (the homework's Q3).

The expensive part of clustering an image's pixels is that there are many of
them; there are far fewer distinct colours (football.bmp: 255,440 pixels,
104,479 colours). :func:`compress` clusters the distinct colours weighted by
their pixel counts, which gives exactly the labels and palette that clustering
every pixel gives from the same starting centroids.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any, ClassVar

import numpy as np

from ._backends import resolve_backend
from ._lowdim import map_fits
from ._repr import short_repr
from ._treefilter import TreeCache
from ._validation import check_positive_int
from .engine import KMeansResult, fit_kmeans
from .errors import FastclustError

__all__ = [
    "DEFAULT_KS",
    "ChooseK",
    "ImageResult",
    "PreparedImage",
    "Q3Grid",
    "as_rgb_uint8",
    "best_of_seeds",
    "choose_k",
    "choose_k_from_fits",
    "compress",
    "distinct_colours",
    "image_objective",
    "knee_point",
    "load_image",
    "prepare_image",
    "q3_grid",
]

DEFAULT_KS = (3, 6, 12, 24, 48)


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[..., 3:4].astype(np.float64) / 255.0
    rgb = rgba[..., :3].astype(np.float64) * alpha + 255.0 * (1.0 - alpha)
    return np.rint(rgb).astype(np.uint8)


def _scale_to_uint8(arr: np.ndarray, mode: str, path: Path) -> np.ndarray:
    """8-bit pixels from a 16/32-bit integer or float single-channel image, by the rule in :func:`load_image`."""
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise FastclustError(f"{path}: image ({mode}) holds {int((~np.isfinite(arr)).sum())} non-finite value(s)")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0:
        raise FastclustError(f"{path}: image ({mode}) holds negative values (min {lo:g}); no pixel scale fits")
    if mode.startswith("I;16"):
        top = 65535.0
    elif mode == "F" and hi <= 1.0:
        top = 1.0  # a float image in [0, 1], the usual convention for float pixels
    elif hi <= 255.0:
        top = 255.0
    elif hi <= 65535.0:
        top = 65535.0
    else:
        raise FastclustError(f"{path}: image ({mode}) values reach {hi:g}, beyond 16 bits; no pixel scale fits")
    return np.rint(arr * (255.0 / top)).astype(np.uint8)


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read any image Pillow can open as an ``(H, W, 3)`` uint8 RGB array.

    - The EXIF orientation is applied (a phone photo comes out the right way up).
    - Transparency (RGBA, LA, palette with a transparent colour) is composited
      on **white**, as a viewer shows it on a page.
    - Palette (P) and CMYK images are converted to RGB.
    - Single-channel 16/32-bit and float images are scaled to 8 bits: 16-bit
      types by ``value / 257``; otherwise float images whose values all lie in
      [0, 1] by ``value * 255``, and any image whose values fit [0, 255] as they
      are, [0, 65535] as 16-bit. Negative, non-finite or larger values are refused.
    - Grayscale is expanded to three equal channels, with a warning: the
      homework expects colour images, but the tool still works.
    - An animated or multi-page file (GIF, TIFF, ...) gives its first frame, with
      a warning saying how many frames were not used.

    Raises
    ------
    FastclustError
        Naming the path and the reason, if the path is not a str or path-like, the
        file is missing, not a regular file, unreadable, or a decompression bomb.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(path, (bytes, bytearray)) or not isinstance(path, (str, os.PathLike)):
        raise FastclustError(f"path must be a str or os.PathLike naming an image file, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():  # a FIFO or a device would block or never end
        raise FastclustError(f"{path}: not a regular file" if path.exists() else f"{path}: no such image file")
    img: Image.Image
    try:
        with Image.open(path) as opened:
            n_frames = int(getattr(opened, "n_frames", 1))
            img = ImageOps.exif_transpose(opened)
            img.load()
    except Image.DecompressionBombError as exc:  # not an OSError: Pillow's guard against pixel floods
        raise FastclustError(f"{path}: refused as a possible decompression bomb ({exc})") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise FastclustError(f"{path}: not a readable image ({exc})") from exc
    if n_frames > 1:
        warnings.warn(
            f"{path}: {n_frames} frames (animated or multi-page); frame 1 is used, frames 2..{n_frames} are not",
            stacklevel=2,
        )
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa"):
        img = img.convert("RGB")
    elif mode == "1":
        img = img.convert("L")
    if img.mode == "RGBA":
        return _composite_on_white(np.asarray(img))
    if img.mode == "LA":
        la = np.asarray(img)
        return _composite_on_white(np.dstack([la[..., 0]] * 3 + [la[..., 1]]))
    arr = np.asarray(img)
    if img.mode.startswith("I") or img.mode == "F":  # 16/32-bit integer or float grayscale
        arr = _scale_to_uint8(arr, img.mode, path)
    if arr.ndim == 2:
        warnings.warn(f"{path}: grayscale image ({mode}); expanded to 3 equal channels", stacklevel=2)
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise FastclustError(f"{path}: unsupported image mode {mode} (shape {arr.shape})")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def as_rgb_uint8(image: Any, name: str = "image") -> np.ndarray:
    """Validate an image array and return it as ``(H, W, 3)`` uint8.

    Accepts ``(H, W)`` (grayscale, expanded), ``(H, W, 3)`` and ``(H, W, 4)``
    (alpha composited on white), of any numeric dtype with values in [0, 255];
    non-integral values are rounded.
    """
    if isinstance(image, np.ma.MaskedArray):
        raise FastclustError(f"{name} is a masked array: the mask would be ignored; fill the masked pixels first")
    arr = np.asarray(image)
    if arr.dtype.hasobject or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise FastclustError(f"{name} must be numeric, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise FastclustError(f"{name} must be real, got complex dtype {arr.dtype}")
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise FastclustError(f"{name} must have shape (H, W), (H, W, 3) or (H, W, 4); got {arr.shape}")
    if arr.size == 0:
        raise FastclustError(f"{name} is empty (shape {arr.shape})")
    if arr.dtype != np.uint8:
        if not np.isfinite(arr).all():
            raise FastclustError(f"{name} contains {int((~np.isfinite(arr)).sum())} non-finite value(s)")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0 or hi > 255:
            raise FastclustError(f"{name} values must lie in [0, 255]; found [{lo:g}, {hi:g}]")
        arr = np.rint(arr).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 4:
        arr = _composite_on_white(arr)
    return np.ascontiguousarray(arr)


#: From this many pixels on, counting all 2^24 colours beats sorting the pixels.
_COUNTING_MIN_PIXELS = 1 << 22


def distinct_colours(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(colours, counts, inverse)`` of an ``(H, W, 3)`` uint8 image.

    Each pixel is packed into a 24-bit key. Small images sort the keys; large
    ones count them over all 2^24 colours with ``np.bincount`` (O(pixels), no
    sort), so a 24-megapixel photo takes a fraction of a second.
    ``colours[inverse]`` rebuilds the pixels in row-major order; colours come
    sorted by key either way.
    """
    px = image.reshape(-1, 3)
    key = (px[:, 0].astype(np.uint32) << 16) | (px[:, 1].astype(np.uint32) << 8) | px[:, 2].astype(np.uint32)
    if key.size < _COUNTING_MIN_PIXELS:
        present, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        inverse = inverse.astype(np.int64)
    else:
        all_counts = np.bincount(key, minlength=1 << 24)
        present = np.flatnonzero(all_counts)
        counts = all_counts[present]
        del all_counts
        rank = np.zeros(1 << 24, dtype=np.int64)
        rank[present] = np.arange(present.size)
        inverse = rank[key]
    present = present.astype(np.int64)
    colours = np.stack([(present >> 16) & 255, (present >> 8) & 255, present & 255], axis=1).astype(np.float64)
    return colours, counts.astype(np.float64), inverse


@short_repr
@dataclass
class PreparedImage:
    """An RGB image with its distinct colours counted once, to compress it many times.

    Pass it to :func:`compress` (and :func:`best_of_seeds`, :func:`choose_k`)
    instead of the array when fitting several k, metrics or seeds. Its L2 fits
    also share one k-d tree of the colours (see :mod:`fastclust._treefilter`),
    built by the first fit that uses one (and rebuilt if the colours or counts
    have been changed in place since).
    """

    rgb: np.ndarray
    colours: np.ndarray
    counts: np.ndarray
    inverse: np.ndarray
    _trees: TreeCache = field(default_factory=TreeCache, init=False, repr=False, compare=False)


def prepare_image(image: Any, name: str = "image") -> PreparedImage:
    """Validate ``image`` (see :func:`as_rgb_uint8`) and count its distinct colours."""
    if isinstance(image, PreparedImage):
        return image
    rgb = as_rgb_uint8(image, name=name)
    return PreparedImage(rgb, *distinct_colours(rgb))


# ---------------------------------------------------------------------------------------------
# compression
# ---------------------------------------------------------------------------------------------


@short_repr
@dataclass
class ImageResult:
    """One compressed image.

    Attributes
    ----------
    image : (H, W, 3) uint8
        The reconstruction: every pixel replaced by its cluster's colour (rounded).
    labels : (H, W) int64
        Cluster of every pixel.
    palette : (k, 3) float64
        Cluster centres in [0, 255] (means for L2, medians for L1).
    k, n_iter, seconds, objective
        Final number of colours, rounds to converge, wall time of the whole call,
        and the clustering objective over all pixels.
    mse, psnr : float
        Mean squared error per channel of the uint8 reconstruction, and
        ``10 log10(255^2 / mse)`` in dB (inf for a perfect copy).
    bits_per_pixel : float
        Bits of a fixed-length colour index, ``ceil(log2 k)`` (the palette itself
        costs ``24 k`` bits more per image).
    metric, seed : what produced it
    fit : the underlying :class:`~fastclust.KMeansResult` (on distinct colours)
    """

    image: np.ndarray
    labels: np.ndarray
    palette: np.ndarray
    k: int
    n_iter: int
    seconds: float
    objective: float
    mse: float
    psnr: float
    bits_per_pixel: float
    metric: str
    seed: Any
    fit: KMeansResult = field(repr=False)


def compress(
    image: Any, k: int, *, metric: str = "l2", init: Any = "random", seed: Any = None, backend: str = "auto"
) -> ImageResult:
    """Compress an image to ``k`` colours with k-means (``"l2"``) or k-medians (``"l1"``).

    ``init="random"`` (the course's rule) draws distinct colours with probability
    proportional to their pixel counts, i.e. exactly like drawing random pixels;
    ``"k-means++"`` and an explicit ``(k, 3)`` array are accepted too. An image
    with fewer distinct colours than ``k`` gives fewer clusters (with a warning).
    ``image`` may be a :class:`PreparedImage` to skip recounting colours.
    """
    t0 = perf_counter()
    prepared = prepare_image(image)
    rgb, inverse = prepared.rgb, prepared.inverse
    k = check_positive_int(k, "k")
    fit = fit_kmeans(
        prepared.colours,
        k,
        metric=metric,
        init=init,
        seed=seed,
        sample_weight=prepared.counts,
        backend=backend,
        # a tree is kept for a PreparedImage's next fits; a one-off call keeps none (memory)
        trees=prepared._trees if prepared is image else None,
    )
    palette8 = np.clip(np.rint(fit.centroids), 0, 255).astype(np.uint8)
    _, ops = resolve_backend(fit.backend)
    pixel_labels, pixels = ops.expand_palette(inverse, fit.labels, palette8)
    labels, recon = pixel_labels.reshape(rgb.shape[:2]), pixels.reshape(rgb.shape)
    # Every pixel of one colour has the same error: sum over distinct colours, weighted by
    # their counts, instead of a float copy of the whole image. Every term and partial sum
    # is an integer below 2**53, so the sum is exact in any order (either backend's).
    mse = ops.palette_error(prepared.colours, prepared.counts, fit.labels, palette8.astype(np.float64)) / rgb.size
    return ImageResult(
        image=recon,
        labels=labels,
        palette=fit.centroids,
        k=fit.k,
        n_iter=fit.n_iter,
        seconds=perf_counter() - t0,
        objective=fit.objective,
        mse=mse,
        psnr=math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse),
        bits_per_pixel=float(math.ceil(math.log2(fit.k))) if fit.k > 1 else 0.0,
        metric=metric,
        seed=seed,
        fit=fit,
    )


def image_objective(image: Any, palette: np.ndarray, labels: np.ndarray, metric: str) -> float:
    """The clustering objective of a labelling under either metric (to compare L1 and L2 fits)."""
    px = prepare_image(image).rgb.reshape(-1, 3).astype(np.float64)
    diff = px - np.asarray(palette, dtype=np.float64)[np.asarray(labels).ravel()]
    return float((diff * diff).sum() if metric == "l2" else np.abs(diff).sum())


def best_of_seeds(image: Any, k: int, seeds: Iterable[Any], **kwargs: Any) -> ImageResult:
    """Run :func:`compress` once per seed and keep the lowest objective (best quality)."""
    best: ImageResult | None = None
    image = prepare_image(image)
    for seed in seeds:
        res = compress(image, k, seed=seed, **kwargs)
        if best is None or res.objective < best.objective:
            best = res
    if best is None:
        raise FastclustError("seeds is empty: give at least one seed")
    return best


# ---------------------------------------------------------------------------------------------
# choosing k
# ---------------------------------------------------------------------------------------------


def knee_point(x: Sequence[float], y: Sequence[float]) -> int:
    """Index of the knee of a decreasing convex curve (Kneedle, Satopaa et al. 2011).

    Both axes are scaled to [0, 1]; the knee is the point farthest above the
    chord from the first to the last point, i.e. where extra ``x`` stops buying
    much less ``y``.
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.size < 3:
        return int(np.argmin(ys)) if xs.size else 0
    xn = (xs - xs.min()) / max(np.ptp(xs), 1e-300)
    yn = (ys - ys.min()) / max(np.ptp(ys), 1e-300)
    difference = (1.0 - yn) - xn  # distance above the chord of the flipped (concave) curve
    return int(np.argmax(difference))


@short_repr
@dataclass
class ChooseK:
    """The curve :func:`choose_k` computed and the k it picked."""

    k: int
    ks: list[int]
    objective: list[float]
    mse: list[float]
    psnr: list[float]
    bits_per_pixel: list[float]
    method: ClassVar[str] = "Kneedle knee of distortion (MSE) vs log2(k), i.e. vs bits per pixel"


def choose_k(
    image: Any, ks: Sequence[int] = DEFAULT_KS, *, metric: str = "l2", seed: Any = 0, **kwargs: Any
) -> ChooseK:
    """Pick k by the elbow of distortion against rate.

    Every k is fitted; distortion (MSE) is plotted against the rate ``log2 k``
    (bits per pixel of the index), where each doubling of k costs one more bit.
    The knee of that curve (:func:`knee_point`) is where another bit per pixel
    stops buying a comparable drop in error; that k is returned with the whole
    curve, so a report can plot both the elbow and the rate-distortion view.
    """
    ks = [check_positive_int(k, "ks entry") for k in ks]
    if not ks:
        raise FastclustError("ks is empty")
    image = prepare_image(image)
    return choose_k_from_fits(ks, [compress(image, k, metric=metric, seed=seed, **kwargs) for k in ks])


def choose_k_from_fits(ks: Sequence[int], fits: Sequence[ImageResult]) -> ChooseK:
    """The :func:`choose_k` rule applied to fits already made (e.g. a Q3 grid's), one per k."""
    ks = list(ks)
    if len(ks) != len(fits) or not ks:
        raise FastclustError(f"need one fit per k: {len(ks)} ks, {len(fits)} fits")
    rate = [math.log2(max(f.k, 1)) for f in fits]
    mse = [f.mse for f in fits]
    knee = knee_point(rate, mse)
    return ChooseK(
        k=ks[knee],
        ks=ks,
        objective=[f.objective for f in fits],
        mse=mse,
        psnr=[f.psnr for f in fits],
        bits_per_pixel=[f.bits_per_pixel for f in fits],
    )


# ---------------------------------------------------------------------------------------------
# the Q3 grid
# ---------------------------------------------------------------------------------------------


@short_repr
@dataclass
class Q3Grid:
    """Every (image, k, metric) fit of the homework's Q3: ``rows`` for tables, ``results`` for pictures."""

    rows: list[dict[str, Any]]
    results: dict[tuple[str, int, str], ImageResult]
    seconds: float


def q3_grid(
    images: Mapping[str, Any],
    ks: Sequence[int] = DEFAULT_KS,
    metrics: Sequence[str] = ("l2", "l1"),
    seeds: Sequence[Any] = (0,),
    *,
    init: Any = "random",
    backend: str = "auto",
) -> Q3Grid:
    """Compress every image at every k under every metric, keeping the best seed of each cell.

    ``rows`` holds one dict per (image, k, metric) with the seconds and rounds of
    the kept run, the final k, objective, MSE and PSNR, and the seconds of all its
    seeds together. The fits are independent, so they run on a few threads at once
    (numba's thread count; one with the numpy backend): the results are the same as
    one after another, and each fit's seconds are its own wall time.
    """
    t0 = perf_counter()
    seeds = list(seeds)
    if not seeds:
        raise FastclustError("seeds is empty: give at least one seed")
    backend_name, _ = resolve_backend(backend)
    prepared = {name: prepare_image(image, name=f"image {name!r}") for name, image in images.items()}
    cells = [(name, metric, k) for name in prepared for metric in metrics for k in ks]

    def fit(job: tuple[tuple[str, str, int], Any]) -> ImageResult:
        (name, metric, k), seed = job
        return compress(prepared[name], k, metric=metric, init=init, seed=seed, backend=backend)

    fits = map_fits(fit, [(cell, seed) for cell in cells for seed in seeds], backend_name)
    rows: list[dict[str, Any]] = []
    results: dict[tuple[str, int, str], ImageResult] = {}
    for name, metric, k in cells:
        best: ImageResult | None = None
        seconds_all = 0.0
        for _ in seeds:
            res = next(fits)
            seconds_all += res.seconds
            if best is None or res.objective < best.objective:  # a tie keeps the earlier seed
                best = res
        assert best is not None
        results[(name, k, metric)] = best
        rows.append(
            {
                "image": name,
                "metric": metric,
                "k": k,
                "final_k": best.k,
                "seconds": best.seconds,
                "iterations": best.n_iter,
                "objective": best.objective,
                "mse": best.mse,
                "psnr": best.psnr,
                "seed": best.seed,
                "seconds_all_seeds": seconds_all,
            }
        )
    return Q3Grid(rows=rows, results=results, seconds=perf_counter() - t0)
