"""``python -m experiments.figures ...``: see :mod:`experiments.figures`."""

from experiments.figures.cli import main
from models.cli import run_main

if __name__ == "__main__":
    run_main(main)
