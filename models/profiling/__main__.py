"""``python -m models.profiling``: the same command line as ``python -m models.profile``."""

from models.cli import run_main
from models.profiling.cli import main

if __name__ == "__main__":
    run_main(main)
