"""Units and shared constants: the one place a conversion or a threshold is defined.

Internally every quantity is in bytes and seconds (rates in bytes/s); Mbit/s, kbit/s and
milliseconds appear only at the edges (flags, trace files, printed tables) and are converted
here. ``models`` is the bottom of the import graph, so every layer may import this module.
"""

from __future__ import annotations

BITS_PER_BYTE = 8
#: 1 Mbit/s in bytes/s (SI mega: 10^6 bits)
BYTES_PER_S_PER_MBPS = 1e6 / BITS_PER_BYTE
#: 1 kbit/s in bytes/s
BYTES_PER_S_PER_KBPS = 1e3 / BITS_PER_BYTE
#: 1 ms in s
S_PER_MS = 1e-3

#: capacity below this (Mbit/s) counts as an outage (trace statistics, emulation analysis)
OUTAGE_MBPS = 0.1
#: KV quantisation group size along head_dim (elements): one scale and zero-point per group
KV_GROUP_SIZE = 64


def mbps_to_bytes_per_s(mbps: float) -> float:
    """Mbit/s -> bytes/s."""
    return mbps * BYTES_PER_S_PER_MBPS


def bytes_per_s_to_mbps(bytes_per_s: float) -> float:
    """bytes/s -> Mbit/s."""
    return bytes_per_s / BYTES_PER_S_PER_MBPS


def ms_to_s(ms: float) -> float:
    """Milliseconds -> seconds."""
    return ms / 1e3


def s_to_ms(s: float) -> float:
    """Seconds -> milliseconds."""
    return s * 1e3
