"""The two ends of an emulated transfer, run inside the namespaces by :mod:`experiments.emulate`.

``serve HOST PORT``: accept connections; each message is a 16-byte header (transfer id,
payload size, network byte order) and the payload; when its last byte arrives, print one
JSON line ``{"id", "size", "end"}`` (``end``: ``time.monotonic()``, the clock every network
namespace of the host shares) and answer one byte.

``send HOST PORT T0 SCHEDULE.json [--per-request]``: for each ``[id, start_s, size]`` in
order, wait until ``T0 + start_s`` and until the previous transfer was acknowledged (one
transfer at a time, FIFO, like the simulator's uplink), then send it over one persistent TCP
connection (``--per-request``: a new connection each, handshake included) and print
``{"id", "start", "ack"}``.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import sys
import time

from models.cli import Parser, command, run_main

HEADER = struct.Struct("!QQ")


def _recv_exact(conn: socket.socket, view: memoryview) -> bool:
    got = 0
    while got < len(view):
        n = conn.recv_into(view[got:])
        if n == 0:
            return False
        got += n
    return True


def serve(host: str, port: int) -> None:
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
                left = size
                while left > 0:
                    n = conn.recv_into(buf, min(left, len(buf)))
                    if n == 0:
                        return
                    left -= n
                end = time.monotonic()
                print(json.dumps({"id": ident, "size": size, "end": end}), flush=True)
                conn.sendall(b"k")


def send(host: str, port: int, t0: float, schedule_path: str, per_request: bool) -> None:
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
        start = time.monotonic()
        if conn is None or per_request:
            if conn is not None:
                conn.close()
            conn = socket.create_connection((host, port))
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sendall(HEADER.pack(int(ident), int(size)))
        conn.sendall(payload[:int(size)])
        ack = conn.recv(1)
        if ack != b"k":
            raise SystemExit(f"transfer {ident}: no acknowledgement")
        print(json.dumps({"id": ident, "start": start, "ack": time.monotonic()}), flush=True)
    if conn is not None:
        conn.close()


def build_parser() -> Parser:
    p = Parser(prog="python -m experiments.emulate_peer", description=__doc__,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="receive transfers and print when each ends")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s = sub.add_parser("send", help="send the transfers of a schedule, one at a time")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("t0", type=float, help="time.monotonic() of the schedule's time 0")
    s.add_argument("schedule", metavar="SCHEDULE.json",
                   help="[[id, start_s, size], ...]; - reads one JSON line from stdin")
    s.add_argument("--per-request", action="store_true",
                   help="a new connection per transfer (handshake included)")
    return p


@command
def main(argv: list[str] | None = None) -> int:
    """Run one end; returns the exit code (0 ok, 2 bad usage)."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        serve(args.host, args.port)
    else:
        send(args.host, args.port, args.t0, args.schedule, args.per_request)
    return 0


if __name__ == "__main__":
    run_main(main)
