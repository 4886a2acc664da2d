"""Q4 as the course's autograder tests it: ``from political_blogs_clustering import PoliticalBlogsClustering``.

Runs in the grader's folder, with ``data/nodes.txt`` and ``data/edges.txt``.
``GRADER_DATA=course`` says those are the course's files: only then does the
k = 2 mismatch threshold apply (a stand-in graph has other rates).
"""

from __future__ import annotations

import os
import unittest

from political_blogs_clustering import PoliticalBlogsClustering

try:  # the course's decorator when the grader has it, else the same attribute
    from gradescope_utils.autograder_utils.decorators import weight
except ImportError:

    def weight(points):
        def mark(fn):
            fn.__weight__ = points
            return fn

        return mark


KS = (2, 5, 10, 30, 50)


def two_decimals(x):
    return round(x, 2) == x


class TestPoliticalBlogsClustering(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.impl = PoliticalBlogsClustering()
        cls.results = {k: cls.impl.find_majority_labels(k) for k in KS}

    def check_format(self, out, k):
        self.assertEqual(set(out), {"overall_mismatch_rate", "mismatch_rates"})
        overall = out["overall_mismatch_rate"]
        self.assertIs(type(overall), float)
        self.assertTrue(two_decimals(overall) and 0 <= overall <= 1)
        rows = out["mismatch_rates"]
        self.assertIsInstance(rows, list)
        self.assertTrue(1 <= len(rows) <= k)
        for row in rows:
            self.assertEqual(set(row), {"majority_index", "mismatch_rate"})
            self.assertIs(type(row["majority_index"]), int)
            self.assertIn(row["majority_index"], (0, 1))
            self.assertIs(type(row["mismatch_rate"]), float)
            self.assertTrue(two_decimals(row["mismatch_rate"]) and 0 <= row["mismatch_rate"] <= 0.5)
        rates = [r["mismatch_rate"] for r in rows]
        # the overall rate is the size-weighted mean of the cluster rates (each rounded by at most 0.005)
        self.assertTrue(min(rates) - 0.01 <= overall <= max(rates) + 0.01)

    @weight(2)
    def test_default_k_is_two(self):
        out = self.impl.find_majority_labels()
        self.check_format(out, 2)
        self.assertEqual(out, self.results[2])

    @weight(3)
    def test_every_k(self):
        for k, out in self.results.items():
            self.check_format(out, k)

    @weight(1)
    def test_deterministic(self):
        self.assertEqual(PoliticalBlogsClustering().find_majority_labels(5), self.results[5])

    @weight(2)
    @unittest.skipUnless(os.environ.get("GRADER_DATA") == "course", "the threshold holds on the course's graph only")
    def test_two_clusters_match_the_parties(self):
        out = self.results[2]
        self.assertLessEqual(out["overall_mismatch_rate"], 0.06)
        self.assertEqual(sorted(r["majority_index"] for r in out["mismatch_rates"]), [0, 1])

    @weight(1)
    def test_non_integral_k_is_refused(self):
        with self.assertRaises(ValueError):
            self.impl.find_majority_labels(2.5)
