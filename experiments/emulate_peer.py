"""The two ends of an emulated transfer, run inside the namespaces by :mod:`experiments.emulate`.

``serve HOST PORT``: accept connections; each message is a 16-byte header (transfer id,
payload size, network byte order) and the payload; when its last byte arrives, print one
JSON line ``{"id", "size", "end"}`` (``end``: ``time.monotonic()``, the clock every network
namespace of the host shares) and answer one byte.

``send HOST PORT T0 SCHEDULE.json [--per-request]``: for each ``[id, start_s, size]`` in
order, wait until ``T0 + start_s`` and until the previous transfer was acknowledged (one
transfer at a time, FIFO, like the simulator's uplink), then send it over one persistent TCP
connection (``--per-request``: a new connection each, handshake included) and print
``{"id", "start", "ack", "tcp", "counters"}``: ``tcp``, the socket's ``TCP_INFO`` after the
acknowledgement (what ``ss -i`` shows: rto, cwnd, ssthresh, retransmissions); ``counters``,
the namespace's TCP counters (``/proc/net/netstat`` and ``/proc/net/snmp``, what ``nstat``
reads) that changed during the transfer, read before its start and after its
acknowledgement.

``gate TUN VETH MAC DST SRC LIMIT -- CLOSE_CMD ;; OPEN_CMD``: the outage switch on the edge
side. Reads ``close`` and ``open`` lines on stdin. ``close``: the route to ``DST`` moves to a
TUN device this process reads, so new packets are held here (FIFO, at most ``LIMIT``; more are
dropped), then runs ``CLOSE_CMD`` (the shaper's gate qdisc stops serving what it holds).
``open``: runs ``OPEN_CMD``, sends the held packets into ``VETH`` (through its qdisc, behind
what the gate held) and moves the route back. Prints one JSON line per switch.

``delay TUN VETH MAC DST SRC DELAY_S``: a delay line (netem's job, for kernels without
``sch_netem``): the route to ``DST`` goes through a TUN device; each packet read there is sent
into ``VETH`` (frame to ``MAC``) ``DELAY_S`` later, in order.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import fcntl
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time

from models.cli import Parser, command, run_main

HEADER = struct.Struct("!QQ")
#: struct tcp_info (linux/tcp.h) up to tcpi_reord_seen
TCP_INFO = struct.Struct("=8B24I4Q6I4Q2I2Q2I")
_TCP_INFO_NAMES = (
    "state ca_state retransmits probes backoff options wscale flags "
    "rto ato snd_mss rcv_mss unacked sacked lost retrans fackets last_data_sent "
    "last_ack_sent last_data_recv last_ack_recv pmtu rcv_ssthresh rtt rttvar snd_ssthresh "
    "snd_cwnd advmss reordering rcv_rtt rcv_space total_retrans pacing_rate max_pacing_rate "
    "bytes_acked bytes_received segs_out segs_in notsent_bytes min_rtt data_segs_in "
    "data_segs_out delivery_rate busy_time rwnd_limited sndbuf_limited delivered "
    "delivered_ce bytes_sent bytes_retrans dsack_dups reord_seen").split()
#: the TCP_INFO fields kept per transfer (times in microseconds, windows in segments)
TCP_INFO_KEPT = ("ca_state", "backoff", "rto", "rtt", "rttvar", "min_rtt", "snd_cwnd",
                 "snd_ssthresh", "total_retrans", "bytes_retrans", "segs_out",
                 "dsack_dups")
ETH_P_IP = 0x0800
_TUNSETIFF, _IFF_TUN, _IFF_NO_PI = 0x400454CA, 0x0001, 0x1000


def tcp_info(conn: socket.socket) -> dict:
    """The kept fields of the socket's ``TCP_INFO`` (what ``ss -i`` prints)."""
    raw = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO.size)
    raw = raw.ljust(TCP_INFO.size, b"\0")
    info = dict(zip(_TCP_INFO_NAMES, TCP_INFO.unpack(raw), strict=True))
    return {k: info[k] for k in TCP_INFO_KEPT}


def net_counters() -> dict[str, int]:
    """This network namespace's TCP counters, as ``nstat`` names them (``TcpExtTCPTimeouts``,
    ``TcpRetransSegs``, ...), from ``/proc/net/netstat`` and ``/proc/net/snmp``."""
    out = {}
    for path in ("/proc/net/netstat", "/proc/net/snmp"):
        try:
            lines = open(path).read().splitlines()
        except OSError:
            continue
        for head, vals in zip(lines[::2], lines[1::2], strict=False):
            prefix, names = head.split(":", 1)
            if prefix not in ("TcpExt", "Tcp"):
                continue
            for name, v in zip(names.split(), vals.split(":", 1)[1].split(), strict=False):
                with contextlib.suppress(ValueError):
                    out[prefix + name] = int(v)
    return out


def _changed(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items()
            if v != before.get(k, 0) and k != "TcpCurrEstab"}


def _recv_exact(conn: socket.socket, view: memoryview) -> bool:
    got = 0
    while got < len(view):
        n = conn.recv_into(view[got:])
        if n == 0:
            return False
        got += n
    return True


def serve(host: str, port: int, arrivals: bool = False) -> None:
    """Receive; with ``arrivals``, each line also lists ``[time, bytes so far]`` per read."""
    srv = socket.create_server((host, port))
    print("ready", flush=True)
    buf = bytearray(1 << 20)
    while True:
        conn, _ = srv.accept()
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            head = bytearray(HEADER.size)
            while _recv_exact(conn, memoryview(head)):
                ident, size = HEADER.unpack(head)
                left, seen = size, [[time.monotonic(), 0]]
                while left > 0:
                    n = conn.recv_into(buf, min(left, len(buf)))
                    if n == 0:
                        return
                    left -= n
                    if arrivals:
                        seen.append([time.monotonic(), size - left])
                end = time.monotonic()
                line = {"id": ident, "size": size, "end": end}
                if arrivals:
                    line["arrivals"] = seen
                print(json.dumps(line), flush=True)
                conn.sendall(b"k")


def connect(host: str, port: int, cc: str | None = None) -> socket.socket:
    """A TCP connection (``cc``: its congestion control, set before the handshake; root may
    pick any the kernel has, where a namespace's default is limited to the host's allowed
    list)."""
    conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if cc:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())
    conn.connect((host, port))
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def send(host: str, port: int, t0: float, schedule_path: str, per_request: bool,
         cc: str | None = None) -> None:
    if schedule_path == "-":  # from stdin: nothing left in a temp folder by a kill -9
        schedule = json.loads(sys.stdin.readline())
    else:
        with open(schedule_path) as f:
            schedule = json.load(f)
    largest = max((int(s) for _, _, s in schedule), default=0)
    payload = memoryview(bytes(largest))
    conn = None
    for ident, start_s, size in schedule:
        wait = t0 + float(start_s) - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        before = net_counters()
        start = time.monotonic()
        if conn is None or per_request:
            if conn is not None:
                conn.close()
            conn = connect(host, port, cc)
        conn.sendall(HEADER.pack(int(ident), int(size)))
        conn.sendall(payload[:int(size)])
        ack = conn.recv(1)
        if ack != b"k":
            raise SystemExit(f"transfer {ident}: no acknowledgement")
        done = time.monotonic()
        used = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16)
        print(json.dumps({"id": ident, "start": start, "ack": done,
                          "cc": used.split(b"\0", 1)[0].decode(), "tcp": tcp_info(conn),
                          "counters": _changed(before, net_counters())}), flush=True)
    if conn is not None:
        conn.close()


def open_tun(name: str) -> int:
    """Create TUN device ``name`` (IP packets, no header) in this namespace, bring it up with a
    deep queue; its file descriptor (the device goes when it closes)."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", name.encode(), _IFF_TUN | _IFF_NO_PI))
    subprocess.run(["ip", "link", "set", name, "txqueuelen", "10000", "up"], check=True)
    os.set_blocking(fd, False)
    return fd


def _wire(veth: str, mac: str):
    """A function sending one IP packet out of ``veth`` to ``mac`` (through its qdisc)."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    # room for a whole held queue: a packet counts against the buffer until it has left
    # the shaper, and a blocked send would stall this process
    sock.setsockopt(socket.SOL_SOCKET, 32, 64 << 20)  # SO_SNDBUFFORCE (root)
    addr = (veth, ETH_P_IP, 0, 0, bytes.fromhex(mac.replace(":", "")))

    def send(pkt: bytes) -> None:
        if pkt and pkt[0] >> 4 == 4:  # IPv4 only (the TUN device also sees IPv6 chatter)
            sock.sendto(pkt, addr)
    return send


def _read_all(fd: int) -> list[bytes]:
    got = []
    while True:
        try:
            got.append(os.read(fd, 65536))
        except BlockingIOError:
            return got


class _Batch:
    """A ``tc -batch`` or ``ip -batch`` process whose output comes line by line, so that a
    command is known to be done when the output of a ``show`` after it arrives."""

    def __init__(self, tool: str):
        self.p = subprocess.Popen(["stdbuf", "-oL", tool, "-batch", "-"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)

    def run(self, line: str, show: str, until: str) -> None:
        """Run ``line``, then ``show``; return when a line starting with ``until`` came."""
        self.p.stdin.write(f"{line}\n{show}\n")
        self.p.stdin.flush()
        while True:
            out = self.p.stdout.readline()
            if not out or out.startswith(until):
                return


def gate(tun: str, veth: str, mac: str, dst: str, src: str, limit: int,
         close_cmd: list[str], open_cmd: list[str]) -> None:
    fd, send = open_tun(tun), _wire(veth, mac)
    tc, ip = _Batch("tc"), _Batch("ip")
    show_tc, show_ip = f"qdisc show dev {veth}", f"route get {dst}"
    held: collections.deque[bytes] = collections.deque()
    closed, dropped, stdin = False, 0, sys.stdin.fileno()
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select([stdin, fd], [], [])
        if fd in ready:
            for pkt in _read_all(fd):
                if not closed:
                    send(pkt)
                elif len(held) < limit:
                    held.append(pkt)
                else:
                    dropped += 1
        if stdin in ready:
            line = sys.stdin.readline()
            if not line:
                return
            at = time.monotonic()
            if line.strip() == "close" and not closed:
                closed = True  # first the route (new packets held here), then the gate
                ip.run(f"route replace {dst}/32 dev {tun} src {src}", show_ip, dst)
                routed = time.monotonic()
                tc.run(" ".join(close_cmd[1:]), show_tc, "qdisc tbf")
                print(json.dumps({"closed": at, "routed": routed, "done": time.monotonic()}),
                      flush=True)
            elif line.strip() == "open" and closed:
                tc.run(" ".join(open_cmd[1:]), show_tc, "qdisc tbf")
                gated = time.monotonic()
                held.extend(_read_all(fd))
                n = len(held)
                while held:
                    send(held.popleft())
                closed = False
                ip.run(f"route del {dst}/32 dev {tun}", show_ip, dst)
                print(json.dumps({"opened": at, "gated": gated, "done": time.monotonic(),
                                  "held": n, "dropped": dropped}), flush=True)
                dropped = 0


def delay(tun: str, veth: str, mac: str, dst: str, src: str, delay_s: float) -> None:
    fd, send = open_tun(tun), _wire(veth, mac)
    subprocess.run(["ip", "route", "replace", f"{dst}/32", "dev", tun, "src", src], check=True)
    line: collections.deque[tuple[float, bytes]] = collections.deque()
    print("ready", flush=True)
    while True:
        wait = None if not line else max(0.0, line[0][0] - time.monotonic())
        ready, _, _ = select.select([fd], [], [], wait)
        if ready:
            due = time.monotonic() + delay_s
            line.extend((due, pkt) for pkt in _read_all(fd))
        now = time.monotonic()
        while line and line[0][0] <= now:
            send(line.popleft()[1])


def build_parser() -> Parser:
    p = Parser(prog="python -m experiments.emulate_peer", description=__doc__,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="receive transfers and print when each ends")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("--arrivals", action="store_true",
                   help="list [time, bytes so far] after every read")
    s = sub.add_parser("send", help="send the transfers of a schedule, one at a time")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("t0", type=float, help="time.monotonic() of the schedule's time 0")
    s.add_argument("schedule", metavar="SCHEDULE.json",
                   help="[[id, start_s, size], ...]; - reads one JSON line from stdin")
    s.add_argument("--per-request", action="store_true",
                   help="a new connection per transfer (handshake included)")
    s.add_argument("--cc", help="congestion control of the connections (TCP_CONGESTION)")
    for name, what in (("gate", "hold packets while the link is closed"),
                       ("delay", "a delay line through a TUN device")):
        s = sub.add_parser(name, help=what)
        for arg in ("tun", "veth", "mac", "dst", "src"):
            s.add_argument(arg)
        if name == "gate":
            s.add_argument("limit", type=int, help="packets held at most")
            s.add_argument("commands", nargs=argparse.REMAINDER,
                           help="-- CLOSE_CMD ;; OPEN_CMD")
        else:
            s.add_argument("delay_s", type=float)
    return p


@command
def main(argv: list[str] | None = None) -> int:
    """Run one end; returns the exit code (0 ok, 2 bad usage)."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        serve(args.host, args.port, args.arrivals)
    elif args.command == "gate":
        words = [w for w in args.commands if w != "--"]
        cut = words.index(";;")
        gate(args.tun, args.veth, args.mac, args.dst, args.src, args.limit, words[:cut],
             words[cut + 1:])
    elif args.command == "delay":
        delay(args.tun, args.veth, args.mac, args.dst, args.src, args.delay_s)
    else:
        send(args.host, args.port, args.t0, args.schedule, args.per_request, args.cc)
    return 0


if __name__ == "__main__":
    run_main(main)
