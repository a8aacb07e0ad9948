"""Pensieve's reading of cooked traces, against hand computations and a step-by-step oracle
written from Pensieve's published semantics (a value holds on the interval that ends at
its timestamp; start at the first timestamp; after the last, wrap to time 0)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.traces import read_trace

MBIT = 1e6 / 8  # bytes in a megabit


def _cooked(tmp_path, samples, name="c.txt"):
    p = tmp_path / name
    p.write_text("".join(f"{t!r} {v!r}\n" for t, v in samples))
    return p


def test_three_samples_by_hand(tmp_path):
    """(1, 2) (2, 4) (4, 8) Mbit/s: Pensieve runs clock [0, 1) at 4, [1, 3) at 8, then
    wraps to (0, 2] at 4 = clock [3, 5), (2, 4] at 8 = clock [5, 7), ...; 2 is never used."""
    p = _cooked(tmp_path, [(1, 2), (2, 4), (4, 8)])
    t = read_trace(p, fmt="cooked")
    assert t.duration_s == 4.0
    assert [t.capacity_at(x) / MBIT for x in (0.0, 0.99, 1.0, 2.99, 3.0, 4.99, 5.0, 6.99)] == [
        4, 4, 8, 8, 4, 4, 8, 8]
    # 8 Mbit from clock 0: 4 Mbit in [0, 1), 4 more at 8 Mbit/s take 0.5 s
    assert t.finish_time(0.0, 8 * MBIT) == pytest.approx(1.5, abs=1e-12)
    # across the wrap: from 2.5, 4 Mbit by 3.0, then 4 Mbit at 4 Mbit/s: 4.0
    assert t.finish_time(2.5, 8 * MBIT) == pytest.approx(4.0, abs=1e-12)
    clipped = read_trace(p, fmt="cooked", end="clip")  # the first pass only: 3 s
    assert clipped.duration_s == 3.0 and math.isinf(clipped.finish_time(2.5, 8 * MBIT))
    # the earlier reading: 2 on [0, 1), 4 on [1, 3), 8 on [3, 4.5): 2 + 6 Mbit by 2.5 s
    old = read_trace(p, fmt="cooked", cooked_convention="from-timestamp")
    assert old.duration_s == 4.5
    assert old.finish_time(0.0, 8 * MBIT) == pytest.approx(2.5, abs=1e-12)


def test_pensieve_options_are_refused_where_meaningless(tmp_path):
    from models.errors import InputError

    p = _cooked(tmp_path, [(0, 1), (1, 2)])
    with pytest.raises(InputError, match="no last duration"):
        read_trace(p, fmt="cooked", last_duration_s=2.0)
    assert read_trace(p, fmt="cooked", cooked_convention="from-timestamp",
                      last_duration_s=2.0).duration_s == 3.0
    with pytest.raises(InputError, match="two samples or more"):
        read_trace(_cooked(tmp_path, [(0, 1)], "one.txt"), fmt="cooked")


def pensieve_finish(ts, vs, start_clock, size_bits):
    """Oracle: Pensieve's pointer loop, stepped sample by sample from its initial state
    (time t_0, pointer 1), idling to ``start_clock``, then sending ``size_bits``."""
    ptr, last, clock, sent, started = 1, ts[0], 0.0, 0.0, False
    while True:
        rate, duration = vs[ptr], ts[ptr] - last
        if not started:
            if clock + duration <= start_clock:
                clock += duration
                last = ts[ptr]
                ptr += 1
                if ptr >= len(vs):
                    ptr, last = 1, 0.0
                continue
            started = True
            used = start_clock - clock
            clock, last, duration = start_clock, last + used, duration - used
        if rate > 0 and sent + rate * duration >= size_bits:
            return clock + (size_bits - sent) / rate
        sent += rate * duration
        clock += duration
        last = ts[ptr]
        ptr += 1
        if ptr >= len(vs):
            ptr, last = 1, 0.0


@settings(max_examples=80, deadline=None)
@given(gaps=st.lists(st.integers(1, 40), min_size=1, max_size=6),
       first=st.integers(0, 30),
       rates=st.lists(st.integers(0, 20), min_size=7, max_size=7),
       start=st.integers(0, 400), size=st.integers(1, 300))
def test_matches_the_pensieve_oracle(tmp_path_factory, gaps, first, rates, start, size):
    ts = [first / 10]
    for g in gaps:
        ts.append(ts[-1] + g / 10)
    vs = [float(r) for r in rates[:len(ts)]]
    if not any(vs[1:]):
        vs[1] = 1.0
    p = _cooked(tmp_path_factory.mktemp("c"), list(zip(ts, vs, strict=True)))
    t = read_trace(p, fmt="cooked")
    assert t.duration_s == pytest.approx(ts[-1])
    start_s, bits = start / 10, size / 3
    want = pensieve_finish(ts, vs, start_s, bits)
    assert t.finish_time(start_s, bits * MBIT) == pytest.approx(want, rel=1e-9, abs=1e-9)


def _tt(capsys, *argv):
    from sim.traces.__main__ import main

    assert main(["transfer-time", *map(str, argv), "--json"]) == 0
    import json

    return json.loads(capsys.readouterr().out)


def test_transfer_time_on_the_files_own_clock(tmp_path, capsys):
    """Pensieve's clock starts at t_0 and wraps to 0: --start is read on it."""
    p = _cooked(tmp_path, [(1, 2), (2, 4), (4, 8)])
    first = _tt(capsys, p, "--start", 1, "--bytes", 1e6)
    assert (first["finish_s"], first["duration_s"]) == (2.5, 1.5)  # [1, 2) at 4, then 8
    wrap = _tt(capsys, p, "--start", 3.5, "--bytes", 1e6)
    assert (wrap["finish_s"], wrap["duration_s"]) == (5.0, 1.5)  # 0.5 s at 8, 1 s at 4
    later = _tt(capsys, p, "--start", 0.5, "--bytes", 1e6)  # (0, 2] of a later pass
    assert later["duration_s"] == 1.75
    # Pensieve's own settings: every byte x 1/0.95, LINK_RTT 80 ms added once (--rtt 160)
    pens = _tt(capsys, p, "--start", 1, "--bytes", 1e6, "--rtt", 160, "--link-efficiency",
               0.95)
    assert pens["duration_s"] == pytest.approx(1.0 + (8 / 0.95 - 4) / 8 + 0.080, abs=1e-12)
    old = _tt(capsys, p, "--start", 0, "--bytes", 1e6, "--cooked-convention",
              "from-timestamp")
    assert old["finish_s"] == 2.5


def test_sabre_latency_before_the_download(tmp_path, capsys):
    """Sabre waits a period's latency_ms before each download, the link idle."""
    import json

    p = tmp_path / "s.json"
    p.write_text(json.dumps([{"duration_ms": 1000, "bandwidth_kbps": 8000, "latency_ms": 100},
                             {"duration_ms": 1000, "bandwidth_kbps": 4000, "latency_ms": 100}]))
    r = _tt(capsys, p, "--start", 0, "--bytes", 1e6, "--latency", "before")
    assert r["finish_s"] == pytest.approx(0.1 + 0.9 + 0.1 / 0.5, abs=1e-12)  # 1.2 s
    near_end = _tt(capsys, p, "--start", 1.95, "--bytes", 1e6, "--latency", "before")
    # idle to 2.05 = 0.05 s into the next pass: 0.95 MB by 3.0, 0.05 MB at 0.5 MB/s
    assert near_end["duration_s"] == pytest.approx(0.1 + 0.95 + 0.05 / 0.5, abs=1e-12)
    after = _tt(capsys, p, "--start", 1.95, "--bytes", 1e6)  # scoutsim's default placement
    assert after["duration_s"] == pytest.approx(0.05 + (1 - 0.025) + 0.05, abs=1e-12)
    clipped = _tt(capsys, p, "--start", 1.95, "--bytes", 1e6, "--latency", "before",
                  "--trace-end", "clip")
    assert clipped["finish_s"] == "inf"
