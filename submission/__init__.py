"""Gradescope adapter: the course's function signatures on top of fastclust.

Every function here is a thin re-export; if a course template names things
differently, this is the one place to rename. Labels handed to the grader are
1-based, as the course's MATLAB-style templates expect.
"""

from __future__ import annotations

from .homework import compress_embeddings, kmeans, kmedians, mismatch_rates, spectral_clustering

__all__ = ["compress_embeddings", "kmeans", "kmedians", "mismatch_rates", "spectral_clustering"]
