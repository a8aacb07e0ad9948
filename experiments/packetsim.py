"""One ns-3 TCP transfer over a trace-driven bottleneck (the packet-level reference).

This module is the ns-3 half of :mod:`experiments.packetcheck`. It needs the optional
dependency ``ns3`` (``pip install -e .[packet]``: ns-3.44's Python bindings, cppyy); the
first ``from ns import ns`` in a fresh environment builds cppyy's cache (minutes), later
imports take about 10 s. Everything per packet runs in C++, defined at import time with
``cppyy.cppdef`` (:data:`CPP`): Python makes one call per run.

The scenario (two nodes, one TCP connection; see ``docs/packetcheck.md``):

- sender --(uplink: :class:`TraceDevice`, the trace's cumulative capacity, then RTT/2)-->
  receiver; receiver --(RTT/2, no rate limit)--> sender (ACKs).
- ``TraceDevice`` is a ``SimpleNetDevice`` whose ``SendFrom`` is replaced: a FIFO drop-tail
  queue of ``buffer_packets`` packets (the one in service counted), and a packet of ``L``
  bytes on the wire that enters service at ``t`` leaves at ``finish_time(t, L)``, the
  inversion of the trace's cumulative capacity (looping like :class:`sim.traces.Trace`), so
  a zero-capacity stretch holds packets and releases them when capacity returns.
  ``L`` = the IP packet (20 B IPv4 header + TCP header with options + payload) + 14 B of
  Ethernet framing: a full segment is 1448 + 32 + 20 + 14 = 1514 B.
- TCP: :data:`TCP_DEFAULTS` (MSS 1448, IW 10, SACK, timestamps, min RTO 200 ms, delayed
  ACK 40 ms / every 2nd segment, 1 s initial SYN timeout, 128 MiB buffers, 100 data retries).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

#: wire bytes added to ns-3's IP packet on the bottleneck (Ethernet header, no FCS)
L2_HEADER_BYTES = 14
#: TCP settings (ns-3 attribute values; documented in docs/packetcheck.md)
TCP_DEFAULTS = {
    "mss_bytes": 1448,
    "initial_window_packets": 10,
    "min_rto_s": 0.2,
    "delayed_ack_s": 0.04,
    "delayed_ack_count": 2,
    "syn_timeout_s": 1.0,
    "buffer_bytes": 1 << 27,
    "data_retries": 100,
}

CPP = r"""
#include "ns3/core-module.h"
#include "ns3/network-module.h"
#include "ns3/internet-module.h"
#include "ns3/simple-net-device.h"
#include "ns3/simple-channel.h"
#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <tuple>
#include <vector>

namespace scoutpkt {
using namespace ns3;

// Piecewise-constant capacity over one period, looping: the same arithmetic as
// sim.traces.Trace.cumulative_bytes / finish_time (loop mode).
struct Curve {
    std::vector<double> t, cum, cap;  // t: n segment starts; cum: n + 1 levels
    double period = 1, pbytes = 1;
    double level(double s) const {
        if (s <= 0) return 0;
        double k = std::floor(s / period);
        double local = s - k * period;
        if (local < 0) { k -= 1; local += period; }
        else if (local >= period) { k += 1; local -= period; }
        if (local < 0) local = 0;
        size_t i = std::upper_bound(t.begin(), t.end(), local) - t.begin() - 1;
        return k * pbytes + cum[i] + cap[i] * (local - t[i]);
    }
    double finish(double s, double bytes) const {
        if (bytes <= 0) return s;
        double target = level(s) + bytes;
        double k = std::ceil(target / pbytes) - 1;
        double rem = target - k * pbytes;
        if (rem <= 0) { k -= 1; rem += pbytes; }
        rem = std::min(rem, pbytes);
        size_t n = t.size();
        size_t j = std::lower_bound(cum.begin(), cum.end(), rem) - cum.begin();
        double local;
        if (j < n && cum[j] == rem) local = t[j];
        else if (j >= n && cum[n] == rem) local = period;
        else { size_t i = j - 1; local = t[i] + (rem - cum[i]) / cap[i]; }
        return std::max(s, k * period + local);
    }
};

std::map<int, Curve>& curves() { static std::map<int, Curve> m; return m; }

void set_curve(int id, const double* t, const double* cap, size_t n, double period) {
    Curve c;
    c.t.assign(t, t + n);
    c.cap.assign(cap, cap + n);
    c.cum.resize(n + 1);
    c.cum[0] = 0;
    for (size_t i = 0; i < n; ++i) {
        double end = (i + 1 < n) ? t[i + 1] : period;
        c.cum[i + 1] = c.cum[i] + cap[i] * (end - t[i]);
    }
    c.period = period;
    c.pbytes = c.cum[n];
    curves()[id] = c;
}

double curve_finish(int id, double s, double bytes) { return curves()[id].finish(s, bytes); }

// The bottleneck: FIFO, drop-tail (limit counts the packet in service), each packet
// released at the trace's cumulative-capacity finish time of its wire size.
class TraceDevice : public SimpleNetDevice {
  public:
    const Curve* curve = nullptr;
    uint32_t limit = 1000;
    uint32_t extra = 14;
    uint64_t drops = 0, sent = 0;
    uint32_t maxQueue = 0;
    bool SendFrom(Ptr<Packet> p, const Address& src, const Address& dst, uint16_t proto) override {
        uint32_t inSystem = q.size() + (busy ? 1 : 0);
        if (inSystem >= limit) { ++drops; return false; }
        q.emplace_back(p, proto, Mac48Address::ConvertFrom(dst), Mac48Address::ConvertFrom(src));
        maxQueue = std::max<uint32_t>(maxQueue, inSystem + 1);
        if (!busy) StartNext();
        return true;
    }
    bool Send(Ptr<Packet> p, const Address& dst, uint16_t proto) override {
        return SendFrom(p, GetAddress(), dst, proto);
    }
  private:
    typedef std::tuple<Ptr<Packet>, uint16_t, Mac48Address, Mac48Address> Item;
    std::deque<Item> q;
    bool busy = false;
    void StartNext() {
        Item it = q.front();
        q.pop_front();
        busy = true;
        double now = Simulator::Now().GetSeconds();
        double done = curve->finish(now, std::get<0>(it)->GetSize() + extra);
        Time d = Seconds(done) - Simulator::Now();
        if (d.IsNegative()) d = Time(0);
        Simulator::Schedule(d, &TraceDevice::Finish, this, it);
    }
    void Finish(Item it) {
        ++sent;
        Ptr<SimpleChannel> ch = DynamicCast<SimpleChannel>(GetChannel());
        ch->Send(std::get<0>(it), std::get<1>(it), std::get<2>(it), std::get<3>(it), this);
        busy = false;
        if (!q.empty()) StartNext();
    }
};

struct Result {
    double connected = -1, warm_done = -1, done = -1, end_time = 0;
    double cwnd_at_write = -1, ssthresh_at_write = -1;
    int rtos = 0, retransmits = 0, syn_sent = 0;
    int warm_rtos = 0, warm_retransmits = 0;  // before the measured write (warm-up)
    uint64_t drops = 0, warm_drops = 0, delivered = 0;
    uint32_t max_queue = 0;
    bool finished = false;
};

struct Probe {
    Result r;
    Ptr<TraceDevice> dev;
    uint64_t rx = 0, target1 = 0, target2 = 0;
    uint32_t cwnd = 0, ssthresh = 0;
    void Accept(Ptr<Socket> s, const Address&) {
        s->SetRecvCallback(MakeCallback(&Probe::Recv, this));
    }
    void Recv(Ptr<Socket> s) {
        Ptr<Packet> p;
        while ((p = s->Recv())) {
            rx += p->GetSize();
            double now = Simulator::Now().GetSeconds();
            if (r.warm_done < 0 && target1 > 0 && rx >= target1) r.warm_done = now;
            if (!r.finished && rx >= target2) {
                r.done = now;
                r.finished = true;
                Simulator::Stop();
            }
        }
    }
    void Connected(Ptr<Socket>) { r.connected = Simulator::Now().GetSeconds(); }
    void Failed(Ptr<Socket>) {}
    void Rto(Time oldv, Time newv) {
        // ReTxTimeout doubles m_rto (capped at 60 s); an RTT sample recomputes it instead
        if (newv == oldv + oldv || (newv == Seconds(60) && oldv < newv && oldv + oldv > newv))
            ++r.rtos;
    }
    void Retx(Ptr<const Packet>, const TcpHeader&, const Address&, const Address&,
              Ptr<const TcpSocketBase>) { ++r.retransmits; }
    void Tx(Ptr<const Packet>, const TcpHeader& h, Ptr<const TcpSocketBase>) {
        if (h.GetFlags() & TcpHeader::SYN) ++r.syn_sent;
    }
    void Cwnd(uint32_t, uint32_t v) { cwnd = v; }
    void Ssth(uint32_t, uint32_t v) { ssthresh = v; }
};

void Write(Ptr<Socket> s, uint64_t bytes, Probe* pr, bool mark) {
    if (mark) {  // the measured transfer: note the state, restart the counters
        if (pr->cwnd > 0) pr->r.cwnd_at_write = pr->cwnd;
        if (pr->ssthresh > 0) pr->r.ssthresh_at_write = pr->ssthresh;
        pr->r.warm_rtos = pr->r.rtos;
        pr->r.warm_retransmits = pr->r.retransmits;
        pr->r.warm_drops = pr->dev->drops;
        pr->r.rtos = pr->r.retransmits = 0;
    }
    while (bytes > 0) {  // one Send per 64 MiB keeps the packet size in uint32
        uint32_t chunk = (uint32_t)std::min<uint64_t>(bytes, 1ull << 26);
        s->Send(Create<Packet>(chunk));
        bytes -= chunk;
    }
}

void Open(Ptr<Socket> s, Address to) { s->Connect(to); }

Result run(int curve_id, bool cubic, double rtt_s, uint32_t buffer_packets,
           double connect_s, double warm_s, uint64_t warm_bytes,
           double start_s, uint64_t size_bytes, double stop_s,
           uint32_t mss, uint32_t iw, double min_rto_s, double delack_s, uint32_t delack_count,
           double syn_timeout_s, uint32_t buffer_bytes, uint32_t data_retries,
           uint32_t l2_bytes) {
    Config::SetDefault("ns3::TcpL4Protocol::SocketType",
                       TypeIdValue(cubic ? TcpCubic::GetTypeId() : TcpNewReno::GetTypeId()));
    Config::SetDefault("ns3::TcpSocket::SegmentSize", UintegerValue(mss));
    Config::SetDefault("ns3::TcpSocket::InitialCwnd", UintegerValue(iw));
    Config::SetDefault("ns3::TcpSocket::DelAckTimeout", TimeValue(Seconds(delack_s)));
    Config::SetDefault("ns3::TcpSocket::DelAckCount", UintegerValue(delack_count));
    Config::SetDefault("ns3::TcpSocket::SndBufSize", UintegerValue(buffer_bytes));
    Config::SetDefault("ns3::TcpSocket::RcvBufSize", UintegerValue(buffer_bytes));
    Config::SetDefault("ns3::TcpSocket::ConnTimeout", TimeValue(Seconds(syn_timeout_s)));
    Config::SetDefault("ns3::TcpSocket::DataRetries", UintegerValue(data_retries));
    Config::SetDefault("ns3::TcpSocketBase::MinRto", TimeValue(Seconds(min_rto_s)));
    Config::SetDefault("ns3::TcpSocketBase::Sack", BooleanValue(true));
    Config::SetDefault("ns3::TcpSocketBase::Timestamp", BooleanValue(true));

    Ptr<Node> a = CreateObject<Node>();
    Ptr<Node> b = CreateObject<Node>();
    Ptr<SimpleChannel> ch = CreateObject<SimpleChannel>();
    ch->SetAttribute("Delay", TimeValue(Seconds(rtt_s / 2)));
    Ptr<TraceDevice> da = CreateObject<TraceDevice>();
    da->curve = &curves()[curve_id];
    da->limit = buffer_packets;
    da->extra = l2_bytes;
    Ptr<SimpleNetDevice> db = CreateObject<SimpleNetDevice>();
    NetDeviceContainer devs;
    for (Ptr<SimpleNetDevice> d : {Ptr<SimpleNetDevice>(da), db}) {
        d->SetAttribute("PointToPointMode", BooleanValue(true));
        d->SetAddress(Mac48Address::Allocate());
        d->SetChannel(ch);
        d->SetQueue(CreateObject<DropTailQueue<Packet>>());
        devs.Add(d);
    }
    a->AddDevice(da);
    b->AddDevice(db);
    InternetStackHelper stack;
    stack.Install(NodeContainer(a, b));
    Ipv4AddressHelper ip("10.1.0.0", "255.255.255.0");
    Ipv4InterfaceContainer ifs = ip.Assign(devs);

    Probe pr;
    pr.dev = da;
    pr.target1 = warm_bytes;
    pr.target2 = warm_bytes + size_bytes;
    uint16_t port = 5001;
    Ptr<Socket> lst = Socket::CreateSocket(b, TcpSocketFactory::GetTypeId());
    lst->Bind(InetSocketAddress(Ipv4Address::GetAny(), port));
    lst->Listen();
    lst->SetAcceptCallback(MakeNullCallback<bool, Ptr<Socket>, const Address&>(),
                           MakeCallback(&Probe::Accept, &pr));
    Ptr<Socket> s = Socket::CreateSocket(a, TcpSocketFactory::GetTypeId());
    s->Bind();
    s->SetConnectCallback(MakeCallback(&Probe::Connected, &pr), MakeCallback(&Probe::Failed, &pr));
    s->TraceConnectWithoutContext("RTO", MakeCallback(&Probe::Rto, &pr));
    s->TraceConnectWithoutContext("Retransmission", MakeCallback(&Probe::Retx, &pr));
    s->TraceConnectWithoutContext("Tx", MakeCallback(&Probe::Tx, &pr));
    s->TraceConnectWithoutContext("CongestionWindow", MakeCallback(&Probe::Cwnd, &pr));
    s->TraceConnectWithoutContext("SlowStartThreshold", MakeCallback(&Probe::Ssth, &pr));
    Address to = InetSocketAddress(ifs.GetAddress(1), port);
    Simulator::Schedule(Seconds(connect_s), &Open, s, to);
    if (warm_bytes > 0) Simulator::Schedule(Seconds(warm_s), &Write, s, warm_bytes, &pr, false);
    Simulator::Schedule(Seconds(start_s), &Write, s, size_bytes, &pr, true);
    Simulator::Stop(Seconds(stop_s));
    Simulator::Run();
    pr.r.end_time = Simulator::Now().GetSeconds();
    pr.r.drops = da->drops - pr.r.warm_drops;
    pr.r.delivered = da->sent;
    pr.r.max_queue = da->maxQueue;
    Result out = pr.r;
    Simulator::Destroy();
    return out;
}
}  // namespace scoutpkt
"""

_state: dict[str, object] = {}


def available() -> str | None:
    """None when ns-3's bindings import here, else why not (for skips and messages)."""
    try:
        import ns  # noqa: F401
    except Exception as err:  # ImportError, or cppyy failing to build
        return f"ns-3 is not importable ({type(err).__name__}: {err}); pip install -e .[packet]"
    return None


def _cpp():
    """Load ns-3 and define the C++ part once per process; returns cppyy.gbl.scoutpkt."""
    if "gbl" not in _state:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import cppyy
        from ns import ns  # noqa: F401  (loads the ns-3 libraries and headers)

        cppyy.cppdef(CPP)
        _state["gbl"] = cppyy.gbl.scoutpkt
        _state["curves"] = {}
    return _state["gbl"]


def load_curve(trace) -> int:
    """Pass a :class:`sim.traces.Trace` (looping) into C++ once; returns its id."""
    gbl = _cpp()
    curves: dict = _state["curves"]  # type: ignore[assignment]
    key = (trace.name, trace.duration_s, len(trace.times_s), trace.period_bytes)
    if key not in curves:
        if trace.end != "loop":
            raise ValueError("the packet reference loops the trace (end='loop')")
        t = np.ascontiguousarray(trace.times_s, dtype=np.float64)
        c = np.ascontiguousarray(trace.capacity_bytes_per_s, dtype=np.float64)
        curves[key] = len(curves)
        gbl.set_curve(curves[key], t, c, len(t), float(trace.duration_s))
    return curves[key]


@dataclass
class Run:
    """One ns-3 run's settings (times are trace times, s)."""

    cc: str  # "cubic" | "newreno"
    rtt_s: float
    buffer_packets: int
    connect_s: float
    start_s: float
    size_bytes: int
    warmup_start_s: float = math.nan  # persistent only (NaN: no warm-up)
    warmup_bytes: int = 0
    stop_s: float = math.inf


def simulate(trace, run: Run, **tcp) -> dict:
    """Run one transfer in ns-3; returns the raw measurements (times are trace times).

    Keys: ``connected_s`` (handshake done at the sender), ``warmup_done_s``, ``done_s``
    (last byte of the measured transfer at the receiver, NaN if not finished by
    ``run.stop_s``), ``finished``, ``rtos`` (retransmission timeouts of data),
    ``retransmits`` (retransmitted data packets), ``syn_sent``, ``drops`` (bottleneck
    drops): the counts from the measured write on; ``warmup_rtos``, ``warmup_retransmits``,
    ``warmup_drops``: those before it (the warm-up); ``delivered`` (packets through the
    bottleneck), ``max_queue`` (packets), ``cwnd_at_write_bytes`` /
    ``ssthresh_at_write_bytes`` (the sender's state when the measured transfer was written;
    NaN before the connection has one), ``end_s`` (simulated time when the run stopped).
    """
    gbl = _cpp()
    cfg = {**TCP_DEFAULTS, **tcp}
    cid = load_curve(trace)
    if run.cc not in ("cubic", "newreno"):
        raise ValueError(f"cc must be cubic or newreno, not {run.cc!r}")
    warm = run.warmup_bytes if run.warmup_bytes > 0 else 0
    warm_s = run.warmup_start_s if warm else run.start_s
    r = gbl.run(cid, run.cc == "cubic", float(run.rtt_s), int(run.buffer_packets),
                float(run.connect_s), float(warm_s), int(warm), float(run.start_s),
                int(run.size_bytes), float(run.stop_s), int(cfg["mss_bytes"]),
                int(cfg["initial_window_packets"]), float(cfg["min_rto_s"]),
                float(cfg["delayed_ack_s"]), int(cfg["delayed_ack_count"]),
                float(cfg["syn_timeout_s"]), int(cfg["buffer_bytes"]),
                int(cfg["data_retries"]), L2_HEADER_BYTES)

    def t(v: float) -> float:
        return float(v) if v >= 0 else math.nan

    return {
        "connected_s": t(r.connected),
        "warmup_done_s": t(r.warm_done),
        "done_s": t(r.done),
        "finished": bool(r.finished),
        "rtos": int(r.rtos),
        "retransmits": int(r.retransmits),
        "syn_sent": int(r.syn_sent),
        "drops": int(r.drops),
        "warmup_rtos": int(r.warm_rtos),
        "warmup_retransmits": int(r.warm_retransmits),
        "warmup_drops": int(r.warm_drops),
        "delivered": int(r.delivered),
        "max_queue": int(r.max_queue),
        "cwnd_at_write_bytes": t(r.cwnd_at_write),
        "ssthresh_at_write_bytes": t(r.ssthresh_at_write),
        "end_s": float(r.end_time),
    }
