"""The command line: every subcommand, and errors as one line with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from fastclust.cli import main
from fastclust.demo import write_blog_like_graph


def test_quantize(tmp_path, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, size=(30, 40, 3), dtype=np.uint8)).save(src)
    assert main(["quantize", str(src), "-k", "5", "--metric", "l1", "-o", str(tmp_path / "out.png")]) == 0
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == (30, 40, 3) and len(np.unique(out.reshape(-1, 3), axis=0)) <= 5
    assert "PSNR" in capsys.readouterr().out


def test_spectral_prints_mismatch_table(tmp_path, capsys):
    nodes, edges = write_blog_like_graph(tmp_path)
    assert main(["spectral", str(nodes), str(edges), "-k", "2"]) == 0
    text = capsys.readouterr().out
    assert "overall mismatch rate" in text and "majority" in text and "40 isolated removed" in text


def test_vq_writes_codes(tmp_path, capsys):
    np.save(tmp_path / "e.npy", np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32))
    assert main(["vq", str(tmp_path / "e.npy"), "-k", "16", "-o", str(tmp_path / "codes.npz")]) == 0
    with np.load(tmp_path / "codes.npz") as z:
        assert z["codes"].dtype == np.uint8 and z["codebook"].shape == (16, 8)
    assert "average cosine" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["quantize", "missing.png", "-k", "4", "-o", "x.png"], "missing.png: no such image file"),
        (["spectral", "nodes.txt", "edges.txt", "-k", "2"], "no such nodes file"),
        (["vq", "nope.npy", "-o", "x.npz"], "no such embeddings file"),
        (["report", "--data", "no-such-folder", "--quick"], "--data no-such-folder: no such folder"),
    ],
)
def test_user_errors_are_one_line_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastclust: error:") and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_arguments_and_help_in_a_subprocess():
    run = [sys.executable, "-m", "fastclust"]
    proc = subprocess.run(
        [*run, "quantize", "x.png", "-k", "zero", "-o", "y.png"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 2 and "'zero' is not an integer" in proc.stderr and "Traceback" not in proc.stderr
    for sub in ("quantize", "spectral", "vq", "report"):
        proc = subprocess.run([*run, sub, "--help"], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0 and "usage: fastclust" in proc.stdout
