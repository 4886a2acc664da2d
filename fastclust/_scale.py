"""Exact power-of-two rescaling, so extreme data never overflows or underflows a fit.

Squared distances of data around 1e160 overflow float64, and those of data around
1e-170 underflow to zero: a fit would then see every point on every centre. Every
step of a fit (differences, squares, sums, means, medians, square roots,
comparisons) commutes exactly with multiplication by a power of two, as long as
nothing leaves the float range. So data whose largest magnitude lies outside a
safe range is divided by ``2**e`` (``max |x|`` lands in ``[0.5, 1)``), the fit runs
on that, and centres and objectives are multiplied back: the labels are those of
an exact-exponent computation, and everything is reported in the user's units.
Data inside the safe range is left alone, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import FastclustError

__all__ = ["Scale", "safe_exponent"]

#: Largest |x| (as a power of two) left unscaled, by dtype: squares and sums of
#: ``n * d`` of them, times weights up to the weight limit, stay far inside the range.
_SAFE_BITS = {np.dtype(np.float64): 128, np.dtype(np.float32): 32}
#: Weights are scaled when their largest value lies outside ``[2**-128, 2**128]``.
_WEIGHT_BITS = 128


def safe_exponent(largest: float, bits: int) -> int:
    """``e`` such that ``largest / 2**e`` lies in ``[0.5, 1)``, or 0 when ``largest`` is within ``2**±bits`` (or 0)."""
    if largest == 0.0 or 2.0**-bits <= largest <= 2.0**bits:
        return 0
    return int(np.frexp(np.float64(largest))[1])


@dataclass(frozen=True)
class Scale:
    """How a fit's inputs were rescaled: data divided by ``2**x``, weights by ``2**w``."""

    x: int = 0
    w: int = 0

    @classmethod
    def choose(cls, x_largest: float, dtype: np.dtype, w_largest: float = 1.0) -> Scale:
        """The scale for data whose largest magnitude is ``x_largest`` (of ``dtype``) and weights up to ``w_largest``."""
        return cls(safe_exponent(x_largest, _SAFE_BITS[np.dtype(dtype)]), safe_exponent(w_largest, _WEIGHT_BITS))

    def data(self, A: np.ndarray, name: str = "X") -> np.ndarray:
        """``A`` (data or centres, in the user's units) in the fit's units; exact, dtype kept."""
        if self.x == 0:
            return A
        with np.errstate(over="ignore", under="ignore"):  # checked just below, with a message that says why
            out = np.ldexp(A, -self.x).astype(A.dtype, copy=False)
        if not np.isfinite(out).all():
            raise FastclustError(f"{name} spans too many orders of magnitude beside X to be represented at X's scale")
        return out

    def weights(self, w: np.ndarray) -> np.ndarray:
        """Weights in the fit's units (the smallest may underflow to 0 beside a weight of 1e308)."""
        if self.w == 0:
            return w
        with np.errstate(under="ignore"):
            return np.ldexp(w, -self.w)

    def centres(self, C: np.ndarray) -> np.ndarray:
        """Centres (fit units) in the user's units: exact; they lie inside the data's range."""
        if self.x == 0:
            return C
        with np.errstate(over="ignore", under="ignore"):
            return np.ldexp(C, self.x)

    def objective(self, values: np.ndarray, power: int, what: str = "objective") -> np.ndarray:
        """Objective values (fit units) in the user's units; a FastclustError if they exceed float64's range."""
        if self.x == 0 and self.w == 0:
            return values
        with np.errstate(over="ignore", under="ignore"):  # checked just below, with a message that says why
            out = np.ldexp(values, power * self.x + self.w)
        if not np.isfinite(out).all():
            raise FastclustError(
                f"the {what} of this fit exceeds float64's range in X's units (it was computed on X / 2**{self.x}, "
                f"sample_weight / 2**{self.w}, but cannot be scaled back): divide X or sample_weight by a constant first"
            )
        return out
