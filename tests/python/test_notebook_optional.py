"""dashfeed.notebook is an optional extra: ``import dashfeed`` works without anywidget, and importing
``dashfeed.notebook`` then says how to install it. Not skipped when anywidget is missing (that is exactly
the case it covers): the child interpreter hides anywidget either way."""

from __future__ import annotations

import subprocess
import sys


def test_import_dashfeed_works_without_anywidget() -> None:
    code = (
        "import sys; sys.modules['anywidget'] = None\n"
        "import dashfeed\n"
        "try:\n    import dashfeed.notebook\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert 'pip install "dashfeed[notebook]"' in out.stdout, out.stdout + out.stderr
