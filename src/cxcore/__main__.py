"""Run the ``cxcore`` command: ``python -m cxcore``."""

import sys

from cxcore.cli import main

sys.exit(main())
