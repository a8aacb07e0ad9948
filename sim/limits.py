"""Upper limits on what one run may ask for, in one place; each is checked before any work
and exceeding it is a one-line error naming the setting.

They bound what the engines can represent or what a run can hold, not what is realistic:
``MAX_TOKENS`` keeps the closed-form engine's shape keys within 21 bits; ``MAX_DEVICES``
bounds a cell's devices (each is a flow in every allocation of the network engine).
:func:`check_fits` refuses a run whose estimated peak memory exceeds what is available.
"""

from __future__ import annotations

__all__ = ["MAX_AXIS_VALUES", "MAX_CELLS", "MAX_DEVICES", "MAX_REQUESTS", "MAX_TOKENS",
           "available_bytes", "check_fits", "run_bytes"]

MAX_TOKENS = 1 << 20  # per token field of a request (context, question, answer)
MAX_DEVICES = 10_000  # devices of one cell (--users, a topology's devices.count)
MAX_REQUESTS = 10**9  # requests per device (memory is checked first: :func:`check_fits`)
MAX_AXIS_VALUES = 10_000  # values of one sweep axis (a generator's count, replications)
MAX_CELLS = 100_000  # cells of one sweep (the product of its axes)

#: measured peak memory of ``python -m sim.run`` (2 cores, CPython 3.11): about 250 MB to
#: start, 150 B per request for the workload and 420 B per request and policy for the
#: per-request records (7 policies: 490 MB at 10^5 requests, 1.36 GB at 4 x 10^5); the
#: network engine and the Python API's ``run(records=True)`` keep them all
BASE_BYTES = 250e6
BYTES_PER_REQUEST = 150
BYTES_PER_REQUEST_POLICY = 420
#: streamed (records written in chunks, or not at all: what ``sim.run`` does), measured the
#: same way: the workload and one policy's summary columns at a time, 60 B per request
#: (7 policies: 246 MB at 10^6 requests, 417 MB at 4 x 10^6, 770 MB at 10^7), and with
#: paired tests (a reference policy) 17 B more per request and policy (365 MB at 10^6)
STREAM_BYTES_PER_REQUEST = 60
STREAM_BYTES_PER_REQUEST_PAIRED = 17


def run_bytes(requests: int, policies: int, *, records: bool = True,
              paired: bool = False) -> float:
    """Estimated peak memory of a run of ``requests`` requests (all devices) x ``policies``;
    ``records``: every record kept in memory; ``paired``: paired tests (a reference)."""
    if records:
        return BASE_BYTES + requests * (BYTES_PER_REQUEST + BYTES_PER_REQUEST_POLICY * policies)
    return BASE_BYTES + requests * (STREAM_BYTES_PER_REQUEST
                                    + paired * STREAM_BYTES_PER_REQUEST_PAIRED * policies)


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


def check_fits(requests: int, policies: int, force: bool = False, *, records: bool = True,
               paired: bool = False) -> None:
    """A one-line error, before any work, when a run would not fit in memory (``force``
    runs it anyway); ``records`` and ``paired`` as for :func:`run_bytes`."""
    from models.errors import InputError

    need = run_bytes(requests, policies, records=records, paired=paired)
    have = available_bytes()
    if not force and have is not None and need > have:
        raise InputError(f"{requests:,} requests x {policies} policies need about "
                         f"{need / 1e9:,.1f} GB, more than the {have / 1e9:.1f} GB available; "
                         "lower --requests (or --users), or pass --force")
