"""`python -m swarmlab.cli`: the `swarmlab` command."""
import sys

from . import main

if __name__ == "__main__":  # not when a tool merely imports every module of the package
    sys.exit(main())
