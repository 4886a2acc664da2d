"""Shared fixtures: backends, and the real data beside the project (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import fastclust as fc

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FASTCLUST_SHARED", ROOT.parent / "shared" / "data"))
HOMEWORK = SHARED / "homework1"
MNIST = SHARED / "mnist"

BACKENDS = ["numpy", "numba"] if fc.numba_available() else ["numpy"]


def shared_file(*parts: str) -> Path:
    """Path of a real input in ../shared/data, or skip the test saying what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (a fresh clone has no ../shared/data)")
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param
