"""Every homework deliverable in one command: reports/out/report.pdf, PNG figures, CSV tables, summary.md.

    python reports/run_all.py [--data DIR] [--out DIR] [--quick] [--seed N]

Inputs: --data DIR, else $FASTCLUST_DATA, else data/ in the repo, else embedded
defaults that need no download (each substitution is stated on page 1).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastclust.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]]))
