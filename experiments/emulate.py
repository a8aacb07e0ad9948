"""Check the fluid link against a real TCP stack: trace replay in network namespaces.

Usage::

    python -m experiments.emulate --trace traces/lte.csv [--trace FILE ...]
        [--policy int8,int4,scout] [--requests 10] [--interval 3] [--max-seconds 60]
        [--per-request] [--rtt MS] [--cc cubic|reno|bbr] [--buffer-packets 1000]
        [--out DIR] [--figure PATH]
    python -m experiments.emulate --trace FILE --grid | --transfers FILE.csv
        [--connection new,persistent] [--sizes 22000,1000000] [--zero-below MBPS] ...

For each trace and policy: the simulator runs the scenario (default devices and sizes,
``--requests`` Poisson requests every ``--interval`` s) and gives the uplink transfers the
policy makes (size, start). The tool then creates two network namespaces (``edge``,
``cloud``) joined by a veth pair whose addresses exist only inside them, shapes the
edge-to-cloud direction with an HTB class whose rate follows the trace (one ``tc class
change`` per trace segment, through one ``tc -batch`` process), closes the link for
zero-capacity segments (packets held, not dropped or trickled: see :class:`Testbed`), delays
the return path by the RTT with ``--rtt`` (a TUN delay line: this kernel has no
``sch_netem``), sends the same payloads over real TCP sockets at the same start
times (one transfer at a time, FIFO, over one persistent connection unless
``--per-request``), and records when the last byte arrived. Each transfer's measured time
is compared with the fluid prediction for the same trace and the same actual start,
``Trace.finish_time(start, size / efficiency) - start`` (+ RTT/2 when emulated).

Reported per trace and payload: median and p95 of the relative error at efficiency 1, the
fitted link efficiency (goodput / capacity: a ratio estimator, sum of bytes / sum of the
capacity integral over each transfer, over transfers of at least 1 MB), and the errors
with it. Traces with segments shorter than ``--tc-step`` (mahimahi's 1 ms staircase) are
replayed and predicted on their ``--tc-step`` averages (0.1 s).

``--transfers FILE.csv`` (``start_s,size_bytes`` on the trace's time) or ``--grid`` (each
``--sizes`` payload 0.2 and 0.5 s before up to three zero-capacity stretches, and at three
calm starts) replays chosen transfers instead, each in its own window of the trace (the
windows laid end to end), once per ``--connection`` kind; per transfer: measured time, the
fluid prediction (efficiency 1 and 1448/1514 for headers), the TCP model of
``models.transport`` where it imports, whether it crossed an outage, and what Linux said
(TCP_INFO after it, the namespace's TCP counters that changed during it). The edge
namespace runs with ``tcp_no_metrics_save=1`` (no cwnd/ssthresh carried between
connections); its TCP sysctls are recorded in ``run.json``.

With ``--out DIR`` the raw results are written after every (trace, policy) replay, and a
rerun with the same settings resumes there (finished replays are not redone).

Needs root, ``ip`` and ``tc`` (iproute2) and network namespaces; without them it prints one
line and exits with code 3 (skipped). Namespaces, qdiscs and processes are removed on exit,
error and Ctrl-C; ``--cleanup`` removes leftovers of killed runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models.cli import Parser, add_common, command, run_main
from models.errors import InputError
from models.files import check_input_file
from models.units import OUTAGE_MBPS, mbps_to_bytes_per_s
from sim.scenario import REPO_ROOT, Scenario, resolve_path
from sim.simulation import build_trace, run
from sim.traces import Trace

PREFIX = "scoutsim"
EDGE_IP, CLOUD_IP, PORT = "10.213.0.1", "10.213.0.2", 5301
MIN_RATE_BITS_PER_S = 8_000  # HTB needs a positive rate; an outage becomes 8 kbit/s
LARGE_BYTES = 1_000_000  # transfers fitted for the efficiency
SKIPPED = 3  # exit code when the machine cannot emulate


class EmulationUnavailable(RuntimeError):
    """The machine cannot run the emulation (no root, no iproute2, no namespaces)."""


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


def unavailable_reason() -> str | None:
    """Why the emulation cannot run here (no root, Linux, iproute2 or namespaces), or None."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "needs root (network namespaces and tc)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"'{tool}' (iproute2) is not installed"
    probe = f"{PREFIX}-probe-{os.getpid()}"
    made = _run("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"'ip netns add' failed: {made.stderr.strip() or made.stdout.strip()}"
    _run("ip", "netns", "del", probe, check=False)
    return None


def _alive(pid: str) -> bool:
    return pid.isdigit() and Path(f"/proc/{pid}").exists() and int(pid) != os.getpid()


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _orphans() -> list[int]:
    """Processes the tool started (a peer, or the shaper's ``tc -batch``) whose emulate
    process is gone: they run in another network namespace and their parent is not an
    ``experiments.emulate`` process."""
    try:
        host_net = os.readlink("/proc/self/ns/net")
    except OSError:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        pid = entry.name
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        cmd = _cmdline(pid)
        if "experiments.emulate_peer" not in cmd and not cmd.startswith("tc -batch"):
            continue
        try:
            if os.readlink(f"/proc/{pid}/ns/net") == host_net:
                continue
            ppid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        if "experiments.emulate" not in _cmdline(ppid).replace("emulate_peer", ""):
            found.append(int(pid))
    return found


def cleanup_leftovers() -> list[str]:
    """End everything an earlier run left whose process is gone, and return what: the
    processes in its namespaces (peers, the shaper), orphaned peers in namespaces already
    unnamed, the namespaces, and veth interfaces stranded in the host namespace."""
    removed = []
    for name in _run("ip", "netns", "list", check=False).stdout.split():
        if not name.startswith(PREFIX + "-") or _alive(name.rsplit("-", 1)[-1]):
            continue
        for pid in _run("ip", "netns", "pids", name, check=False).stdout.split():
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
                removed.append(f"process {pid}")
        _run("ip", "netns", "del", name, check=False)
        removed.append(name)
    for pid in _orphans():
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            removed.append(f"process {pid}")
    for line in _run("ip", "-o", "link", "show", check=False).stdout.splitlines():
        m = re.match(r"\d+: (ss[ec])(\d+)[@:]", line)
        if m and not _alive(m.group(2)):
            _run("ip", "link", "del", m.group(1) + m.group(2), check=False)
            removed.append(f"interface {m.group(1)}{m.group(2)}")
    return removed


#: the sysctls a run records (edge namespace): which TCP was measured
TCP_SYSCTLS = ("tcp_congestion_control", "tcp_no_metrics_save", "tcp_slow_start_after_idle",
               "tcp_frto", "tcp_early_retrans", "tcp_recovery", "tcp_retries2",
               "tcp_thin_linear_timeouts", "tcp_sack", "tcp_dsack", "tcp_timestamps",
               "tcp_window_scaling", "tcp_comp_sack_delay_ns", "tcp_autocorking",
               "tcp_min_rtt_wlen", "tcp_reordering", "tcp_wmem", "tcp_rmem")
GATE_OPEN = ("rate", "10gbit", "burst", "4mb")  # the gate qdisc, transparent
GATE_CLOSED = ("rate", "50mbit", "burst", "32")  # no packet fits 32 bytes: nothing leaves


def _mac(ns: str, iface: str) -> str:
    out = _run("ip", "-n", ns, "-o", "link", "show", iface).stdout
    return re.search(r"link/ether ([0-9a-f:]{17})", out).group(1)


@dataclass
class Testbed:
    """Two namespaces and a veth pair; the edge side's egress is shaped by HTB, whose class
    feeds a gate (a TBF that is transparent when open and serves nothing when closed) over a
    FIFO of ``buffer_packets`` full-size packets. A zero-capacity segment closes the link:
    the gate stops serving what it holds and a TUN device takes the route to the cloud, so
    packets sent meanwhile are held by the ``gate`` peer process (up to ``buffer_packets``);
    reopening serves the gate's queue first, then the held packets, at the new rate. With
    ``one_way_delay_s`` > 0, a delay line (``delay`` peer, a TUN device in the cloud
    namespace) holds every cloud-to-edge packet for the whole RTT (twice the one-way delay):
    the sender sees the same round trips as with half the delay each way, and the last byte
    reaches the receiver one one-way delay earlier, which :func:`replay` adds back."""

    one_way_delay_s: float = 0.0
    tag: str = field(default_factory=lambda: str(os.getpid()))
    buffer_packets: int = 1000
    cc: str | None = None
    hold: bool = True
    delay_emulated: bool = False
    processes: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.edge_ns = f"{PREFIX}-edge-{self.tag}"
        self.cloud_ns = f"{PREFIX}-cloud-{self.tag}"
        short = self.tag[-9:]
        self.edge_if, self.cloud_if = f"sse{short}", f"ssc{short}"
        self.edge_tun, self.cloud_tun = f"sst{short}", f"ssd{short}"
        self._tc: subprocess.Popen | None = None
        self._gate: subprocess.Popen | None = None
        self.closed = False
        self.sysctls: dict[str, str] = {}
        self.gate_log: list[str] = []
        self.t0 = 0.0
        if not Path("/dev/net/tun").exists():
            self.hold = False

    def __enter__(self) -> Testbed:
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _gate_cmd(self, args: tuple[str, ...]) -> list[str]:
        return ["tc", "qdisc", "change", "dev", self.edge_if, "parent", "1:1", "handle", "10:",
                "tbf", *args, "limit", str(self.buffer_packets * 1514)]

    def _create(self) -> None:
        ns = (self.edge_ns, self.cloud_ns)
        for name in ns:
            _run("ip", "netns", "add", name)
        # the pair is born inside the namespaces (never in the host's, where a kill -9
        # could strand it); kernels that refuse that get it moved in (cleanup finds those)
        made = _run("ip", "link", "add", self.edge_if, "netns", ns[0], "type", "veth",
                    "peer", "name", self.cloud_if, "netns", ns[1], check=False)
        if made.returncode != 0:
            _run("ip", "link", "add", self.edge_if, "type", "veth", "peer", "name",
                 self.cloud_if)
            for iface, name in ((self.edge_if, ns[0]), (self.cloud_if, ns[1])):
                _run("ip", "link", "set", iface, "netns", name)
        for iface, name, ip in ((self.edge_if, ns[0], EDGE_IP), (self.cloud_if, ns[1], CLOUD_IP)):
            _run("ip", "-n", name, "addr", "add", f"{ip}/30", "dev", iface)
            _run("ip", "-n", name, "link", "set", iface, "up")
            _run("ip", "-n", name, "link", "set", "lo", "up")
            # packets come back on the veth while the route to the peer may be a TUN device
            _run("ip", "netns", "exec", name, "sysctl", "-q", "-w",
                 "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
                 f"net.ipv4.conf.{iface}.rp_filter=0")
        # no cwnd/ssthresh carried between connections (or runs) by the metrics cache; the
        # congestion control is set per socket by the sender (a namespace may only default
        # to one the host allows), and tried here as the namespace's default too
        _run("ip", "netns", "exec", ns[0], "sysctl", "-q", "-w",
             "net.ipv4.tcp_no_metrics_save=1")
        if self.cc:
            _run("ip", "netns", "exec", ns[0], "sysctl", "-q", "-w",
                 f"net.ipv4.tcp_congestion_control={self.cc}", check=False)
        self.sysctls = self.read_sysctls()
        if self.cc:
            self.sysctls["socket_congestion_control"] = self.cc
        _run("ip", "netns", "exec", ns[0], "tc", "qdisc", "add", "dev", self.edge_if, "root",
             "handle", "1:", "htb", "default", "1", "r2q", "100")
        _run("ip", "netns", "exec", ns[0], "tc", "class", "add", "dev", self.edge_if,
             "parent", "1:", "classid", "1:1", "htb", *self._rate_args(10e6))
        add = self._gate_cmd(GATE_OPEN)
        add[2] = "add"
        _run("ip", "netns", "exec", ns[0], *add)
        if self.hold:
            closed, opened = self._gate_cmd(GATE_CLOSED), self._gate_cmd(GATE_OPEN)
            self._gate = self._peer("edge", ["gate", self.edge_tun, self.edge_if,
                                             _mac(ns[1], self.cloud_if), CLOUD_IP, EDGE_IP,
                                             str(self.buffer_packets), "--", *closed, ";;",
                                             *opened])
            self.gate_log = _lines(self._gate)
        if self.one_way_delay_s > 0:
            self._peer("cloud", ["delay", self.cloud_tun, self.cloud_if,
                                 _mac(ns[0], self.edge_if), EDGE_IP, CLOUD_IP,
                                 repr(2 * self.one_way_delay_s)])
            self.delay_emulated = True
        self._tc = subprocess.Popen(["ip", "netns", "exec", ns[0], "tc", "-batch", "-"],
                                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True, bufsize=1)

    def _peer(self, where: str, args: list[str]) -> subprocess.Popen:
        """Start a long-running peer (gate, delay line) and wait for its ``ready``."""
        p = self.spawn(where, [sys.executable, "-m", "experiments.emulate_peer", *args])
        line = p.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"{args[0]} did not start: {line} {p.stderr.read()[:300]}")
        return p

    def read_sysctls(self) -> dict[str, str]:
        """The edge namespace's TCP settings (``net.ipv4.*``) and the initial window of
        its route to the cloud (the kernel's 10 segments unless the route says)."""
        base = "/proc/sys/net/ipv4/"
        got = _run("ip", "netns", "exec", self.edge_ns, "sh", "-c",
                   "; ".join(f"echo {k}=$(cat {base}{k} 2>/dev/null)" for k in TCP_SYSCTLS),
                   check=False).stdout
        out = dict(line.split("=", 1) for line in got.splitlines() if "=" in line)
        route = _run("ip", "-n", self.edge_ns, "route", "get", CLOUD_IP, check=False).stdout
        m = re.search(r"initcwnd (\d+)", route)
        out["initcwnd"] = m.group(1) if m else "10 (kernel default)"
        out["delayed_ack"] = ("kernel default (40 ms minimum, quick ACKs in slow start); "
                              "no quickack route option")
        out["kernel"] = os.uname().release
        return out

    @staticmethod
    def _rate_args(bits_per_s: float) -> list[str]:
        rate = max(int(bits_per_s), MIN_RATE_BITS_PER_S)
        burst = max(1600, rate // 8 // 1000)  # >= 1 ms of data at the rate
        return ["rate", f"{rate}bit", "ceil", f"{rate}bit", "burst", f"{burst}b",
                "cburst", f"{burst}b", "quantum", "1514"]

    def set_rate(self, bytes_per_s: float) -> None:
        """Change the shaped rate now (HTB class 1:1)."""
        line = " ".join(["class", "change", "dev", self.edge_if, "parent", "1:", "classid",
                         "1:1", "htb", *self._rate_args(bytes_per_s * 8)])
        self._tc.stdin.write(line + "\n")
        self._tc.stdin.flush()

    def set_capacity(self, bytes_per_s: float) -> None:
        """Follow the trace: a positive capacity sets the rate (and reopens a closed link);
        zero closes the link (packets held, none served) where the gate runs, else it
        becomes ``MIN_RATE_BITS_PER_S``."""
        if bytes_per_s <= 0 and self._gate is not None:
            if not self.closed:
                self._gate.stdin.write("close\n")
                self._gate.stdin.flush()
                self.closed = True
            return
        self.set_rate(bytes_per_s)
        if self.closed:
            self._gate.stdin.write("open\n")
            self._gate.stdin.flush()
            self.closed = False

    def gate_events(self) -> list[dict]:
        """The gate's switches so far (``closed``/``opened`` and when its commands were
        done, ``time.monotonic()``; ``held``, ``dropped`` packets)."""
        return [json.loads(x) for x in list(self.gate_log) if x.startswith("{")]

    def spawn(self, where: str, args: list[str], stdin_line: str | None = None
              ) -> subprocess.Popen:
        """Start ``args`` in the edge or cloud namespace (``stdin_line``: written to its
        stdin, which is then closed)."""
        ns = self.edge_ns if where == "edge" else self.cloud_ns
        p = subprocess.Popen(["ip", "netns", "exec", ns, *args], cwd=REPO_ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, bufsize=1)
        self.processes.append(p)
        if stdin_line is not None:
            p.stdin.write(stdin_line + "\n")
            p.stdin.close()
        return p

    def close(self) -> None:
        for p in self.processes:
            if p.poll() is None:
                p.kill()
            p.wait()
        self.processes.clear()
        self._gate = None
        if self._tc is not None:
            if self._tc.poll() is None:
                self._tc.kill()
            self._tc.wait()
            self._tc = None
        for name in (self.edge_ns, self.cloud_ns):  # deleting a namespace deletes its veth
            _run("ip", "netns", "del", name, check=False)


def tc_trace(trace: Trace, step_s: float) -> Trace:
    """The trace as replayed: unchanged if its segments last >= ``step_s``, else averaged
    over ``step_s`` bins (same cumulative capacity at every bin edge): ``Trace.smoothed``."""
    return trace.smoothed(step_s)


def _lines(p: subprocess.Popen) -> list[str]:
    """Lines ``p`` prints, collected by a thread as they come (a full pipe would stall
    it); complete once ``p`` has exited and the thread (``lines.reader``) joined."""
    lines: list[str] = []
    t = threading.Thread(target=lambda: lines.extend(p.stdout), daemon=True)
    t.start()
    p.reader = t
    return lines


def replay(bed: Testbed, trace: Trace, transfers: list[tuple[int, float, int]], *,
           per_request: bool = False, lead_s: float = 1.0, max_s: float = 600.0,
           arrivals: bool = False) -> tuple[list[dict], list[float]]:
    """Send ``transfers`` ([id, start_s, size]) while shaping by ``trace``; returns one dict
    per completed transfer (start_s, end_s relative to the replay's time 0, ``tcp``: the
    socket's TCP_INFO after it, ``counters``: the namespace's TCP counters that changed
    during it; with ``arrivals``, ``[time, bytes so far]`` at the receiver) and the lag of
    each rate change behind its scheduled time. Where the delay line holds the whole RTT
    on the return path, the one-way delay is added to the receiver's times."""
    recv = bed.spawn("cloud", [sys.executable, "-m", "experiments.emulate_peer", "serve",
                               CLOUD_IP, str(PORT)] + (["--arrivals"] if arrivals else []))
    line = recv.stdout.readline().strip()
    if line != "ready":
        raise RuntimeError(f"receiver did not start: {line} {recv.stderr.read()[:300]}")
    got_lines = _lines(recv)
    bed.set_capacity(trace.capacity_at(0.0))
    t0 = time.monotonic() + lead_s
    send_args = [sys.executable, "-m", "experiments.emulate_peer", "send", CLOUD_IP,
                 str(PORT), repr(t0), "-"] + (["--per-request"] if per_request else []) + (
                     ["--cc", bed.cc] if bed.cc else [])
    sender = bed.spawn("edge", send_args, stdin_line=json.dumps(transfers))
    sent_lines = _lines(sender)
    lags, boundary = [], trace.next_change_s(0.0)
    while sender.poll() is None:
        now = time.monotonic() - t0
        if now > max_s:
            sender.kill()
            break
        if boundary <= now:
            bed.set_capacity(trace.capacity_at(boundary))
            lags.append(time.monotonic() - t0 - boundary)
            boundary = trace.next_change_s(boundary)
        else:
            time.sleep(min(boundary - now, 0.02))
    sender.wait()
    sender.reader.join()
    sent = [json.loads(x) for x in sent_lines if x.startswith("{")]
    err = sender.stderr.read()
    time.sleep(0.05)
    recv.kill()
    recv.wait()
    recv.reader.join()
    got = {d["id"]: d for d in (json.loads(x) for x in got_lines if x.startswith("{"))}
    if not sent and transfers and err:
        raise RuntimeError(f"sender failed: {err.strip().splitlines()[-1]}")
    shift = bed.one_way_delay_s if bed.delay_emulated else 0.0
    rows = []
    for s in sent:
        if s["id"] not in got:
            continue
        g = got[s["id"]]
        row = {"id": s["id"], "start_s": s["start"] - t0, "end_s": g["end"] - t0 + shift,
               "size_bytes": g["size"], "tcp": s.get("tcp", {}), "cc": s.get("cc"),
               "counters": s.get("counters", {})}
        if arrivals:
            row["arrivals"] = [[t - t0 + shift, n] for t, n in g["arrivals"]]
        rows.append(row)
    bed.t0 = t0
    return rows, lags


def predicted_s(trace: Trace, start_s: float, size_bytes: float, efficiency: float,
                one_way_s: float) -> float:
    """Fluid model: time from start until the last byte arrives."""
    return trace.finish_time(start_s, size_bytes / efficiency) - start_s + one_way_s


def min_capacity(trace: Trace, t0_s: float, t1_s: float) -> float:
    """The smallest capacity the trace offers on ``[t0_s, t1_s)`` (bytes/s)."""
    low, t = trace.capacity_at(t0_s), trace.next_change_s(t0_s)
    while t < t1_s:
        low = min(low, trace.capacity_at(t))
        t = trace.next_change_s(t)
    return low


def annotate(df: pd.DataFrame, traces: dict[str, Trace]) -> pd.DataFrame:
    """Per transfer: measured time, the fluid prediction at efficiency 1, the efficiency it
    achieved (bytes / capacity integral while it was on the wire) and whether an outage
    (capacity below OUTAGE_MBPS) fell inside it."""
    df = df.copy()
    df["measured_s"] = df["end_s"] - df["start_s"]
    df["predicted_s"] = [predicted_s(traces[r.trace], r.start_s, r.size_bytes, 1.0,
                                     r.one_way_s) for r in df.itertuples()]
    df["rel_error"] = df["measured_s"] / df["predicted_s"] - 1
    cap = [traces[r.trace].bytes_between(r.start_s, r.end_s - r.one_way_s)
           for r in df.itertuples()]
    df["efficiency"] = [b / c if c > 0 else math.nan
                        for b, c in zip(df["size_bytes"], cap, strict=True)]
    outage_bytes_per_s = mbps_to_bytes_per_s(OUTAGE_MBPS)
    df["outage"] = [min_capacity(traces[r.trace], r.start_s, r.end_s) < outage_bytes_per_s
                    for r in df.itertuples()]
    return df


def fit_efficiency(df: pd.DataFrame) -> float:
    """The link efficiency: median of the per-transfer efficiencies of large transfers
    (>= 1 MB) that crossed no outage (outages are a different effect, reported apart)."""
    ok = df[(df["size_bytes"] >= LARGE_BYTES) & ~df["outage"]]
    return float(ok["efficiency"].median()) if len(ok) else math.nan


def transfers_for(trace_path: str, policy: str, args) -> list[tuple[int, float, int]]:
    s = Scenario(policies=[policy], trace=trace_path, requests=args.requests,
                 interval_s=args.interval, seed=args.seed, quality_cache="none",
                 rtt_ms=args.rtt)
    rec = run(s).requests
    rec = rec[np.isfinite(rec["link_start_s"]) & (rec["payload_bytes"] > 0)]
    rec = rec[rec["link_start_s"] <= args.max_seconds]
    return [(int(r.request), float(r.link_start_s), int(r.payload_bytes))
            for r in rec.itertuples()]


RAW_COLUMNS = ["trace", "policy", "id", "start_s", "end_s", "size_bytes", "one_way_s"]
SETTINGS = ("policy", "requests", "interval", "max_seconds", "rtt", "tc_step", "per_request",
            "seed", "buffer_packets", "cc", "transfers", "grid", "connection", "trickle",
            "sizes", "zero_below")


class Progress:
    """Raw per-transfer results in ``DIR/raw.csv`` (+ ``DIR/run.json``), written after every
    (trace, policy) replay, so an interrupted run resumes without redoing finished ones."""

    def __init__(self, out: str | None, args, columns: list[str] = RAW_COLUMNS):
        self.dir = Path(out) if out else None
        self.columns = columns
        self.settings = {k: getattr(args, k, None) for k in SETTINGS}
        self.rows: list[dict] = []
        self.info: dict = {"lag_s": []}
        if self.dir is None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        run_json, raw = self.dir / "run.json", self.dir / "raw.csv"
        if run_json.exists():
            saved = json.loads(run_json.read_text())
            if saved.get("settings") != self.settings:
                raise InputError("results there were made with other settings; use another "
                                 "--out or delete it", str(self.dir))
            self.info = saved.get("info", self.info)
            if raw.exists():
                self.rows = pd.read_csv(raw).to_dict("records")

    def done(self, trace: str, policy: str) -> bool:
        return any(r["trace"] == trace and r.get("policy", f"{r.get('set')}/"
                                                  f"{r.get('connection')}") == policy
                   for r in self.rows) or (
            [trace, policy] in self.info.get("empty", []))

    def add(self, trace: str, policy: str, rows: list[dict], lags: list[float]) -> None:
        self.rows += rows
        self.info["lag_s"] += lags
        if not rows:
            self.info.setdefault("empty", []).append([trace, policy])
        if self.dir is None:
            return
        from experiments.store import atomic_write, atomic_write_text

        atomic_write(self.dir / "raw.csv", lambda p: pd.DataFrame(
            self.rows, columns=self.columns).to_csv(p, index=False, float_format="%.9g"))
        atomic_write_text(self.dir / "run.json", json.dumps(
            {"settings": self.settings, "info": self.info}) + "\n")


# ------------------------------------------------------------------ chosen transfers
GRID_SIZES = (22_000, 1_000_000, 5_500_000)
GRID_LEADS_S = (0.2, 0.5)  # starts this long before a zero-capacity stretch
KEPT_COUNTERS = ("TcpExtTCPTimeouts", "TcpExtTCPSpuriousRTOs", "TcpExtTCPLossProbes",
                 "TcpExtTCPLossProbeRecovery", "TcpExtTCPLossUndo", "TcpExtTCPSlowStartRetrans",
                 "TcpExtTCPSpuriousRtxHostQueues", "TcpExtTCPDSACKRecv", "TcpExtTCPFastRetrans",
                 "TcpRetransSegs")
TRANSFER_COLUMNS = [
    "trace", "set", "connection", "cc", "rtt_ms", "id", "kind", "lead_s", "trace_start_s",
    "start_s", "late_s", "end_s", "size_bytes", "one_way_s", "measured_s", "fluid_s",
    "fluid_hdr_s", "tcp_model_s", "crosses_outage", "zero_s", "rel_error_fluid",
    "rel_error_fluid_hdr", "rel_error_tcp_model", "rto_ms", "backoff", "cwnd", "ssthresh",
    "total_retrans", *KEPT_COUNTERS, "counters"]
HEADER_EFFICIENCY = 1448 / 1514  # payload per full-size frame (TCP timestamps, Ethernet)


def low_stretches(trace: Trace, threshold: float) -> list[tuple[float, float]]:
    """(start, duration) of each stretch where the trace's capacity is below ``threshold``,
    over one pass of the trace."""
    out, t, start = [], 0.0, None
    while t < trace.duration_s:
        low = trace.capacity_at(t) < threshold
        if low and start is None:
            start = t
        elif not low and start is not None:
            out.append((start, t - start))
            start = None
        t = trace.next_change_s(t)
    if start is not None:
        out.append((start, trace.duration_s - start))
    return out


def zero_below(trace: Trace, threshold: float) -> Trace:
    """The trace with capacities below ``threshold`` set to zero (true outages)."""
    if threshold <= 0:
        return trace
    times = np.asarray(trace.times_s, dtype=float)
    caps = np.array([trace.capacity_at(t) for t in times])
    caps[caps < threshold] = 0.0
    return Trace.from_arrays(times, caps, last_duration_s=float(trace.duration_s - times[-1]),
                             end=trace.end, name=trace.name)


def grid_transfers(trace: Trace, sizes=GRID_SIZES, leads=GRID_LEADS_S, outages: int = 3,
                   calm: int = 3) -> list[dict]:
    """Transfers at chosen starts: each size ``lead`` s before each of up to ``outages``
    zero-capacity stretches (spread over the trace), and at ``calm`` starts whose
    transfers meet no outage (on the fluid link, with margin)."""
    zeros = [z for z in low_stretches(trace, 1e-9) if z[0] >= 1.0]
    pick = [zeros[round(i)] for i in np.linspace(0, len(zeros) - 1, min(outages, len(zeros)))
            ] if zeros else []
    out = [{"trace_start_s": z[0] - lead, "size_bytes": size, "kind": "outage"}
           for z in pick for lead in leads for size in sizes]
    longest = max(sizes)
    calm_starts, t = [], 2.0
    step = trace.duration_s / (calm + 1)
    for i in range(calm):
        t = max(t, step * (i + 1))
        while t < trace.duration_s - 1:
            end = trace.finish_time(t, longest / 0.9)
            if min_capacity(trace, t - 2.0, 2 * end - t + 2.0) > 0:
                break
            t += 0.5
        if t < trace.duration_s - 1:
            calm_starts.append(t)
            t += 1.0
    out += [{"trace_start_s": float(t), "size_bytes": size, "kind": "calm"}
            for t in calm_starts for size in sizes]
    return out


def read_transfers(path: str) -> list[dict]:
    """``start_s,size_bytes`` rows of a CSV file (a ``kind`` column is kept)."""
    try:
        df = pd.read_csv(check_input_file(path, "transfers"))
        rows = [{"trace_start_s": float(r.start_s), "size_bytes": int(r.size_bytes),
                 "kind": str(getattr(r, "kind", "chosen"))} for r in df.itertuples()]
    except (AttributeError, ValueError) as err:
        raise InputError(f"needs columns start_s,size_bytes ({err})", path) from None
    if not rows or any(r["size_bytes"] <= 0 or r["trace_start_s"] < 0 for r in rows):
        raise InputError("needs start_s >= 0 and size_bytes > 0 on every row", path)
    return rows


def windowed(trace: Trace, chosen: list[dict], pre_s: float = 1.5, post_s: float = 3.0
             ) -> tuple[Trace, list[dict]]:
    """One window of the trace per transfer, ``[start - pre_s, start + 2 x its fluid time +
    post_s)``, laid end to end in the order given: the replayed trace, and the transfers
    with their start on it (``start_s``) and the window's offset."""
    times, caps, out, offset = [], [], [], 0.0
    for c in chosen:
        t0 = max(0.0, c["trace_start_s"] - pre_s)
        fluid = trace.finish_time(c["trace_start_s"], c["size_bytes"] / 0.9) - c["trace_start_s"]
        t1 = c["trace_start_s"] + 2 * fluid + post_s
        t = t0
        while t < t1:
            times.append(offset + t - t0)
            caps.append(trace.capacity_at(t))
            t = min(trace.next_change_s(t), t1)
        out.append({**c, "start_s": offset + c["trace_start_s"] - t0, "window_s": offset})
        offset += t1 - t0
    keep = [0] + [i for i in range(1, len(times)) if times[i] - times[i - 1] > 1e-9]
    times, caps = [times[i] for i in keep], [caps[i] for i in keep]
    last = offset - times[-1]
    return Trace.from_arrays(times, caps, last_duration_s=last, end="loop",
                             name=f"{trace.name} (windows)"), out


def tcp_model(trace: Trace, rows: list[dict], connection: str, cc: str | None,
              buffer_packets: int, rtt_s: float) -> list[float]:
    """The TCP model's time per transfer (``models.transport``), replaying the measured
    starts in order: one flow for a persistent connection, a new flow per transfer for new
    ones. NaN where the model is missing or knows no such congestion control."""
    try:
        from models.transport import TcpConfig, TcpFlow
    except ImportError:  # HOOK: the model of issue 17 is not there yet
        return [math.nan] * len(rows)
    model_cc = {"cubic": "cubic", "reno": "newreno", None: "cubic"}.get(cc)
    if model_cc is None:
        return [math.nan] * len(rows)
    cfg = TcpConfig(connection=connection, cc=model_cc, buffer_packets=buffer_packets)
    flow, out = None, []
    for r in rows:
        if flow is None or connection == "new":
            flow = TcpFlow(trace, cfg, rtt_s=max(rtt_s, 1e-4))
        out.append(flow.send(r["start_s"], r["size_bytes"]) - r["start_s"])
    return out


def transfer_rows(trace: Trace, chosen: list[dict], got: list[dict], *, path: str,
                  label: str, connection: str, args) -> list[dict]:
    """Per transfer: measured time, fluid predictions (efficiency 1 and headers), the TCP
    model, whether it met an outage, and what TCP reported."""
    by_id = {g["id"]: g for g in got}
    done = [{**chosen[i], **by_id[i]} for i in range(len(chosen)) if i in by_id]
    model = tcp_model(trace, done, connection, args.cc, args.buffer_packets, args.rtt / 1e3)
    zeros = low_stretches(trace, mbps_to_bytes_per_s(OUTAGE_MBPS))
    rows = []
    for r, m in zip(done, model, strict=True):
        ow = r["one_way_s"]
        fluid = predicted_s(trace, r["start_s"], r["size_bytes"], 1.0, ow)
        hdr = predicted_s(trace, r["start_s"], r["size_bytes"], HEADER_EFFICIENCY, ow)
        measured = r["end_s"] - r["start_s"]
        until = r["start_s"] + max(measured, hdr)
        met = [z for z in zeros if z[0] < until and z[0] + z[1] > r["start_s"]]
        nxt = [z[0] - r["start_s"] for z in zeros if z[0] >= r["start_s"] - 1e-9]
        tcp, counters = r.get("tcp", {}), r.get("counters", {})
        rows.append({
            "trace": path, "set": label, "connection": connection, "cc": args.cc or "",
            "rtt_ms": args.rtt, "id": r["id"], "kind": r["kind"],
            "lead_s": min(nxt) if nxt else math.nan, "trace_start_s": r["trace_start_s"],
            "start_s": r["start_s"], "late_s": r["start_s"] - r["sched_s"],
            "end_s": r["end_s"], "size_bytes": r["size_bytes"], "one_way_s": ow,
            "measured_s": measured, "fluid_s": fluid, "fluid_hdr_s": hdr, "tcp_model_s": m,
            "crosses_outage": bool(met),
            "zero_s": sum(min(z[0] + z[1], until) - max(z[0], r["start_s"]) for z in met),
            "rel_error_fluid": measured / fluid - 1, "rel_error_fluid_hdr": measured / hdr - 1,
            "rel_error_tcp_model": measured / m - 1 if math.isfinite(m) else math.nan,
            "rto_ms": tcp.get("rto", 0) / 1e3, "backoff": tcp.get("backoff"),
            "cwnd": tcp.get("snd_cwnd"), "ssthresh": tcp.get("snd_ssthresh"),
            "total_retrans": tcp.get("total_retrans"),
            **{k: counters.get(k, 0) for k in KEPT_COUNTERS},
            "counters": json.dumps(counters, sort_keys=True)})
    return rows


def emulate_transfers(args) -> pd.DataFrame:
    """Replay chosen transfers (``--transfers`` or ``--grid``) on every trace, once per
    connection kind, each in its own window of the trace; resumable with ``--out``."""
    progress = Progress(args.out, args, columns=TRANSFER_COLUMNS)
    thr = mbps_to_bytes_per_s(args.zero_below) if args.zero_below else 0.0
    sizes = tuple(int(x) for x in args.sizes.split(",")) if args.sizes else GRID_SIZES
    label = "grid" if args.grid else Path(args.transfers).name
    for path in args.trace:
        trace = zero_below(traces_of([path], args.tc_step)[path], thr)
        chosen = grid_transfers(trace, sizes) if args.grid else read_transfers(args.transfers)
        replayed, placed = windowed(trace, chosen)
        for connection in args.connection.split(","):
            key = f"{label}/{connection}"
            if progress.done(path, key):
                _say(args, f"{path} {key}: done before")
                continue
            _say(args, f"{path} {key}: {len(placed)} transfers over {replayed.duration_s:.0f} s"
                 " ...")
            todo = [(i, c["start_s"], c["size_bytes"]) for i, c in enumerate(placed)]
            with Testbed(one_way_delay_s=args.rtt / 2e3, buffer_packets=args.buffer_packets,
                         cc=args.cc, hold=not args.trickle) as bed:
                got, lags = replay(bed, replayed, todo, per_request=connection == "new",
                                   max_s=replayed.duration_s + 120)
                progress.info.update(sysctls=bed.sysctls, outages_held=bed.hold,
                                     delay_emulated=bed.delay_emulated)
                events = bed.gate_events()
                progress.info.setdefault("gate", {})[f"{path} {key}"] = {
                    "switches": len(events),
                    "held_packets": sum(e.get("held", 0) for e in events),
                    "dropped_packets": sum(e.get("dropped", 0) for e in events),
                    "close_ms_max": max((1e3 * (e["done"] - e["closed"]) for e in events
                                         if "closed" in e), default=0.0)}
            for g in got:
                g["one_way_s"] = args.rtt / 2e3 if bed.delay_emulated else 0.0
                g["sched_s"] = placed[g["id"]]["start_s"]
            progress.add(path, key, transfer_rows(replayed, placed, got, path=path, label=label,
                                                  connection=connection, args=args), lags)
    df = pd.DataFrame(progress.rows, columns=TRANSFER_COLUMNS)
    if df.empty:
        raise InputError("no transfer completed")
    return df


def remodel(src: Path, args) -> pd.DataFrame:
    """The rows of a ``--transfers``/``--grid`` run in ``src`` with the TCP model's column
    computed again by today's ``models.transport`` (its windows rebuilt from the run's
    settings; ``--zero-below``, ``--sizes`` and ``--tc-step`` as given to that run)."""
    raw = pd.read_csv(check_input_file(src / "raw.csv", "emulation transfers"))
    settings = json.loads(check_input_file(src / "run.json", "emulation run").read_text()
                          ).get("settings", {})
    return remodel_rows(raw, settings, args, f"--from {src}")


#: what the committed runs (experiments/emulation) were given beyond their run.json: the
#: commands in experiments/emulation/README.md
COMMITTED_RUN_FLAGS = {"lte50": {"zero_below": 0.1}, "lte50_trickle": {"zero_below": 0.1},
                       "att50": {"sizes": "22000,1000000"}}


def remodel_committed(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``folder``'s outages.csv (the committed runs' raw.csv, concatenated in the order of
    its run_info.json) with the TCP model's column computed again by today's model: the
    rows split back into their runs (consecutive blocks of one trace, RTT and outage kind),
    each remodelled as ``--from`` does with that run's flags; and the per-run error table
    (summary.csv: :func:`transfer_summary` of each run, its name in ``run``)."""
    rows = pd.read_csv(check_input_file(folder / "outages.csv", "emulation outages"))
    info = json.loads(check_input_file(folder / "run_info.json", "emulation runs").read_text())
    key = rows[["trace", "rtt_ms", "outages"]]
    block = (key != key.shift()).any(axis=1).cumsum()
    if block.max() != len(info):
        raise InputError(f"{block.max()} runs in outages.csv, {len(info)} in run_info.json",
                         str(folder))
    out, tables = [], []
    for (name, entry), (_, raw) in zip(info.items(), rows.groupby(block, sort=True),
                                       strict=True):
        settings = entry["settings"]
        flags = argparse.Namespace(**{"zero_below": None, "sizes": None, "tc_step": settings.get(
            "tc_step", 0.1), **COMMITTED_RUN_FLAGS.get(name, {})})
        out.append(remodel_rows(raw, settings, flags, f"{folder} ({name})"))
        tables.append(transfer_summary(out[-1]).assign(run=name))
    summary = pd.concat(tables)
    return pd.concat(out)[rows.columns], summary[["run"] + [c for c in summary.columns
                                                            if c != "run"]]


def remodel_rows(raw: pd.DataFrame, settings: dict, args, where: str) -> pd.DataFrame:
    """:func:`remodel` of one run's rows and settings (``where`` names them in errors)."""
    if not (settings.get("grid") or settings.get("transfers")) or "set" not in raw:
        raise InputError("not a --transfers or --grid run", where)
    thr = mbps_to_bytes_per_s(args.zero_below) if args.zero_below else 0.0
    sizes = tuple(int(x) for x in args.sizes.split(",")) if args.sizes else GRID_SIZES
    out = []
    for (path, connection), d in raw.groupby(["trace", "connection"], sort=False):
        trace = zero_below(traces_of([path], args.tc_step)[path], thr)
        chosen = (grid_transfers(trace, sizes) if settings.get("grid")
                  else read_transfers(settings["transfers"]))
        replayed, placed = windowed(trace, chosen)
        d = d.sort_values("id").copy()
        if d["id"].max() >= len(placed) or any(
                abs(placed[i]["trace_start_s"] - t) > 1e-6 or placed[i]["size_bytes"] != n
                for i, t, n in zip(d["id"], d["trace_start_s"], d["size_bytes"], strict=True)):
            raise InputError("the transfers differ from the run's: give --zero-below and "
                             "--sizes as that run had them", where)
        model = tcp_model(replayed, d.to_dict("records"), connection, settings.get("cc"),
                          settings.get("buffer_packets", 1000), settings.get("rtt", 0.0) / 1e3)
        d["tcp_model_s"] = model
        d["rel_error_tcp_model"] = d["measured_s"] / d["tcp_model_s"] - 1
        out.append(d)
    return pd.concat(out)


def transfer_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Median and 90th percentile of |relative error|, calm vs outage crossings, per trace
    and connection: fluid at efficiency 1, fluid with headers, the TCP model."""
    out = []
    for (trace, conn, crossed), d in df.groupby(["trace", "connection", "crosses_outage"],
                                                sort=False):
        row = {"trace": Path(trace).name, "connection": conn,
               "transfers": "outage" if crossed else "calm", "n": len(d)}
        for col, name in (("rel_error_fluid", "fluid"), ("rel_error_fluid_hdr", "fluid_hdr"),
                          ("rel_error_tcp_model", "tcp_model")):
            err = d[col].abs()
            row[f"{name}_median"] = float(err.median())
            row[f"{name}_p90"] = float(err.quantile(0.9))
        out.append(row)
    return pd.DataFrame(out)


def _say(args, line: str) -> None:
    """A progress line on stderr (a replay takes minutes), unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(line, file=sys.stderr, flush=True)


def emulate(args) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Replay every (trace, policy), skipping those ``--out`` already holds."""
    progress = Progress(args.out, args)
    traces = traces_of(args.trace, args.tc_step)
    for path, trace in traces.items():
        one_way = args.rtt / 2e3
        for policy in args.policy.split(","):
            if progress.done(path, policy):
                _say(args, f"{path} {policy}: done before")
                continue
            todo = transfers_for(path, policy, args)
            _say(args, f"{path} {policy}: {len(todo)} transfers ...")
            got, lags, delay = [], [], 0.0
            if todo:
                with Testbed(one_way_delay_s=one_way if args.rtt > 0 else 0.0,
                             buffer_packets=args.buffer_packets, cc=args.cc,
                             hold=not args.trickle) as bed:
                    got, lags = replay(bed, trace, todo, per_request=args.per_request,
                                       max_s=args.max_seconds + 300)
                    delay = one_way if bed.delay_emulated else 0.0
                    progress.info["delay_emulated"] = bed.delay_emulated
                    progress.info["outages_held"] = bed.hold
                    progress.info["sysctls"] = bed.sysctls
            progress.add(path, policy, [{"trace": path, "policy": policy, **g,
                                         "one_way_s": delay} for g in got], lags)
    df = pd.DataFrame(progress.rows, columns=RAW_COLUMNS)
    df = df[df["trace"].isin(traces)]
    if df.empty:
        raise InputError("no transfer completed (no policy sends anything here?)")
    return analyse(df, traces, progress.info)


def analyse(df: pd.DataFrame, traces: dict[str, Trace], info: dict
            ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Predictions, fitted efficiency, and the per-trace, per-policy error summary."""
    df = annotate(df, traces)
    eta = fit_efficiency(df)
    info["efficiency"] = eta
    use = eta if math.isfinite(eta) else 1.0
    df["predicted_fit_s"] = [predicted_s(traces[r.trace], r.start_s, r.size_bytes, use,
                                         r.one_way_s) for r in df.itertuples()]
    df["rel_error_fit"] = df["measured_s"] / df["predicted_fit_s"] - 1
    out = []
    for (trace, policy), d in df.groupby(["trace", "policy"], sort=False):
        clean = d[~d["outage"]]
        out.append({
            "trace": trace, "policy": policy, "size_bytes": int(d["size_bytes"].median()),
            "n": len(d), "outage": int(d["outage"].sum()),
            "median_rel_error": float(clean["rel_error"].median()),
            "median_rel_error_fit": float(clean["rel_error_fit"].median()),
            "p95_abs_rel_error_fit": float(clean["rel_error_fit"].abs().quantile(0.95)),
            "median_error_ms_fit": float((clean["measured_s"] - clean["predicted_fit_s"])
                                         .median() * 1e3),
            "max_rel_error_outage": float(d.loc[d["outage"], "rel_error_fit"].max())
            if d["outage"].any() else math.nan,
            "efficiency": float(clean.loc[clean["size_bytes"] >= LARGE_BYTES,
                                          "efficiency"].median())})
    return df, pd.DataFrame(out), info


def traces_of(paths, step_s: float) -> dict[str, Trace]:
    return {p: tc_trace(build_trace(Scenario(trace=p)), step_s) for p in paths}


def draw(df: pd.DataFrame, eta: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from experiments.figures import OKABE_ITO, RC

    plt.rcParams.update(RC)
    fig, ax = plt.subplots(figsize=(3.5, 3.3), layout="constrained")
    colours = list(OKABE_ITO.values())[1:]
    for i, (trace, d) in enumerate(df.groupby("trace", sort=False)):
        c = colours[i % len(colours)]
        label = Path(trace).name.removesuffix(".csv")
        calm, hit = d[~d["outage"]], d[d["outage"]]
        ax.scatter(calm["predicted_s"], calm["measured_s"], s=9, facecolors="none",
                   edgecolors=c, lw=0.7, label=label)
        ax.scatter(calm["predicted_fit_s"], calm["measured_s"], s=6, color=c, lw=0)
        ax.scatter(hit["predicted_fit_s"], hit["measured_s"], s=14, color=c, marker="x",
                   lw=0.8)
    lo = max(1e-4, float(min(df["predicted_s"].min(), df["measured_s"].min())) / 1.5)
    hi = float(max(df["predicted_s"].max(), df["measured_s"].max())) * 1.5
    ax.plot([lo, hi], [lo, hi], color="0.5", lw=0.7, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(f"fluid prediction (s): hollow eff. 1, filled eff. {eta:.3f}")
    ax.scatter([], [], s=14, color="0.3", marker="x", lw=0.8, label="crossed an outage")
    ax.set_ylabel("measured over TCP in namespaces (s)")
    ax.legend(loc="upper left", fontsize=6, handletextpad=0.2, borderaxespad=0.2)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    fig.savefig(path.with_suffix(".pdf"),
                metadata={"CreationDate": None, "Creator": None, "Producer": None})
    plt.close(fig)


def _on_sigterm(_signum, _frame) -> None:
    raise KeyboardInterrupt


@command
def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 3 skipped, 130 interrupted)."""
    ap = Parser(prog="python -m experiments.emulate", description=__doc__.splitlines()[0])
    ap.add_argument("--trace", action="append", help="trace file (repeat for several)")
    ap.add_argument("--policy", default="int8,int4,scout")
    add_common(ap, "requests", default=10, help=None)
    ap.add_argument("--interval", type=float, default=3.0, help="mean gap between requests")
    ap.add_argument("--max-seconds", type=float, default=60.0,
                    help="replay only transfers that start in the first S seconds")
    ap.add_argument("--rtt", type=float, default=0.0,
                    help="RTT to emulate with netem, ms (0: the veth's own)")
    ap.add_argument("--tc-step", type=float, default=0.1)
    ap.add_argument("--per-request", action="store_true", help="a new connection per transfer")
    ap.add_argument("--buffer-packets", type=int, default=1000,
                    help="the shaper's queue, in full-size packets (and as many held "
                    "during a zero-capacity stretch)")
    ap.add_argument("--trickle", action="store_true",
                    help="zero capacity as an 8 kbit/s trickle, as before outages were held "
                    "(for comparison)")
    ap.add_argument("--cc", choices=("cubic", "reno", "bbr"),
                    help="congestion control of the sender's sockets (TCP_CONGESTION; "
                    "default: the namespace's, which it inherits from the host)")
    add_common(ap, "seed", help=None)
    add_common(ap, "out", help="folder for transfers.csv, summary.csv, info.json (with "
               "--transfers/--grid: raw.csv, one row per transfer, summary.csv, run.json); a "
               "rerun with the same settings resumes there")
    chosen = (  # chosen transfers instead of a scenario's
        ("--transfers", {"metavar": "FILE.csv", "help": "replay these transfers (columns "
                         "start_s,size_bytes, times on the trace), each in its own window"}),
        ("--grid", {"action": "store_true", "help": "replay each --sizes payload 0.2 and "
                    "0.5 s before up to 3 zero-capacity stretches, and at 3 calm starts"}),
        ("--sizes", {"help": "--grid's payloads, bytes (default 22000,1000000,5500000)"}),
        ("--connection", {"help": "with --transfers/--grid: new, persistent or "
                          "new,persistent (default persistent; new with --per-request)"}),
        ("--zero-below", {"type": float, "default": 0.0, "metavar": "MBPS",
                          "help": "capacity below this is an outage (zero) in the replay "
                          "and the predictions (default 0: the trace as it is)"}))
    for flag, kw in chosen:
        ap.add_argument(flag, **kw)
    ap.add_argument("--figure", help="predicted vs measured figure (PNG; a PDF beside it)")
    ap.add_argument("--cleanup", action="store_true", help="remove leftovers and exit")
    add_common(ap, "quiet", help="no progress lines on stderr")
    ap.add_argument("--from", dest="from_dir", help="re-analyse DIR/transfers.csv of an "
                    "earlier run (no emulation, no root); for a --transfers/--grid run "
                    "(DIR/raw.csv), the TCP model's column again (--out: the new raw.csv)")
    args = ap.parse_args(argv)
    if args.from_dir and (Path(args.from_dir) / "run_info.json").exists():
        df, summary = remodel_committed(Path(args.from_dir))  # the committed runs, together
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            df.to_csv(Path(args.out) / "outages.csv", index=False, float_format="%.9g")
            summary.to_csv(Path(args.out) / "summary.csv", index=False, float_format="%.6g")
        print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        return 0
    if args.from_dir and (Path(args.from_dir) / "raw.csv").exists() and not (
            Path(args.from_dir) / "transfers.csv").exists():
        df = remodel(Path(args.from_dir), args)
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            df.to_csv(Path(args.out) / "raw.csv", index=False, float_format="%.9g")
        return report_transfers(df, args)
    if args.from_dir:
        src = Path(args.from_dir)
        try:
            df = pd.read_csv(check_input_file(src / "transfers.csv", "emulation transfers"))
            df = df[RAW_COLUMNS]
            info = json.loads(check_input_file(src / "info.json", "emulation info").read_text())
        except (KeyError, ValueError, UnicodeDecodeError) as err:  # InputError passes through
            if isinstance(err, InputError):
                raise
            raise InputError(f"not the output of an emulation run ({type(err).__name__}: "
                             f"{str(err).splitlines()[0][:80]})", f"--from {src}") from None
        df, summary, info = analyse(df, traces_of(list(dict.fromkeys(df["trace"])),
                                                  args.tc_step), info)
        return report(df, summary, info, args)
    why = unavailable_reason()
    if why is not None:
        print(f"skipped: {why}", file=sys.stderr)
        return SKIPPED
    if args.cleanup:
        gone = cleanup_leftovers()
        print(f"removed {len(gone)} leftovers" + (f": {', '.join(gone)}" if gone else ""))
        return 0
    if not args.trace:
        args.trace = ["traces/lte.csv"]
    if args.connection is None:
        args.connection = "new" if args.per_request else "persistent"
    if set(args.connection.split(",")) - {"new", "persistent"}:
        raise InputError("--connection takes new, persistent or new,persistent",
                         args.connection)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        for t in args.trace:
            if not resolve_path(t).exists():
                raise InputError("trace file not found", t)
        if args.transfers or args.grid:
            return report_transfers(emulate_transfers(args), args)
        df, summary, info = emulate(args)
    except KeyboardInterrupt:
        print("interrupted (namespaces removed)", file=sys.stderr)
        return 130
    return report(df, summary, info, args)


def report_transfers(df: pd.DataFrame, args) -> int:
    """Print (and with ``--out`` write ``summary.csv``) the error table of chosen transfers;
    the per-transfer rows are ``DIR/raw.csv``."""
    summary = transfer_summary(df)
    if args.out:
        summary.to_csv(Path(args.out) / "summary.csv", index=False, float_format="%.6g")
    pd.set_option("display.width", 200)
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    return 0


def report(df: pd.DataFrame, summary: pd.DataFrame, info: dict, args) -> int:
    """Write the outputs and print the summary."""
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        df.to_csv(out / "transfers.csv", index=False, float_format="%.9g")
        summary.to_csv(out / "summary.csv", index=False, float_format="%.6g")
        (out / "info.json").write_text(json.dumps(info, indent=1) + "\n")
    if args.figure:
        draw(df, info["efficiency"], Path(args.figure))
    pd.set_option("display.width", 200)
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    lag = np.array(info["lag_s"]) if info["lag_s"] else np.zeros(1)
    print(f"fitted link efficiency (median goodput/capacity, transfers >= 1 MB, no outage): "
          f"{info['efficiency']:.4f}; rate changes applied {np.median(lag) * 1e3:.2f} ms "
          f"(median) / {lag.max() * 1e3:.2f} ms (max) after schedule; RTT emulated: "
          f"{bool(info.get('delay_emulated'))}")
    return 0


if __name__ == "__main__":
    run_main(main)
