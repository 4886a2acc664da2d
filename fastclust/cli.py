"""Command line: ``fastclust demo-data | quantize | spectral | vq | report`` (also ``python -m fastclust``).

Bare ``fastclust`` prints the help. A user mistake (bad input, a missing or
unwritable file, a full disk) prints one line, ``fastclust: error: ...``, on
stderr and exits with code 2: never a traceback, and nothing on stdout.

This is the top floor: the only place that prints. It adds what a terminal user
needs around the library calls: a progress bar on stderr for work longer than
about two seconds, a one-time note while numba compiles the kernels (the fit's
printed time excludes that compilation: the kernels are warmed up first), JSON
output for scripts, and outputs written atomically with the user's umask.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from ._io import TEMP_SUFFIX, atomic_path, atomic_write_bytes
from .errors import FastclustError

__all__ = ["COMPILE_NOTE", "DEFAULT_OUT", "build_parser", "main"]

#: ``fastclust report``'s output folder, relative to the current directory (never inside the installed package).
DEFAULT_OUT = os.path.join("reports", "out")

#: Printed on stderr, once per run, when numba has to compile kernels (a cold cache).
COMPILE_NOTE = "fastclust: compiling kernels (first run only)…"

#: Work shorter than this never shows a progress bar.
PROGRESS_DELAY = 2.0

IMAGE_FORMATS = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".webp", ".gif")
LAPLACIANS = ("unnormalized", "symmetric", "random-walk", "regularized", "score", "score+")


# ---------------------------------------------------------------------------------------------
# argument types
# ---------------------------------------------------------------------------------------------


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be >= {minimum}")
        return value

    parse.__name__ = f"integer >= {minimum}"  # argparse names the type in its messages
    return parse


_positive_int = _int_at_least(1)
_seed = _int_at_least(0)


# ---------------------------------------------------------------------------------------------
# what a terminal user sees besides the results: errors, the compile note, progress
# ---------------------------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    """An exception as one line; an OSError as ``path: reason`` rather than ``[Errno 13] ...``."""
    if isinstance(exc, OSError) and exc.strerror:
        where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
        text = f"{where}: {exc.strerror}" if where else exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


class _Progress:
    """A tqdm bar on stderr that appears only once the work has taken :data:`PROGRESS_DELAY` seconds.

    Off when stderr is not a terminal, with ``--quiet``, or without tqdm. A
    ticker thread draws the bar, so one long library call (a fit) still shows
    its elapsed time. ``update(label, done, total)`` is the report's progress
    protocol; :meth:`step` moves to the next of a command's own steps.
    """

    def __init__(self, desc: str, total: int, enabled: bool) -> None:
        self.desc, self.total, self.done, self.label = desc, total, 0, ""
        self._bar: Any = None
        self._tqdm: Any = None
        self._t0 = time.perf_counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:  # progress is a nicety: no bar without tqdm
                return
            self._tqdm = tqdm
            threading.Thread(target=self._tick, name="fastclust-progress", daemon=True).start()

    def _tick(self) -> None:
        if self._stop.wait(PROGRESS_DELAY):
            return
        with self._lock:
            if self._stop.is_set():
                return
            self._bar = self._tqdm(
                total=self.total,
                initial=self.done,
                desc=self._describe(),
                file=sys.stderr,
                leave=False,
                bar_format="{desc} {bar} {n_fmt}/{total_fmt} [{elapsed}]",
                delay=1e-9,  # no drawing inside the constructor: the clock is set first
            )
            # elapsed time counts from the start of the work, not from the bar's appearance
            self._bar.start_t -= time.perf_counter() - self._t0
            self._bar.refresh()
        while not self._stop.wait(0.5):
            with self._lock:
                if self._bar is not None:
                    self._bar.refresh()

    def update(self, label: str, done: int | None = None, total: int | None = None) -> None:
        """Show ``label``, with ``done`` of ``total`` steps finished (advance by one if not given)."""
        with self._lock:
            if done is None:
                done = self.done + (1 if self.label else 0)
            if total is not None:
                self.total = total
            self.label, self.done = label, min(done, self.total)
            if self._bar is not None:
                self._bar.total = self.total
                self._bar.n = self.done
                self._bar.set_description_str(self._describe(), refresh=True)

    def _describe(self) -> str:
        return f"{self.desc}: {self.label}" if self.label else self.desc

    step = update

    def write(self, text: str) -> None:
        """Print a line on stderr without breaking the bar."""
        with self._lock:
            if self._bar is not None:
                self._tqdm.write(text, file=sys.stderr)
            else:
                print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None


@contextmanager
def _compile_note(emit: Callable[[], None]) -> Iterator[None]:
    """Call ``emit`` once if numba compiles anything inside the block (a cold cache).

    numba announces every real compilation through its event API; loading a
    kernel from the on-disk cache announces nothing. So the note appears exactly
    when a compile happens, without guessing where the cache lives. Where the
    event API is missing, a timer stands in: a warm cache loads in well under
    three seconds, a cold compile takes longer.
    """
    fired = threading.Event()

    def fire() -> None:
        if not fired.is_set():
            fired.set()
            emit()

    event: Any
    try:
        from numba.core import event
    except ImportError:
        event = None
    if event is not None and hasattr(event, "Listener") and hasattr(event, "register"):

        class _Listener(event.Listener):
            def on_start(self, ev: Any) -> None:
                fire()

            def on_end(self, ev: Any) -> None:
                pass

        listener = _Listener()
        event.register("numba:compile", listener)
        try:
            yield
        finally:
            event.unregister("numba:compile", listener)
    else:  # pragma: no cover - numba versions before the event API
        timer = threading.Timer(3.0, fire)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()


class _Session:
    """One command's stderr: the progress bar and the compile note (both off with ``--quiet``)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.quiet = bool(getattr(args, "quiet", False))
        enabled = not self.quiet and _stderr_is_terminal()
        self.progress = _Progress(f"fastclust {args.command}", getattr(args, "steps", 1), enabled)

    def note_compiling(self) -> None:
        if not self.quiet:
            self.progress.write(COMPILE_NOTE)

    @contextmanager
    def watching_compiles(self) -> Iterator[None]:
        from ._warmup import jit_active

        if not jit_active():  # the numpy backend or NUMBA_DISABLE_JIT: nothing is ever compiled
            yield
            return
        with _compile_note(self.note_compiling):
            yield

    def warm_up(self, *workloads: str) -> None:
        """Compile or load the kernels the command needs, so the fit it times excludes compilation."""
        from ._warmup import jit_active, warm_up

        if not jit_active():
            return
        self.progress.step("loading compiled kernels")
        warm_up(*workloads)  # its tiny fits converge without a warning (tests/test_cli.py checks): nothing to hide

    def close(self) -> None:
        self.progress.close()


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


# ---------------------------------------------------------------------------------------------
# outputs: checked before any work, written atomically
# ---------------------------------------------------------------------------------------------


def _probe_writable(folder: Path, what: str) -> None:
    """Create and delete a temporary file in ``folder``: fails now, not after the work, if it can't be written."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".probe.", suffix=TEMP_SUFFIX)
    except OSError as exc:
        raise FastclustError(f"{what}: cannot write in {folder} ({exc.strerror or exc})") from exc
    os.close(fd)
    os.unlink(name)


def _check_output_file(path: Path, flag: str) -> None:
    what = f"{flag} {path}"
    if path.is_dir():
        raise FastclustError(f"{what} is a folder; give a file name")
    folder = path.parent
    if not folder.exists():
        raise FastclustError(f"{what}: folder {folder} does not exist")
    if not folder.is_dir():
        raise FastclustError(f"{what}: {folder} is not a folder")
    _probe_writable(folder, what)


def _check_output_folder(path: Path, flag: str) -> None:
    what = f"{flag} {path}"
    if path.exists() and not path.is_dir():
        raise FastclustError(f"{what} is a file, not a folder")
    path.mkdir(parents=True, exist_ok=True)
    _probe_writable(path, what)


def _emit_json(figures: dict[str, Any]) -> None:
    def plain(value: Any) -> Any:
        if hasattr(value, "item"):  # numpy scalars
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            return None  # JSON has no inf (a perfect copy's PSNR): null
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    print(json.dumps(plain(figures), indent=2, allow_nan=False))


# ---------------------------------------------------------------------------------------------
# the commands
# ---------------------------------------------------------------------------------------------


def _demo_data(args: argparse.Namespace, session: _Session) -> None:
    from . import demo

    folder = Path(args.folder)
    if folder.exists() and not folder.is_dir():
        raise FastclustError(f"{folder} is a file, not a folder")
    if not args.force:  # refuse before anything is written (the library checks again)
        present = [folder / name for name in demo.DEMO_FILES.values() if (folder / name).exists()]
        if present:
            raise FastclustError(f"{present[0]} already exists: use --force to replace the demo files in {folder}")
    _check_output_folder(folder, "DIR")
    with session.watching_compiles():
        session.warm_up("graph")  # the generated graph is built by the compiled CSR kernel
        session.progress.step("writing")
        paths = demo.write_demo_data(folder, seed=args.seed, overwrite=args.force)
    session.close()
    about = {
        "image": "24-bit BMP like football.bmp (scikit-learn's sample photo)",
        "nodes": "generated blog graph: id, url, 0/1 label, source",
        "edges": "its directed links, with duplicates and self-loops",
        "embeddings": "10,000 x 64 float32 synthetic embeddings",
    }
    print(f"wrote the course's file formats in {folder}/ (stand-ins, not the course data):")
    for role, path in paths.items():
        print(f"  {path.name:<12} {about[role]}")
    print("try:")
    print(f"  fastclust quantize {paths['image']} -k 16 --metric l1 -o china16.png")
    print(f"  fastclust spectral {paths['nodes']} {paths['edges']} -k 2")
    print(f"  fastclust vq {paths['embeddings']} -k 256 -o codes.npz")
    print(f"  fastclust report --data {folder} --quick")


def _quantize(args: argparse.Namespace, session: _Session) -> None:
    from PIL import Image

    from . import image as fi

    out = Path(args.output)
    if out.suffix.lower() not in IMAGE_FORMATS:
        raise FastclustError(f"-o {out}: unknown image format (use one of {', '.join(IMAGE_FORMATS)})")
    _check_output_file(out, "-o")
    session.progress.step("reading the image")
    img = fi.load_image(args.image)
    with session.watching_compiles():
        session.warm_up(f"image-{args.metric}")
        session.progress.step(f"k={args.k} fit ({args.metric})")
        res = fi.compress(img, args.k, metric=args.metric, seed=args.seed)
    session.progress.step(f"writing {out.name}")
    buf = io.BytesIO()
    Image.fromarray(res.image).save(buf, format=Image.registered_extensions()[out.suffix.lower()])
    atomic_write_bytes(out, buf.getvalue())
    session.close()
    height, width = res.labels.shape
    figures = {
        "input": args.image,
        "output": out,
        "width": width,
        "height": height,
        "k_requested": args.k,
        "k": res.k,
        "metric": args.metric,
        "seed": args.seed,
        "n_iter": res.n_iter,
        "seconds": res.seconds,
        "objective": res.objective,
        "mse": res.mse,
        "psnr_db": res.psnr,
        "bits_per_pixel": res.bits_per_pixel,
    }
    if args.json:
        _emit_json(figures)
        return
    print(
        f"{args.image} -> {out}: k={res.k} ({args.metric}), {res.n_iter} rounds, {res.seconds:.3f} s, "
        f"MSE {res.mse:.2f}, PSNR {res.psnr:.2f} dB"
    )


def _spectral(args: argparse.Namespace, session: _Session) -> None:
    from . import graph as fg
    from . import spectral as fs

    with session.watching_compiles():
        session.warm_up("graph", "spectral")
        session.progress.step("reading the graph")
        g = fg.load_polblogs(args.nodes, args.edges)
        session.progress.step(f"eigenvectors and k={args.k} k-means")
        res = fs.spectral_clustering(g.adjacency, args.k, laplacian=args.laplacian, seed=args.seed)
    t = fs.mismatch_table(res.labels, g.labels)
    session.close()
    if args.json:
        _emit_json(
            {
                "nodes": args.nodes,
                "edges": args.edges,
                "n_nodes_read": g.n_nodes_read,
                "n_nodes": g.adjacency.shape[0],
                "n_isolated_removed": g.n_isolated_removed,
                "n_edges": g.n_edges,
                "n_self_loops": g.n_self_loops,
                "n_duplicate_edges": g.n_duplicate_edges,
                "n_components": g.n_components,
                "laplacian": args.laplacian,
                "k": args.k,
                "seed": args.seed,
                "seconds": res.seconds,
                "clusters": t.rows,
                "overall": t.overall,
                "n_mismatched": t.n_mismatched,
            }
        )
        return
    print(
        f"{g.adjacency.shape[0]} nodes kept ({g.n_isolated_removed} isolated removed), {g.n_edges} edges, "
        f"laplacian={args.laplacian}, k={args.k}, {res.seconds:.3f} s"
    )
    print(f"{'cluster':>7} {'size':>6} {'majority':>8} {'mismatches':>10} {'rate':>7}")
    for r in t.rows:
        print(f"{r['cluster']:>7} {r['size']:>6} {r['majority']:>8} {r['mismatches']:>10} {r['rate']:>7.4f}")
    print(f"overall mismatch rate: {t.overall:.4f} ({t.n_mismatched}/{t.n_nodes})")


def _vq_output(text: str) -> Path:
    """The path ``np.savez`` would really write: it appends ``.npz`` to a name without it."""
    out = Path(text)
    if out.suffix == "":
        return out.with_name(out.name + ".npz")
    if out.suffix.lower() != ".npz":
        raise FastclustError(f"-o {out}: the output is an .npz archive (codebook and codes); name it *.npz")
    return out


def _vq(args: argparse.Namespace, session: _Session) -> None:
    import numpy as np

    from . import vq

    source = Path(args.embeddings)
    if source.suffix.lower() not in (".npy", ".npz") and source.is_file():
        raise FastclustError(f"{source}: fastclust vq reads an embedding table saved as .npy or .npz")
    out = _vq_output(args.output)
    _check_output_file(out, "-o")
    session.progress.step("reading the table")
    E = vq.load_embeddings(source)
    with session.watching_compiles():
        session.warm_up("vq")
        session.progress.step(f"k={args.k} codebook")
        res = vq.compress(E, args.k, normalize=not args.no_normalize, seed=args.seed)
    session.progress.step(f"writing {out.name}")
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, codebook=res.codebook, codes=res.codes)  # a file object: no ".npz" appended
    session.close()
    if args.json:
        _emit_json(
            {
                "input": args.embeddings,
                "output": out,
                "n": E.shape[0],
                "d": E.shape[1],
                "k": res.k,
                "normalize": res.normalize,
                "seed": args.seed,
                "n_iter": res.n_iter,
                "seconds": res.seconds,
                "codes_dtype": str(res.codes.dtype),
                "memory_before_mb": res.memory_before_mb,
                "memory_after_mb": res.memory_after_mb,
                "compression_ratio": res.compression_ratio,
                "avg_cosine": res.avg_cosine,
            }
        )
        return
    print(
        f"{args.embeddings}: {E.shape[0]:,} x {E.shape[1]} -> {out}: k={res.k}, codes {res.codes.dtype}, "
        f"{res.seconds:.3f} s, {res.memory_before_mb:.4f} MB -> {res.memory_after_mb:.4f} MB "
        f"(ratio {res.compression_ratio:.2f}), average cosine {res.avg_cosine:.4f}"
    )


def _report(args: argparse.Namespace, session: _Session) -> None:
    from . import report

    report.find_data_dir(args.data)  # a wrong --data fails before any work
    out = Path(args.out)
    _check_output_folder(out, "--out")
    steps: Sequence[str] = getattr(report, "STEPS", ())

    def progress(label: str, done: int | None = None, total: int | None = None) -> None:
        # The report's protocol is progress(label, done, total); the one-argument
        # progress(step) of earlier versions is mapped onto its STEPS.
        if done is None and label in steps:
            done, total = list(steps).index(label), len(steps)
        session.progress.update(label, None if done is None else done + 1, None if total is None else total + 1)

    with session.watching_compiles():
        session.warm_up()
        pdf = report.build_report(args.data, out, quick=args.quick, seed=args.seed, progress=progress)
    session.close()
    print(f"wrote {pdf} (and figures, CSV tables and summary.md in {pdf.parent})")


# ---------------------------------------------------------------------------------------------
# the parser
# ---------------------------------------------------------------------------------------------


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown where there is one (not "default: None" on required options); epilogs kept as written."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 30, width: int | None = None):
        super().__init__(prog, indent_increment, max_help_position, width)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or action.required or "%(default)" in text:
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"fastclust: error: {message} (see: {self.prog} --help)\n")


def _example(*lines: str) -> str:
    return "example:\n" + "\n".join(f"  {line}" for line in lines)


def _common(p: argparse.ArgumentParser, *, seed: bool = True, json_out: bool = False) -> None:
    if seed:
        p.add_argument("--seed", type=_seed, default=0, help="random seed (>= 0): the same seed gives the same result")
    if json_out:
        p.add_argument("--json", action="store_true", help="print the figures as JSON on stdout (for scripts)")
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar and no compile note on stderr (errors still show)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``fastclust`` argument parser, every subcommand included."""
    parser = _Parser(
        prog="fastclust",
        usage="fastclust [-h] [--version] COMMAND [ARGS ...]",
        description=(
            "Fast, exact k-means / k-medians, and the clustering homework on top: image compression,\n"
            "spectral clustering of the political-blogs graph, vector quantization, the PDF report."
        ),
        epilog=(
            "{commands}\n\n"
            "start here (no course data needed):\n"
            "  fastclust demo-data demo          # stand-ins for the course files, in their formats\n"
            "  fastclust quantize demo/china.bmp -k 16 --metric l1 -o china16.png\n"
            "  fastclust spectral demo/nodes.txt demo/edges.txt -k 2\n"
            "\n"
            "'fastclust COMMAND --help' explains each command. The first run compiles the numba\n"
            "kernels (a note says so); printed times never include that compilation."
        ),
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"fastclust {__version__}")
    # argparse's own listing of subcommands wraps badly: the epilog lists them instead
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", help=argparse.SUPPRESS, prog="fastclust")
    listing = ["commands:"]

    def command(name: str, help: str, description: str, example: str) -> argparse.ArgumentParser:
        listing.append(f"  {name:<10} {help}")
        return sub.add_parser(
            name,
            help=help,
            description=description,
            epilog=example,
            formatter_class=_Formatter,
        )

    p = command(
        "demo-data",
        "write stand-ins for the course files: an image, nodes.txt/edges.txt, AImodel.npy",
        "Write generated stand-ins for the course's input files, in the course's own formats, so every\n"
        "command and README example has something to run on: china.bmp (a 24-bit BMP like football.bmp),\n"
        "nodes.txt and edges.txt (a two-party blog graph) and AImodel.npy (synthetic embeddings).\n"
        "Existing files are never replaced without --force.",
        _example("fastclust demo-data demo", "fastclust quantize demo/china.bmp -k 16 -o china16.png"),
    )
    p.add_argument("folder", metavar="DIR", help="folder to write into (created if missing)")
    p.add_argument("--force", action="store_true", help="replace demo files that already exist in DIR")
    _common(p)
    p.set_defaults(run=_demo_data, steps=2)  # progress steps

    p = command(
        "quantize",
        "compress an image to k colours (k-means or k-medians)",
        "Compress an image to k colours: every pixel takes its cluster's colour. Prints the rounds,\n"
        "the fit's seconds (compilation excluded), MSE and PSNR.",
        _example(
            "fastclust quantize demo/china.bmp -k 16 --metric l1 -o china16.png",
            "fastclust quantize football.bmp -k 8 -o football8.png --json",
        ),
    )
    p.add_argument("image", help="input image: any format Pillow reads (.bmp, .png, .jpg, ...)")
    p.add_argument("-k", type=_positive_int, default=16, help="number of colours")
    p.add_argument("--metric", choices=("l2", "l1"), default="l2", help="l2 = k-means (means), l1 = k-medians")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help=f"output image; the format follows the suffix ({', '.join(IMAGE_FORMATS)})",
    )
    _common(p, json_out=True)
    p.set_defaults(run=_quantize, steps=4)  # progress steps

    p = command(
        "spectral",
        "spectral clustering of nodes.txt/edges.txt, printing the mismatch table",
        "Spectral clustering of the political-blogs graph (or any graph in its format): the mismatch\n"
        "table of every cluster against the 0/1 labels in nodes.txt, and the overall mismatch rate.",
        _example(
            "fastclust spectral demo/nodes.txt demo/edges.txt -k 2",
            "fastclust spectral nodes.txt edges.txt -k 5 --laplacian symmetric --json",
        ),
    )
    p.add_argument("nodes", help='nodes file: id<TAB>"url"<TAB>label<TAB>"source", 1-based ids')
    p.add_argument("edges", help="edges file: source<TAB>target per line (directed links, 1-based ids)")
    p.add_argument("-k", type=_positive_int, default=2, help="number of clusters")
    p.add_argument(
        "--laplacian",
        default="regularized",
        choices=LAPLACIANS,
        help="which graph matrix gives the eigenvectors (see fastclust.spectral.spectral_basis)",
    )
    _common(p, json_out=True)
    p.set_defaults(run=_spectral, steps=3)  # progress steps

    p = command(
        "vq",
        "vector-quantize an embedding table (.npy/.npz): k-row codebook + codes",
        "Vector quantization: a k-row codebook and one code per row (uint8 up to k = 256), saved as an\n"
        ".npz archive with arrays 'codebook' and 'codes'. Prints the memory saved and the average cosine.",
        _example(
            "fastclust vq demo/AImodel.npy -k 256 -o codes.npz", "fastclust vq AImodel.npy -k 512 -o codes --json"
        ),
    )
    p.add_argument("embeddings", help="embedding table: a float array (rows x dims) saved as .npy or .npz")
    p.add_argument("-k", type=_positive_int, default=256, help="codebook size")
    p.add_argument(
        "-o", "--output", required=True, help="output archive; '.npz' is appended to a name without a suffix"
    )
    p.add_argument("--no-normalize", action="store_true", help="cluster raw rows instead of unit-length rows")
    _common(p, json_out=True)
    p.set_defaults(run=_vq, steps=4)  # progress steps

    p = command(
        "report",
        "every homework deliverable: PDF, figures, CSV tables (= reports/run_all.py)",
        "Every homework deliverable: report.pdf, its source report.typ, figures (SVG plots, PNG pictures),\n"
        "CSV tables and summary.md. Course files missing from --data are replaced by embedded stand-ins,\n"
        "and page 1 lists each substitution.",
        _example("fastclust report --data demo --quick", "fastclust report --data ~/course/homework1 --out my-report"),
    )
    p.add_argument(
        "--data",
        help="folder with the course files (else $FASTCLUST_DATA, else ./data if it holds one, else embedded stand-ins)",
    )
    p.add_argument("--out", default=DEFAULT_OUT, help="output folder, relative to the current directory")
    p.add_argument("--quick", action="store_true", help="smaller grids: a smoke run that still makes every page")
    _common(p)
    p.set_defaults(run=_report, steps=1)  # progress steps
    parser.epilog = (parser.epilog or "").format(commands="\n".join(listing))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 on success, 2 on a user error, 130 on Ctrl-C)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        parser.print_help()
        return 0
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: argparse has printed
        return exc.code if isinstance(exc.code, int) else 2
    session = _Session(args)
    try:
        args.run(args, session)
    except (FastclustError, OSError) as exc:
        session.close()
        print(f"fastclust: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        session.close()
        print("fastclust: interrupted", file=sys.stderr)
        return 130
    finally:
        session.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
