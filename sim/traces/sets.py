"""Named trace sets: the lists of uplink traces the experiments run on, defined once here.

Sets (:data:`SETS`; ``python -m sim.traces.sets [NAME]`` lists them and says which files
are missing):

- ``synthetic``: the four shipped synthetic uplink traces in ``traces/`` (``lte``, ``5g``,
  ``3g``, ``broadband``), one realisation each of a model fitted to real traces
  (``traces/README.md`` and ``traces/params.json`` give the sources and the fit).
- ``mahimahi-up``: the mahimahi cellular traces measured on the **uplink** (``.up``):
  Saturator recordings of US LTE / UMTS / EV-DO while driving (Winstein et al., NSDI 2013;
  ``ATT-LTE-driving-2016`` added later), from github.com/ravinet/mahimahi ``traces/``.
  ``TMobile-LTE-driving.up`` and ``Verizon-LTE-driving.up`` are not in the copy (4 MiB or
  larger).
- ``nyu-mets``: NYU-METS LTE on NYC subway, bus and rail (c. 2018), iPerf throughput logged
  on the server side, i.e. phone -> server, the uplink (an inference from the dataset's
  README: ``traces/README.md``), from github.com/NYU-METS/Main.
- ``real-uplink``: ``mahimahi-up`` then ``nyu-mets``: every real trace in ``../shared/traces``
  measured on the uplink (the downlink-only families are left out).
- ``uplink``: ``synthetic`` then ``real-uplink`` (the README's adaptive table and the
  INT8-vs-Scout grid).

The real traces are not shipped (licences, size): they are read in place from
``../shared/traces`` beside the checkout (``REPO_ROOT.parent / "shared" / "traces"``, whose
README gives every file's source, licence and statistics). :func:`resolve` turns a set name
into trace paths relative to the repository root (``traces/lte.csv``,
``../shared/traces/mahimahi/ATT-LTE-driving.up``: relative, so sweep keys stay machine
independent) in the set's order, and skips the files that are missing (or reports them:
``missing="error"``); :func:`missing` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models.errors import InputError, unknown_name
from sim.scenario import REPO_ROOT

__all__ = ["SETS", "SHARED_TRACES", "SHARED_TRACES_REL", "TraceEntry", "entries", "find",
           "missing", "resolve", "set_names"]

#: the real traces: ../shared/traces beside the checkout
SHARED_TRACES = REPO_ROOT.parent / "shared" / "traces"
#: the same folder as trace paths name it (relative to the repository root)
SHARED_TRACES_REL = "../shared/traces"


@dataclass(frozen=True)
class TraceEntry:
    """One trace of a set: where it lies and how tables name it."""

    rel: str  # path relative to its base: the repository root, or the shared traces folder
    label: str  # e.g. "lte (synthetic)", "mahimahi ATT-LTE-driving.up", "nyu-mets 7Train1"
    shared: bool = False  # True: rel is relative to ../shared/traces

    @property
    def name(self) -> str:
        """The file name (``lte.csv``, ``ATT-LTE-driving.up``)."""
        return Path(self.rel).name

    def path(self, shared_traces: str | Path | None = None) -> str:
        """The trace path as a Scenario takes it: relative to the repository root, or in
        ``shared_traces`` when given (a folder laid out like ``../shared/traces``; the
        default folder, however spelled, gives the relative path)."""
        if not self.shared:
            return self.rel
        base = SHARED_TRACES_REL
        if shared_traces is not None and _real(Path(shared_traces)) != _real(SHARED_TRACES):
            base = str(shared_traces).rstrip("/")
        return f"{base}/{self.rel}"

    def file(self, shared_traces: str | Path | None = None) -> Path:
        """The absolute file (whether or not it exists)."""
        if not self.shared:
            return REPO_ROOT / self.rel
        base = SHARED_TRACES if shared_traces is None else Path(shared_traces)
        return (base if base.is_absolute() else REPO_ROOT / base) / self.rel

    def exists(self, shared_traces: str | Path | None = None) -> bool:
        return self.file(shared_traces).is_file()


def _synthetic(kind: str) -> TraceEntry:
    return TraceEntry(f"traces/{kind}.csv", f"{kind} (synthetic)")


def _mahimahi(name: str) -> TraceEntry:
    return TraceEntry(f"mahimahi/{name}", f"mahimahi {name}", shared=True)


def _nyu(name: str) -> TraceEntry:
    return TraceEntry(f"nyu-mets-lte/{name}.csv", f"nyu-mets {name}", shared=True)


#: set name -> its traces, in order (the order of every table built on the set)
SETS: dict[str, tuple[TraceEntry, ...]] = {
    "synthetic": tuple(_synthetic(k) for k in ("lte", "5g", "3g", "broadband")),
    "mahimahi-up": tuple(_mahimahi(n) for n in (
        "ATT-LTE-driving.up", "ATT-LTE-driving-2016.up", "TMobile-LTE-short.up",
        "TMobile-UMTS-driving.up", "Verizon-EVDO-driving.up")),
    "nyu-mets": tuple(_nyu(n) for n in (
        "7Train1", "7Train2", "Long_Island_Rail_Road", "QTrain", "bus57", "bus62", "bus62_2")),
}
SETS["real-uplink"] = SETS["mahimahi-up"] + SETS["nyu-mets"]
SETS["uplink"] = SETS["synthetic"] + SETS["real-uplink"]


def set_names() -> list[str]:
    return list(SETS)


def entries(name: str) -> list[TraceEntry]:
    """Every trace of set ``name`` (present or not), in order; InputError for an unknown
    name (listing the known ones)."""
    if name not in SETS:
        raise unknown_name("trace set", name, list(SETS))
    return list(SETS[name])


def missing(name: str, shared_traces: str | Path | None = None) -> list[TraceEntry]:
    """The traces of set ``name`` whose file is absent."""
    return [e for e in entries(name) if not e.exists(shared_traces)]


def resolve(name: str, *, missing: str = "skip",
            shared_traces: str | Path | None = None) -> list[str]:
    """The trace paths of set ``name`` (relative to the repository root unless
    ``shared_traces`` is given), in the set's order. Files that are absent are skipped
    (``missing="skip"``), or raise an InputError naming them (``missing="error"``)."""
    if missing not in ("skip", "error"):
        raise ValueError(f"missing must be 'skip' or 'error', not {missing!r}")
    found, absent = [], []
    for e in entries(name):
        (found if e.exists(shared_traces) else absent).append(e)
    if absent and missing == "error":
        where = ", ".join(str(e.file(shared_traces)) for e in absent)
        raise InputError(f"trace set {name!r}: {len(absent)} of {len(SETS[name])} files "
                         f"missing: {where}")
    return [e.path(shared_traces) for e in found]


def find(path: str | Path, shared_traces: str | Path | None = None) -> TraceEntry | None:
    """The entry (in any set) of the trace file ``path`` (any spelling of it: relative to
    the working directory or to the repository, or absolute), else None."""
    from sim.scenario import resolve_path

    target = _real(resolve_path(str(path)))
    for e in SETS["uplink"]:
        if _real(e.file(shared_traces)) == target:
            return e
    return None


def _real(p: Path) -> Path:
    try:
        return p.resolve()
    except OSError:  # pragma: no cover - unreadable path components
        return p.absolute()


def main(argv: list[str] | None = None) -> int:
    from models.cli import make_parser

    ap = make_parser("python -m sim.traces.sets", __doc__)
    ap.add_argument("name", nargs="?", help="a set (default: every set)")
    args = ap.parse_args(argv)
    for name in [args.name] if args.name else list(SETS):
        es = entries(name)
        absent = {e.rel for e in missing(name)}
        print(f"{name}: {len(es) - len(absent)} of {len(es)} traces present")
        for e in es:
            print(f"  {e.path():<55} {e.label}" + ("  (missing)" if e.rel in absent else ""))
    return 0


if __name__ == "__main__":
    from models.cli import run_main

    run_main(main)
