"""Two report runs at once into one folder (issue 15, item 5): never a truncated input, never a half report.

Each run stages its files in a folder of its own and moves them into place when
its PDF is made; the generated blog graph is written atomically inside the
stage. So two simultaneous runs with the same seed both succeed, and what is
left is one complete, consistent run: no marker, no staging folder, and a graph
that the real loader reads whole.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fastclust import graph as fg
from fastclust._io import TEMP_SUFFIX
from fastclust.report import INCOMPLETE

pytest.importorskip("typst", reason="the report is typeset with typst (pip install '.[reports]')")


@pytest.mark.slow
def test_two_runs_into_one_folder_at_once(tmp_path):
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTCLUST_")}
    env["HOME"] = str(tmp_path / "home")  # no ~/.keras MNIST: the embedded defaults, as in a fresh clone
    argv = [sys.executable, "-m", "fastclust", "report", "--quick", "--quiet", "--seed", "4", "--out", str(out)]
    procs = [
        subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=900) for p in procs]
    for proc, (_stdout, stderr) in zip(procs, results, strict=True):
        assert proc.returncode == 0, stderr[-2000:]
        assert "Traceback" not in stderr
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    assert not (out / INCOMPLETE).exists()
    left = [p.name for p in out.iterdir() if p.name.startswith(".fastclust-run-") or p.name.endswith(TEMP_SUFFIX)]
    assert not left, f"staging folders or temp files left behind: {left}"
    g = fg.load_polblogs(out / "inputs" / "nodes.txt", out / "inputs" / "edges.txt")
    assert g.n_nodes_read == 1240 and g.n_isolated_removed == 40
