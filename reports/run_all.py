"""Every homework deliverable in one command: reports/out/report.pdf, its figures, CSV tables and summary.md.

    python reports/run_all.py [--data DIR] [--out DIR] [--quick] [--seed N] [--quiet]

The same command as ``fastclust report`` (this script only makes it runnable
from a checkout without installing), so both print the same figures and the
same errors. Inputs: --data DIR, else $FASTCLUST_DATA, else ./data, else
embedded stand-ins that need no download (page 1 of the report lists each
substitution). MNIST is looked for in DIR/mnist, DIR/../mnist (the course
layout) and $FASTCLUST_MNIST. The output folder is relative to the current
folder (default reports/out). A progress bar appears on a terminal only.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from fastclust import cli  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run ``fastclust report`` with ``argv`` (default: this script's arguments); return its exit code."""
    return cli.main(["report", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
