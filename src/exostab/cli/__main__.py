"""``python -m exostab.cli``: the same program as the ``exostab`` console script."""

import sys

from exostab.cli import app

sys.argv[0] = "exostab"
app()
