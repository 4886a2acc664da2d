"""Build dist/submission.zip: submission/ plus a vendored fastclust/, nothing else.

    python reports/make_submission.py [--out dist/submission.zip]

The zip is self-contained (graders need only numpy, scipy, scikit-learn and
Pillow; numba is used when present). Caches, data and outputs are left out.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("submission", "fastclust")


def source_files(package: str) -> list[Path]:
    """The package's .py files, sorted, without caches."""
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def build(out: Path) -> Path:
    """Write the zip atomically (temp file + rename) with fixed timestamps, so it is reproducible."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".zip.tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for package in PACKAGES:
                for path in source_files(package):
                    info = zipfile.ZipInfo(str(path.relative_to(ROOT)), date_time=(2020, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, path.read_bytes())
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "submission.zip")
    args = parser.parse_args(argv)
    path = build(args.out)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    print(f"{path}: {len(names)} files ({', '.join(PACKAGES)})")


if __name__ == "__main__":
    main()
