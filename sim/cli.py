"""Shared entry-point wrapper for the command-line tools."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


def run_main(main: Callable[[], int]) -> None:
    """``sys.exit(main())``, quietly when the reader of stdout goes away (``| head``)."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    sys.exit(code)
