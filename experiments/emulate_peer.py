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

import json
import socket
import struct
import sys
import time

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


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"] and len(argv) == 3:
        serve(argv[1], int(argv[2]))
        return 0
    if argv[:1] == ["send"] and len(argv) in (5, 6):
        send(argv[1], int(argv[2]), float(argv[3]), argv[4], "--per-request" in argv[5:])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
