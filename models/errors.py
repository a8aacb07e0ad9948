"""Input errors shared by every layer (models is the bottom of the import graph)."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: a file, flag or name the tool cannot use.

    The CLI prints ``str(err)`` as one line and exits with code 2, so the message must
    name the file (and line) when there is one and say what is wrong.
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.message = message
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)


def unknown_name(kind: str, name: str, known: list[str] | tuple[str, ...]) -> InputError:
    """An InputError for a name that is not in a registry, listing the valid ones."""
    return InputError(f"unknown {kind} {name!r}; known: {', '.join(sorted(known))}")
