"""Freed heap memory kept mapped for the closed-form engine's temporaries (glibc only).

A closed-form run (:mod:`sim.vectorized`, and the TCP array solver it calls) makes a few
hundred temporary arrays of one float per request: 800 KB each for 100,000 requests.
glibc's ``free`` hands the top of the heap back to the kernel as soon as more than its trim
threshold lies free there, so the next temporary of that size touches fresh pages and
takes a page fault per 4 KiB: on 2 cores (AMD EPYC) about half of the fluid closed form's
time went to these faults, not to arithmetic. :func:`keep_freed_memory` raises glibc's
``M_TOP_PAD`` (how much free memory ``free`` leaves mapped at the top of the heap) to
:data:`TOP_PAD_BYTES`, and sets ``M_MMAP_THRESHOLD`` to 32 MiB (glibc's own ceiling for
its adaptive threshold, which any such ``mallopt`` turns off), so that arrays below it
come from the heap. Process-wide, from the first closed-form run on: the cost is up to
:data:`TOP_PAD_BYTES` of freed memory that stays mapped; a run that restored glibc's
defaults at its end would fault the same pages in again at the next run.

Nothing changes but where memory comes from: every number computed is the same. Elsewhere
than glibc (or where ``mallopt`` cannot be found), or with the environment variable
``SCOUTSIM_KEEP_FREED_MEMORY=0``, nothing is set.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

#: glibc's mallopt parameters (malloc.h)
_M_TOP_PAD, _M_MMAP_THRESHOLD = -2, -3
#: glibc's ceiling for its adaptive mmap threshold on 64-bit (mallopt(3))
_MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
#: free memory kept mapped at the top of the heap
TOP_PAD_BYTES = 64 * 1024 * 1024

_state = {"tried": False, "set": False}


def _mallopt():
    """glibc's ``mallopt``, or None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        fn = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return fn


def keep_freed_memory() -> bool:
    """Set glibc's heap to keep freed memory mapped (once per process; see the module
    docstring); whether it is set."""
    if not _state["tried"]:
        _state["tried"] = True
        fn = None if os.environ.get("SCOUTSIM_KEEP_FREED_MEMORY") == "0" else _mallopt()
        if fn is not None:
            fn(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
            fn(_M_TOP_PAD, TOP_PAD_BYTES)
            _state["set"] = True
    return _state["set"]
