"""Political-blogs reader, the CSR kernel, and spectral clustering quality."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import BACKENDS, shared_file

from fastclust import graph as fg
from fastclust import spectral as fs
from fastclust.errors import FastclustError


@pytest.fixture(scope="module")
def polblogs():
    return fg.load_polblogs(shared_file("homework1", "nodes.txt"), shared_file("homework1", "edges.txt"))


def test_polblogs_facts(polblogs):
    g = polblogs
    assert g.n_nodes_read == 1490 and g.n_edge_lines == 19090 and g.n_self_loops == 3
    assert g.n_edges == 16715 and g.n_isolated_removed == 266 and g.adjacency.shape == (1224, 1224)
    assert g.n_components == 2 and g.n_edge_lines - g.n_self_loops - g.n_duplicate_edges == g.n_edges
    A = g.adjacency
    assert (A != A.T).nnz == 0 and A.diagonal().sum() == 0 and set(np.unique(A.data)) == {1.0}
    assert set(np.unique(g.labels)) == {0, 1} and g.node_ids.min() >= 1
    # row 129's url holds '&#38;': a reader treating '#' as a comment would cut it
    assert "charlineandjamie.com/dotnetweb01a/blogdisplay.aspx?logname=jamie&#38;logcatid=48" in g.names


def test_keep_isolated_keeps_all_nodes():
    g = fg.load_polblogs(
        shared_file("homework1", "nodes.txt"), shared_file("homework1", "edges.txt"), keep_isolated=True
    )
    assert g.adjacency.shape == (1490, 1490) and g.n_isolated_removed == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_csr_kernel_matches_scipy_reference(backend):
    rng = np.random.default_rng(0)
    n = 300
    src, dst = rng.integers(0, n, 5000), rng.integers(0, n, 5000)
    A, n_self, n_dup = fg.csr_from_edges(src, dst, n, backend=backend)
    B = sp.coo_matrix((np.ones(src.size), (src, dst)), shape=(n, n)).tocsr()
    B = ((B + B.T) > 0).astype(float).tolil()
    B.setdiag(0)
    B = B.tocsr()
    B.eliminate_zeros()
    assert (A != B).nnz == 0 and n_self == int((src == dst).sum())
    assert n_dup == int((src != dst).sum()) - B.nnz // 2
    assert np.all(np.diff(A.indices[A.indptr[5] : A.indptr[6]]) > 0)  # sorted columns


def _write(tmp_path, nodes, edges):
    (tmp_path / "nodes.txt").write_text(nodes)
    (tmp_path / "edges.txt").write_text(edges)
    return tmp_path / "nodes.txt", tmp_path / "edges.txt"


GOOD_NODES = '1\t"a.com"\t0\t"x"\n2\t"b.com#frag"\t1\t"y"\n3\t"c.com"\t0\t"z"\n'


@pytest.mark.parametrize(
    "nodes, edges, message",
    [
        (GOOD_NODES, "1\t2\n2\t9\n", r"edges\.txt:2: edge names unknown node 9"),
        (GOOD_NODES, "1\t2\n1 2 3\n", r"edges\.txt:2: expected 'source<TAB>target'"),
        (GOOD_NODES, "1\tx\n", r"edges\.txt:1: node id 'x' is not an integer"),
        (GOOD_NODES, "", r"edges\.txt: empty edges file"),
        ('1\t"a"\t0\t"x"\nz\t"b"\t1\t"y"\n', "1\t2\n", r"nodes\.txt:2: node id 'z' is not an integer"),
        ('1\t"a"\t0\t"x"\n2\t"b"\t2\t"y"\n', "1\t2\n", r"nodes\.txt:2: label '2' is not 0 or 1"),
        ('1\t"a"\n', "1\t1\n", r"nodes\.txt:1: expected id<TAB>url<TAB>label"),
        ("", "1\t2\n", r"nodes\.txt: empty nodes file"),
    ],
)
def test_bad_graph_files_name_file_and_line(tmp_path, nodes, edges, message):
    with pytest.raises(FastclustError, match=message):
        fg.load_polblogs(*_write(tmp_path, nodes, edges))


def test_small_files_counted_and_hash_in_url_kept(tmp_path):
    g = fg.load_polblogs(*_write(tmp_path, GOOD_NODES, "1\t2\n2\t1\n1\t1\n1\t2\n"))
    assert g.names == ["a.com", "b.com#frag"] and g.n_self_loops == 1 and g.n_duplicate_edges == 2
    assert g.n_isolated_removed == 1 and g.n_edges == 1


def test_mismatch_table_course_definition():
    t = fs.mismatch_table([0, 0, 0, 1, 1, 2], [1, 1, 0, 0, 0, 1])
    assert t.rows[0] == {"cluster": 0, "size": 3, "majority": 1, "mismatches": 1, "rate": 1 / 3}
    assert t.rows[1]["mismatches"] == 0 and t.rows[2]["majority"] == 1
    assert t.overall == pytest.approx(1 / 6) and t.n_mismatched == 1
    with pytest.raises(FastclustError):
        fs.mismatch_table([0, 1], [0])


def test_components_from_laplacian_null_space():
    blocks = [np.ones((3, 3)) - np.eye(3), np.ones((4, 4)) - np.eye(4), np.zeros((1, 1))]
    A = sp.block_diag(blocks).tocsr()
    count, membership = fs.n_components_from_laplacian(A)
    assert count == 3
    assert len(set(membership[:3])) == 1 and len(set(membership[3:7])) == 1 and membership[7] not in membership[:7]


def test_generated_two_block_graph_is_recovered():
    A, truth = fg.make_two_block_graph(800, mean_degree=16, mixing=0.05, seed=1)
    for lap in ("regularized", "symmetric", "score", "score+"):
        assert fs.mismatch_table(fs.spectral_clustering(A, 2, laplacian=lap, seed=0).labels, truth).overall < 0.05, lap
    tk = fs.tune_k(A, truth, ks=[2, 3, 4, 6], seed=0)
    assert tk.k == 2 and len(tk.overall) == 4


def test_generated_ten_block_graph_is_recovered():
    A, truth = fg.make_block_graph(3000, 10, mean_degree=20, mixing=0.1, seed=2)
    assert np.bincount(truth).tolist() == [300] * 10 and A.nnz // 2 > 20_000
    res = fs.spectral_clustering(A, 10, seed=0)
    assert fs.mismatch_table(res.labels, truth).overall < 0.05


def test_bad_adjacency_and_options():
    with pytest.raises(FastclustError, match="symmetric"):
        fs.spectral_clustering(sp.csr_matrix(np.array([[0, 1], [0, 0]])), 1)
    with pytest.raises(FastclustError, match="laplacian='normalized' is not one of"):
        fs.spectral_clustering(sp.identity(4), 2, laplacian="normalized")
    with pytest.raises(FastclustError, match="exceeds the number of nodes"):
        fs.spectral_clustering(sp.identity(3), 5)


# Measured with seed 0 since the seed contract (eigensolver and k-means on child streams of the seed):
# 0.0539, 0.0719, 0.0686, 0.0752, 0.0784. k = 2 gives 0.0539 for every seed 0..5 (the embedding is now
# canonical); before, it was 0.0531 standalone and 0.0539 from a reused basis. The k = 2 bound is the
# one the report relies on (<= 0.06); the others keep a node or two of slack over the measured values.
TARGETS = {2: 0.06, 5: 0.075, 10: 0.07, 30: 0.08, 50: 0.09}


@pytest.mark.slow
def test_polblogs_quality_targets(polblogs):
    for k, target in TARGETS.items():
        res = fs.spectral_clustering(polblogs.adjacency, k, seed=0)
        overall = fs.mismatch_table(res.labels, polblogs.labels).overall
        assert overall <= target, (k, overall)
    # stretch: SCORE+ at k=2 reaches the level the literature reports (<= 0.045)
    plus = fs.spectral_clustering(polblogs.adjacency, 2, laplacian="score+", seed=0)
    assert fs.mismatch_table(plus.labels, polblogs.labels).overall <= 0.045
    # the course's plain unnormalised Laplacian is near coin-flipping on this graph
    unnorm = fs.spectral_clustering(polblogs.adjacency, 2, laplacian="unnormalized", seed=0)
    assert fs.mismatch_table(unnorm.labels, polblogs.labels).overall > 0.4


# --- reader faults: each names the file and the line (issue 15: items 4, 11, 14, 15, 18) ---------


@pytest.mark.parametrize(
    "nodes, edges, message",
    [
        # an unterminated quote in the sources field used to swallow node 2 silently
        ('1\t"a"\t0\t"x\n2\t"b"\t1\t"y"\n3\t"c"\t0\t"z"\n', "1\t3\n", r"nodes\.txt:1: unterminated quote in field 4"),
        ('1\t"a"\t0\t"x"\n2\t"b\t1\t"y"\n', "1\t2\n", r"nodes\.txt:2: malformed quoting"),
        # a quoted newline is reported at the line where its record starts (not one too low)
        ('1\t"a"\t0\t"x"\n2\t"b\nc"\t1\t"y"\n', "1\t2\n", r"nodes\.txt:2: unterminated quote in field 2 \(url\)"),
        ('1\t"a"\t0\t"x"\n2\t"b"\t1\t"y"\n3\t"c"\t0\t"\n', "1\t2\n", r"nodes\.txt:3: "),
        (GOOD_NODES, "1\t2\n1_3\t2\n", r"edges\.txt:2: node id '1_3' is not an integer \(ASCII digits"),
        (GOOD_NODES, "1\t2\n\u0661\u0663\t2\n", r"edges\.txt:2: node id '١٣' is not an integer"),
        (GOOD_NODES, "+1\t2\n", r"edges\.txt:1: node id '\+1' is not an integer"),
        (GOOD_NODES, f"1\t{2**70}\n", r"edges\.txt:1: node id 1180591620717411303424 exceeds 2\*\*63 - 1"),
        (f'{2**70}\t"a"\t0\t"x"\n', "1\t1\n", r"nodes\.txt:1: node id 1180591620717411303424 exceeds"),
        ('\u0662\t"a"\t0\t"x"\n', "1\t1\n", r"nodes\.txt:1: node id '٢' is not an integer"),
        (GOOD_NODES, "1\t1\n2\t2\n", r"edges\.txt: no edge joins two distinct nodes \(all 2 line\(s\) are self-loops"),
    ],
)
def test_more_bad_graph_files_name_file_and_line(tmp_path, nodes, edges, message):
    with pytest.raises(FastclustError, match=message):
        fg.load_polblogs(*_write(tmp_path, nodes, edges))


@pytest.mark.parametrize("which, line", [("nodes", 2), ("edges", 3)])
def test_undecodable_bytes_name_file_and_line(tmp_path, which, line):
    nodes, edges = _write(tmp_path, GOOD_NODES, "1\t2\n2\t3\n3\t1\n")
    path = nodes if which == "nodes" else edges
    lines = path.read_bytes().split(b"\n")
    lines[line - 1] = lines[line - 1][:3] + b"\xff" + lines[line - 1][3:]
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(FastclustError, match=rf"{which}\.txt:{line}: not UTF-8 text \(byte b'\\xff' at column 4"):
        fg.load_polblogs(nodes, edges)


def test_a_bom_is_skipped_and_crlf_lines_read(tmp_path):
    nodes, edges = _write(tmp_path, "", "")
    nodes.write_bytes(b"\xef\xbb\xbf" + GOOD_NODES.replace("\n", "\r\n").encode())
    edges.write_bytes(b"1\t2\r\n2\t3\r\n")
    g = fg.load_polblogs(nodes, edges)
    assert g.n_nodes_read == 3 and g.n_edges == 2 and g.names[1] == "b.com#frag"


def test_a_fifo_is_refused_not_read(tmp_path):
    import os

    nodes, _ = _write(tmp_path, GOOD_NODES, "1\t2\n")
    os.mkfifo(tmp_path / "fifo.txt")
    with pytest.raises(FastclustError, match=r"fifo\.txt: not a regular file"):
        fg.load_polblogs(nodes, tmp_path / "fifo.txt")  # reading it would block forever


def test_real_nodes_file_with_an_unterminated_quote(tmp_path):
    """The real file still reads 1,490 nodes; with one closing quote removed it names that line."""
    lines = shared_file("homework1", "nodes.txt").read_text(encoding="utf-8").split("\n")
    assert lines[40].endswith('"')
    lines[40] = lines[40][:-1]  # line 41 loses its closing quote: line 42 would be swallowed
    (tmp_path / "nodes.txt").write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(FastclustError, match=r"nodes\.txt:41: unterminated quote in field 4 \(sources\)"):
        fg.load_polblogs(tmp_path / "nodes.txt", shared_file("homework1", "edges.txt"))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "src, dst, n, message",
    [
        ([0, 1, 5], [1, 2, 0], 5, r"edge 2 \(5 -> 0\) has a node index outside 0\.\.4 \(1 such edge"),
        ([0, -1], [1, 2], 5, r"edge 1 \(-1 -> 2\) has a node index outside"),
        ([0, 1], [1, 10**12], 5, r"edge 1 \(1 -> 1000000000000\)"),
        ([0.0, 1.0], [1, 2], 5, r"src must hold integer node indices, got dtype float64"),
        ([0, 1], [1], 5, r"src and dst must have the same length"),
        ([[0, 1]], [[1, 0]], 5, r"src must be 1-D"),
        ([0], [1], -1, r"n must be an integer >= 0"),
    ],
)
def test_csr_from_edges_checks_indices_before_the_kernel(backend, src, dst, n, message):
    # the numba kernel writes rows by index unchecked: an index >= n was a segfault (item 14)
    with pytest.raises(FastclustError, match=message):
        fg.csr_from_edges(np.asarray(src), np.asarray(dst), n, backend=backend)


def test_csr_from_edges_out_of_range_does_not_crash_a_fresh_interpreter():
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from fastclust import graph as fg, FastclustError\n"
        "try:\n"
        "    fg.csr_from_edges(np.array([0, 1, 10**9]), np.array([1, 2, 10**9]), 4)\n"
        "except FastclustError as exc:\n"
        "    print('refused:', exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("refused: edge 2 (1000000000 -> 1000000000)")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mean_degree": float("nan")}, "mean_degree must be finite"),
        ({"mean_degree": float("inf")}, "mean_degree must be finite"),
        ({"mean_degree": 0.0}, r"mean_degree must lie in \(0, n=100\)"),
        ({"mean_degree": "20"}, "mean_degree must be a real number"),
        ({"mixing": float("nan")}, "mixing must be finite"),
        ({"mixing": 1.0}, r"mixing must lie in \[0, 1\)"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"seed": "x"}, "seed must be None"),
    ],
)
def test_make_block_graph_refuses_bad_parameters(kwargs, message):
    with pytest.raises(FastclustError, match=message):
        fg.make_block_graph(100, 2, **kwargs)


def test_make_block_graph_seed_rule_keeps_the_same_graph():
    # as_generator(int) is default_rng(int): the generated graphs (and the demo files) are unchanged
    A, _ = fg.make_block_graph(200, 2, seed=7)
    B, _ = fg.make_block_graph(200, 2, seed=np.int64(7))
    C, _ = fg.make_block_graph(200, 2, seed=np.random.default_rng(7))
    assert (A != B).nnz == 0 and (A != C).nnz == 0
