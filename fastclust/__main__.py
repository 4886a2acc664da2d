"""``python -m fastclust``: the command line (see :mod:`fastclust.cli`)."""

import sys

from .cli import main

sys.exit(main())
