"""Command line: ``fastclust quantize | spectral | vq | report`` (also ``python -m fastclust``).

A user mistake prints one line, ``fastclust: error: ...``, and exits with code 2:
never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .errors import FastclustError

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "reports" / "out"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def _quantize(args: argparse.Namespace) -> None:
    from PIL import Image

    from . import image as fi

    img = fi.load_image(args.image)
    res = fi.compress(img, args.k, metric=args.metric, seed=args.seed)
    out = Path(args.output)
    if out.suffix.lower() not in (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".webp", ".gif"):
        raise FastclustError(f"-o {out}: unknown image format (use .png, .bmp, .jpg, ...)")
    Image.fromarray(res.image).save(out)
    print(
        f"{args.image} -> {out}: k={res.k} ({args.metric}), {res.n_iter} rounds, {res.seconds:.3f} s, "
        f"MSE {res.mse:.2f}, PSNR {res.psnr:.2f} dB"
    )


def _spectral(args: argparse.Namespace) -> None:
    from . import graph as fg
    from . import spectral as fs

    g = fg.load_polblogs(args.nodes, args.edges)
    res = fs.spectral_clustering(g.adjacency, args.k, laplacian=args.laplacian, seed=args.seed)
    t = fs.mismatch_table(res.labels, g.labels)
    print(
        f"{g.adjacency.shape[0]} nodes kept ({g.n_isolated_removed} isolated removed), {g.n_edges} edges, "
        f"laplacian={args.laplacian}, k={args.k}"
    )
    print(f"{'cluster':>7} {'size':>6} {'majority':>8} {'mismatches':>10} {'rate':>7}")
    for r in t.rows:
        print(f"{r['cluster']:>7} {r['size']:>6} {r['majority']:>8} {r['mismatches']:>10} {r['rate']:>7.4f}")
    print(f"overall mismatch rate: {t.overall:.4f} ({t.n_mismatched}/{t.n_nodes})")


def _vq(args: argparse.Namespace) -> None:
    import numpy as np

    from . import vq

    E = vq.load_embeddings(args.embeddings)
    res = vq.compress(E, args.k, normalize=not args.no_normalize, seed=args.seed)
    np.savez(args.output, codebook=res.codebook, codes=res.codes)
    print(
        f"{args.embeddings}: {E.shape[0]:,} x {E.shape[1]} -> {args.output}: k={res.k}, codes {res.codes.dtype}, "
        f"{res.memory_before_mb:.4f} MB -> {res.memory_after_mb:.4f} MB (ratio {res.compression_ratio:.2f}), "
        f"average cosine {res.avg_cosine:.4f}"
    )


def _report(args: argparse.Namespace) -> None:
    from .report import STEPS, build_report, find_data_dir

    find_data_dir(args.data)  # a wrong --data fails before any progress bar is drawn
    try:
        from tqdm import tqdm
    except ImportError:  # progress is a nicety: plain step lines without tqdm
        tqdm = None
    bar: Any = tqdm(total=len(STEPS), desc="report", unit="step", file=sys.stderr) if tqdm else None

    def progress(step: str) -> None:
        if bar is None:
            print(f"... {step}", file=sys.stderr)
            return
        if step != STEPS[0]:
            bar.update(1)
        bar.set_postfix_str(step)

    try:
        pdf = build_report(args.data, args.out, quick=args.quick, seed=args.seed, progress=progress)
        if bar is not None:
            bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    print(f"wrote {pdf} (and figures, CSV tables and summary.md in {pdf.parent})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastclust", description="Fast, exact clustering for the homework and beyond."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("quantize", help="compress an image to k colours")
    p.add_argument("image", help="any image Pillow reads")
    p.add_argument("-k", type=_positive_int, required=True, help="number of colours")
    p.add_argument("--metric", choices=("l2", "l1"), default="l2", help="l2 = k-means, l1 = k-medians")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True, help="output image, e.g. out.png")
    p.set_defaults(run=_quantize)

    p = sub.add_parser("spectral", help="spectral clustering of nodes.txt/edges.txt, printing the mismatch table")
    p.add_argument("nodes")
    p.add_argument("edges")
    p.add_argument("-k", type=_positive_int, required=True)
    p.add_argument(
        "--laplacian",
        default="regularized",
        choices=("unnormalized", "symmetric", "random-walk", "regularized", "score", "score+"),
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_spectral)

    p = sub.add_parser("vq", help="vector-quantize an embedding table (.npy/.npz)")
    p.add_argument("embeddings")
    p.add_argument("-k", type=_positive_int, default=256)
    p.add_argument("-o", "--output", required=True, help="output .npz with codebook and codes")
    p.add_argument("--no-normalize", action="store_true", help="cluster raw rows instead of unit-length rows")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_vq)

    p = sub.add_parser("report", help="make every homework deliverable (same as reports/run_all.py)")
    p.add_argument("--data", help="folder with the course files (else $FASTCLUST_DATA, data/, embedded defaults)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (default reports/out)")
    p.add_argument("--quick", action="store_true", help="smaller grids: a smoke run that still makes every page")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (0 on success, 2 on a user error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (FastclustError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"fastclust: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
