"""Run the ``cxcore`` command: ``python -m cxcore``."""

import sys

from cxcore.cli import main

if __name__ == "__main__":
    sys.exit(main())
