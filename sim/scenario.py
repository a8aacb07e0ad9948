"""Scenario: everything needed to reproduce a run. The CLI, config files and sweeps build it.

Each field's ``metadata["help"]`` becomes the CLI flag's help text (``--field-name``);
units are in the names. Config files (TOML or YAML) use the same field names.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.arch import get_arch
from models.devices import get_device
from models.errors import InputError
from models.kvencoding import ENCODINGS
from models.operating import MODES
from models.quality import SELECTIONS
from models.transport import CONGESTION_CONTROLS, CONNECTIONS, STACKS, TRANSPORTS, TcpConfig
from models.units import KV_GROUP_SIZE
from policies.registry import split_specs
from sim.limits import MAX_DEVICES, MAX_REQUESTS, MAX_TOKENS
from sim.settings import parse_settings_file

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TRACE = "traces/lte.csv"
#: the TCP model's defaults (models.transport), the Scenario's TCP settings' defaults
_TCP = TcpConfig()


def _f(default: Any, help: str, **kw: Any) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class Scenario:
    """A run's parameters. Defaults are the shipped default scenario (see README)."""

    policies: list[str] = _f(["bf16", "int8", "int4", "mixed", "scout", "cloud-text",
                              "edge-local"],
                             "policies, comma-separated (NAME, NAME:RETENTION or file.py:Class)",
                             flag="policy")
    trace: str | None = _f(DEFAULT_TRACE, "uplink trace file (any supported format)")
    trace_dir: str | None = _f(None, "run on every trace file in this folder (per-trace and "
                               "pooled summaries)")
    trace_format: str | None = _f(None, "trace format (default: auto-detect)", flag="format")
    direction: str = _f("up", "uplink or downlink where a trace has both",
                        choices=("up", "down"))
    trace_columns: str | None = _f(None, "column names of a headerless CSV, e.g. "
                                   "time_s,bytes_per_s", flag="columns")
    trace_select: str | None = _f(None, "row filter for multi-series files, e.g. "
                                  "carrier=VERIZON,num_tcp_conn=1", flag="select")
    rtt_trace: str | None = _f(None, "RTT trace (e.g. 5Gophers ping CSV) laid over the link")
    bandwidth_mbps: float | None = _f(None, "constant link in Mbit/s (overrides --trace)",
                                      flag="bandwidth")
    rtt_ms: float = _f(50.0, "RTT in ms when the trace has no RTT column", flag="rtt")
    bandwidth_scale: float = _f(1.0, "multiply the trace's capacity by this factor")
    trace_end: str = _f("loop", "at the trace's end: loop or clip", choices=("loop", "clip"))
    last_duration_s: float | None = _f(None, "how long a trace's last sample holds, s "
                                       "(default: the format's rule, usually the median "
                                       "sampling interval)", flag="last_duration")
    latency: str = _f("after", "where a transfer's latency sits: after (RTT/2 after the last "
                      "byte, the link free; Pensieve with --rtt twice its LINK_RTT) or before "
                      "(one RTT with the link idle, then the bytes; Sabre)",
                      choices=("after", "before"))
    cooked_convention: str = _f("pensieve", "Pensieve cooked files: pensieve (a value holds "
                                "on the interval ending at its timestamp, start at the first "
                                "timestamp, wrap to 0) or from-timestamp (a value holds from "
                                "its timestamp; scoutsim before 2026-12)",
                                choices=("pensieve", "from-timestamp"))
    link_efficiency: float = _f(1.0, "goodput / capacity of the link, (0, 1]: 1 when the trace "
                                "records goodput (throughput logs); 0.955 measured for "
                                "link-layer capacity (python -m experiments.emulate)")
    transport: str = _f("fluid", "fluid (the bytes at the link's full capacity: the ideal "
                        "bound) or tcp (handshake, slow start, congestion avoidance, buffer "
                        "losses and retransmission timeouts over the trace, per round; "
                        "docs/transport.md)", choices=TRANSPORTS)
    tcp_connection: str = _f(_TCP.connection, "tcp: a connection per request (new: "
                             "handshake and initial window each time) or one kept open per "
                             "device (persistent: Linux's restart after idle)",
                             choices=CONNECTIONS)
    handshake_rtts: int = _f(_TCP.handshake_rtts, "tcp: round trips before a new "
                             "connection's first byte (1 TCP, 2 TCP + TLS 1.3)")
    initial_window_packets: int = _f(_TCP.initial_window_packets,
                                     "tcp: initial congestion window, segments")
    mss_bytes: int = _f(_TCP.mss_bytes, "tcp: payload bytes per segment (66 more of headers "
                        "on the wire)")
    buffer_packets: int = _f(_TCP.buffer_packets, "tcp: bottleneck buffer, packets (a window "
                             "beyond the bandwidth-delay product plus this loses packets)")
    congestion_control: str = _f(_TCP.cc, "tcp: congestion control", flag="cc",
                                 choices=CONGESTION_CONTROLS)
    min_rto_ms: float = _f(_TCP.min_rto_s * 1e3, "tcp: minimum retransmission timeout, ms "
                           "(RFC 6298 estimator above it)")
    tcp_stack: str = _f(_TCP.stack, "tcp: linux (F-RTO undoes a spurious timeout after an "
                        "outage; an idle connection restarts its window) or ns3 (RFC 5681 "
                        "after a timeout: one segment, then the window grows again; no "
                        "restart after idle)", choices=STACKS)
    requests: int = _f(200, "number of requests")
    arrival: str = _f("poisson", "arrival process", choices=("poisson", "periodic"))
    rate_per_s: float | None = _f(None, "arrival rate in requests/s", flag="rate")
    interval_s: float | None = _f(10.0, "mean gap between arrivals in s (if --rate unset)",
                                  flag="interval")
    context_tokens: str = _f("170", "context tokens: N, normal:MEAN:SD, lognormal:MEDIAN:SIGMA "
                             "or uniform:LOW:HIGH")
    question_tokens: int = _f(12, "question tokens per request")
    answer_tokens: int = _f(16, "answer tokens per request")
    deadline_s: float = _f(2.0, "deadline from arrival to first answer token, s",
                           flag="deadline")
    edge_model: str = _f("qwen2.5-7b", "edge (scout) model")
    cloud_model: str = _f("qwen2.5-14b", "cloud model")
    edge_device: str = _f("jetson-agx-orin", "edge device profile")
    cloud_device: str = _f("h100-sxm", "cloud device profile")
    timing_table: str | None = _f(None, "measured timing CSV (file or folder) for the devices")
    quality_cache: str = _f("published", "quality cache: published, measured, none or a CSV")
    scout_retention: float = _f(0.5, "scout's default retention (0, 1]")
    kv_retention: float = _f(1.0, "KV policies' default retention (0, 1]")
    selection: str = _f("q2c", "position-selection method for pruning and scout")
    cloud_has_context: bool = _f(False, "the cloud already holds the context text")
    count_return_latency: bool = _f(True, "count the first token's trip back to the user")
    kv_group_size: int = _f(KV_GROUP_SIZE, "quantisation group size along head_dim (elements)")
    kv_encoding: str = _f("raw", "KV payload encoding: raw (packed codes), zstd or entropy "
                          "(measured sizes and codec times, models/data/kv_bits_entropy.csv)",
                          choices=("raw", "zstd", "entropy"))
    options: str = _f("kv,scout,cloud-text,edge-local", "modes adaptive policies may "
                      "choose among (comma-separated)")
    compare_to: str | None = _f(None, "reference policy for paired tests (default: adaptive "
                                "when it runs)")
    users: int = _f(1, "devices sharing one cell (> 1: network engine; --requests and "
                    "--interval/--rate are then per device)")
    topology: str | None = _f(None, "topology file (TOML/YAML/GraphML: devices, cells, "
                              "routers, cloud, links); runs the network engine")
    cell_mbps: float = _f(50.0, "--users: the cell's shared uplink behind the devices' own "
                          "radio links (each on the trace at its own position), Mbit/s")
    backhaul_mbps: float = _f(1000.0, "--users: backhaul from the cell to the cloud, Mbit/s")
    backhaul_delay_ms: float = _f(0.0, "--users: backhaul one-way delay, ms (the trace's or "
                                  "--rtt's RTT already covers the whole path)")
    trace_offsets: str = _f("random", "--users: each device's start position on the trace "
                            "(random: device 0 at 0 s)", choices=("random", "spread", "zero"))
    cloud_serving: str = _f("fifo", "network engine: cloud GPU serves one request at a time "
                            "(fifo), static batches of one kind (batched), or continuous "
                            "batching at iteration level (continuous)",
                            choices=("fifo", "batched", "continuous"))
    max_batch: int = _f(8, "largest cloud batch with --cloud-serving batched or continuous")
    seed: int = _f(0, "random seed (workload draws)")
    engine: str = _f("auto", "auto: closed form for static policies, events otherwise, "
                     "network engine with --users/--topology; events: always events; "
                     "network: the network engine even for one device",
                     choices=("auto", "events", "network"))

    def validate(self) -> Scenario:
        """Check ranges; raises InputError naming the field."""
        if not self.policies:
            raise InputError("no policy given")
        inf = math.inf
        ranges = {  # field: (low, high, low open?, high open?)
            "rtt_ms": (0, inf, False, True), "bandwidth_scale": (0, inf, True, True),
            "link_efficiency": (0, 1, True, False), "requests": (1, MAX_REQUESTS, False, False),
            "deadline_s": (0, inf, True, True), "question_tokens": (0, MAX_TOKENS, False, False),
            "answer_tokens": (1, MAX_TOKENS, False, False),
            "scout_retention": (0, 1, True, False), "kv_retention": (0, 1, True, False),
            "kv_group_size": (1, inf, False, True), "users": (1, MAX_DEVICES, False, False),
            "cell_mbps": (0, inf, True, True), "backhaul_mbps": (0, inf, True, True),
            "backhaul_delay_ms": (0, inf, False, True), "max_batch": (1, inf, False, True),
            "seed": (0, 2**32 - 1, False, False),
            "handshake_rtts": (0, 10, False, False),
            "initial_window_packets": (1, 10_000, False, False),
            "mss_bytes": (100, 65_535, False, False),
            "buffer_packets": (1, 10**7, False, False),
            "min_rto_ms": (1, 120_000, False, False),
        }
        for name, (low, high, low_open, high_open) in ranges.items():
            value = getattr(self, name)
            ok = (value > low if low_open else value >= low) and (
                value < high if high_open else value <= high)
            if not ok or (isinstance(value, float) and not math.isfinite(value)):
                span = (f"{'(' if low_open else '['}{low:,}, "
                        f"{'inf' if high == inf else f'{high:,}'}{')' if high_open else ']'}")
                raise InputError(f"{setting_name(name)} = {value!r} is outside {span}")
        if self.bandwidth_mbps is not None and not (
                self.bandwidth_mbps > 0 and math.isfinite(self.bandwidth_mbps)):
            raise InputError(f"{setting_name('bandwidth_mbps')} = {self.bandwidth_mbps!r} must "
                             "be a positive number")
        get_arch(self.edge_model)
        get_arch(self.cloud_model)
        get_device(self.edge_device)
        get_device(self.cloud_device)
        bad = set(self.option_modes()) - set(MODES)
        if bad or not self.option_modes():
            raise InputError(f"options {self.options!r}: modes are {', '.join(MODES)}")
        if self.compare_to is not None and self.compare_to not in self.policies:
            raise InputError(f"compare_to {self.compare_to!r} is not among the policies")
        if self.engine not in ("auto", "events", "network"):
            raise InputError(f"engine must be auto, events or network, not {self.engine!r}")
        if self.trace_offsets not in ("random", "spread", "zero"):
            raise InputError(f"trace_offsets must be random, spread or zero, not "
                             f"{self.trace_offsets!r}")
        if self.cloud_serving not in ("fifo", "batched", "continuous"):
            raise InputError(f"cloud_serving must be fifo, batched or continuous, not "
                             f"{self.cloud_serving!r}")
        if self.networked and self.trace_dir:
            raise InputError("--trace-dir runs one device per trace; it does not combine "
                             "with --users or --topology")
        if self.trace_end not in ("loop", "clip"):
            raise InputError(f"trace_end must be loop or clip, not {self.trace_end!r}")
        for name, allowed in (("selection", SELECTIONS), ("kv_encoding", ENCODINGS),
                              ("transport", TRANSPORTS), ("tcp_connection", CONNECTIONS),
                              ("congestion_control", CONGESTION_CONTROLS),
                              ("tcp_stack", STACKS)):
            if getattr(self, name) not in allowed:
                raise InputError(f"{setting_name(name)} must be one of {', '.join(allowed)}, "
                                 f"not {getattr(self, name)!r}")
        if self.transport == "tcp" and self.latency == "before":
            raise InputError("--latency before is the fluid link's placement (Sabre); with "
                             "--transport tcp the handshake and rounds place the latency")
        self.tcp_config()
        return self

    def tcp_config(self) -> TcpConfig | None:
        """The TCP model's settings with ``transport = "tcp"``, else None (fluid)."""
        if self.transport != "tcp":
            return None
        return TcpConfig(connection=self.tcp_connection, handshake_rtts=self.handshake_rtts,
                         initial_window_packets=self.initial_window_packets,
                         mss_bytes=self.mss_bytes, buffer_packets=self.buffer_packets,
                         cc=self.congestion_control, min_rto_s=self.min_rto_ms / 1e3,
                         stack=self.tcp_stack)

    @property
    def networked(self) -> bool:
        """True when the run needs the network engine (several devices or a topology)."""
        return self.users > 1 or self.topology is not None or self.engine == "network"

    def resolved_trace_path(self) -> Path | None:
        """The trace path (:func:`trace_by_name`: a relative path missing from the working
        directory is looked up in the repo; a shipped trace can be named, ``lte``)."""
        if self.bandwidth_mbps is not None or self.trace is None:
            return None
        return resolve_path(trace_by_name(self.trace))

    def option_modes(self) -> list[str]:
        return [m.strip() for m in self.options.split(",") if m.strip()]

    def reference_policy(self) -> str | None:
        """The policy paired tests compare against."""
        if self.compare_to:
            return self.compare_to
        return "adaptive" if "adaptive" in self.policies and len(self.policies) > 1 else None

    def select_filter(self) -> dict[str, str] | None:
        """``trace_select`` as a dict (``k=v,k=v``); InputError when malformed."""
        if not self.trace_select:
            return None
        out = {}
        for item in self.trace_select.split(","):
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise InputError(f"--select {self.trace_select!r}: expected KEY=VALUE[,...]")
            out[key.strip()] = value.strip()
        return out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)


FIELDS = {f.name: f for f in dataclasses.fields(Scenario)}


def flag_name(name: str) -> str:
    """A Scenario field as the user types it on the command line (``--bandwidth``)."""
    return "--" + FIELDS[name].metadata.get("flag", name).replace("_", "-")


def setting_name(name: str) -> str:
    """A field in a message that may come from a flag or a file: ``--users``, or
    ``--deadline (deadline_s)`` where the flag and the file's key differ."""
    flag = flag_name(name)
    return flag if flag[2:].replace("-", "_") == name else f"{flag} ({name})"


def resolve_path(path: str) -> Path:
    """A relative path missing from the working directory is looked up in the repo."""
    p = Path(path)
    if not p.exists() and not p.is_absolute() and (REPO_ROOT / p).exists():
        return REPO_ROOT / p
    return p


#: the synthetic traces that ship with the repository
SHIPPED_TRACES_DIR = REPO_ROOT / "traces"


def shipped_trace_names() -> list[str]:
    """Names of the shipped traces (``3g``, ``5g``, ``broadband``, ``lte``)."""
    return sorted(p.stem for p in SHIPPED_TRACES_DIR.glob("*.csv"))


def trace_by_name(text: str) -> str:
    """A trace as the user named it -> a path that exists: ``text`` itself when it names a
    file (in the working directory, else in the repository); a shipped trace's name or file
    name (``lte``, ``lte.csv``) -> ``traces/lte.csv``. Otherwise an InputError that lists
    the shipped traces."""
    if resolve_path(text).exists():
        return text
    if len(Path(text).parts) == 1:
        for name in (text, f"{text}.csv"):
            if (SHIPPED_TRACES_DIR / name).is_file() and name.endswith(".csv"):
                return f"traces/{name}"
    raise InputError("trace file not found (shipped traces, by name: "
                     f"{', '.join(shipped_trace_names())}; or give a path)", text)


def coerce(name: str, value: Any, source: str) -> Any:
    """Convert a config value to the field's type; InputError naming the source."""
    f = FIELDS.get(name)
    if f is None:
        raise InputError(f"unknown setting {name!r}", source)
    typ = str(f.type)
    try:
        if value is None:
            if "None" not in typ:
                raise ValueError("may not be empty")
            return None
        if name == "policies":
            items = split_specs(value) if isinstance(value, str) else list(value)
            return [str(p).strip() for p in items if str(p).strip()]
        if typ.startswith("bool"):
            if isinstance(value, bool):
                return value
            text = str(value).lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if typ.startswith("int"):
            if isinstance(value, bool) or float(value) != int(float(value)):
                raise ValueError
            return int(float(value))
        if typ.startswith("float"):
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        return str(value)
    except (TypeError, ValueError, OverflowError):
        what = ("a whole number" if typ.startswith("int") else "a number"
                if typ.startswith("float") else "true or false" if typ.startswith("bool")
                else "a value")
        if source == flag_name(name):  # a flag: name it as typed, once
            raise InputError(f"{source} expects {what}, not {value!r}") from None
        raise InputError(f"{name} expects {what}, not {value!r}", source) from None


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a TOML or YAML config into {field: value} (validated names and types)."""
    p = Path(path)
    ps = str(p)
    data, _ = parse_settings_file(p, "config")
    if not isinstance(data, dict):
        raise InputError("config must be a table/mapping of settings", ps)
    aliases = {f.metadata.get("flag", name).replace("-", "_"): name for name, f in FIELDS.items()}
    out = {}
    for key, value in data.items():
        name = aliases.get(str(key).replace("-", "_"), str(key).replace("-", "_"))
        out[name] = coerce(name, value, ps)
    return out
