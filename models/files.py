"""Opening a user's input file (a regular file only, under a size cap) and choosing an
output file (never anything but a regular file).

A named pipe would block a reader forever, ``/dev/zero`` or ``/dev/urandom`` would fill
memory, a folder would raise deep inside a parser: :func:`check_input_file` turns each into
one line naming the file, before anything is read.
"""

from __future__ import annotations

import stat
from pathlib import Path

from models.errors import InputError

__all__ = ["MAX_INPUT_BYTES", "check_input_file", "check_output_file"]

MAX_INPUT_BYTES = 2 * 1024**3  # 2 GiB: far above any trace or table the project reads


def check_input_file(path: str | Path, what: str, max_bytes: int = MAX_INPUT_BYTES) -> Path:
    """``path`` if it is a regular file of at most ``max_bytes``; else InputError naming it
    and ``what`` it should be (``trace``, ``quality cache``, ...)."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(f"{what} not found", str(p)) from None
    except OSError as err:
        raise InputError(f"cannot read {what}: {err.strerror or err}", str(p)) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{what} is a folder, not a file", str(p))
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{what} is not a regular file (a pipe, device or socket)", str(p))
    if st.st_size > max_bytes:
        raise InputError(f"{what} is {st.st_size:,} bytes, above the {max_bytes:,}-byte limit",
                         str(p))
    return p


def check_output_file(path: str | Path, what: str) -> Path:
    """``path`` if a file may be written there: absent or a regular file, in an existing
    folder. Anything else (a device such as ``/dev/full``, a pipe, a folder, a path under a
    file) is an InputError naming it: a writer must never replace what is not a file."""
    p = Path(path)
    try:
        st = p.lstat()
    except FileNotFoundError:
        st = None
    except OSError as err:
        raise InputError(f"cannot write {what} there: {err.strerror or err}", str(p)) from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise InputError(f"cannot write {what} there: {kind}", str(p))
    if not p.parent.is_dir():
        raise InputError(f"cannot write {what} there: no folder {p.parent}", str(p))
    return p
