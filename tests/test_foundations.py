"""The shared foundations: atomic writes with the user's umask, and the one seed rule."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from fastclust import FastclustError
from fastclust._io import TEMP_SUFFIX, atomic_path, atomic_write_bytes, remove_stale_temps
from fastclust._validation import as_generator, spawn


def test_atomic_write_gets_the_umask_mode_and_leaves_no_temp(tmp_path):
    old = os.umask(0o027)
    try:
        path = atomic_write_bytes(tmp_path / "a.bin", b"xyz")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"xyz"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_failed_write_keeps_the_old_file_and_removes_the_temp(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["t.txt"]


def test_stale_temps_are_removed_fresh_ones_kept(tmp_path):
    stale, fresh = tmp_path / f".x{TEMP_SUFFIX}", tmp_path / f".y{TEMP_SUFFIX}"
    stale.write_text("")
    fresh.write_text("")
    os.utime(stale, (0, 0))
    assert remove_stale_temps(tmp_path) == 1 and not stale.exists() and fresh.exists()


def test_seed_rule():
    assert as_generator(np.int64(3)).random() == np.random.default_rng(3).random()
    g = np.random.default_rng(1)
    assert as_generator(g) is g
    for bad in (-1, 2.5, "0", True, [1]):
        with pytest.raises(FastclustError, match="seed"):
            as_generator(bad)


def test_spawned_streams_are_reproducible_and_independent_of_siblings():
    a = [c.random() for c in spawn(7, 3)]
    assert a == [c.random() for c in spawn(7, 3)]
    assert len(set(a)) == 3
    # the first child does not depend on how many siblings were spawned
    assert spawn(7, 1)[0].random() == a[0]


def test_version_comes_from_the_installed_metadata_with_a_fallback(monkeypatch):
    import importlib.metadata

    import fastclust

    assert fastclust.__version__ == importlib.metadata.version("fastclust")

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)  # the Gradescope zip: sources, no metadata
    assert fastclust._version() == "0+unknown"


def test_public_modules_declare_all():
    import importlib

    for name in ("fastclust", "fastclust.engine", "fastclust.estimator", "fastclust.metrics", "fastclust.seeding"):
        module = importlib.import_module(name)
        assert module.__all__ and all(hasattr(module, n) for n in module.__all__), name


def test_distributed_declares_all():
    pytest.importorskip("dask")
    from fastclust import distributed

    assert distributed.__all__ and all(hasattr(distributed, n) for n in distributed.__all__)
