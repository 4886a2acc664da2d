"""The command line: every subcommand, help that teaches, demo data, JSON, progress, and errors as one line."""

from __future__ import annotations

import argparse
import errno
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from fastclust import cli
from fastclust.cli import COMPILE_NOTE, build_parser, main
from fastclust.demo import write_blog_like_graph


def _png(path: Path, shape=(30, 40, 3)) -> Path:
    Image.fromarray(np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)).save(path)
    return path


def _npy(path: Path, n: int = 300, d: int = 8) -> Path:
    np.save(path, np.random.default_rng(0).normal(size=(n, d)).astype(np.float32))
    return path


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.out == "", f"stdout must stay empty on an error, got {captured.out!r}"
    err = captured.err
    assert err.startswith("fastclust: error:") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield 0o640
    os.umask(old)


# ---------------------------------------------------------------------------------------------
# the commands
# ---------------------------------------------------------------------------------------------


def test_quantize(tmp_path, capsys):
    src = _png(tmp_path / "in.png")
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
    _npy(tmp_path / "e.npy")
    assert main(["vq", str(tmp_path / "e.npy"), "-k", "16", "-o", str(tmp_path / "codes.npz")]) == 0
    with np.load(tmp_path / "codes.npz") as z:
        assert z["codes"].dtype == np.uint8 and z["codebook"].shape == (16, 8)
    assert "average cosine" in capsys.readouterr().out


def test_vq_prints_the_path_it_really_writes(tmp_path, capsys):
    # np.savez appends ".npz" to a name without it: the printed path must be that file
    _npy(tmp_path / "e.npy")
    assert main(["vq", str(tmp_path / "e.npy"), "-k", "4", "-o", str(tmp_path / "codes_noext"), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["output"] == str(tmp_path / "codes_noext.npz")
    assert (tmp_path / "codes_noext.npz").is_file() and not (tmp_path / "codes_noext").exists()
    assert main(["vq", str(tmp_path / "e.npy"), "-k", "4", "-o", str(tmp_path / "codes_noext")]) == 0
    assert f"-> {tmp_path / 'codes_noext.npz'}:" in capsys.readouterr().out


def test_json_output_is_machine_readable(tmp_path, capsys):
    src = _png(tmp_path / "in.png")
    assert main(["quantize", str(src), "-k", "3", "-o", str(tmp_path / "o.png"), "--json"]) == 0
    q = json.loads(capsys.readouterr().out)
    assert q["k"] == 3 and q["metric"] == "l2" and q["seconds"] >= 0 and {"mse", "psnr_db", "n_iter"} <= set(q)
    nodes, edges = write_blog_like_graph(tmp_path)
    assert main(["spectral", str(nodes), str(edges), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["k"] == 2 and s["n_isolated_removed"] == 40 and len(s["clusters"]) == 2 and 0 <= s["overall"] <= 1
    _npy(tmp_path / "e.npy")
    assert main(["vq", str(tmp_path / "e.npy"), "-k", "8", "-o", str(tmp_path / "c.npz"), "--json"]) == 0
    v = json.loads(capsys.readouterr().out)
    assert v["k"] == 8 and v["codes_dtype"] == "uint8" and v["n"] == 300 and v["d"] == 8


def test_outputs_get_the_umask_mode(tmp_path, umask_027, capsys):
    src = _png(tmp_path / "in.png")
    _npy(tmp_path / "e.npy")
    assert main(["quantize", str(src), "-k", "3", "-o", str(tmp_path / "o.png")]) == 0
    assert main(["vq", str(tmp_path / "e.npy"), "-k", "4", "-o", str(tmp_path / "c.npz")]) == 0
    assert main(["demo-data", str(tmp_path / "demo")]) == 0
    written = [tmp_path / "o.png", tmp_path / "c.npz", *sorted((tmp_path / "demo").iterdir())]
    assert {oct(p.stat().st_mode & 0o777) for p in written} == {oct(umask_027)}
    assert not list(tmp_path.rglob(".*fastclust-tmp"))


# ---------------------------------------------------------------------------------------------
# demo data
# ---------------------------------------------------------------------------------------------


def test_demo_data_files_load_with_the_real_loaders(tmp_path, capsys):
    from fastclust import graph as fg
    from fastclust import image as fi
    from fastclust import vq

    assert main(["demo-data", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "fastclust quantize" in out and "china.bmp" in out
    folder = tmp_path / "demo"
    assert sorted(p.name for p in folder.iterdir()) == ["AImodel.npy", "china.bmp", "edges.txt", "nodes.txt"]
    with Image.open(folder / "china.bmp") as im:
        assert im.format == "BMP" and im.mode == "RGB"  # a 24-bit BMP, like football.bmp
    assert fi.load_image(folder / "china.bmp").shape == (427, 640, 3)
    g = fg.load_polblogs(folder / "nodes.txt", folder / "edges.txt")
    assert g.n_nodes_read == 1240 and g.n_isolated_removed == 40 and g.n_self_loops > 0
    E = vq.load_embeddings(folder / "AImodel.npy")
    assert E.shape == (10_000, 64) and E.dtype == np.float32


def test_demo_data_never_replaces_files_without_force(tmp_path, capsys):
    folder = tmp_path / "course"
    folder.mkdir()
    (folder / "nodes.txt").write_text("the real course file\n")
    assert main(["demo-data", str(folder)]) == 2
    assert "nodes.txt already exists" in _one_error_line(capsys)
    assert (folder / "nodes.txt").read_text() == "the real course file\n"
    assert sorted(p.name for p in folder.iterdir()) == ["nodes.txt"]  # nothing half-written
    assert main(["demo-data", str(folder), "--force", "--seed", "1"]) == 0
    assert (folder / "nodes.txt").read_text().startswith("1\t")


# ---------------------------------------------------------------------------------------------
# help that teaches
# ---------------------------------------------------------------------------------------------


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_help_names_and_explains_every_argument_and_ends_with_an_example(name, capsys):
    assert main([name, "--help"]) == 0
    text = capsys.readouterr().out
    flat = _flat(text)
    for action in _subcommands()[name]._actions:
        assert action.help, f"{name}: {action.option_strings or action.dest} has no help line"
        label = action.option_strings[-1] if action.option_strings else (action.metavar or action.dest)
        assert label in text, f"{name} --help does not name {label}"
        assert _flat(action.help) in flat, f"{name} --help lacks the help of {label}"
        if action.default not in (None, False, argparse.SUPPRESS) and not action.required and action.dest != "help":
            assert f"(default: {action.default})" in flat, f"{name} --help hides the default of {label}"
    tail = text.rstrip().split("\n")
    example_at = max(i for i, line in enumerate(tail) if line.startswith("example"))
    assert all(line.startswith("  fastclust ") for line in tail[example_at + 1 :])
    assert any(line.startswith(f"  fastclust {name}") for line in tail[example_at + 1 :])


def test_bare_fastclust_prints_the_help_and_exits_0():
    proc = subprocess.run([sys.executable, "-m", "fastclust"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == ""
    assert "usage: fastclust" in proc.stdout and "start here" in proc.stdout
    for name in _subcommands():
        assert f"  {name} " in proc.stdout


def test_bad_arguments_and_help_in_a_subprocess():
    run = [sys.executable, "-m", "fastclust"]
    proc = subprocess.run(
        [*run, "quantize", "x.png", "-k", "zero", "-o", "y.png"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 2 and "'zero' is not an integer" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == "" and proc.stderr.count("\n") == 1
    for sub in _subcommands():
        proc = subprocess.run([*run, sub, "--help"], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0 and "usage: fastclust" in proc.stdout and "example:" in proc.stdout


# ---------------------------------------------------------------------------------------------
# errors: one line on stderr, exit 2, nothing on stdout
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["quantize", "missing.png", "-k", "4", "-o", "x.png"], "missing.png: no such image file"),
        (["spectral", "nodes.txt", "edges.txt", "-k", "2"], "no such nodes file"),
        (["vq", "nope.npy", "-o", "x.npz"], "no such embeddings file"),
        (["report", "--data", "no-such-folder", "--quick"], "--data no-such-folder: no such folder"),
        (["report", "--seed", "-1"], "--seed: -1 must be >= 0"),
        (["quantize", "in.png", "--seed", "-3", "-o", "x.png"], "--seed: -3 must be >= 0"),
        (["quantize", "in.png", "-o", "out.xyz"], "-o out.xyz: unknown image format"),
        (["quantize", "in.png", "-o", "afile/x.png"], "afile is not a folder"),  # NotADirectory
        (["quantize", "in.png", "-o", "sub"], "unknown image format"),
        (["quantize", "in.png", "-o", "sub.png"], "-o sub.png is a folder"),
        (["quantize", "in.png", "-o", "no/such/dir/x.png"], "folder no/such/dir does not exist"),
        (["vq", "in.png", "-o", "c.npz"], "in.png: fastclust vq reads an embedding table saved as .npy or .npz"),
        (["vq", "e.npy", "-o", "c.npy"], "the output is an .npz archive"),
        (["report", "--out", "afile"], "--out afile is a file, not a folder"),
        (["report", "--out", "afile/sub"], "afile/sub: Not a directory"),  # NotADirectoryError from mkdir
        (["report", "--out", "dangling"], "dangling: File exists"),  # FileExistsError from mkdir
        (["demo-data", "afile"], "afile is a file, not a folder"),
        (["bogus"], "invalid choice: 'bogus'"),
        (["quantize", "in.png"], "the following arguments are required: -o/--output"),
    ],
)
def test_user_errors_are_one_line_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    _png(tmp_path / "in.png")
    _npy(tmp_path / "e.npy")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub.png").mkdir()
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert main(argv) == 2
    assert message in _one_error_line(capsys)


def _refuse(errno_code: int, text: str):
    def fail(*args, **kwargs):
        raise OSError(errno_code, text)

    return fail


@pytest.mark.parametrize("code, text", [(errno.EROFS, "Read-only file system"), (errno.EACCES, "Permission denied")])
def test_an_unwritable_output_fails_before_any_work(tmp_path, monkeypatch, capsys, code, text):
    from fastclust import image as fi
    from fastclust import report

    src = _png(tmp_path / "in.png")

    def no_work(*args, **kwargs):
        raise AssertionError("the work started although the output cannot be written")

    monkeypatch.setattr(fi, "compress", no_work)
    monkeypatch.setattr(fi, "load_image", no_work)
    monkeypatch.setattr(report, "build_report", no_work)
    monkeypatch.setattr(cli.tempfile, "mkstemp", _refuse(code, text))  # the writability probe
    assert main(["quantize", str(src), "-o", str(tmp_path / "out.png")]) == 2
    assert f"cannot write in {tmp_path} ({text})" in _one_error_line(capsys)
    assert main(["report", "--out", str(tmp_path / "rep")]) == 2
    assert text in _one_error_line(capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders: the probe above covers it")
def test_a_read_only_folder_fails_before_any_work(tmp_path, capsys):
    src = _png(tmp_path / "in.png")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    assert main(["quantize", str(src), "-o", str(ro / "out.png")]) == 2
    assert "Permission denied" in _one_error_line(capsys)


def test_a_full_disk_is_one_line(tmp_path, monkeypatch, capsys):
    src = _png(tmp_path / "in.png")
    monkeypatch.setattr(Path, "write_bytes", _refuse(errno.ENOSPC, "No space left on device"))
    assert main(["quantize", str(src), "-k", "3", "-o", str(tmp_path / "out.png")]) == 2
    assert "No space left on device" in _one_error_line(capsys)
    assert not (tmp_path / "out.png").exists() and not list(tmp_path.glob(".*fastclust-tmp"))


def test_permission_errors_of_inputs_are_one_line(tmp_path, monkeypatch, capsys):
    from fastclust import image as fi

    def denied(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(fi, "load_image", denied)
    assert main(["quantize", "secret.png", "-o", str(tmp_path / "o.png")]) == 2
    assert _one_error_line(capsys).strip() == "fastclust: error: secret.png: Permission denied"


def test_only_user_errors_are_caught(tmp_path, monkeypatch):
    # no blanket except: a bug still shows its traceback
    from fastclust import image as fi

    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(fi, "load_image", bug)
    with pytest.raises(ZeroDivisionError):
        main(["quantize", "x.png", "-o", str(tmp_path / "o.png")])


# ---------------------------------------------------------------------------------------------
# report: output relative to the cwd, both progress protocols
# ---------------------------------------------------------------------------------------------


def test_report_writes_under_the_current_directory_and_accepts_both_progress_protocols(tmp_path, monkeypatch, capsys):
    from fastclust import report

    calls = {}

    def fake_build_report(data, out, *, quick, seed, progress):
        calls.update(out=Path(out), quick=quick, seed=seed)
        progress("inputs")  # today's one-argument protocol
        progress("Q3 images", 1, 6)  # the (label, done, total) protocol
        progress("Q3 images", 2, 6)
        Path(out, "report.pdf").write_bytes(b"%PDF")
        return Path(out, "report.pdf")

    monkeypatch.setattr(report, "build_report", fake_build_report)
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--quick", "--seed", "4"]) == 0
    assert calls == {"out": Path("reports", "out"), "quick": True, "seed": 4}
    assert (tmp_path / "reports" / "out" / "report.pdf").is_file()
    assert "wrote reports/out/report.pdf" in capsys.readouterr().out
    assert cli.DEFAULT_OUT == os.path.join("reports", "out") and not os.path.isabs(cli.DEFAULT_OUT)


def test_run_all_script_is_fastclust_report(tmp_path, monkeypatch, capsys):
    """reports/run_all.py is the same command: same call, same output folder, same one-line errors."""
    import importlib.util

    from fastclust import report

    spec = importlib.util.spec_from_file_location("run_all", ROOT / "reports" / "run_all.py")
    assert spec is not None and spec.loader is not None
    run_all = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_all)
    calls = {}

    def fake_build_report(data, out, *, quick, seed, progress):
        calls.update(data=data, out=Path(out), quick=quick, seed=seed)
        Path(out, "report.pdf").write_bytes(b"%PDF")
        return Path(out, "report.pdf")

    monkeypatch.setattr(report, "build_report", fake_build_report)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "course").mkdir()
    assert run_all.main(["--data", "course", "--seed", "3"]) == 0
    assert calls == {"data": "course", "out": Path("reports", "out"), "quick": False, "seed": 3}
    assert "wrote reports/out/report.pdf" in capsys.readouterr().out
    assert run_all.main(["--data", "missing"]) == 2
    assert _one_error_line(capsys) == "fastclust: error: --data missing: no such folder\n"
    assert run_all.main(["--seed", "-1"]) == 2


# ---------------------------------------------------------------------------------------------
# progress bar and compile note
# ---------------------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_after_the_delay(monkeypatch):
    pytest.importorskip("tqdm")
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setattr(cli, "PROGRESS_DELAY", 0.05)
    bar = cli._Progress("fastclust test", 2, enabled=True)
    bar.step("first step")
    deadline = time.monotonic() + 5
    while bar._bar is None and time.monotonic() < deadline:
        time.sleep(0.01)
    bar.step("second step")
    bar.close()
    assert "fastclust test: first step" in term.getvalue() and "1/2" in term.getvalue()


@pytest.mark.parametrize("terminal, quiet, shown", [(True, False, True), (True, True, False), (False, False, False)])
def test_progress_is_off_off_a_terminal_and_with_quiet(monkeypatch, terminal, quiet, shown):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys, "stderr", _Terminal() if terminal else io.StringIO())
    args = argparse.Namespace(command="quantize", quiet=quiet, steps=3)
    session = cli._Session(args)
    assert (session.progress._tqdm is not None) is shown
    session.close()


def test_quick_work_draws_no_bar(monkeypatch, tmp_path, capsys):
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    src = _png(tmp_path / "in.png")
    assert main(["quantize", str(src), "-k", "3", "-o", str(tmp_path / "o.png")]) == 0
    assert "fastclust quantize" not in term.getvalue()


def test_compile_note_is_printed_once_per_run():
    notes = []
    with cli._compile_note(lambda: notes.append(1)):
        try:
            from numba.core import event
        except ImportError:
            pytest.skip("numba not installed: nothing is ever compiled")
        for _ in range(3):  # what numba announces for every compilation
            with event.trigger_event("numba:compile", data={}):
                pass
    with event.trigger_event("numba:compile", data={}):  # after the block: no longer listening
        pass
    assert notes == [1]


def _fit_seconds(cache: Path, image: Path, out: Path) -> tuple[float, str]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    env.pop("NUMBA_DISABLE_JIT", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastclust",
            "quantize",
            str(image),
            "-k",
            "16",
            "--metric",
            "l1",
            "-o",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["seconds"], proc.stderr


@pytest.mark.slow
def test_a_cold_cache_is_announced_once_and_not_timed(tmp_path):
    from fastclust._warmup import jit_active

    if not jit_active():
        pytest.skip("no numba JIT here (numba absent or NUMBA_DISABLE_JIT=1): nothing to compile")
    from fastclust.demo import write_demo_image

    image = write_demo_image(tmp_path / "china.bmp")
    cache = tmp_path / "numba-cache"  # fresh: every kernel must compile
    cold, cold_err = _fit_seconds(cache, image, tmp_path / "a.png")
    warm, warm_err = _fit_seconds(cache, image, tmp_path / "b.png")
    assert cold_err.count(COMPILE_NOTE) == 1, cold_err
    assert COMPILE_NOTE not in warm_err and warm_err == "", warm_err
    # compiling takes 5-10 s; the fit itself well under a second or two. A small absolute
    # allowance absorbs the scheduling noise of a shared machine on sub-second timings.
    assert cold <= 3 * warm + 0.25, f"cold fit {cold:.3f} s vs warm {warm:.3f} s: compilation was timed"


def test_warm_up_refuses_unknown_workloads():
    from fastclust._warmup import WORKLOADS, warm_up

    with pytest.raises(ValueError, match="unknown warm-up"):
        warm_up("nope")
    assert set(WORKLOADS) == {"image-l2", "image-l1", "graph", "spectral", "vq", "digits"}


def test_warm_up_fits_raise_no_warning_of_their_own():
    """The CLI shows warm-up's warnings unfiltered: its tiny fits must converge quietly."""
    import warnings

    from fastclust._warmup import warm_up

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warm_up()
    ours = [w for w in caught if issubclass(w.category, (UserWarning, RuntimeWarning))]
    assert not ours, [str(w.message) for w in ours]


def test_no_bare_except_in_the_cli():
    source = (ROOT / "fastclust" / "cli.py").read_text()
    assert not re.search(r"except\s*(Exception|BaseException)?\s*(as \w+)?:", source)
