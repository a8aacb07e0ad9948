"""Per-trace statistics of every file in ``../shared/traces``, as a Markdown table.

Run from the repo root::

    python traces/stats_table.py            # print the table
    python traces/stats_table.py --write    # replace the table in traces/README.md

Every file is read with :func:`sim.traces.read_trace` (format named per folder; multi-series
files once per series: 5Gophers by carrier / connection count, G-NetTrack once per
direction). Capacity statistics are those of :func:`sim.traces.stats.trace_stats` over the
**1-s means** (``bin_s=1``: time-weighted mean, median, p10, p90, CV, lag-1 and outage
fraction of the capacity averaged over each whole second), so that mahimahi's 1-ms segments,
1-s logs and FCC's 5-s samples are comparable; RTT statistics are time-weighted over the raw
trace. RTT-only files (5Gophers ping logs) give RTT statistics only. A file that cannot be
read is listed with the error.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.cli import command, make_parser, run_main  # noqa: E402
from models.errors import InputError  # noqa: E402
from sim.traces import read_rtt, read_trace  # noqa: E402
from sim.traces.stats import trace_stats, weighted_quantile  # noqa: E402

SHARED = REPO.parent / "shared" / "traces"
README = REPO / "traces" / "README.md"
BEGIN, END = "<!-- stats-table:begin -->", "<!-- stats-table:end -->"

FORMATS = {"mahimahi": "mahimahi", "hsdpa-norway-3g": "cooked", "fcc-broadband": "cooked",
           "puffer": "cooked", "5g-ucc-raca": "gnettrack", "nyu-mets-lte": "nyumets",
           "sabre-4g": "sabre", "5gophers": None}


def series_of(rel: str) -> list[tuple[str, dict]]:
    """(label, read_trace keyword arguments) for each series of a file; ``{"rtt": ...}``
    marks an RTT-only series read with :func:`read_rtt`."""
    folder, name = rel.split("/", 1)
    fmt = FORMATS.get(folder)
    if folder == "5g-ucc-raca":
        return [(f"{d}link", {"fmt": fmt, "direction": d}) for d in ("down", "up")]
    if folder != "5gophers":
        return [("", {"fmt": fmt})]
    if name == "all-carriers_01-throughput.csv":
        return [(f"{c} conn={n}", {"select": {"carrier": c, "num_tcp_conn": n}})
                for c in ("SPRINT", "TMOBILE", "VERIZON") for n in ("1", "8")]
    if "car-driving" in name:
        return [(c, {"select": {"carrier": c}}) for c in ("Sprint", "TMobile", "Verizon")]
    if name == "all-carriers_02-rtt.csv":
        return [(f"{c} {s}", {"rtt": {"carrier": c, "server_location": s}})
                for c in ("SPRINT", "TMOBILE", "VERIZON") for s in ("US-East", "US-West")]
    if name.startswith("mmwave_04-ping-trace"):
        return [("", {"rtt": None})]
    return [("", {})]


def _f(v: float | int | None, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, int):
        return str(v)
    return f"{v:.{digits}f}"


def row(rel: str, label: str, kw: dict) -> str:
    path = SHARED / rel
    name = f"`{rel}`" + (f" {label}" if label else "")
    if "rtt" in kw:
        t, r = read_rtt(path, select=kw["rtt"])
        w = np.diff(np.append(t, t[-1] + (np.median(np.diff(t)) if len(t) > 1 else 1.0)))
        ms = r * 1e3
        cells = ["-"] * 7 + [_f(float(np.dot(w, ms) / w.sum()), 1),
                             _f(weighted_quantile(ms, w, 0.5), 1),
                             _f(weighted_quantile(ms, w, 0.9), 1)]
        return f"| {name} | {_f(float(w.sum()), 0)} | " + " | ".join(cells) + " |"
    trace = read_trace(path, **kw)
    s = trace_stats(trace, bin_s=1.0)
    raw = trace_stats(trace)
    cells = [_f(s["duration_s"], 0), _f(s["mean_mbps"]), _f(s["median_mbps"]),
             _f(s["p10_mbps"]), _f(s["p90_mbps"]), _f(s["cv"], 2), _f(s["lag1_autocorr"], 2),
             _f(s["outage_fraction"], 3), _f(raw["rtt_mean_ms"], 1),
             _f(raw["rtt_median_ms"], 1), _f(raw["rtt_p90_ms"], 1)]
    return f"| {name} | " + " | ".join(cells) + " |"


def table(root: Path = SHARED) -> tuple[str, list[str]]:
    """The Markdown table and the list of files (series) that could not be read."""
    head = ("| file | duration (s) | mean Mbps | median Mbps | p10 Mbps | p90 Mbps | CV | lag-1 "
            "| outage | RTT mean ms | RTT median ms | RTT p90 ms |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines, failed = [head], []
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                   if p.is_file() and p.name != "README.md")
    for rel in files:
        for label, kw in series_of(rel):
            try:
                lines.append(row(rel, label, kw))
            except (InputError, TypeError, ValueError) as err:
                failed.append(f"{rel} {label}: {err}".strip())
                lines.append(f"| `{rel}` {label} | not read: {err} |" + " |" * 10)
    return "\n".join(lines), failed


@command
def main(argv: list[str] | None = None) -> int:
    """Print (or write) the table; returns the exit code (0 ok, 1 a file was not read, 2 bad
    input)."""
    p = make_parser(None, __doc__)  # prog: argparse's default, as before
    p.add_argument("--write", action="store_true", help=f"replace the table in {README}")
    args = p.parse_args(argv)
    if not SHARED.is_dir():
        raise InputError(f"{SHARED} not found")
    text, failed = table()
    if args.write:
        readme = README.read_text()
        a, b = readme.index(BEGIN) + len(BEGIN), readme.index(END)
        README.write_text(readme[:a] + "\n" + text + "\n" + readme[b:])
        print(f"updated {README} ({text.count(chr(10)) - 1} rows)")
    else:
        print(text)
    for f in failed:
        print(f"not read: {f}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    run_main(main)
