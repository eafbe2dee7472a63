"""`python -m vrl ...`: the `vrl` console script, for environments without its launcher."""

import sys

from vrl import cli

if __name__ == "__main__":
    sys.exit(cli.main())
