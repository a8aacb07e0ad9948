"""Settings files: one TOML/YAML reader for configs, sweep specs and topologies.

Below :mod:`sim.scenario` and :mod:`sim.network.topology` (both read settings files), so
neither has to import the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.errors import InputError
from models.files import check_input_file

MAX_SETTINGS_BYTES = 10 * 1024**2  # a config, spec or topology is text a person writes


def parse_settings_file(path: Path, what: str) -> tuple[Any, str]:
    """Parse a TOML or YAML file of settings (a ``config`` or a sweep ``spec``): returns the
    parsed data and the text; one-line InputError naming the file (and line) otherwise."""
    ps = str(path)
    check_input_file(path, f"{what} file", max_bytes=MAX_SETTINGS_BYTES)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read {what}: {err}", ps) from None
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise InputError(f"{what} must be .toml, .yaml or .yml", ps)
    try:
        if suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib  # type: ignore[no-redef]
            return tomllib.loads(text), text
        import yaml

        if any(isinstance(t, yaml.AliasToken) for t in yaml.scan(text)):
            raise InputError(f"{what}: YAML aliases (*name) are not supported; write the "
                             "values out", ps)
        return (yaml.safe_load(text) or {}), text
    except InputError:
        raise
    except Exception as err:  # parser errors carry the line in their message
        line = getattr(getattr(err, "problem_mark", None), "line", None)
        raise InputError(f"cannot parse {what}: {str(err).splitlines()[0]}", ps,
                         None if line is None else line + 1) from None
