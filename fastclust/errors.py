"""The one exception type the library raises for bad input, and its one warning of its own."""

from __future__ import annotations

__all__ = ["ConvergenceWarning", "FastclustError"]


class FastclustError(ValueError):
    """Bad input to a fastclust function.

    A subclass of :class:`ValueError`, so code that already catches
    ``ValueError`` (scikit-learn's estimator checks among it) keeps working.
    The message always names the argument, file or line at fault.
    """


class ConvergenceWarning(UserWarning):
    """The fit stopped before the labels stopped changing."""
