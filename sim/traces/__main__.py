"""Command line for traces: ``python -m sim.traces {inspect,convert,transfer-time,fit,generate}``.

- ``inspect FILE [--json] [--plot out.png] [--bin S]``: statistics (time-weighted; lag-1 on
  1-s means) and an optional figure.
- ``convert FILE -o out.csv``: write the canonical CSV (``time_s,bandwidth_mbps[,rtt_ms]``).
- ``transfer-time FILE --start S --bytes B [--rtt MS] [--link-efficiency E]
  [--latency after|before] [--trace-end loop|clip] [--last-duration S] [--json]``: when B
  bytes sent at S (the trace's own clock) have arrived (fluid model; default: no latency,
  efficiency 1, looping). ``--transport tcp [--connection new|persistent] [--cc
  cubic|newreno] [--buffer-packets N] [--handshake-rtts N] [--initial-window-packets N]
  [--mss-bytes N] [--min-rto-ms MS] [--stack linux|ns3] [--warm-start S
  --warm-bytes B]``: over the TCP model (:mod:`models.transport`), from the write (or the
  connect, for a new connection) to the last byte at the receiver.
- ``fit FILE... [--json]``: fit the synthetic model (:mod:`sim.traces.synthetic`).
- ``generate (--kind KIND | --params FILE) --duration S --seed N -o out.csv``.

Commands that read trace files take ``--format``, ``--direction up|down``, ``--columns``,
``--select KEY=VALUE`` (repeatable), ``--last-duration S`` and ``--cooked-convention``,
passed to :func:`sim.traces.read_trace`. Bad input
prints one line ``error: ...`` on stderr and exits with code 2.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from models.cli import Parser, add_common, command, json_value, run_main
from models.errors import InputError
from models.files import check_output_file
from sim.traces.stats import STAT_KEYS, trace_stats
from sim.traces.trace import Trace

MAX_GENERATED_S = 10_000_000  # 116 days of 1-s samples (a 200 MB CSV)


def _select(items: list[str] | None) -> dict[str, str] | None:
    if not items:
        return None
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--select expects KEY=VALUE, not {item!r}")
        out[key.strip()] = value.strip()
    return out


def _read(path: str, args: argparse.Namespace, end: str = "loop") -> Trace:
    from sim.traces import read_trace

    last = None if args.last_duration is None else _finite(args.last_duration,
                                                           "--last-duration", 1e-12)
    return read_trace(path, end=end, fmt=args.format, direction=args.direction,
                      columns=args.columns, select=_select(args.select), last_duration_s=last,
                      cooked_convention=args.cooked_convention)


def _finite(text: str, what: str, minimum: float = 0.0) -> float:
    try:
        v = float(text)
    except ValueError:
        raise InputError(f"{what} must be a number, not {text!r}") from None
    if not (math.isfinite(v) and v >= minimum):
        raise InputError(f"{what} must be a finite number >= {minimum:g}, not {text!r}")
    return v


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _print_table(rows: dict[str, Any]) -> None:
    width = max(len(k) for k in rows)
    for k, v in rows.items():
        print(f"{k:<{width}}  {_fmt(v)}")


# --------------------------------------------------------------------------- commands
def cmd_inspect(args: argparse.Namespace) -> int:
    trace = _read(args.file, args)
    bin_s = None if args.bin is None else _finite(args.bin, "--bin", 1e-9)
    stats = trace_stats(trace, bin_s=bin_s)
    if args.plot:
        from sim.traces.plot import plot_trace

        check_output_file(args.plot, "figure")
        try:
            plot_trace(trace, args.plot)
        except (OSError, ValueError) as err:  # e.g. a full disk, an unknown image suffix
            raise InputError(f"cannot write the figure: {err}", args.plot) from None
    if args.json:
        print(json.dumps({"file": args.file, **stats}, indent=2))
    else:
        _print_table({"file": args.file, **{k: stats[k] for k in STAT_KEYS}})
        seg = trace.duration_s / len(trace.times_s)
        if bin_s is None and seg < 0.5:
            print(f"note: segments average {1e3 * seg:.3g} ms, so these are statistics of "
                  "that fine staircase; --bin 1 summarises the 1-s means")
    if args.plot and not args.json:
        print(f"wrote {args.plot}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    trace = _read(args.file, args)
    try:
        trace.to_csv(args.output)
    except OSError as err:
        raise InputError(f"cannot write: {err}", args.output) from None
    print(f"wrote {args.output}: {len(trace.times_s)} samples, {trace.duration_s:g} s, "
          f"mean {trace.mean_mbps():.6g} Mbit/s")
    return 0


def cmd_transfer_time(args: argparse.Namespace) -> int:
    start = _finite(args.start, "--start")
    size = _finite(args.bytes, "--bytes")
    rtt_s = _finite(args.rtt, "--rtt") / 1e3
    efficiency = _finite(args.link_efficiency, "--link-efficiency", 1e-12)
    if efficiency > 1:
        raise InputError(f"--link-efficiency must be in (0, 1], not {args.link_efficiency}")
    trace = _read(args.file, args, end=args.trace_end)
    clock = start - _origin_s(args)  # the trace's own clock -> the Trace's (0 at its start)
    if clock < 0:
        if trace.end != "loop":
            raise InputError(f"--start {start:g} is before the trace starts "
                             f"({_origin_s(args):g} s on its clock)")
        clock += trace.duration_s  # a later pass (Pensieve wraps to 0)
    tcp = None if args.transport == "fluid" else _tcp_config(args)
    if tcp is None:
        duration = transfer_finish_s(trace, clock, size, rtt_s=rtt_s, efficiency=efficiency,
                                     latency=args.latency) - clock
    else:
        if args.latency == "before":
            raise InputError("--latency before is the fluid link's placement (Sabre); TCP "
                             "places its own round trips")
        duration, stats = _tcp_transfer(trace, clock, size, rtt_s, efficiency, tcp, args)
    finish = start + duration
    if args.json:
        out = {"start_s": start, "finish_s": json_value(finish),
               "duration_s": json_value(duration), "bytes": size, "rtt_ms": rtt_s * 1e3,
               "link_efficiency": efficiency, "latency": args.latency,
               "trace_end": args.trace_end, "cooked_convention": args.cooked_convention,
               "transport": args.transport}
        if tcp is not None:
            out.update(connection=tcp.connection, cc=tcp.cc, stack=tcp.stack,
                       buffer_packets=tcp.buffer_packets,
                       rounds=stats.rounds, timeouts=stats.timeouts, losses=stats.losses,
                       idle_s=stats.idle_s, extra_wire_bytes=stats.extra_wire_bytes)
        print(json.dumps(out))
    else:
        print(f"{finish:.9f}")
    return 0


def _tcp_config(args: argparse.Namespace):
    """The TCP model's settings from the flags (InputError naming a bad one)."""
    from models.transport import TcpConfig

    whole = {}
    for flag in ("handshake_rtts", "initial_window_packets", "mss_bytes", "buffer_packets"):
        text = getattr(args, flag)
        try:
            whole[flag] = int(text)
        except ValueError:
            raise InputError(f"--{flag.replace('_', '-')} must be a whole number, not "
                             f"{text!r}") from None
    min_rto_s = _finite(args.min_rto_ms, "--min-rto-ms", 1e-9) / 1e3
    return TcpConfig(connection=args.connection, cc=args.cc, min_rto_s=min_rto_s,
                     stack=args.stack, **whole)


def _tcp_transfer(trace: Trace, start_s: float, size: float, rtt_s: float,
                  efficiency: float, tcp, args: argparse.Namespace):
    """(duration, stats) of one transfer over the TCP model; with ``--warm-start`` and
    ``--warm-bytes`` the connection first carries that transfer (a persistent one)."""
    from models.transport import TcpFlow

    flow = TcpFlow(trace, tcp, rtt_s=lambda t: trace.rtt_at(t, rtt_s), efficiency=efficiency)
    if (args.warm_start is None) != (args.warm_bytes is None):
        raise InputError("--warm-start and --warm-bytes go together")
    if args.warm_start is not None:
        if tcp.connection != "persistent":
            raise InputError("--warm-start needs --connection persistent")
        warm = _finite(args.warm_start, "--warm-start") - _origin_s(args)
        flow.send(warm, _finite(args.warm_bytes, "--warm-bytes"))
    elif tcp.connection == "persistent":
        flow.open_idle()  # an open connection, idle: no handshake, the initial window
    return flow.send(start_s, size) - start_s, flow.last


def _origin_s(args: argparse.Namespace) -> float:
    """Where a file's own clock puts the Trace's time 0: the first timestamp of a Pensieve
    cooked file read the Pensieve way (its simulator starts there), else 0."""
    from sim.traces import detect_format
    from sim.traces.cooked import first_timestamp

    fmt = args.format or ("headerless" if args.columns else detect_format(args.file))
    if fmt == "cooked" and args.cooked_convention == "pensieve":
        return first_timestamp(args.file)
    return 0.0


def transfer_finish_s(trace: Trace, start_s: float, size_bytes: float, *, rtt_s: float = 0.0,
                      efficiency: float = 1.0, latency: str = "after") -> float:
    """When ``size_bytes`` sent at ``start_s`` have arrived, on the trace's own clock.
    ``after``: the bytes flow from ``start_s`` at ``efficiency`` x capacity, then one-way
    RTT/2 (Pensieve adds its LINK_RTT, 80 ms, once per chunk: --rtt 160); ``before``: one
    request round trip first, the link idle (Sabre adds a period's ``latency_ms`` before
    each download: the RTT the Sabre reader maps it to), then the bytes. The RTT is the
    trace's at ``start_s`` when it has an RTT column, else ``rtt_s``."""
    rtt = trace.rtt_at(start_s, rtt_s)
    wire = size_bytes / efficiency
    if latency == "before":
        return trace.finish_time(start_s + rtt, wire)
    return trace.finish_time(start_s, wire) + rtt / 2


def cmd_fit(args: argparse.Namespace) -> int:
    from sim.traces.synthetic import fit_report

    traces = [_read(f, args) for f in args.files]
    if args.scale is not None:
        factor = _finite(args.scale, "--scale", 1e-12)
        traces = [t.scaled(factor) for t in traces]
    report = fit_report(traces, cap=not args.no_cap)
    if args.json:
        print(json.dumps({"files": args.files, **report.to_dict()}, indent=2))
        return 0
    print("fitted parameters:")
    _print_table(report.params.to_dict())
    print("\ntarget (pooled 1-s means) vs model (population):")
    width = max(len(k) for k in report.target)
    for k, v in report.target.items():
        m = report.model.get(k)
        print(f"{k:<{width}}  {_fmt(v):>12}  {_fmt(m):>12}")
    for note in report.notes:
        print(f"note: {note}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from sim.traces.synthetic import generate, kind_params, params_from_file, write_csv

    if args.params:
        params = params_from_file(args.params, args.kind)
        name = args.kind or Path(args.params).stem
    elif args.kind:
        params = kind_params(args.kind)
        name = args.kind
    else:
        raise InputError("generate needs --kind KIND or --params FILE")
    duration = _finite(args.duration, "--duration", 1e-9)
    if duration > MAX_GENERATED_S:
        raise InputError(f"--duration {duration:g} s: at most {MAX_GENERATED_S:,.0f} s "
                         "(one sample per second)")
    try:
        seed = int(args.seed)
    except ValueError:
        raise InputError(f"--seed must be a non-negative integer, not {args.seed!r}") from None
    check_output_file(args.output, "trace")
    trace = generate(params, duration, seed, name=name)
    write_csv(trace, args.output)
    s = trace_stats(trace)
    print(f"wrote {args.output}: {len(trace.times_s)} s of {name} (seed {seed}), "
          f"mean {s['mean_mbps']:.4g} Mbit/s, CV {s['cv']:.3g}, "
          f"lag-1 {s['lag1_autocorr']:.3f}, outage {s['outage_fraction']:.3g}")
    return 0


# --------------------------------------------------------------------------- parser
def _tcp_options(s: argparse.ArgumentParser) -> None:
    """The TCP model's flags of ``transfer-time`` (the same settings as sim.run's)."""
    from models.transport import (
        CONGESTION_CONTROLS,
        CONNECTIONS,
        STACKS,
        TRANSPORTS,
        TcpConfig,
    )

    d = TcpConfig()  # the model's defaults

    g = s.add_argument_group("transport (models.transport)")
    g.add_argument("--transport", choices=TRANSPORTS, default="fluid",
                   help="fluid (the ideal bound) or tcp")
    g.add_argument("--connection", choices=CONNECTIONS, default=d.connection,
                   help="tcp: new (from the connect: handshake, initial window) or "
                        "persistent (an open connection: from the write)")
    g.add_argument("--cc", choices=CONGESTION_CONTROLS, default=d.cc)
    g.add_argument("--buffer-packets", default=str(d.buffer_packets), metavar="N",
                   help="bottleneck buffer, packets")
    g.add_argument("--handshake-rtts", default=str(d.handshake_rtts), metavar="N",
                   help="round trips before the first byte (1 TCP, 2 with TLS 1.3)")
    g.add_argument("--initial-window-packets", default=str(d.initial_window_packets), metavar="N")
    g.add_argument("--mss-bytes", default=str(d.mss_bytes), metavar="N")
    g.add_argument("--min-rto-ms", default=f"{d.min_rto_s * 1e3:g}", metavar="MS")
    g.add_argument("--stack", choices=STACKS, default=d.stack,
                   help="linux (F-RTO, restart after idle) or ns3 (RFC 5681 after a "
                        "timeout, no restart after idle)")
    g.add_argument("--warm-start", metavar="S", help="persistent: the connection first "
                   "carries --warm-bytes from this time (the trace's clock)")
    g.add_argument("--warm-bytes", metavar="B")


def _reading_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("reading")
    g.add_argument("--format", help="trace format (default: detected from the content)")
    g.add_argument("--direction", choices=["up", "down"], default="up",
                   help="uplink or downlink where the source has both (default: up)")
    g.add_argument("--columns", help="column names of a headerless CSV, e.g. time_s,bandwidth_mbps")
    g.add_argument("--select", action="append", metavar="KEY=VALUE",
                   help="keep rows with KEY=VALUE in multi-series files (repeatable)")
    g.add_argument("--last-duration", metavar="S",
                   help="how long the last sample holds, s (default: the format's rule)")
    g.add_argument("--cooked-convention", choices=["pensieve", "from-timestamp"],
                   default="pensieve", help="how a Pensieve cooked file is read (default: "
                   "pensieve: a value holds on the interval ending at its timestamp)")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m sim.traces", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("inspect", help="print a trace's statistics (and plot it)")
    s.add_argument("file")
    add_common(s, "json", help="print JSON")
    s.add_argument("--plot", metavar="OUT.png", help="write a figure")
    s.add_argument("--bin", metavar="S", help="average the capacity over S-second bins first")
    _reading_options(s)
    s.set_defaults(func=cmd_inspect)

    s = sub.add_parser("convert", help="write a trace as canonical CSV")
    s.add_argument("file")
    s.add_argument("-o", "--output", required=True, metavar="OUT.csv")
    _reading_options(s)
    s.set_defaults(func=cmd_convert)

    s = sub.add_parser("transfer-time",
                       help="when BYTES sent at START have arrived (s, the trace's clock)")
    s.add_argument("file")
    s.add_argument("--start", required=True, metavar="S", help="start time, s")
    s.add_argument("--bytes", required=True, metavar="B", help="transfer size, bytes")
    s.add_argument("--rtt", default="0", metavar="MS",
                   help="RTT in ms where the trace has no RTT column (default 0: no latency)")
    s.add_argument("--link-efficiency", default="1", metavar="E",
                   help="goodput / capacity, (0, 1] (Pensieve: 0.95)")
    s.add_argument("--latency", choices=["after", "before"], default="after",
                   help="after: RTT/2 after the transfer (scoutsim's default; Pensieve with "
                        "--rtt 160); before: one RTT before it, the link idle (Sabre)")
    s.add_argument("--trace-end", choices=["loop", "clip"], default="loop")
    _tcp_options(s)
    add_common(s, "json", help="print one JSON object (start_s, finish_s, duration_s, ...)")
    _reading_options(s)
    s.set_defaults(func=cmd_transfer_time)

    s = sub.add_parser("fit", help="fit the synthetic model to one or more traces")
    s.add_argument("files", nargs="+", metavar="FILE")
    add_common(s, "json", help="print JSON (usable as --params)")
    s.add_argument("--scale", metavar="F", help="multiply every capacity by F before fitting")
    s.add_argument("--no-cap", action="store_true",
                   help="no cap on the good state (default: the largest 1-s capacity)")
    _reading_options(s)
    s.set_defaults(func=cmd_fit)

    s = sub.add_parser("generate", help="write a synthetic trace (canonical CSV, 1-s samples)")
    s.add_argument("--kind", help="a shipped kind (lte, 5g, 3g, broadband) or one in --params")
    s.add_argument("--params", metavar="FILE",
                   help="parameter JSON: traces/params.json-like (with --kind) or fit --json")
    s.add_argument("--duration", default="1800", metavar="S", help="seconds (default 1800)")
    # a string, checked by cmd_generate (its own error message)
    add_common(s, "seed", type=None, default="0", metavar="N", help="random seed (default 0)")
    s.add_argument("-o", "--output", required=True, metavar="OUT.csv")
    s.set_defaults(func=cmd_generate)
    return p


@command
def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    run_main(main)
