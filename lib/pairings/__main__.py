"""``python -m pairings``: the command line (``pairings.run.cli``)."""

import sys

from pairings.run.cli import main

if __name__ == "__main__":
    sys.exit(main())
