"""Q3 as the course's autograder tests it: ``from KMeans import KMeansImpl``, unittest, weights.

Runs in the grader's folder, which holds the student's files, ``football.bmp`` and
a second colour image (see ``run_autograder.py``). Nothing here imports fastclust:
every property is checked from the returned arrays alone.
"""

from __future__ import annotations

import os
import unittest

import numpy as np
from KMeans import KMeansImpl
from PIL import Image

try:  # the course's decorator when the grader has it, else the same attribute
    from gradescope_utils.autograder_utils.decorators import weight
except ImportError:

    def weight(points):
        def mark(fn):
            fn.__weight__ = points
            return fn

        return mark


SECOND_IMAGES = ("parrots.png", "beach.bmp", "flower.jpg")
KS = (3, 6, 12, 24, 48)
KEYS = {"class", "centroid", "img", "number_of_iterations", "time_taken", "additional_args"}
ADDITIONAL = {"k_final", "seed", "metric", "objective", "mse", "psnr", "converged"}


def rows_of(pixels):
    """The pixels as the (n, 3) float rows the class clustered (alpha dropped, grey as three channels)."""
    arr = np.asarray(pixels, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] != 3:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return arr[..., :3].reshape(-1, 3)


class TestKMeansImpl(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.impl = KMeansImpl()
        cls.football = cls.impl.load_image("football.bmp")
        second = [n for n in SECOND_IMAGES if os.path.exists(n)]
        cls.second_name = second[0]
        cls.second = cls.impl.load_image(second[0])

    def check_contract(self, pixels, out, k):
        self.assertEqual(set(out), KEYS)
        n = rows_of(pixels).shape[0]
        cls_, centroid, img = out["class"], out["centroid"], out["img"]
        self.assertEqual(cls_.shape, (n, 1))
        self.assertTrue(np.issubdtype(cls_.dtype, np.integer))
        k_final = centroid.shape[0]
        self.assertTrue(1 <= k_final <= k)
        self.assertEqual(set(np.unique(cls_).tolist()), set(range(1, k_final + 1)))  # 1-based, all used
        self.assertEqual(centroid.shape, (k_final, 3))
        self.assertTrue(np.issubdtype(centroid.dtype, np.floating))
        self.assertTrue(0 <= centroid.min() and centroid.max() <= 255)
        self.assertEqual(img.shape, np.shape(pixels))
        self.assertEqual(img.dtype, np.uint8)
        recon = np.rint(centroid).astype(np.uint8)[cls_.ravel() - 1]
        flat = img.reshape(n, -1)
        width = min(3, flat.shape[1])  # grey: one channel; RGBA: alpha after the colours
        self.assertTrue(np.array_equal(flat[:, :width], recon[:, :width]))
        self.assertIsInstance(out["number_of_iterations"], int)
        self.assertGreaterEqual(out["number_of_iterations"], 1)
        self.assertIsInstance(out["time_taken"], float)
        self.assertGreaterEqual(out["time_taken"], 0.0)
        self.assertTrue(ADDITIONAL <= set(out["additional_args"]))
        self.assertEqual(out["additional_args"]["k_final"], k_final)

    def check_fixed_point(self, pixels, out, norm):
        """Every pixel sits with its nearest centroid; every centroid is the mean (L2) or a median (L1)."""
        X = rows_of(pixels)
        labels = out["class"].ravel() - 1
        C = out["centroid"]
        self.assertTrue(out["additional_args"]["converged"])
        diff = X[:, None, :] - C[None, :, :]
        dist = (diff * diff).sum(axis=2) if norm == 2 else np.abs(diff).sum(axis=2)
        own = dist[np.arange(X.shape[0]), labels]
        self.assertTrue(np.all(own <= dist.min(axis=1) + 1e-9 * (1 + dist.max())), "a pixel has a nearer centroid")
        for j in range(C.shape[0]):
            members = X[labels == j]
            if norm == 2:
                np.testing.assert_allclose(C[j], members.mean(axis=0), rtol=0, atol=1e-9)
            else:
                half = members.shape[0] / 2
                self.assertTrue(np.all((members < C[j]).sum(axis=0) <= half), f"centroid {j} is not a median")
                self.assertTrue(np.all((members > C[j]).sum(axis=0) <= half), f"centroid {j} is not a median")

    @weight(1)
    def test_default_image_is_the_students_own_full_colour_image(self):
        img = self.impl.load_image()
        self.assertEqual(img.ndim, 3)
        self.assertEqual(img.shape[2], 3)
        self.assertEqual(img.dtype, np.uint8)
        self.assertGreaterEqual(max(img.shape[:2]), 200)
        self.assertGreaterEqual(min(img.shape[:2]), 150)
        self.assertGreater(len(np.unique(img.reshape(-1, 3), axis=0)), 1000)
        self.assertFalse(np.array_equal(img[..., 0], img[..., 1]), "a grey image")

    @weight(1)
    def test_load_image_gives_the_scaffolds_array(self):
        for name in ("football.bmp", self.second_name):
            with Image.open(name) as opened:
                expected = np.array(opened.convert("RGB"))
            self.assertTrue(np.array_equal(self.impl.load_image(name), expected), name)

    @weight(2)
    def test_football_both_norms(self):
        for norm in (2, 1):
            out = self.impl.compress(self.football, 6, norm)
            self.check_contract(self.football, out, 6)
            self.assertEqual(out["additional_args"]["metric"], "l2" if norm == 2 else "l1")

    @weight(3)
    def test_q3_grid_on_the_second_image(self):
        for norm in (2, 1):
            for k in KS:
                out = self.impl.compress(self.second, k, norm_distance=norm)
                self.check_contract(self.second, out, k)

    @weight(1)
    def test_input_forms_give_the_same_clusters(self):
        crop = self.football[100:140, 200:250]
        alpha = (np.arange(crop.shape[0] * crop.shape[1]) % 256).reshape(crop.shape[:2]).astype(np.uint8)
        reference = self.impl.compress(crop, 5)
        forms = {
            "int32": crop.astype(np.int32),
            "float64": crop.astype(np.float64),
            "(n, 3)": crop.reshape(-1, 3),
            "RGBA": np.dstack([crop, alpha]),
        }
        for name, pixels in forms.items():
            out = self.impl.compress(pixels, 5)
            self.check_contract(pixels, out, 5)
            self.assertTrue(np.array_equal(out["class"], reference["class"]), name)
            self.assertTrue(np.array_equal(out["centroid"], reference["centroid"]), name)
        self.assertTrue(np.array_equal(self.impl.compress(forms["RGBA"], 5)["img"][..., 3], alpha))
        grey = crop[..., 1]
        out = self.impl.compress(grey, 4)
        self.check_contract(grey, out, 4)
        self.assertTrue(np.array_equal(out["centroid"][:, 0], out["centroid"][:, 2]))

    @weight(1)
    def test_two_colour_image_reduces_k(self):
        two = np.zeros((20, 30, 3), dtype=np.uint8)
        two[:, :12] = (200, 30, 40)
        two[:, 12:] = (10, 90, 250)
        for norm in (2, 1):
            out = self.impl.compress(two, 5, norm)
            self.check_contract(two, out, 5)
            self.assertEqual(out["centroid"].shape[0], 2)
            self.assertLess(out["centroid"].shape[0], 5)
            self.assertEqual(sorted(map(tuple, out["centroid"].tolist())), [(10.0, 90.0, 250.0), (200.0, 30.0, 40.0)])

    @weight(1)
    def test_deterministic(self):
        for norm in (2, 1):
            a = self.impl.compress(self.second, 12, norm)
            b = KMeansImpl().compress(self.second, 12, norm)
            self.assertTrue(np.array_equal(a["class"], b["class"]))
            self.assertTrue(np.array_equal(a["centroid"], b["centroid"]))
            self.assertEqual(a["number_of_iterations"], b["number_of_iterations"])

    @weight(2)
    def test_fixed_point_on_image_pixels(self):
        crop = self.second[40:120, 60:160]
        for norm in (2, 1):
            self.check_fixed_point(crop, self.impl.compress(crop, 8, norm), norm)

    @weight(2)
    def test_fixed_point_on_fractional_values(self):
        rng = np.random.default_rng(3)
        pixels = rng.uniform(0, 255, size=(30, 40, 3))
        for norm in (2, 1):
            out = self.impl.compress(pixels, 7, norm)
            self.check_contract(pixels, out, 7)
            self.check_fixed_point(pixels, out, norm)

    @weight(1)
    def test_non_integral_k_is_refused(self):
        with self.assertRaises(ValueError):
            self.impl.compress(self.second, 2.7)
        with self.assertRaises(ValueError):
            self.impl.compress(self.second, 4, norm_distance=3)
        self.assertEqual(self.impl.compress(self.second, 3.0)["centroid"].shape[0], 3)
