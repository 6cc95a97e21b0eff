"""`python -m dashfeed demo`: the same as the `dashfeed` console script."""

import sys

from .cli import main

sys.exit(main())
