"""``python -m mabprune``: the command-line interface (see :mod:`mabprune.cli`)."""

import sys

from .cli import main

sys.exit(main())
