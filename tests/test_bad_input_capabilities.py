"""Damaged and mistaken input files, by capability: each is a FastclustError naming the file, nothing printed.

The issue-15 table for the loaders of embeddings (.npy/.npz), MNIST (.npz) and images: numpy's own
errors (EOFError, BadZipFile, MemoryError, "pickled data") never reach the user, and the CLI turns
every one into a single ``fastclust: error:`` line with exit code 2.
"""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import pytest
from PIL import Image

from fastclust import cli, vq
from fastclust import digits as fd
from fastclust.errors import FastclustError

TABLE = np.arange(24, dtype=np.float32).reshape(6, 4) + 1


def _npy_bytes(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _header_only(shape, descr="<f4"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _object_npz():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        inner = io.BytesIO()
        np.save(inner, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        zf.writestr("embeddings.npy", inner.getvalue())
    return buf.getvalue()


def _corrupt_member():
    data = bytearray(_npz_bytes(embeddings=np.random.default_rng(0).normal(size=(50, 8))))
    data[60:70] = b"\x00" * 10  # inside the compressed member: its CRC (or inflate) fails
    return bytes(data)


def _bmp_bytes():
    buf = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(buf, format="BMP")
    return buf.getvalue()


EMBEDDING_FILES = {
    # name: (file name, bytes, message)
    "empty npy (EOFError)": ("e.npy", b"", r"e\.npy: the file is empty \(0 bytes\)"),
    "truncated npy": ("t.npy", _npy_bytes(TABLE)[:-10], r"t\.npy: truncated: .* \(96 bytes of data\) but only 86"),
    "header claims 10^12 (MemoryError)": (
        "h.npy",
        _header_only((10**6, 10**6)) + bytes(64),
        r"h\.npy: truncated: its header promises shape \(1000000, 1000000\) of float32 \(4,000,000,000,000 bytes",
    ),
    "cut inside the header": ("c.npy", _npy_bytes(TABLE)[:20], r"c\.npy: malformed \.npy header"),
    "text file called .npy (was 'pickled data')": (
        "x.npy",
        b"0.1,0.2,0.3\n0.4,0.5,0.6\n",
        r"x\.npy: not a \.npy file: it looks like a text file \(it starts with '0\.1,0\.2",
    ),
    "a BMP given as embeddings": ("img.bmp", _bmp_bytes(), r"img\.bmp: not a \.npy file: it looks like a BMP image"),
    "a pickle": ("p.npy", pickle.dumps(TABLE, protocol=4), r"p\.npy: not a \.npy file: it looks like a Python pickle"),
    "truncated npz (BadZipFile)": (
        "z.npz",
        _npz_bytes(embeddings=TABLE)[:-30],
        r"z\.npz: not a readable \.npz \(zip\) archive .*is it truncated\?",
    ),
    "object array in npz": ("obj.npz", _object_npz(), r"obj\.npz\[embeddings\]: holds Python objects \(dtype object\)"),
    "damaged npz member": ("d.npz", _corrupt_member(), r"d\.npz\[embeddings\]: damaged archive member"),
    "npz without arrays": ("n.npz", b"PK\x05\x06" + bytes(18), r"n\.npz: the \.npz archive holds no arrays"),
    # an object array in a .npy (written by np.save) is in tests/test_vq_digits.py
}


@pytest.mark.parametrize("case", list(EMBEDDING_FILES))
def test_embedding_loader_names_the_file_and_the_fault(tmp_path, capfd, case):
    name, data, message = EMBEDDING_FILES[case]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(FastclustError, match=message):
        vq.load_embeddings(path)
    assert capfd.readouterr().out == ""


@pytest.mark.parametrize(
    "case", ["empty npy (EOFError)", "header claims 10^12 (MemoryError)", "a BMP given as embeddings"]
)
def test_cli_turns_loader_faults_into_one_line_and_exit_2(tmp_path, capsys, case):
    name, data, message = EMBEDDING_FILES[case]
    path = tmp_path / name
    path.write_bytes(data)
    rc = cli.main(["vq", str(path), "-k", "2", "-o", str(tmp_path / "codes.npz")])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"fastclust: error: {path}")


def test_good_npz_and_npy_still_load(tmp_path):
    (tmp_path / "a.npy").write_bytes(_npy_bytes(TABLE))
    np.testing.assert_array_equal(vq.load_embeddings(tmp_path / "a.npy"), TABLE)
    (tmp_path / "b.npz").write_bytes(_npz_bytes(other=TABLE))
    np.testing.assert_array_equal(vq.load_embeddings(tmp_path / "b.npz"), TABLE)
    fortran = np.asfortranarray(TABLE.astype(np.float64))
    np.save(tmp_path / "f.npy", fortran)
    np.testing.assert_array_equal(vq.load_embeddings(tmp_path / "f.npy"), fortran)
    out = vq.load_embeddings(tmp_path / "a.npy")
    out[0, 0] = 7  # a writable array, like np.load's
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), TABLE)


@pytest.mark.parametrize(
    "data, message",
    [
        (_npz_bytes(x_test=np.zeros((2, 2, 2)), y_test=np.zeros(2))[:-30], r"mnist\.npz: not a readable \.npz"),
        (b"", r"mnist\.npz: the file is empty"),
        (b"hello", r"mnist\.npz: not a \.npz file: it looks like a text file"),
    ],
)
def test_mnist_npz_faults(tmp_path, data, message):
    (tmp_path / "mnist.npz").write_bytes(data)
    with pytest.raises(FastclustError, match=message):
        fd.load_mnist(tmp_path / "mnist.npz")


def test_mnist_npz_with_object_arrays(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for key in ("x_test", "y_test"):
            inner = io.BytesIO()
            np.save(inner, np.array([None, 1], dtype=object), allow_pickle=True)
            zf.writestr(f"{key}.npy", inner.getvalue())
    (tmp_path / "mnist.npz").write_bytes(buf.getvalue())
    with pytest.raises(FastclustError, match=r"mnist\.npz\[x_test\]: holds Python objects"):
        fd.load_mnist(tmp_path / "mnist.npz")
