"""``python -m experiments.sweep SPEC ...``: see :mod:`experiments.sweep`."""

from experiments.sweep.cli import main
from models.cli import run_main

if __name__ == "__main__":
    run_main(main)
