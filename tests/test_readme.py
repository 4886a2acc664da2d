"""Every code block in README.md runs as pasted.

Python blocks run each in a fresh interpreter (``python -`` fed the block, as
pasted into a terminal), in an empty temporary folder. Shell blocks whose first
command is ``fastclust`` run line by line in a temporary folder of their own;
other shell blocks (install, tox, the benchmark script) are listed and skipped.
Blocks that import dask skip where dask is not installed (the numpy env).

A small extractor rather than ``pytest-examples`` or ``phmdoctest``: those
target Python blocks (and their printed output), while this README's contract
also covers its ``fastclust`` command lines and needs the dask skip; the whole
extractor is the fenced-block regex below.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass

import pytest
from conftest import ROOT

README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
DASK_IMPORT = re.compile(r"^\s*(?:import|from)\s+(?:dask|distributed)\b", re.M)
SHELL = ("bash", "sh", "shell", "console")
TIMEOUT = 900  # seconds per block: the README's report command runs a whole --quick report


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    line: int
    section: str

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.section.lower()).strip("-")
        return f"{self.lang}-line{self.line}-{slug}"

    def commands(self) -> list[str]:
        """Shell command lines, backslash continuations joined, comments and blank lines dropped."""
        joined = re.sub(r"\\\n", " ", self.code)
        lines = [shlex.split(line, comments=True) for line in joined.splitlines()]
        return [shlex.join(argv) for argv in lines if argv]


def readme_blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()]
        headings = re.findall(r"^#+ (.+)$", before, re.M)
        blocks.append(
            Block(
                lang=match.group(1).lower(),
                code=match.group(2),
                line=before.count("\n") + 1,
                section=headings[-1] if headings else "top",
            )
        )
    return blocks


BLOCKS = readme_blocks()
PYTHON = [b for b in BLOCKS if b.lang == "python"]
SHELL_BLOCKS = [b for b in BLOCKS if b.lang in SHELL]


def _fastclust() -> list[str]:
    exe = shutil.which("fastclust", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "fastclust"]


def test_the_readme_has_the_blocks_this_test_runs():
    # a broken fence regex would make every test below vacuous
    assert len(PYTHON) >= 3 and any(b.commands()[0].startswith("fastclust") for b in SHELL_BLOCKS if b.commands())
    assert {b.lang for b in BLOCKS} <= {"python", *SHELL}, f"a README block in an unrun language: {BLOCKS}"


@pytest.mark.slow
@pytest.mark.parametrize("block", PYTHON, ids=[b.id for b in PYTHON])
def test_python_block_runs_as_pasted(block: Block, tmp_path):
    if DASK_IMPORT.search(block.code) and not (
        importlib.util.find_spec("dask") and importlib.util.find_spec("distributed")
    ):
        pytest.skip("needs dask and distributed (pip install '.[dask]'), not installed here")
    proc = subprocess.run(
        [sys.executable, "-"], input=block.code, cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert proc.returncode == 0, f"README.md line {block.line} ({block.section}) failed:\n{proc.stderr[-3000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=[b.id for b in SHELL_BLOCKS])
def test_fastclust_shell_block_runs_as_pasted(block: Block, tmp_path):
    commands = block.commands()
    if not commands or not commands[0].startswith("fastclust"):
        pytest.skip(f"README.md line {block.line}: not a fastclust block (install, tox, scripts are not run here)")
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "fastclust", f"README.md line {block.line}: a fastclust block mixes in {command!r}"
        if argv[1:2] == ["report"] and not importlib.util.find_spec("typst"):
            # the numpy-only tox env installs the dev extra alone; the report's PDF needs the reports extra
            pytest.skip(
                f"README.md line {block.line}: {command!r} typesets with typst (extra 'reports'), not installed"
            )
        proc = subprocess.run([*_fastclust(), *argv[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
        assert proc.returncode == 0, f"README.md line {block.line}: {command!r} failed:\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr
