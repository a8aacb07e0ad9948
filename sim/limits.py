"""Upper limits on what one run may ask for, in one place; each is checked before any work
and exceeding it is a one-line error naming the setting.

They bound what the engines can represent or what a run can hold, not what is realistic:
``MAX_TOKENS`` keeps the closed-form engine's shape keys within 21 bits; ``MAX_DEVICES``
bounds a cell's devices (each is a flow in every allocation of the network engine).
:func:`check_fits` refuses a run whose estimated peak memory exceeds what is available.
"""

from __future__ import annotations

__all__ = ["MAX_DEVICES", "MAX_REQUESTS", "MAX_TOKENS", "available_bytes", "check_fits",
           "run_bytes"]

MAX_TOKENS = 1 << 20  # per token field of a request (context, question, answer)
MAX_DEVICES = 10_000  # devices of one cell (--users, a topology's devices.count)
MAX_REQUESTS = 10**9  # requests per device (memory is checked first: :func:`check_fits`)

#: measured peak memory of ``python -m sim.run`` (2 cores, CPython 3.11): about 250 MB to
#: start, 150 B per request for the workload and 420 B per request and policy for the
#: per-request records (7 policies: 490 MB at 10^5 requests, 1.36 GB at 4 x 10^5)
BASE_BYTES = 250e6
BYTES_PER_REQUEST = 150
BYTES_PER_REQUEST_POLICY = 420


def run_bytes(requests: int, policies: int) -> float:
    """Estimated peak memory of a run of ``requests`` requests (all devices) x ``policies``."""
    return BASE_BYTES + requests * (BYTES_PER_REQUEST + BYTES_PER_REQUEST_POLICY * policies)


def available_bytes() -> float | None:
    """Memory available to a new allocation now (Linux ``MemAvailable``); None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_fits(requests: int, policies: int, force: bool = False) -> None:
    """A one-line error, before any work, when a run would not fit in memory (``force``
    runs it anyway)."""
    from models.errors import InputError

    need, have = run_bytes(requests, policies), available_bytes()
    if not force and have is not None and need > have:
        raise InputError(f"{requests:,} requests x {policies} policies need about "
                         f"{need / 1e9:,.1f} GB, more than the {have / 1e9:.1f} GB available; "
                         "lower --requests (or --users), or pass --force")
