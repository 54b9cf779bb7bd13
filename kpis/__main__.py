"""`python -m kpis`: the command line (kpis/cli)."""

import sys

from kpis.cli import main

if __name__ == "__main__":
    sys.exit(main())
