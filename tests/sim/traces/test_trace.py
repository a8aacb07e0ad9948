"""The fluid trace: exact finish times from the cumulative capacity curve."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.errors import InputError
from sim.traces import BYTES_PER_S_PER_MBPS, Trace, read_trace


def test_constant_link_exact():
    t = Trace.constant(8.0)  # 8 Mbit/s = 1e6 bytes/s
    assert t.finish_time(3.0, 2_500_000) == 5.5
    assert t.finish_time(0.0, 0) == 0.0


def test_two_step_trace():
    # 1,000,000 B/s for [0, 2), then 250,000 B/s for [2, 4); loops with period 4 s.
    t = Trace.from_arrays([0, 2], [1e6, 2.5e5], last_duration_s=2)
    assert t.finish_time(1.0, 1e6) == 2.0  # ends exactly at the step
    assert t.finish_time(1.0, 1.5e6) == 4.0  # 1e6 in [1,2), 5e5 in [2,4)
    assert t.finish_time(1.5, 1e6) == pytest.approx(2.0 + 5e5 / 2.5e5)


def test_transfer_wraps_the_trace_end():
    t = Trace.from_arrays([0, 2], [1e6, 2.5e5], last_duration_s=2)  # 2.5e6 bytes per period
    # From 3 s: 2.5e5 in [3,4), then the loop restarts at 1e6 B/s.
    assert t.finish_time(3.0, 1.25e6) == pytest.approx(5.0)
    # Several whole periods later.
    assert t.finish_time(3.0, 2.5e5 + 3 * 2.5e6) == pytest.approx(4.0 + 3 * 4.0)


def test_zero_capacity_segments_are_skipped_exactly():
    t = Trace.from_arrays([0, 1, 3], [1e6, 0.0, 1e6], last_duration_s=1)
    assert t.finish_time(0.5, 1e6) == pytest.approx(3.5)
    assert t.finish_time(1.5, 1) == pytest.approx(3.0 + 1e-6)
    # A level reached exactly at the start of a zero tail is reached then, not later.
    z = Trace.from_arrays([0, 1], [1e6, 0.0], last_duration_s=1)
    assert z.finish_time(0.0, 2e6) == pytest.approx(3.0)


def test_clip_never_finishes_past_the_end():
    t = Trace.from_arrays([0], [1e6], last_duration_s=2, end="clip")
    assert t.finish_time(0.0, 2e6) == 2.0
    assert math.isinf(t.finish_time(0.0, 2e6 + 1))
    assert math.isinf(t.finish_time(5.0, 1))


def test_last_sample_holds_for_the_median_interval():
    t = Trace.from_arrays([10, 11, 12, 14], [1, 1, 1, 1])
    assert t.times_s[0] == 0 and t.duration_s == 5.0  # shifted to 0; last holds 1 s


def test_float_boundary_regression():
    # 1.9 / 0.01 rounds to 190.0 while 190 * 0.01 > 1.9: the time within the period must
    # not go negative (found by Hypothesis).
    t = Trace.from_arrays([0.0], [1.0], last_duration_s=0.01)
    end = t.finish_time(0.0, 1.9)
    assert t.bytes_between(0.0, end) == pytest.approx(1.9, abs=1e-12)


def test_mbps_units():
    assert BYTES_PER_S_PER_MBPS == 125_000
    assert Trace.constant(20).mean_mbps() == pytest.approx(20)


@settings(max_examples=200, deadline=None)
@given(
    caps=st.lists(st.one_of(st.just(0.0), st.floats(1.0, 1e7)), min_size=1, max_size=12),
    gaps=st.lists(st.floats(0.01, 5), min_size=12, max_size=12),
    start=st.floats(0, 100),
    size=st.floats(1, 1e8),
)
def test_bytes_delivered_equal_integral_of_capacity(caps, gaps, start, size):
    if sum(caps) == 0:
        caps = [1.0] + caps[1:]
    times = [0.0]
    for g in gaps[: len(caps) - 1]:
        times.append(times[-1] + g)
    t = Trace.from_arrays(times, caps, last_duration_s=gaps[-1])
    end = t.finish_time(start, size)
    assert end >= start
    assert t.bytes_between(start, end) == pytest.approx(size, rel=1e-9, abs=1e-3)
    # and not earlier: a moment before the end carries strictly less
    if end > start:
        assert t.bytes_between(start, end - 1e-6 * max(1.0, end)) < size + 1e-3


@pytest.mark.parametrize("body,line,what", [
    ("time_s,bandwidth_mbps\n0,1\n1,-2\n", 3, "negative"),
    ("time_s,bandwidth_mbps\n0,1\n1,nan\n", 3, "finite"),
    ("time_s,bandwidth_mbps\n0,1\n0,2\n", 3, "duplicate"),
    ("time_s,bandwidth_mbps\n1,1\n0,2\n", 3, "decreasing"),
    ("time_s,bandwidth_mbps\n0,abc\n", 2, "not a number"),
    ("time_s,speed\n0,1\n", 1, "no bandwidth column"),
    ("time_s,bandwidth_mbps\n0\n", 2, "columns"),
])
def test_malformed_trace_names_file_and_line(tmp_path, body, line, what):
    p = tmp_path / "bad.csv"
    p.write_text(body)
    with pytest.raises(InputError) as err:
        read_trace(p)
    assert f"{p}:{line}:" in str(err.value) and what in str(err.value)


def test_reader_units(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("# comment\ntime_ms,bandwidth_kbps,rtt_ms\n0,8000,40\n500,16000,60\n")
    t = read_trace(p)
    assert list(t.times_s) == [0.0, 0.5]
    assert list(t.capacity_bytes_per_s) == [1e6, 2e6]
    assert t.rtt_at(0.7) == pytest.approx(0.06)


def test_missing_trace_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_trace(tmp_path / "nope.csv")


def test_zero_capacity_trace_rejected():
    with pytest.raises(InputError, match="zero capacity"):
        Trace.from_arrays([0, 1], [0, 0])


def test_shipped_default_trace_reads():
    from sim.scenario import Scenario

    t = read_trace(Scenario().resolved_trace_path())
    assert t.duration_s == 600 and 3 < t.mean_mbps() < 10
