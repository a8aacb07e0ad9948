"""Bounded memory: the closed form in chunks, records streamed, summaries from columns.

Every streamed result is compared with the in-memory path (all records kept, then
:func:`sim.metrics.summarize` and :func:`sim.stats.compare_paired`) byte for byte, with
chunks of a few requests so that every boundary is crossed many times.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import make_policies
from sim import simulation
from sim.metrics import PolicyColumns, option_counts, option_mix, summarize
from sim.records import RECORD_COLUMNS, InOrder, RecordsCsv, records_frame
from sim.run import main
from sim.scenario import Scenario
from sim.simulation import build_costs, build_trace, build_workload, policy_context, run
from sim.stats import compare_paired
from sim.vectorized import Lindley, lindley_end, simulate_static
from tests.sim.test_engines_agree import RANDOM_TRACES, random_trace

STATIC = ["bf16", "int8", "int4:0.5", "mixed", "scout", "cloud-text", "edge-local"]


def _trace_file(path, caps, rtts, step=0.7):
    lines = ["time_s,bandwidth_mbps,rtt_ms"]
    lines += [f"{i * step},{c},{r}" for i, (c, r) in enumerate(zip(caps, rtts, strict=True))]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_lindley_in_chunks_is_the_whole_recursion_bit_for_bit():
    rng = np.random.default_rng(0)
    ready = np.cumsum(rng.exponential(1.0, 1000)) * rng.uniform(0.5, 1.5, 1000)
    work = rng.exponential(0.9, 1000)
    whole = lindley_end(ready, work)
    for size in (1, 2, 7, 999, 1000):
        fifo = Lindley()
        parts = [fifo.end(ready[i:i + size], work[i:i + size]) for i in range(0, 1000, size)]
        assert np.array_equal(np.concatenate(parts), whole)


def _closed_form_chunks_equal(s: Scenario, sizes=(1, 3, 16, None)) -> None:
    s = s.validate()
    trace, costs, workload = build_trace(s), build_costs(s), build_workload(s)
    context = policy_context(s, costs)
    kw = dict(default_rtt_s=s.rtt_ms / 1e3, link_efficiency=s.link_efficiency,
              count_return_latency=s.count_return_latency)
    for label, policy in make_policies(s.policies):
        policy.reset(context)
        frames = [simulate_static(label, policy, workload, trace, costs, chunk=size, **kw)
                  for size in sizes]
        whole, sources = frames[-1]
        for df, used in frames[:-1]:
            assert used == sources
            pd.testing.assert_frame_equal(df, whole, check_exact=True)
            assert df.to_csv(index=False) == whole.to_csv(index=False)


@settings(max_examples=10, deadline=None)
@given(**RANDOM_TRACES, cloud=st.sampled_from(["h100-sxm", "cpu-2core-x86"]))
def test_closed_form_in_chunks_equals_one_chunk(tmp_path_factory, caps, rtts, seed, interval,
                                                end, cloud):
    """Varying RTTs reorder arrivals at the cloud across chunk boundaries; a slow cloud
    queues them; a clipped trace leaves transfers unfinished."""
    _closed_form_chunks_equal(Scenario(
        policies=["int8", "int4:0.5", "scout", "cloud-text", "edge-local"],
        trace=random_trace(tmp_path_factory, caps, rtts), trace_end=end, requests=40,
        seed=seed, interval_s=interval / 3, context_tokens="uniform:50:400",
        edge_device="jetson-agx-orin", cloud_device=cloud, answer_tokens=4))


def test_closed_form_in_chunks_on_the_default_trace():
    _closed_form_chunks_equal(Scenario(policies=STATIC, requests=200, interval_s=2.0,
                                       context_tokens="normal:170:60"), sizes=(2, 37, None))


def _same_result(streamed, kept) -> None:
    """``streamed`` (records=False) has the summary, notes and comparisons of ``kept``
    (records=True), whose summary is :func:`summarize` of its records."""
    assert streamed.requests.empty and not kept.requests.empty
    assert streamed.summary.to_csv(index=False) == kept.summary.to_csv(index=False)
    assert streamed.summary.to_json() == kept.summary.to_json()
    assert streamed.notes == kept.notes
    assert streamed.comparisons.to_csv(index=False) == kept.comparisons.to_csv(index=False)


@pytest.mark.parametrize("chunk", [1, 5, 64])
def test_streamed_run_is_the_in_memory_run(monkeypatch, chunk):
    monkeypatch.setattr(simulation, "CHUNK", chunk)
    s = Scenario(policies=[*STATIC, "adaptive"], requests=100, interval_s=1.0,
                 context_tokens="lognormal:170:0.5")
    streamed, kept = run(s, records=False), run(s, records=True)
    _same_result(streamed, kept)
    assert not streamed.comparisons.empty  # adaptive is the reference
    assert kept.summary.drop(columns="compute_source").to_csv(index=False) == summarize(
        kept.requests).to_csv(index=False)
    assert kept.comparisons.to_csv(index=False) == compare_paired(
        kept.requests, "adaptive").to_csv(index=False)


def test_streamed_events_engine_and_compare_to(monkeypatch):
    monkeypatch.setattr(simulation, "CHUNK", 4)
    s = Scenario(policies=["int8", "scout", "edge-local", "mpc"], requests=80, engine="events",
                 compare_to="scout", interval_s=0.5, context_tokens="uniform:50:400")
    _same_result(run(s, records=False), run(s, records=True))


def _trace_dir(tmp_path):
    folder = tmp_path / "traces"
    (folder / "b").mkdir(parents=True)
    _trace_file(folder / "z.csv", [5.0, 0.5, 20.0], [40.0, 300.0, 80.0])
    _trace_file(folder / "b" / "a.csv", [1.0, 8.0], [100.0, 20.0], step=2.0)
    _trace_file(folder / "m.csv", [30.0, 2.0, 0.0, 9.0], [10.0, 60.0, 60.0, 250.0])
    return str(folder)


def test_streamed_trace_dir_pools_and_pairs_as_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(simulation, "CHUNK", 3)
    s = Scenario(policies=["int8", "scout", "adaptive", "edge-local"], trace=None,
                 trace_dir=_trace_dir(tmp_path), requests=40, interval_s=0.7,
                 context_tokens="normal:170:60")
    streamed, kept = run(s, records=False), run(s, records=True)
    _same_result(streamed, kept)
    assert list(kept.comparisons["policy"]) == ["int8", "scout", "edge-local"]
    assert kept.comparisons.to_csv(index=False) == compare_paired(
        kept.requests, "adaptive", group_column="trace").to_csv(index=False)


@pytest.mark.parametrize("dir_run", [False, True])
def test_requests_csv_written_in_chunks_is_to_csv_of_all(tmp_path, monkeypatch, dir_run,
                                                         capsys):
    """sim.run --out writes requests.csv as the run goes (a trace folder's later traces
    wait in spool files); the bytes are those of the whole frame's to_csv."""
    monkeypatch.setattr(simulation, "CHUNK", 7)
    where = (["--trace-dir", _trace_dir(tmp_path)] if dir_run
             else ["--trace", "traces/3g.csv"])
    args = ["--policy", "int8,scout,adaptive", "--requests", "30", "--interval", "0.5",
            "--context-tokens", "normal:170:60", *where]
    out = tmp_path / "out"
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    kept = run(Scenario(policies=["int8", "scout", "adaptive"], requests=30, interval_s=0.5,
                        context_tokens="normal:170:60",
                        **({"trace": None, "trace_dir": where[1]} if dir_run
                           else {"trace": "traces/3g.csv"})))
    assert (out / "requests.csv").read_text() == kept.requests.to_csv(index=False)
    assert (out / "summary.csv").read_text() == kept.summary.to_csv(index=False)
    assert sorted(p.name for p in out.iterdir()) == ["comparisons.csv", "requests.csv",
                                                     "scenario.json", "summary.csv"]
    assert "wrote" in capsys.readouterr().out


def test_a_failed_run_leaves_no_records_file(tmp_path):
    sink = RecordsCsv(tmp_path / "new" / "deeper" / ".requests.csv.tmp")
    sink.start([(0, 0), (1, 0)])
    frame = records_frame({c: np.arange(3) if c == "request" else 1.0 for c in RECORD_COLUMNS
                           if c not in ("option", "mode", "precision", "quality_source")}
                          | {"option": "o", "mode": "m", "precision": "p",
                             "quality_source": "q"}, "pol")
    sink.write((1, 0), frame)  # early: spooled
    sink.write((0, 0), frame)
    sink.discard()
    assert list(tmp_path.iterdir()) == []


def test_in_order_hands_on_records_in_request_order():
    got: list[list[int]] = []
    buf = InOrder(lambda rows: got.append([r[0] for r in rows]), size=3)
    for i in (2, 0, 1, 5, 3, 4, 6):
        buf.add((i,))
    buf.close()
    assert got == [[0, 1, 2], [3, 4, 5], [6]]
    buf = InOrder(lambda rows: None, size=3)
    buf.add((1,))
    with pytest.raises(RuntimeError):
        buf.close()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "kv-int8@100%", "scout@50%"]), min_size=1,
                max_size=40))
def test_option_mix_is_value_counts_order_and_shares(options):
    """Ties keep the order of first occurrence, as pandas' value_counts does."""
    mix = pd.Series(options, dtype="str").value_counts(normalize=True)
    expected = ";".join(f"{k}={v:.3f}" for k, v in mix.items())
    assert option_mix(option_counts(pd.Series(options, dtype="str"))) == expected
    half = len(options) // 2
    counts = option_counts(np.array(options[:half] or ["a"], dtype=object))
    if half:
        for k, v in option_counts(np.array(options[half:], dtype=object)).items():
            counts[k] = counts.get(k, 0) + v
        assert option_mix(counts) == expected


def test_policy_columns_segments_summarise_alone_and_pooled():
    s = Scenario(policies=["adaptive"], requests=50, interval_s=0.4).validate()
    a = run(s, records=True).requests
    b = run(Scenario(policies=["adaptive"], requests=50, interval_s=0.4, rtt_ms=120.0),
            records=True).requests
    cols = PolicyColumns(100)
    for df in (a, b):
        cols.begin()
        for start in range(0, 50, 9):
            cols.add({c: df[c].iloc[start:start + 9] for c in RECORD_COLUMNS})
    both = pd.concat([a, b], ignore_index=True)
    for k, df in ((0, a), (1, b), (None, both)):
        assert pd.DataFrame([cols.row("adaptive", k)]).to_csv() == summarize(df).to_csv()


def _peak_bytes(requests: int, records: bool) -> int:
    tracemalloc.start()
    try:
        run(Scenario(policies=STATIC, requests=requests, interval_s=2.0), records=records)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streamed_memory_is_a_few_columns_per_request():
    """Peak traced allocations of a streamed run of 7 policies grow by the workload and
    one policy's summary columns per request (measured: 33 B), not with the records
    (about 1,600 B per request for 7 policies when kept)."""
    low, high = _peak_bytes(200_000, False), _peak_bytes(400_000, False)
    assert (high - low) / 200_000 < 80 and high < 80e6, (low, high)


@pytest.mark.parametrize("n", [1, 7, 1000])
def test_bootstrap_in_batches_draws_what_one_batch_draws(monkeypatch, n):
    from sim import stats

    rng = np.random.default_rng(n)
    x, y = rng.random(n), rng.random(n)
    whole = stats.paired_bootstrap_ci(x, y, n_boot=50)
    for batch in (1, 2 * n + 1, 7 * n):
        monkeypatch.setattr(stats, "BOOT_BATCH", batch)
        assert stats.paired_bootstrap_ci(x, y, n_boot=50) == whole
