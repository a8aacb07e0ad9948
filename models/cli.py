"""The one scaffold every ``python -m`` entry point is built on.

- :class:`Parser`: an argparse parser whose errors raise :class:`~models.errors.InputError`
  (one line, no usage dump), for sub-commands too (``add_subparsers`` inherits it).
- :func:`make_parser` and :func:`add_common`: flags that many tools share (``--out``,
  ``--seed``, ``--requests``, ``--json``, ``--quiet``) declared once, here.
- :func:`command`: wraps ``main(argv) -> int`` so bad input prints ``error: ...`` on one
  line and returns 2, and Ctrl-C prints ``interrupted`` and returns 130.
- :func:`run_main`: ``sys.exit`` of a wrapped main, quiet when stdout's reader goes away
  (``| head``).
- :func:`progress`: a tqdm bar on stderr for a long loop, shown only on a terminal and
  without ``--quiet``.
- :func:`json_value`: a number as ``--json`` output writes it (NaN -> null, infinities ->
  ``"inf"``/``"-inf"``, numpy scalars -> Python ones).

It lives in ``models`` (the bottom of the import graph) so that the tools of every layer
can use it; ``sim.cli`` re-exports it.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from models.errors import InputError

Main = Callable[[list[str] | None], int]


class Parser(argparse.ArgumentParser):
    """An argument parser that raises :class:`InputError` instead of printing usage."""

    def error(self, message: str) -> NoReturn:  # one line, exit 2, no usage dump
        raise InputError(message)

    def add_subparsers(self, **kwargs: Any):  # sub-commands raise the same way
        kwargs.setdefault("parser_class", Parser)
        return super().add_subparsers(**kwargs)


#: flag name -> (argparse keyword arguments); override any keyword in add_common
COMMON: dict[str, dict[str, Any]] = {
    "out": {"help": "output folder"},
    "seed": {"type": int, "default": 0, "help": "random seed"},
    "requests": {"type": int, "help": "requests per run"},
    "json": {"action": "store_true", "help": "print JSON instead of a table"},
    "quiet": {"action": "store_true", "help": "no progress output"},
}


def add_common(parser: argparse.ArgumentParser, name: str, *flags: str, **overrides: Any
               ) -> argparse.Action:
    """Add the shared flag ``--name`` (extra spellings in ``flags``), with its usual type
    and help unless ``overrides`` change them."""
    if name not in COMMON:
        raise KeyError(f"no common flag {name!r}; known: {', '.join(COMMON)}")
    kw = {**COMMON[name], **overrides}
    return parser.add_argument(*flags, "--" + name.replace("_", "-"), **kw)


def make_parser(prog: str, doc: str | None, *, common: Iterable[str] = (),
                **kwargs: Any) -> Parser:
    """A :class:`Parser` for ``python -m prog`` described by the first paragraph of ``doc``,
    with the shared flags named in ``common``."""
    description = None
    if doc and doc.strip():  # the first paragraph (a sentence may wrap onto later lines)
        description = " ".join(doc.strip().split("\n\n")[0].split())
    parser = Parser(prog=prog, description=description, **kwargs)
    for name in common:
        add_common(parser, name)
    return parser


def progress(items: Iterable[Any], *, desc: str, quiet: bool = False,
             total: int | None = None, unit: str = "it") -> Iterable[Any]:
    """``items`` behind a tqdm bar on stderr when stderr is a terminal and not ``quiet``;
    otherwise ``items`` unchanged (no output in pipes, logs and tests)."""
    if quiet or not sys.stderr.isatty():
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, total=total, unit=unit, file=sys.stderr, leave=False)


def json_value(v: Any) -> Any:
    """``v`` for ``json.dumps`` in ``--json`` output: a numpy scalar as a Python one, NaN as
    None (null), an infinity as the string ``"inf"`` or ``"-inf"``; anything else as is."""
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def command(main: Main) -> Main:
    """Wrap ``main(argv) -> int``: InputError -> ``error: ...`` on stderr and 2;
    Ctrl-C -> ``interrupted`` and 130."""

    @functools.wraps(main)
    def wrapped(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except InputError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130

    return wrapped


def run_main(main: Main | Callable[[], int]) -> NoReturn:
    """``sys.exit(main())`` with :func:`command`'s handling, quietly when the reader of
    stdout goes away (``| head``)."""
    try:
        code = command(main)(None)  # type: ignore[arg-type]
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    sys.exit(code)
