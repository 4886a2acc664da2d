"""Print pyproject.toml's dependencies (plus extras), minus some: tox's numpy env installs from this.

    python .ci/requirements.py --extra dev --without numba [--out FILE]

One dependency list (pyproject.toml) feeds every install; the env that proves the numpy-only
fallback installs fastclust itself with --no-deps and these requirements, so numba never arrives.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]


def requirements(extras: list[str], without: list[str]) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    drop = {name.lower() for name in without}
    return [r for r in reqs if re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower() not in drop]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--extra", action="append", default=[], help="an optional-dependencies group to add")
    parser.add_argument("--without", action="append", default=[], help="a distribution name to leave out")
    parser.add_argument("--out", type=Path, help="write here instead of to stdout (tox runs no shell)")
    args = parser.parse_args(argv)
    text = "".join(f"{r}\n" for r in requirements(args.extra, args.without))
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
