"""``python -m certpin``: the same as the ``certpin`` command."""

import sys

from .cli import main

sys.exit(main())
