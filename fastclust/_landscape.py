"""The Gradescope submission's own Q3 image, drawn rather than photographed (see :func:`make_landscape`).

Its own small module, numpy only and importing nothing else from fastclust, so
the submission's embedded copy carries it without :mod:`fastclust.demo`'s
writers; :mod:`fastclust.demo` re-exports it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LANDSCAPE_HEIGHT", "LANDSCAPE_WIDTH", "make_landscape"]

#: :func:`make_landscape`'s default size, the size it was designed at.
LANDSCAPE_WIDTH, LANDSCAPE_HEIGHT = 320, 240


def _noise(x: np.ndarray, y: np.ndarray, salt: int, amplitude: int) -> np.ndarray:
    """Deterministic integer texture in ``[-amplitude, amplitude]``: a hash of the coordinates, no RNG."""
    h = (x * 73_856_093) ^ (y * 19_349_663) ^ (salt * 83_492_791)
    h = (h ^ (h >> 13)) * 1_274_126_177 % 1_000_003
    return h % (2 * amplitude + 1) - amplitude


def _ridge(x: np.ndarray, base: int, bumps: list[tuple[int, int, int]]) -> np.ndarray:
    """Height (row index of the crest) of a range of hills: the highest of a few parabolic bumps."""
    crest = np.full(x.shape, base, dtype=np.int64)
    for centre, height, half_width in bumps:
        bump = base - height + (x - centre) ** 2 * height // (half_width * half_width)
        crest = np.minimum(crest, bump)
    return crest


def make_landscape(width: int = LANDSCAPE_WIDTH, height: int = LANDSCAPE_HEIGHT) -> np.ndarray:
    """A generated full-colour photo stand-in: the ``(height, width, 3)`` uint8 landscape (default 240 x 320).

    A sunset over three ranges of hills and a lake, with gradients and grain
    (tens of thousands of distinct colours), drawn with **integer arithmetic
    only**: no rounding or library version can change a pixel. It is the
    Gradescope submission's own Q3 image (``submission/landscape.png`` holds
    exactly these pixels), free to redistribute because it is generated.
    """
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    # scale every layout constant from the 320 x 240 design, in integers
    sx = x * 320 // width
    sy = y * 240 // height
    rgb = np.zeros((height, width, 3), dtype=np.int64)

    # sky: deep blue at the top to orange at the horizon (row 150), warmer towards the sun, faintly grainy
    t = np.clip(sy, 0, 150)
    warm = np.clip(60 - np.abs(sx - 225) // 3, 0, 60) * t // 150
    rgb[..., 0] = 40 + 215 * t // 150 + warm // 2 + _noise(sx, sy, 7, 2)
    rgb[..., 1] = 60 + 110 * t // 150 + warm // 4 + _noise(sx, sy, 8, 2)
    rgb[..., 2] = 150 - 90 * t // 150 - warm // 3 + _noise(sx, sy, 9, 2)

    # the sun and its glow
    d2 = (sx - 225) ** 2 + (sy - 112) ** 2
    glow = np.clip(60 - d2 // 40, 0, 60)
    rgb[..., 0] += glow
    rgb[..., 1] += glow * 2 // 3
    sun = d2 < 22 * 22
    rgb[sun] = np.stack([255 + 0 * sx[sun], 236 - (sy[sun] - 90) // 2, 150 - (sy[sun] - 90)], axis=1)
    sky = rgb.copy()

    # three ranges of hills, far (hazy violet) to near (green), each shaded by depth below its crest
    ranges = [
        (145, [(30, 40, 70), (120, 28, 60), (300, 45, 70)], (120, 90, 140), (2, 1, 3)),
        (165, [(70, 35, 90), (200, 25, 60), (310, 25, 50)], (70, 110, 90), (1, 3, 1)),
        (190, [(0, 30, 80), (150, 40, 110), (290, 20, 60)], (40, 120, 40), (1, 2, 0)),
    ]
    for salt, (base, bumps, colour, slope) in enumerate(ranges):
        crest = _ridge(sx, base, bumps)
        inside = sy >= crest
        depth = np.clip(sy - crest, 0, 80)
        for c in range(3):
            shade = colour[c] + slope[c] * depth // 2 - depth // 3 + (sx - 160) * (c - 1) // 16
            rgb[..., c] = np.where(inside, shade + _noise(sx, sy, 3 * salt + c, 4), rgb[..., c])

    # a lake in the foreground mirroring the sky, darker: the horizon at its far shore, the blue above nearer
    lake = (sy >= 205) & ((sx - 110) ** 2 * 9 + (sy - 222) ** 2 * 100 < 90 * 90 * 9)
    mirror = np.clip(150 - (sy - 205) * 3, 0, 239) * height // 240
    ripple = 10 * ((sy + sx // 17) % 5 == 0)
    for c in range(3):
        reflected = sky[mirror, x, c] * 3 // 4 + ripple
        rgb[..., c] = np.where(lake, reflected, rgb[..., c])
    return np.clip(rgb, 0, 255).astype(np.uint8)
