"""Shared entry-point scaffold for the command-line tools (defined in :mod:`models.cli`,
the bottom layer, so that tools of every layer share it)."""

from __future__ import annotations

from models.cli import COMMON, Parser, add_common, command, make_parser, run_main

__all__ = ["COMMON", "Parser", "add_common", "command", "make_parser", "run_main"]
