"""Reader for Sabre network traces (JSON list of periods).

Format: ``[{"duration_ms": int, "bandwidth_kbps": int, "latency_ms": int}, ...]``, played in
order and looped by Sabre. Period ``i`` becomes one segment of ``duration_ms`` at
``bandwidth_kbps * 1000 / 8`` bytes/s; the trace period is the sum of the durations (the last
period keeps its own duration unless ``last_duration_s`` overrides it).

RTT: Sabre adds ``latency_ms`` once to every segment request, i.e. it is the per-request
round-trip delay, so it is mapped to ``rtt_s = latency_ms / 1000`` (the shipped Ghent files
carry a constant 20 ms that the conversion added, not a measurement). Without ``latency_ms``
in any period the trace has no RTT. One direction (download; ``direction`` is ignored).
Comment lines (``#``) are allowed; errors name the line where the bad period starts.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from models.errors import InputError
from models.units import BYTES_PER_S_PER_KBPS
from sim.traces.textio import blank_comments, check_some_capacity, read_text
from sim.traces.trace import Trace

FIELDS = ("duration_ms", "bandwidth_kbps", "latency_ms")


def _periods(path: str, text: str) -> list[tuple[int, object]]:
    """The list's elements with the line each starts on."""
    dec = json.JSONDecoder()

    def fail(msg: str, pos: int) -> InputError:
        return InputError(msg, path, text.count("\n", 0, pos) + 1)

    def skip_ws(pos: int) -> int:
        while pos < len(text) and text[pos] in " \t\n":
            pos += 1
        return pos

    pos = skip_ws(0)
    if pos >= len(text) or text[pos] != "[":
        raise fail("expected a JSON list of periods ('[' ...)", pos)
    out = []
    pos = skip_ws(pos + 1)
    if pos < len(text) and text[pos] == "]":
        raise fail("the list of periods is empty", pos)
    while True:
        try:
            obj, end = dec.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise InputError(f"invalid JSON: {err.msg}", path, err.lineno) from None
        out.append((text.count("\n", 0, pos) + 1, obj))
        pos = skip_ws(end)
        if pos < len(text) and text[pos] == ",":
            pos = skip_ws(pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            pos = skip_ws(pos + 1)
            if pos < len(text):
                raise fail("unexpected text after the list of periods", pos)
            return out
        raise fail("expected ',' or ']' after a period (file truncated?)", pos)


def _value(p: dict, key: str, path: str, line: int) -> float:
    v = p[key]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise InputError(f"{key} is not a number: {v!r}", path, line)
    if not math.isfinite(v):
        raise InputError(f"{key} is {v!r}; expected a finite number", path, line)
    if v < 0:
        raise InputError(f"{key} is negative ({v})", path, line)
    return float(v)


def read_sabre(path: str | Path, *, end: str = "loop", direction: str = "up",
               columns: str | None = None, select: dict[str, str] | None = None,
               last_duration_s: float | None = None) -> Trace:
    """Read a Sabre network JSON into a :class:`Trace` (kbps -> bytes/s, ms -> s)."""
    ps = str(path)
    text = blank_comments(read_text(path))
    if not text.strip():
        raise InputError("trace file is empty (only comments or blank lines)", ps)
    periods = _periods(ps, text)
    has_latency = any(isinstance(p, dict) and "latency_ms" in p for _, p in periods)
    times, caps, rtts, lines = [], [], [], []
    t = 0.0
    dur = 0.0
    for line, p in periods:
        if not isinstance(p, dict):
            raise InputError(f"a period must be a JSON object, not {p!r}", ps, line)
        need = FIELDS if has_latency else FIELDS[:2]
        missing = [k for k in need if k not in p]
        if missing:
            raise InputError(f"period lacks {', '.join(missing)} (needs {', '.join(need)})",
                             ps, line)
        dur = _value(p, "duration_ms", ps, line) / 1e3
        if dur <= 0:
            raise InputError("duration_ms must be positive", ps, line)
        times.append(t)
        # x * 1e3 / 8 == x * 125.0 exactly (dividing by 8 is exact), checked on every trace
        caps.append(_value(p, "bandwidth_kbps", ps, line) * BYTES_PER_S_PER_KBPS)
        if has_latency:
            rtts.append(_value(p, "latency_ms", ps, line) / 1e3)
        lines.append(line)
        t += dur
    check_some_capacity(caps, lines, ps)
    last = dur if last_duration_s is None else last_duration_s
    return Trace.from_arrays(times, caps, rtts if has_latency else None,
                             last_duration_s=last, end=end, name=ps)
