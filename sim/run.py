"""Command line: ``python -m sim.run --policy scout,int8 --trace lte``.

A thin layer over :func:`sim.simulation.run`: flags come from :class:`sim.scenario.Scenario`
fields; ``--config FILE`` (TOML/YAML) sets them and flags override it. A comma list in a
numeric flag (``--bandwidth 1,5,20``), ``--context-tokens`` or ``--trace`` runs a grid, one
cell per combination, through the sweep machinery (:mod:`sim.grid.commandline`);
``--print-spec`` prints it as a spec for ``python -m experiments.sweep``. Bad input prints
one line ``error: ...`` on stderr and exits with code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.cli import Parser, add_common, command, json_value, run_main
from models.errors import InputError
from sim.grid.commandline import grid_records, grid_spec, run_grid, spec_toml, split_axes
from sim.scenario import FIELDS, Scenario, coerce, flag_name, load_config, trace_by_name

if TYPE_CHECKING:  # pandas loads with the simulation, not for --help
    import pandas as pd

SUMMARY_JSON_KEYS = (
    "policy", "requests", "hits", "deadline_hit_rate", "hit_rate_ci_low", "hit_rate_ci_high",
    "mean_quality", "quality_among_hits", "utility", "utility_ci_low", "utility_ci_high",
    "p50_latency_s", "p95_latency_s", "p99_latency_s", "mean_payload_bytes",
    "total_payload_bytes", "unfinished", "mode_mix", "quality_source", "compute_source",
    "estimates", "estimate_median_abs_rel_error", "estimate_over_fraction",
)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m sim.run", description=__doc__.splitlines()[0])
    p.add_argument("--config", help="TOML or YAML file of settings (flags override it)")
    add_common(p, "out", help="folder for requests.csv, summary.csv and scenario.json")
    add_common(p, "json", help="print the summary as JSON")
    add_common(p, "quiet", help="no progress bar (it shows only on a terminal)")
    p.add_argument("--force", action="store_true",
                   help="run even when the estimated memory exceeds what is available")
    p.add_argument("--print-spec", action="store_true",
                   help="print the run (or grid) as a sweep spec (TOML) for python -m "
                        "experiments.sweep, and exit")
    p.add_argument("--list-policies", action="store_true",
                   help="print every registered policy with its parameters (name, type, "
                        "default, range, help) and exit")
    defaults = Scenario()
    for name, f in FIELDS.items():
        flag = flag_name(name)
        default = getattr(defaults, name)
        said = "(default" in f.metadata["help"] or default is None
        kw = {"dest": name, "default": None,
              "help": f.metadata["help"] + ("" if said else f" (default: {default})")}
        if str(f.type).startswith("bool"):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        else:
            if "choices" in f.metadata:
                kw["choices"] = f.metadata["choices"]
            p.add_argument(flag, **kw)
    return p


def setting_values(args: argparse.Namespace, skip: Iterable[str] = ()) -> dict[str, Any]:
    """The settings of the config file, then the flags given (coerced), but ``skip``."""
    values = load_config(args.config) if args.config else {}
    for name in FIELDS:
        v = getattr(args, name)
        if v is not None and name not in skip:
            values[name] = coerce(name, v, flag_name(name))
    return values


def scenario_from_args(args: argparse.Namespace) -> Scenario:
    values = setting_values(args)
    if "bandwidth_mbps" in values and values["bandwidth_mbps"] is not None:
        values.setdefault("trace", None)
    if values.get("trace") is not None and values.get("bandwidth_mbps") is None:
        values["trace"] = trace_by_name(values["trace"])  # `--trace lte`: a shipped trace
    return Scenario(**values)


def _fmt(x: float, digits: int = 3) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "-"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return f"{x:.{digits}f}"


def format_table(summary: pd.DataFrame) -> str:
    """A readable table; with a ``trace`` column, one block per trace then the pooled one."""
    if "trace" in summary.columns:
        blocks = []
        for trace, group in summary.groupby("trace", sort=False):
            text = f"== {trace}\n" + _table(group)
            if trace == "(pooled)":
                text += "\nbetween-trace 95% CI of the mean per-trace hit rate: " + ", ".join(
                    f"{r.policy} [{r.trace_ci_low:.3f},{r.trace_ci_high:.3f}] "
                    f"over {int(r.traces)} traces" for r in group.itertuples())
            blocks.append(text)
        return "\n\n".join(blocks)
    return _table(summary)


def _table(summary: pd.DataFrame) -> str:
    """One row per policy; a column widens (never narrows) to fit its widest value, so long
    policy names and large latencies stay apart."""
    cols = [("policy", "<", 14), ("n", ">", 6), ("", "<", 2), ("hit rate [95% CI]", "<", 22),
            ("quality", ">", 8), ("utility", ">", 9), ("p50 s", ">", 9), ("p95 s", ">", 9),
            ("mean bytes", ">", 14)]
    rows = [[str(r.policy), str(r.requests), "",
             f"{r.deadline_hit_rate:.3f} [{r.hit_rate_ci_low:.3f},{r.hit_rate_ci_high:.3f}]",
             _fmt(r.mean_quality), _fmt(r.utility), _fmt(r.p50_latency_s),
             _fmt(r.p95_latency_s), f"{r.mean_payload_bytes:,.0f}"]
            for r in summary.itertuples()]
    return _aligned(cols, rows, rule=True)


def _aligned(cols: list[tuple[str, str, int]], rows: list[list[str]], rule: bool = False
             ) -> str:
    """Columns (header, alignment, minimum width): a right-aligned column keeps one space
    before its widest value, a left-aligned one after it."""
    widths = [max(width, max([len(head)] + [len(r[k]) for r in rows]) + 1)
              for k, (head, _, width) in enumerate(cols)]

    def line(cells: list[str]) -> str:
        return "".join(f"{c:{a}{w}}" for c, (_, a, _w), w in zip(cells, cols, widths,
                                                                   strict=True))

    head = line([h for h, _, _ in cols])
    out = [head.rstrip()] + (["-" * len(head.rstrip())] if rule else [])
    return "\n".join(out + [line(r).rstrip() for r in rows])


def _p(x: float) -> str:
    """A p-value in 3 significant digits; one that underflows to 0 is below 1e-300."""
    return "<1e-300" if x == 0 else f"{x:.3g}"


def format_comparisons(cmp: pd.DataFrame) -> str:
    """Paired tests against the reference policy, Holm-corrected per metric."""
    ref = cmp["reference"].iloc[0]
    cols = [("policy", "<", 14), ("hit diff", ">", 9), ("p(Holm)", ">", 10), ("", "<", 2),
            ("", "<", 27), ("utility diff [95% CI]", ">", 28), ("p(Holm)", ">", 10),
            ("", "<", 2), ("verdict", "<", 0)]
    rows = [[str(r.policy), f"{r.hit_rate_diff:+.3f}", _p(r.hit_p_holm), "", r.hit_verdict,
             f"{r.utility_diff:+.3f} [{r.utility_diff_ci_low:+.3f},"
             f"{r.utility_diff_ci_high:+.3f}]", _p(r.utility_p_holm), "", r.utility_verdict]
            for r in cmp.itertuples()]
    return (f"paired vs {ref} (same requests; McNemar for hits, Wilcoxon for utility; "
            f"Holm over {len(cmp)} policies):\n" + _aligned(cols, rows))


def format_network(result) -> str:
    """Fairness across devices and the busiest links, per policy (network engine)."""
    lines = ["per device: Jain's index of hit rates, min-max, 95% CI of the mean over "
             "devices; busiest links (carried / capacity) and the cloud GPU:",
             "  (links FROM->TO: dN->cell a device's radio link, cell->core the cell's shared "
             "uplink, core->cloud the backhaul (default cell); links.csv lists every link)"]
    for r in result.summary.itertuples():
        links = result.links[result.links["policy"] == r.policy]
        gpu = links[links["link"] == "cloud-gpu"].iloc[0]
        net = links[links["link"] != "cloud-gpu"].dropna(subset=["utilisation"])
        top = net.nlargest(2, "utilisation")
        busiest = ", ".join(f"{x.link} {x.utilisation:.0%}" for x in top.itertuples())
        lines.append(f"  {r.policy:<12} Jain {r.jain_fairness:.3f}  hit {r.user_hit_min:.3f}-"
                     f"{r.user_hit_max:.3f}  [{r.user_ci_low:.3f},{r.user_ci_high:.3f}] over "
                     f"{int(r.users)} devices;  {busiest or 'no constrained link'};  GPU "
                     + (f"{gpu.utilisation:.0%} (mean batch {gpu.mean_batch:.2f})"
                        if gpu.mean_batch > 0 else "idle"))
    return "\n".join(lines)


#: every file ``sim.run --out`` may write; a run removes those it does not write, so a
#: reused folder never mixes two runs
OUT_FILES = ("requests.csv", "summary.csv", "scenario.json", "comparisons.csv", "users.csv",
             "links.csv", "grid.csv", "spec.toml")


def temp_path(out_dir: str, name: str) -> Path:
    """Where :func:`write_files` writes ``name`` before renaming it."""
    return Path(out_dir) / f".{name}.tmp"


def write_files(out_dir: str, files: dict[str, Callable[[Path], Any]]) -> None:
    """Write ``files`` (name -> writer of a path) into ``out_dir``: each to a temp file
    (:func:`temp_path`; a writer may find it written already), then all renamed; then the
    other :data:`OUT_FILES` an earlier run left are removed."""
    out = Path(out_dir)
    tmps: list[tuple[Path, Path]] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, write in files.items():
            tmp = temp_path(out_dir, name)
            tmps.append((tmp, out / name))
            write(tmp)
        for tmp, final in tmps:
            tmp.replace(final)
        for name in set(OUT_FILES) - set(files):
            (out / name).unlink(missing_ok=True)
    except BaseException as err:
        for tmp, _ in tmps:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _unwritable(err, out_dir) from None
        raise


def _unwritable(err: OSError, out_dir: str) -> InputError:
    return InputError(f"cannot write there: {err.strerror or err}", f"--out {out_dir}")


def write_outputs(result, out_dir: str, *, requests_written: bool = False) -> None:
    """requests.csv, summary.csv, scenario.json (+ comparisons.csv with a reference policy,
    users.csv and links.csv from the network engine), via :func:`write_files`;
    ``requests_written``: the run wrote requests.csv's temp file as it went."""
    files = {
        "requests.csv": (lambda p: None) if requests_written else
        (lambda p: result.requests.to_csv(p, index=False)),
        "summary.csv": lambda p: result.summary.to_csv(p, index=False),
        "scenario.json": lambda p: p.write_text(json.dumps(
            dataclasses.asdict(result.scenario), indent=2) + "\n"),
    }
    if not result.comparisons.empty:
        files["comparisons.csv"] = lambda p: result.comparisons.to_csv(p, index=False)
    if not result.users.empty:
        files["users.csv"] = lambda p: result.users.to_csv(p, index=False)
        files["links.csv"] = lambda p: result.links.to_csv(p, index=False)
    write_files(out_dir, files)


@command
def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 130 interrupted)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.list_policies:
        from policies.registry import describe_policies

        print(describe_policies())
        return 0
    axes = split_axes({n: getattr(args, n) for n in FIELDS})
    if axes or args.print_spec:
        return grid_main(args, axes, argv)
    scenario = scenario_from_args(args)
    result = run_streamed(scenario, args)
    if args.out:
        write_outputs(result, args.out, requests_written=True)
    if args.json:
        extra = [k for k in ("trace", "traces", "trace_ci_low", "trace_ci_high", "users",
                             "jain_fairness", "user_hit_min", "user_hit_max", "user_ci_low",
                             "user_ci_high") if k in result.summary.columns]
        rows = [{k: json_value(r[k]) for k in (*SUMMARY_JSON_KEYS, *extra)}
                for r in result.summary.to_dict("records")]
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(result.summary))
        if not result.users.empty:
            print()
            print(format_network(result))
        if not result.comparisons.empty:
            print()
            print(format_comparisons(result.comparisons))
        summary = result.summary
        if "trace" in summary:
            summary = summary[summary["trace"] == "(pooled)"]
        for r in summary.itertuples():
            if r.estimates:
                print(f"note: {r.policy} throughput estimate vs achieved goodput over "
                      f"{r.estimates} transfers: median |relative error| "
                      f"{r.estimate_median_abs_rel_error:.2f}, over-estimated "
                      f"{r.estimate_over_fraction:.0%}")
        for note in result.notes:
            print(f"note: {note}")
        if args.out:
            extra = (", comparisons.csv" if not result.comparisons.empty else "") + (
                ", users.csv, links.csv" if not result.users.empty else "")
            print(f"wrote {args.out}/requests.csv, summary.csv, scenario.json{extra}")
    return 0


def run_streamed(scenario: Scenario, args: argparse.Namespace):
    """Run ``scenario`` keeping no per-request records in memory: with ``--out`` they are
    written to requests.csv's temp file chunk by chunk as the run makes them (removed if
    the run fails)."""
    from sim.records import RecordsCsv
    from sim.simulation import run

    sink = RecordsCsv(temp_path(args.out, "requests.csv")) if args.out else None
    try:
        return run(scenario, progress=not args.quiet and sys.stderr.isatty(),
                   force=args.force, records=False, sink=sink)
    except BaseException as err:
        if sink is None:
            raise
        sink.discard()
        if isinstance(err, OSError) and sink.failed:
            raise _unwritable(err, args.out) from None
        raise


def grid_main(args: argparse.Namespace, axes: dict[str, list[str]],
              argv: list[str]) -> int:
    """A grid (or ``--print-spec``): the cells of the spec that the flags make, run in order.
    ``argv`` (the flags as given) goes into the spec's comment line."""
    import shlex

    values = setting_values(args, skip=axes)
    spec = grid_spec(values, axes, values.pop("seed", Scenario().seed))
    made_by = "python -m sim.run " + shlex.join(argv)
    if args.print_spec:
        print(spec_toml(spec, made_by), end="")
        return 0
    rows = run_grid(spec, quiet=args.quiet)
    if args.out:
        write_grid(spec, rows, args.out, made_by)
    if args.json:
        print(json.dumps(grid_records(spec, rows, SUMMARY_JSON_KEYS), indent=2))
        return 0
    from sim.grid.summary import format_summary

    print(format_summary(spec, rows))
    print(f"note: {len(spec.cells())} cells x {len(spec.policies)} policies; every cell uses "
          f"seed {spec.seed} (as python -m sim.run --seed {spec.seed} with the cell's values); "
          "--json gives every metric per cell, --print-spec the spec for experiments.sweep")
    if args.out:
        print(f"wrote {args.out}/grid.csv, spec.toml")
    return 0


def write_grid(spec, rows: pd.DataFrame, out_dir: str, made_by: str) -> None:
    """``grid.csv`` (one row per cell and policy, the sweep store's columns) and
    ``spec.toml`` (its comment line ``made_by``), via :func:`write_files`."""
    text = spec_toml(spec, made_by)
    write_files(out_dir, {"grid.csv": lambda p: rows.to_csv(p, index=False),
                          "spec.toml": lambda p: p.write_text(text)})


if __name__ == "__main__":
    run_main(main)
