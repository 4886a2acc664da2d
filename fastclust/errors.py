"""The one exception type the library raises for bad input."""

from __future__ import annotations


class FastclustError(ValueError):
    """Bad input to a fastclust function.

    A subclass of :class:`ValueError`, so code that already catches
    ``ValueError`` (scikit-learn's estimator checks among it) keeps working.
    The message always names the argument, file or line at fault.
    """
