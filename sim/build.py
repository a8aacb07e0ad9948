"""Build the pieces of a :class:`~sim.scenario.Scenario`: its link (trace), requests, costs,
topology, and what its policies are told. Every runner (:mod:`sim.simulation`,
:mod:`sim.cell`, sweeps, experiments) builds through here.
"""

from __future__ import annotations

from pathlib import Path

from models.devices import get_device
from models.errors import InputError
from models.quality import QualityCache
from models.timing import (
    Calibration,
    ComputeModel,
    TimingTable,
    default_calibration,
    default_timing_table,
)
from policies import PolicyContext
from sim.costs import CostModel
from sim.network.topology import Topology, cell_topology, load_topology
from sim.scenario import Scenario, resolve_path
from sim.traces import Trace, read_rtt, read_trace
from sim.workload import Workload, make_workload


def build_trace(s: Scenario, path: str | Path | None = None) -> Trace:
    """The scenario's link: a constant one, or a trace file (``path`` overrides the
    scenario's), scaled, looped or clipped, with an optional RTT trace laid over it."""
    if s.bandwidth_mbps is not None and path is None:
        trace = Trace.constant(s.bandwidth_mbps * s.bandwidth_scale, s.rtt_ms)
    else:
        p = Path(path) if path is not None else s.resolved_trace_path()
        if p is None:
            raise InputError("no link: give --trace, --trace-dir or --bandwidth")
        trace = read_trace(p, end=s.trace_end, fmt=s.trace_format, direction=s.direction,
                           columns=s.trace_columns, select=s.select_filter(),
                           last_duration_s=s.last_duration_s,
                           cooked_convention=s.cooked_convention)
        if s.bandwidth_scale != 1.0:
            trace = trace.scaled(s.bandwidth_scale)
    if s.rtt_trace:
        times_s, rtt_s = read_rtt(resolve_path(s.rtt_trace), select=s.select_filter())
        trace = trace.with_rtt(times_s, rtt_s)
    return trace


#: file kinds a trace folder may hold beside its traces
NOT_TRACES = (".md", ".txt", ".png", ".pdf", ".py", ".pyc", ".toml")


def trace_files(folder: str | Path) -> list[Path]:
    """Regular, non-hidden files of a trace folder, sorted by name (recursively), but
    documents, figures and code (:data:`NOT_TRACES`; JSON stays: Sabre's traces are JSON)."""
    root = resolve_path(str(folder))
    if not root.is_dir():
        raise InputError("trace folder not found", str(root))
    files = sorted(p for p in root.rglob("*") if p.is_file()
                   and not any(part.startswith(".") or part == "__pycache__"
                               for part in p.relative_to(root).parts)
                   and p.suffix.lower() not in NOT_TRACES)
    if not files:
        raise InputError("trace folder has no trace files", str(root))
    return files


def build_workload(s: Scenario, device: int = 0) -> Workload:
    """The requests of one device (device 0: the single-device run's requests)."""
    return make_workload(device=device,
        requests=s.requests, seed=s.seed, arrival=s.arrival, rate_per_s=s.rate_per_s,
        interval_s=None if s.rate_per_s is not None else s.interval_s,
        context_tokens=s.context_tokens, question_tokens=s.question_tokens,
        answer_tokens=s.answer_tokens, deadline_s=s.deadline_s)


def build_timing(spec: str | None) -> tuple[TimingTable | None, Calibration | None]:
    """Measured table and roofline calibration for ``--timing-table``.

    None (the default): every shipped CSV in ``models/timings/`` and its ``calibration.json``;
    a folder: its CSVs and its ``calibration.json`` if any; a file: that CSV alone; ``none``:
    neither (pure roofline with the devices' default efficiencies).
    """
    if spec is None:
        return default_timing_table(), default_calibration()
    if spec.strip().lower() == "none":
        return None, None
    p = Path(spec)
    if p.is_dir():
        if not any(p.glob("*.csv")):
            raise InputError("no timing table (*.csv) in this folder", f"--timing-table {p}")
        return default_timing_table(p), default_calibration(p)
    return TimingTable.load(p), None


def build_costs(s: Scenario) -> CostModel:
    table, calibration = build_timing(s.timing_table)
    quality = None
    if s.quality_cache != "none":
        quality = QualityCache.load(s.quality_cache).for_pair(s.edge_model, s.cloud_model)
    return CostModel(
        edge_model=s.edge_model, cloud_model=s.cloud_model,
        edge_compute=ComputeModel(get_device(s.edge_device), table, calibration=calibration),
        cloud_compute=ComputeModel(get_device(s.cloud_device), table, calibration=calibration),
        quality=quality, cloud_has_context=s.cloud_has_context, kv_group_size=s.kv_group_size,
        kv_encoding=s.kv_encoding)


def policy_context(s: Scenario, costs: CostModel) -> PolicyContext:
    """What every policy of the run is told: defaults, costs and the operating points
    adaptive policies may choose among."""
    modes = set(s.option_modes())
    options = ([op for op in costs.quality.operating_points() if op.mode in modes]
               if costs.quality is not None else [])
    return PolicyContext(costs=costs, scout_retention=s.scout_retention,
                         kv_retention=s.kv_retention, selection=s.selection, options=options)


def build_topology(s: Scenario) -> Topology:
    """The scenario's topology file, or the default cell of ``s.users`` devices."""
    if s.topology:
        return load_topology(resolve_path(s.topology), default_rtt_s=s.rtt_ms / 1e3,
                             seed=s.seed, read_trace=lambda p: read_trace(resolve_path(p)))
    return cell_topology(s.users, build_trace(s), cell_mbps=s.cell_mbps,
                         backhaul_mbps=s.backhaul_mbps,
                         backhaul_delay_s=s.backhaul_delay_ms / 1e3,
                         default_rtt_s=s.rtt_ms / 1e3, offsets=s.trace_offsets, seed=s.seed)
