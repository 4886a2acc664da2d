"""Every homework deliverable in one command: reports/out/report.pdf, its figures, CSV tables and summary.md.

    python reports/run_all.py [--data DIR] [--out DIR] [--quick] [--seed N]

Inputs: --data DIR, else $FASTCLUST_DATA, else ./data, else embedded defaults
that need no download (page 1 of the report lists each substitution). MNIST is
looked for in DIR/mnist, DIR/../mnist (the course layout) and $FASTCLUST_MNIST.
The output folder is relative to the current folder (default reports/out).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from fastclust.errors import FastclustError  # noqa: E402
from fastclust.report import build_report, find_data_dir  # noqa: E402


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="run_all.py",
        description="Make every homework deliverable: a typeset PDF report, figures, CSV tables, summary.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", help="folder with the course files (else $FASTCLUST_DATA, ./data, embedded defaults)")
    parser.add_argument("--out", default="reports/out", help="output folder, relative to the current folder")
    parser.add_argument("--quick", action="store_true", help="smaller grids: a smoke run that still makes every page")
    parser.add_argument("--seed", type=_seed, default=0, help="run seed (each study draws from its own child stream)")
    args = parser.parse_args(argv)
    bar = None
    try:
        find_data_dir(args.data)  # a wrong --data fails before a progress bar is drawn
        try:
            from tqdm import tqdm
        except ImportError:  # progress is a nicety: plain step lines without tqdm
            tqdm = None
        last = [""]

        def progress(label: str, done: int, total: int) -> None:
            nonlocal bar
            if tqdm is None:
                if label != last[0]:
                    print(f"... {label}", file=sys.stderr)
                    last[0] = label
                return
            if bar is None:
                bar = tqdm(total=total, desc="report", unit="step", file=sys.stderr)
            bar.set_postfix_str(label, refresh=False)
            bar.update(done - bar.n)

        pdf = build_report(args.data, args.out, quick=args.quick, seed=args.seed, progress=progress)
    except (FastclustError, OSError) as exc:
        print(f"run_all.py: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if bar is not None:
            bar.close()
    print(f"wrote {pdf} (and figures/, CSV tables and summary.md in {pdf.parent})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
