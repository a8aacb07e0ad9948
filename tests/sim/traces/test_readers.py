"""Trace readers: every real trace under ../shared/traces, robustness, and one-line errors.

Each shared file is read through auto-detection and its time-weighted mean capacity is
compared with an independent plain-Python computation of the documented rule; a few values
are also checked against the tables of ../shared/traces/README.md.
"""

from __future__ import annotations

import csv
import json
import math
import random
import statistics
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from models.errors import InputError
from sim.traces import READERS, Trace, detect_format, read_rtt, read_trace

MBPS = 125_000.0  # bytes/s per Mbit/s

FAMILY = {  # top folder under shared/traces -> detected format
    "mahimahi": "mahimahi",
    "hsdpa-norway-3g": "cooked",
    "fcc-broadband": "cooked",
    "puffer": "cooked",
    "5g-ucc-raca": "gnettrack",
    "5gophers": "5gophers",
    "nyu-mets-lte": "nyumets",
    "sabre-4g": "sabre",
}


def hold_mean(times: list[float], values: list[float], last: float) -> float:
    """Time-weighted mean of a hold-until-next-sample series whose last value holds ``last``."""
    total = sum(v * (b - a) for a, b, v in zip(times, times[1:], values, strict=False))
    total += values[-1] * last
    return total / (times[-1] - times[0] + last)


def plain_rows(path: Path) -> list[str]:
    return [s for s in (ln.strip() for ln in path.read_text().splitlines()) if s]


# ----------------------------------------------------------------- independent checks per format
def check_mahimahi(p: Path) -> None:
    lines = plain_rows(p)
    period_s = (int(lines[-1]) + 1) / 1000
    t = read_trace(p)
    assert t.duration_s == pytest.approx(period_s, rel=1e-12)
    assert t.period_bytes == pytest.approx(len(lines) * 1500, rel=1e-9)
    assert t.period_bytes / t.duration_s == pytest.approx(len(lines) * 1500 / period_s, rel=1e-9)
    counts = Counter(int(x) for x in lines)
    rng = random.Random(p.name)
    for m in [0, int(lines[-1])] + [rng.randrange(int(lines[-1]) + 1) for _ in range(40)]:
        assert t.capacity_at((m + 0.5) / 1000) == pytest.approx(counts[m] * 1500 / 1e-3)


def check_cooked(p: Path) -> None:
    rows = [r.split() for r in plain_rows(p)]
    ts, mbps = [float(r[0]) for r in rows], [float(r[1]) for r in rows]
    # Pensieve's reading: v_i on (t_{i-1}, t_i], a pass of the loop is (0, t_n]
    pass_bits = mbps[1] * ts[1] + sum(v * (b - a) for a, b, v in zip(ts[1:], ts[2:], mbps[2:],
                                                                     strict=False))
    t = read_trace(p)
    assert t.duration_s == pytest.approx(ts[-1], rel=1e-12)
    assert t.mean_mbps() == pytest.approx(pass_bits / ts[-1], rel=1e-9)
    # the earlier reading, still available by name
    last = statistics.median(b - a for a, b in zip(ts, ts[1:], strict=False))
    old = read_trace(p, cooked_convention="from-timestamp")
    assert old.mean_mbps() == pytest.approx(hold_mean(ts, mbps, last), rel=1e-9)
    assert old.duration_s == pytest.approx(ts[-1] - ts[0] + last, rel=1e-12)


def check_gnettrack(p: Path) -> None:
    with open(p, newline="") as f:
        rows = list(csv.DictReader(f))
    secs = [datetime.strptime(r["Timestamp"], "%Y.%m.%d_%H.%M.%S") for r in rows]
    secs = [(s - secs[0]).total_seconds() for s in secs]
    per_second = Counter(secs)
    seen: Counter = Counter()
    times = []
    for s in secs:  # k rows in one second at s + j/k
        times.append(s + seen[s] / per_second[s])
        seen[s] += 1
    last = 1 / per_second[secs[-1]]
    for direction, col in (("up", "UL_bitrate"), ("down", "DL_bitrate")):
        t = read_trace(p, direction=direction)
        kbps = [float(r[col]) for r in rows]
        assert t.mean_mbps() == pytest.approx(hold_mean(times, kbps, last) / 1000, rel=1e-9)
        assert t.duration_s == pytest.approx(secs[-1] + 1)
    pings = [None if r["PINGAVG"] == "-" else float(r["PINGAVG"]) / 1000 for r in rows]
    first = next(x for x in pings if x is not None)
    filled, cur = [], first
    for x in pings:
        cur = cur if x is None else x
        filled.append(cur)
    assert t.rtt_s is not None and list(t.rtt_s) == pytest.approx(filled)


def check_5gophers(p: Path) -> None:
    with open(p, newline="") as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0])
    if "rtt_ms" in header or "rtt_in_ms" in header:  # RTT only: no capacity
        with pytest.raises(InputError, match="no capacity"):
            read_trace(p)
        col = "rtt_ms" if "rtt_ms" in header else "rtt_in_ms"
        keys = [k for k in ("carrier", "server_location") if k in header]
        for series in sorted({tuple(r[k] for k in keys) for r in rows}):
            sel = dict(zip(keys, series, strict=True)) or None
            ts, rtt = read_rtt(p, select=sel)
            want = [float(r[col]) / 1000 for r in rows if tuple(r[k] for k in keys) == series]
            assert list(rtt) == pytest.approx(want) and list(ts) == list(range(len(want)))
        return
    if "carrier" in header:
        series = sorted({(r["carrier"], r["num_tcp_conn"]) for r in rows})
        cases = [({"carrier": c, "num_tcp_conn": n},
                  [r for r in rows if (r["carrier"], r["num_tcp_conn"]) == (c, n)],
                  "throughput_mbps") for c, n in series]
        with pytest.raises(InputError, match="several series"):
            read_trace(p)
    elif "throughput_mbps" in header:
        cases = [(None, rows, "throughput_mbps")]
    else:
        cols = [h for h in header if h.endswith("_throughput_mbps")]
        cases = [({"carrier": c.split("_")[0]}, rows, c) for c in cols]
        with pytest.raises(InputError, match="per carrier"):
            read_trace(p)
    for sel, sub, col in cases:
        t = read_trace(p, select=sel)
        mbps = [float(r[col]) for r in sub]
        assert t.duration_s == len(mbps)  # 1 s per row
        assert t.mean_mbps() == pytest.approx(sum(mbps) / len(mbps), rel=1e-9)


NYU_UNIT = {"bits/sec": 1e-6, "Kbits/sec": 1e-3, "Mbits/sec": 1.0}


def check_nyumets(p: Path) -> None:
    vals = [float(v) * NYU_UNIT[u] for v, u in (r.split(",") for r in plain_rows(p))]
    t = read_trace(p)
    assert t.duration_s == len(vals)
    assert t.mean_mbps() == pytest.approx(sum(vals) / len(vals), rel=1e-9)


def check_sabre(p: Path) -> None:
    periods = json.loads(p.read_text())
    dur = sum(x["duration_ms"] for x in periods)
    t = read_trace(p)
    assert t.duration_s == pytest.approx(dur / 1000)
    mean = sum(x["duration_ms"] * x["bandwidth_kbps"] for x in periods) / dur / 1000
    assert t.mean_mbps() == pytest.approx(mean, rel=1e-9)
    assert list(t.rtt_s) == pytest.approx([x["latency_ms"] / 1000 for x in periods])


CHECKS = {"mahimahi": check_mahimahi, "cooked": check_cooked, "gnettrack": check_gnettrack,
          "5gophers": check_5gophers, "nyumets": check_nyumets, "sabre": check_sabre}


def data_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "README.md")


def test_every_shared_trace_reads_via_detection(shared_traces):
    files = data_files(shared_traces)
    assert len(files) >= 60
    for p in files:
        fmt = FAMILY[p.relative_to(shared_traces).parts[0]]
        assert detect_format(p) == fmt, p
        CHECKS[fmt](p)


# ----------------------------------------------------------------- values from the README tables
README_MAHIMAHI_OVERALL = {  # "overall mean" Mbps (3 decimals)
    "ATT-LTE-driving-2016.down": 4.560, "ATT-LTE-driving.up": 0.834,
    "TMobile-LTE-driving.down": 12.770, "TMobile-LTE-short.up": 13.318,
    "Verizon-EVDO-driving.down": 0.521,
}
README_SABRE = {"report_bicycle_0001.json": 31.57, "report_tram_0001.json": 21.65,
                "report_train_0001.json": 23.09}
README_NYU = {"7Train1.csv": 6.810, "bus57.csv": 7.212, "bus62.csv": 2.643, "bus62_2.csv": 2.575}
README_PER_SAMPLE = {  # per-sample (not time-weighted) means, Mbps
    "hsdpa-norway-3g/norway_bus_16": 4.586,
    "fcc-broadband/trace_939562_http---www.google_part6.log": 2.604,
    "puffer/tracehHQhnM1Hp2Z+cWJwTomSYi02nyUynCsDMqmm1rWz1QY=_6": 0.303,
    "5g-ucc-raca/Download/Driving/B_2020.01.16_12.10.03.csv": 120.781,  # DL per row
    "5g-ucc-raca/Download/Static/B_2020.02.14_13.21.26.csv": 121.021,
}


def test_values_match_readme_tables(shared_traces):
    for name, mbps in README_MAHIMAHI_OVERALL.items():
        assert read_trace(shared_traces / "mahimahi" / name).mean_mbps() == pytest.approx(
            mbps, abs=0.0006), name
    for name, mbps in README_SABRE.items():
        t = read_trace(shared_traces / "sabre-4g" / name)
        assert t.mean_mbps() == pytest.approx(mbps, abs=0.006), name
        assert t.rtt_at(1.0) == pytest.approx(0.020)
    for name, mbps in README_NYU.items():
        assert read_trace(shared_traces / "nyu-mets-lte" / name).mean_mbps() == pytest.approx(
            mbps, abs=0.0006), name
    for name, mbps in README_PER_SAMPLE.items():  # every sample, as listed in the file
        t = read_trace(shared_traces / name, direction="down", cooked_convention="from-timestamp")
        assert np.mean(t.capacity_bytes_per_s) / MBPS == pytest.approx(mbps, abs=0.0006), name
    g = shared_traces / "5gophers"
    thr = g / "all-carriers_01-throughput.csv"
    assert read_trace(thr, select={"carrier": "verizon", "num_tcp_conn": 8}).mean_mbps() == (
        pytest.approx(1091.100, abs=0.0006))
    assert read_trace(thr, select={"carrier": "SPRINT", "num_tcp_conn": "1"}).duration_s == 1200
    car = g / "all-carriers_03-mobility_car-driving-trace-1.csv"
    assert read_trace(car, select={"carrier": "TMobile"}).mean_mbps() == pytest.approx(
        97.056, abs=0.0006)
    _, rtt = read_rtt(g / "all-carriers_02-rtt.csv",
                      select={"carrier": "TMOBILE", "server_location": "US-West"})
    assert rtt.mean() * 1e3 == pytest.approx(148.393, abs=0.0006) and rtt.size == 120
    _, rtt = read_rtt(g / "mmwave_04-ping-trace-34.log")
    assert rtt.mean() * 1e3 == pytest.approx(81.226, abs=0.0006) and rtt.size == 61


def test_rtt_trace_merges_onto_a_real_capacity_trace(shared_traces):
    cap = read_trace(shared_traces / "mahimahi" / "ATT-LTE-driving-2016.up")
    ts, rtt = read_rtt(shared_traces / "5gophers" / "mmwave_04-ping-trace-01.log")
    m = cap.with_rtt(ts, rtt)
    assert m.duration_s == cap.duration_s and m.period_bytes == pytest.approx(
        cap.period_bytes, rel=1e-12)
    probe = np.linspace(0, 3 * cap.duration_s, 997)
    assert m.cumulative_bytes_array(probe) == pytest.approx(cap.cumulative_bytes_array(probe),
                                                            rel=1e-12)
    assert m.rtt_at(0.5) == pytest.approx(0.0645) and m.rtt_at(61.5) == pytest.approx(0.0307)


# ----------------------------------------------------------------- small exact cases
def write(tmp_path: Path, name: str, body: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(body if isinstance(body, bytes) else body.encode())
    return p


def test_mahimahi_staircase_is_exact(tmp_path):
    t = read_trace(write(tmp_path, "a.up", "0\n0\n2\n"))
    assert list(t.times_s) == pytest.approx([0, 0.001, 0.002])
    assert list(t.capacity_bytes_per_s) == [3e6, 0.0, 1.5e6]
    assert t.duration_s == pytest.approx(0.003) and t.period_bytes == pytest.approx(4500)
    lead = read_trace(write(tmp_path, "b.down", "2\n2\n"))  # [0, 2) ms carries nothing
    assert list(lead.capacity_bytes_per_s) == [0.0, 3e6] and lead.duration_s == pytest.approx(
        0.003)


def test_gnettrack_duplicate_and_skipped_seconds(tmp_path):
    head = "Timestamp,DL_bitrate,UL_bitrate,PINGAVG\n"
    body = ("2020.01.01_00.00.10,800,8,-\n2020.01.01_00.00.10,1600,16,50.0\n"
            "2020.01.01_00.00.11,800,8,-\n2020.01.01_00.00.13,0,0,70\n")
    p = write(tmp_path, "g.csv", head + body)
    up, down = read_trace(p), read_trace(p, direction="down")
    assert list(up.times_s) == [0.0, 0.5, 1.0, 3.0] and up.duration_s == 4.0
    assert list(down.capacity_bytes_per_s) == [1e5, 2e5, 1e5, 0.0]
    assert list(up.capacity_bytes_per_s) == [1e3, 2e3, 1e3, 0.0]
    assert list(up.rtt_s) == [0.05, 0.05, 0.05, 0.07]  # backward, then forward fill
    no_ping = write(tmp_path, "n.csv", head + "2020.01.01_00.00.10,800,8,-\n")
    assert read_trace(no_ping).rtt_s is None


def test_with_rtt_loops_on_its_own_period_and_keeps_capacity():
    cap = Trace.from_arrays([0, 1.5, 4], [1e6, 0.0, 2e6], last_duration_s=1)  # 5 s
    m = cap.with_rtt([10, 11], [0.02, 0.05], period_s=2.0)  # shifted to 0; loops every 2 s
    for t, r in [(0.5, 0.02), (1.2, 0.05), (2.1, 0.02), (3.7, 0.05), (4.5, 0.02), (5.5, 0.02)]:
        assert m.rtt_at(t) == pytest.approx(r), t
    probe = np.linspace(0, 17, 301)
    assert m.cumulative_bytes_array(probe) == pytest.approx(cap.cumulative_bytes_array(probe))
    assert m.period_bytes == cap.period_bytes and m.end == cap.end
    default = cap.with_rtt([0, 1, 2], [0.01, 0.02, 0.03])  # period 3 s by the median rule
    assert default.rtt_at(3.5) == pytest.approx(0.01)
    with pytest.raises(InputError, match="strictly increasing"):
        cap.with_rtt([0, 0], [0.1, 0.2])
    # A capacity period shorter than the RTT series: capacity repeats, every RTT plays.
    const = Trace.constant(8.0)  # 1e6 B/s, period 1 s
    long = const.with_rtt(np.arange(5.0), [0.01, 0.02, 0.03, 0.04, 0.05])
    assert long.duration_s == 5.0 and long.mean_mbps() == pytest.approx(8.0)
    assert [long.rtt_at(x + 0.5) for x in range(7)] == pytest.approx(
        [0.01, 0.02, 0.03, 0.04, 0.05, 0.01, 0.02])
    assert long.cumulative_bytes(12.25) == pytest.approx(const.cumulative_bytes(12.25))


# ----------------------------------------------------------------- robustness
def variants(lines: list[str]) -> dict[str, bytes]:
    """The same content as BOM, CRLF, CR, with comments, blank lines and extra spaces."""
    plain = "\n".join(lines) + "\n"
    return {
        "plain": plain.encode(),
        "bom": b"\xef\xbb\xbf" + plain.encode(),
        "crlf": plain.replace("\n", "\r\n").encode(),
        "cr": plain.replace("\n", "\r").encode(),
        "comments": ("# a comment\n" + "\n  # indented\n".join(lines) + "\n# end\n").encode(),
        "trailing": (plain + "\n\n   \n").encode(),
        "spaces": "\n".join("  " + ln.replace(",", " , ").replace("\t", " \t  ") + "  "
                            for ln in lines).encode() + b"\n",
        "bom_crlf_blank": b"\xef\xbb\xbf\r\n" + plain.replace("\n", "\r\n\r\n").encode(),
    }


ROBUST = [  # (format, lines, columns); every case means 0-1 s at 1 MB/s, 1-3 s at 2 MB/s
    ("canonical", ["time_s,bytes_per_s", "0,1e6", "1,2.0E+06", "3.0e0,1000000"], None),
    ("canonical", ["time_ms,bandwidth_mbps", "0,8", "1e3,16", "3000,8.0"], None),
    ("cooked", ["0\t8", "1.0 1.6e1", "3e0\t8"], None),
    ("headerless", ["0,1e6", "1,2e6", "3,1e6"], "time_s,bytes_per_s"),
    ("headerless", ["0,8e3,20", "1e3,16e3,30", "3000,8000,40"], "time_ms,bandwidth_kbps,rtt_ms"),
]


@pytest.mark.parametrize("fmt,lines,columns", ROBUST)
def test_text_variants_read_identically(tmp_path, fmt, lines, columns):
    for name, body in variants(lines).items():
        p = write(tmp_path, f"{name}.txt", body)
        if fmt != "headerless":
            assert detect_format(p) == fmt, name
        convention = {"cooked_convention": "from-timestamp"} if fmt == "cooked" else {}
        t = read_trace(p, columns=columns, **convention)
        assert list(t.times_s) == [0.0, 1.0, 3.0], name
        assert list(t.capacity_bytes_per_s) == [1e6, 2e6, 1e6], name
        assert t.duration_s == 4.5, name  # the last sample holds the median interval, 1.5 s


@pytest.mark.parametrize("fmt,lines", [
    ("mahimahi", ["0", "0", "2"]),
    ("nyumets", ["8,Mbits/sec", "8e3,Kbits/sec", "1e6,Bytes/sec"]),
])
def test_text_variants_other_formats(tmp_path, fmt, lines):
    got = set()
    for name, body in variants(lines).items():
        p = write(tmp_path, f"{name}.txt", body)
        assert detect_format(p) == fmt, name
        t = read_trace(p)
        got.add((tuple(t.times_s), tuple(t.capacity_bytes_per_s), t.duration_s))
    assert len(got) == 1


def test_lines_of_bare_commas_are_blank(tmp_path):
    p = write(tmp_path, "x.csv", ",,\ntime_s,bandwidth_mbps\n0,8\n , \n1,16\n,\n")
    assert list(read_trace(p).capacity_bytes_per_s) == [1e6, 2e6]
    q = write(tmp_path, "y.csv", "0,8\n,\n1,16\n")
    assert read_trace(q, columns="time_s,bandwidth_mbps").mean_mbps() == 12


@pytest.mark.parametrize("body,fmt", [
    ("5\n5\n7\n", "mahimahi"),
    ("0 1.5\n1 2\n", "cooked"),
    ("time_s,bandwidth_mbps\n0,1\n", "canonical"),
    ("3.5,Mbits/sec\n2,Kbits/sec\n", "nyumets"),
    ('[{"duration_ms": 1000, "bandwidth_kbps": 5}]', "sabre"),
    ("Timestamp,DL_bitrate,UL_bitrate\n2020.01.01_00.00.00,1,1\n", "gnettrack"),
    ("protocol,seq_num,throughput_mbps\nTCP,0,5\n", "5gophers"),
    ("rtt_ms,carrier,server_location\n40,A,B\n", "5gophers"),
])
def test_detect_format(tmp_path, body, fmt):
    assert detect_format(write(tmp_path, "t", body)) == fmt


def test_headerless_comma_numbers_need_columns(tmp_path):
    p = write(tmp_path, "h.csv", "# c\n0,1\n1,2\n")
    with pytest.raises(InputError, match="--columns") as err:
        read_trace(p)
    assert f"{p}:2:" in str(err.value)
    with pytest.raises(InputError, match="--columns"):
        read_trace(p, fmt="headerless")
    assert read_trace(p, columns="time_s,bandwidth_mbps").mean_mbps() == pytest.approx(1.5)
    with pytest.raises(InputError, match="accepted: time_s"):
        read_trace(p, columns="time_s,bandwidth_gbps")


def test_format_names_and_bad_options(tmp_path):
    assert set(READERS) == {"canonical", "headerless", "cooked", "mahimahi", "sabre",
                            "gnettrack", "5gophers", "nyumets"}
    p = write(tmp_path, "c.csv", "time_s,bandwidth_mbps\n0,1\n")
    assert read_trace(p, fmt="csv").mean_mbps() == 1.0  # old name still works
    with pytest.raises(InputError, match="unknown trace format 'bogus'"):
        read_trace(p, fmt="bogus")
    with pytest.raises(InputError, match="direction"):
        read_trace(p, direction="sideways")


def test_5gophers_select_errors(tmp_path):
    p = write(tmp_path, "t.csv", "protocol,carrier,num_tcp_conn,server_location,run_num,"
              "seq_num,throughput_mbps\nTCP,A,1,E,1,0,5\nTCP,A,1,E,1,1,7\nTCP,A,8,E,2,0,9\n")
    with pytest.raises(InputError, match="num_tcp_conn: 1, 8"):
        read_trace(p, select={"carrier": "A"})
    with pytest.raises(InputError, match="matches no row; values here: A"):
        read_trace(p, select={"carrier": "B"})
    with pytest.raises(InputError, match="not a column"):
        read_trace(p, select={"colour": "red"})
    assert read_trace(p, select={"num_tcp_conn": "1"}).mean_mbps() == pytest.approx(6)
    m = write(tmp_path, "m.csv", "seq_num,A_throughput_mbps,B_throughput_mbps\n0,1,2\n")
    with pytest.raises(InputError, match="no throughput column for carrier 'C'"):
        read_trace(m, select={"carrier": "C"})
    assert read_trace(m, select={"carrier": "b"}).mean_mbps() == pytest.approx(2)


# ----------------------------------------------------------------- errors name file and line
GN = "Timestamp,DL_bitrate,UL_bitrate,PINGAVG\n"
G5 = "protocol,num_tcp_conn,seq_num,throughput_mbps\n"
ERRORS = [  # (format, body, line, needle, kwargs)
    ("canonical", "time_s,bandwidth_gbps\n0,1\n", 1, "expected one of bandwidth_mbps", {}),
    ("canonical", "time_s,bandwidth_mbps\n0,1\n1,1e999\n", 3, "finite", {}),
    ("canonical", "time_s,rtt_ms\n0,1\n", 1, "use it as an RTT trace", {}),
    ("canonical", "time_s,bandwidth_mbps\n0,0\n1,0\n", 2, "zero", {}),
    ("canonical", "time_s,bandwidth_mbps,rtt_ms\n0,1,5\n1,1\n", 3, "columns", {}),
    ("headerless", "0,1\n1\n", 2, "expected 2 columns", {"columns": "time_s,bandwidth_mbps"}),
    ("headerless", "0,1\n1,x\n", 2, "not a number", {"columns": "time_s,bandwidth_mbps"}),
    ("headerless", "0,1\n0,2\n", 2, "duplicate", {"columns": "time_s,bandwidth_mbps"}),
    ("headerless", "0,1\n1,-2\n", 2, "negative", {"columns": "time_s,bandwidth_mbps"}),
    ("headerless", "0,1\n1,inf\n", 2, "finite", {"columns": "time_s,bandwidth_mbps"}),
    ("cooked", "0 1\n1\n", 2, "expected 'time_s Mbps'", {}),
    ("cooked", "0 1\n1 x\n", 2, "not a number", {}),
    ("cooked", "0 1\n1 nan\n", 2, "non-finite", {}),
    ("cooked", "0 1\n1 -1\n", 2, "negative", {}),
    ("cooked", "# c\n0 1\n2 1\n1 1\n", 4, "decreasing", {}),
    ("cooked", "0 1\n0 2\n", 2, "duplicate", {}),
    ("cooked", "0 0\n1 0\n", 2, "zero", {}),
    ("mahimahi", "0\n1.5\n", 2, "not an integer", {}),
    ("mahimahi", "0\n1 2\n", 2, "several values", {}),
    ("mahimahi", "0\n-3\n", 2, "negative", {}),
    ("mahimahi", "# c\n5\n3\n", 3, "decreasing", {}),
    ("sabre", '[\n{"duration_ms": 1000, "bandwidth_kbps": 5},\n{"duration_ms": 1000}\n]', 3,
     "lacks bandwidth_kbps", {}),
    ("sabre", '[\n{"duration_ms": 1000, "bandwidth_kbps": -5}\n]', 2, "negative", {}),
    ("sabre", '[\n{"duration_ms": 0, "bandwidth_kbps": 5}\n]', 2, "positive", {}),
    ("sabre", '[\n{"duration_ms": 1, "bandwidth_kbps": NaN}\n]', 2, "finite", {}),
    ("sabre", '[\n{"duration_ms": 1, "bandwidth_kbps": "x"}\n]', 2, "not a number", {}),
    ("sabre", '[\n{"duration_ms": 1000, "bandwidth_kbps": 5},\n{"duration_ms": 10', 3,
     "invalid JSON", {}),
    ("sabre", '[\n{"duration_ms": 1, "bandwidth_kbps": 0}\n]', 2, "zero", {}),
    ("sabre", '{"duration_ms": 1}', 1, "JSON list", {}),
    ("gnettrack", GN + "2020.01.01_00.00.10,1,1,-\n2020/01/01,1,1,-\n", 3, "YYYY", {}),
    ("gnettrack", GN + "2020.01.01_00.00.10,1,1,-\n2020.01.01_00.00.09,1,1,-\n", 3,
     "decreasing", {}),
    ("gnettrack", GN + "2020.01.01_00.00.10,1,-1,-\n", 2, "negative", {}),
    ("gnettrack", GN + "2020.01.01_00.00.10,1,1,-\n2020.01.01_00.00.11,1,1,abc\n", 3,
     "PINGAVG is not a number", {}),
    ("gnettrack", GN + "2020.01.01_00.00.10,1,1\n", 2, "expected 4 columns", {}),
    ("gnettrack", "Timestamp,DL_bitrate\n2020.01.01_00.00.10,1\n", 1, "lacks UL_bitrate", {}),
    ("5gophers", G5 + "TCP,8,0,5\nTCP,8,1,x\n", 3, "not a number", {}),
    ("5gophers", G5 + "TCP,8,0,5\nTCP,8,0,6\n", 3, "seq_num 0 does not increase", {}),
    ("5gophers", G5 + "TCP,8,0,5\nTCP,8,1,-6\n", 3, "negative", {}),
    ("5gophers", G5 + "TCP,8,0,5\nTCP,8\n", 3, "expected 4 columns", {}),
    ("5gophers", "rtt_ms,carrier\n4,A\n", 1, "no capacity", {}),
    ("nyumets", "1,Mbits/sec\n2,furlongs/sec\n", 2, "unknown unit 'furlongs/sec'", {}),
    ("nyumets", "1,Mbits/sec\n2\n", 2, "expected 'value,unit'", {}),
    ("nyumets", "1,Mbits/sec\nx,Mbits/sec\n", 2, "not a number", {}),
    ("nyumets", "1,Mbits/sec\n-1,Mbits/sec\n", 2, "negative", {}),
    ("nyumets", "1,Mbits/sec\nnan,Mbits/sec\n", 2, "finite", {}),
]


@pytest.mark.parametrize("fmt,body,line,needle,kw", ERRORS)
def test_bad_input_names_file_and_line(tmp_path, fmt, body, line, needle, kw):
    p = write(tmp_path, "bad.txt", body)
    with pytest.raises(InputError) as err:
        read_trace(p, fmt=fmt, **kw)
    msg = str(err.value)
    assert msg.startswith(f"{p}:{line}: ") and needle in msg and "\n" not in msg


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_empty_and_missing_files(tmp_path, fmt):
    kw = {"columns": "time_s,bandwidth_mbps"} if fmt == "headerless" else {}
    for body in ("", "\n  \n", "\xef\xbb\xbf\r\n", "# only a comment\n"):
        p = write(tmp_path, "e.txt", body.encode("latin-1"))
        with pytest.raises(InputError, match="empty") as err:
            read_trace(p, fmt=fmt, **kw)
        assert str(err.value).startswith(f"{p}: ")
    with pytest.raises(InputError, match="not found"):
        read_trace(tmp_path / "missing", fmt=fmt, **kw)
    bad = write(tmp_path, "latin.txt", b"0 1\n1 \xff\n")
    with pytest.raises(InputError, match=f"{bad}:2: cannot read trace: not UTF-8"):
        read_trace(bad, fmt=fmt, **kw)


def test_rtt_reader_errors(tmp_path):
    p = write(tmp_path, "r.csv", "rtt_ms,carrier\n40,A\n-1,A\n")
    with pytest.raises(InputError, match=f"{p}:3: rtt_ms is negative"):
        read_rtt(p)
    q = write(tmp_path, "q.csv", "rtt_ms,carrier\n40,A\n41,B\n")
    with pytest.raises(InputError, match="carrier: A, B"):
        read_rtt(q)
    assert list(read_rtt(q, select={"carrier": "b"})[1]) == [0.041]
    t = write(tmp_path, "t.csv", "time_ms,rtt_s\n500,0.1\n1500,0.2\n")
    ts, rtt = read_rtt(t)
    assert list(ts) == [0.0, 1.0] and list(rtt) == [0.1, 0.2]
    with pytest.raises(InputError, match="no RTT column"):
        read_rtt(write(tmp_path, "n.csv", "time_s,bandwidth_mbps\n0,1\n"))
    assert math.isfinite(rtt.sum())
