"""Run the course-style tests the way a Gradescope autograder does, and print the results as JSON.

    python -I run_autograder.py [--block-numba]

This file is copied into the grader's source folder, next to the student's files
(``KMeans.py``, ``political_blogs_clustering.py``, ...) and a ``tests/`` folder
holding the ``course_*.py`` unittest files. Gradescope runs its ``run_tests.py``
from that folder, so the student's modules import as top-level modules; under
``python -I`` the script's folder is not on ``sys.path``, so it is put there
explicitly, as the grader's script location would put it.

``--block-numba`` makes numba unimportable before anything can import it, as on
a grader without numba. The last line of output is one JSON object: every test
with its score (the ``@weight`` of the course's decorator, 1 by default),
whether numba or an installed ``fastclust`` were imported, and the wall time.
"""

from __future__ import annotations

import sys

if "--block-numba" in sys.argv:
    sys.modules["numba"] = None  # type: ignore[assignment]  # `import numba` now raises ImportError

import io
import json
import platform
import time
import traceback
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


class ScoringResult(unittest.TextTestResult):
    """Records every test's outcome with its weight, like gradescope_utils' JSONTestRunner."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.records: list[dict[str, object]] = []

    def _record(self, test: unittest.TestCase, status: str, output: str = "") -> None:
        method_name = getattr(test, "_testMethodName", None)
        if method_name is None:  # a failed setUpClass or module import: unittest reports a placeholder
            points, name = 1.0, str(test)
        else:
            points = float(getattr(getattr(test, method_name, None), "__weight__", 1))
            name = f"{type(test).__module__}.{type(test).__name__}.{method_name}"
        score = points if status == "passed" else 0.0
        self.records.append({"name": name, "max_score": points, "score": score, "status": status, "output": output})

    def addSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802 - unittest's API
        super().addSuccess(test)
        self._record(test, "passed")

    def addFailure(self, test: unittest.TestCase, err) -> None:  # noqa: N802
        super().addFailure(test, err)
        self._record(test, "failed", "".join(traceback.format_exception(*err)))

    def addError(self, test: unittest.TestCase, err) -> None:  # noqa: N802
        super().addError(test, err)
        self._record(test, "failed", "".join(traceback.format_exception(*err)))

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:  # noqa: N802
        super().addSkip(test, reason)
        self._record(test, "skipped", reason)


def main() -> int:
    t0 = time.perf_counter()
    tests = str(HERE / "tests")
    suite = unittest.defaultTestLoader.discover(tests, pattern="course_*.py", top_level_dir=tests)
    stream = io.StringIO()
    runner = unittest.TextTestRunner(stream=stream, resultclass=ScoringResult, verbosity=2)
    result = runner.run(suite)
    assert isinstance(result, ScoringResult)
    records = sorted(result.records, key=lambda r: str(r["name"]))
    embedded = sorted(m for m in sys.modules if m.startswith("_fastclust_embedded_") and "." not in m)
    summary = {
        "tests": records,
        "score": sum(float(r["score"]) for r in records),  # type: ignore[arg-type]
        "max_score": sum(float(r["max_score"]) for r in records),  # type: ignore[arg-type]
        "seconds": time.perf_counter() - t0,
        "python": platform.python_version(),
        "modules": {
            "numba": sys.modules.get("numba") is not None,
            "fastclust": "fastclust" in sys.modules,
            "sklearn.cluster": "sklearn.cluster" in sys.modules,
            "embedded": embedded,
        },
    }
    sys.stderr.write(stream.getvalue())
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
