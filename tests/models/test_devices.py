"""Device profiles, roofline arithmetic and the measured timing table."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# The repo root is not on sys.path under plain `pytest` (tests/ has no __init__.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from models.arch import ARCHS, get_arch  # noqa: E402
from models.devices import DEVICES, get_device  # noqa: E402
from models.errors import InputError  # noqa: E402
from models.timing import (  # noqa: E402
    CSV_COLUMNS,
    ComputeModel,
    TimingTable,
    decode_bytes,
    decode_flops,
    prefill_bytes,
    prefill_flops,
    roofline_time_s,
)

HEADER = ",".join(CSV_COLUMNS)


def write_csv(tmp_path: Path, lines: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "timings.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------- registry


def test_registry_has_required_devices() -> None:
    for name in (
        "jetson-agx-orin",
        "rtx-4090-laptop",
        "a100-sxm-80gb",
        "h100-sxm",
        "h200-sxm",
        "cpu-2core-x86",
        "ideal",
    ):
        device = get_device(name)
        assert device.name == name
        assert device.source


def test_real_devices_have_positive_finite_figures() -> None:
    for device in DEVICES.values():
        if device.is_ideal:
            continue
        for value in (
            device.peak_flops_per_s,
            device.memory_bandwidth_bytes_per_s,
            device.memory_bytes,
        ):
            assert math.isfinite(value) and value > 0
        assert 0 < device.compute_efficiency <= 1
        assert 0 < device.memory_efficiency <= 1


def test_get_device_is_case_insensitive() -> None:
    assert get_device(" H100-SXM ") is DEVICES["h100-sxm"]


def test_unknown_device_raises_input_error() -> None:
    with pytest.raises(InputError, match="unknown device 'tpu-v9'.*h100-sxm"):
        get_device("tpu-v9")
    with pytest.raises(InputError, match="unknown device"):
        ComputeModel("tpu-v9")


# ------------------------------------------------------------------------- roofline


def test_roofline_hand_computation_7b_prefill_170_on_h100() -> None:
    """qwen2.5-7b, 170-token prefill, batch 1, bf16, on h100-sxm (eff 0.5 / 0.7).

    By hand:
      embedding table   V*h = 152064*3584                   =     544,997,376
      non-embedding     7,615,616,512 - 2*544,997,376       =   6,525,621,760 (untied)
      linear FLOPs      2 * 6,525,621,760 * 170             = 2,218,711,398,400
      attention FLOPs   4 * 28 * 170^2/2 * 28 * 128         =   5,800,345,600
      lm head FLOPs     2 * 152064 * 3584                   =   1,089,994,752
      total FLOPs                                           = 2,225,601,738,752
      compute time      2.2256e12 / (989.5e12 * 0.5)        =  4.49843 ms
      weight bytes      7,615,616,512 * 2                   =  15,231,233,024
      KV bytes/token    2 * 28 * 4 * 128 * 2                =          57,344
      KV written        57,344 * 170                        =       9,748,480
      total bytes                                           =  15,240,981,504
      memory time       15,240,981,504 / (3.35e12 * 0.7)    =  6.499353 ms  <- max
    """
    arch = get_arch("qwen2.5-7b")
    h100 = get_device("h100-sxm")
    assert prefill_flops(arch, 170) == 2_225_601_738_752
    assert prefill_bytes(arch, 170) == 15_240_981_504
    expected_s = 15_240_981_504 / (3.35e12 * 0.7)
    assert expected_s == pytest.approx(6.499353e-3, rel=1e-6)
    assert roofline_time_s(2_225_601_738_752, 15_240_981_504, h100) == pytest.approx(expected_s)
    estimate = ComputeModel(h100).prefill_s(arch, 170)
    assert estimate.source == "roofline"
    assert estimate.seconds == pytest.approx(expected_s, rel=1e-12)


def test_decode_counts_by_hand() -> None:
    """qwen2.5-7b decode at L=1000: FLOPs = 2*(P_ne + V*h) + 4*l*L*H*d, bytes = 2P + L*kv."""
    arch = get_arch("qwen2.5-7b")
    matmul = 6_525_621_760 + 544_997_376
    assert decode_flops(arch, 1000) == 2 * matmul + 4 * 28 * 1000 * 28 * 128
    assert decode_bytes(arch, 1000) == 2 * 7_615_616_512 + 1000 * 57_344
    assert decode_bytes(arch, 1000, batch=3) == 2 * 7_615_616_512 + 3 * 1000 * 57_344


def test_compute_bound_case_uses_flops() -> None:
    arch = get_arch("qwen2.5-7b")
    h100 = get_device("h100-sxm")
    flops, nbytes = prefill_flops(arch, 4096), prefill_bytes(arch, 4096)
    assert ComputeModel(h100).prefill_s(arch, 4096).seconds == pytest.approx(
        flops / (989.5e12 * 0.5)
    )
    assert flops / (989.5e12 * 0.5) > nbytes / (3.35e12 * 0.7)


def test_cpu_profile_defaults_to_fp32_weights() -> None:
    arch = get_arch("qwen2.5-0.5b")
    cpu = ComputeModel("cpu-2core-x86")
    assert cpu.weight_bytes_per_param == 4.0
    expected = decode_bytes(arch, 10, 1, 4.0, 4.0) / (25.6e9 * 0.7)
    assert cpu.decode_s(arch, 10).seconds == pytest.approx(expected)
    gpu_bf16 = ComputeModel("cpu-2core-x86", weight_bytes_per_param=2.0, kv_bytes_per_element=2.0)
    assert gpu_bf16.decode_s(arch, 10).seconds < cpu.decode_s(arch, 10).seconds


def test_ideal_is_zero_for_all_ops() -> None:
    ideal = get_device("ideal")
    assert roofline_time_s(1e20, 1e20, ideal) == 0.0
    model = ComputeModel(ideal)
    for name in ("qwen2.5-0.5b", "qwen2.5-7b", "qwen2.5-72b"):
        estimates = [
            model.prefill_s(name, 1024, batch=4),
            model.prefill_s(name, 10, past_tokens=500),
            model.decode_s(name, 4096, batch=8),
            model.decode_tokens_s(name, 100, 50),
            model.quantize_s(name, 1024, "int8"),
            model.quantize_s(name, 1024, "int4"),
            model.dequantize_s(name, 1024, "int8"),
            model.dequantize_s(name, 1024, "int4"),
        ]
        for est in estimates:
            assert est.seconds == 0.0
            assert est.source == "ideal"


def test_quantize_is_memory_bound_and_int4_cheaper() -> None:
    arch = get_arch("qwen2.5-7b")
    model = ComputeModel("h100-sxm")
    q8 = model.quantize_s(arch, 1000, "int8").seconds
    q4 = model.quantize_s(arch, 1000, "int4").seconds
    # read 2 B + write 1 B per element for int8
    assert q8 == pytest.approx(1000 * arch.kv_elements_per_token() * 3 / (3.35e12 * 0.7))
    assert q4 < q8
    assert model.dequantize_s(arch, 1000, "int8").seconds == pytest.approx(q8)
    with pytest.raises(InputError, match="unknown precision"):
        model.quantize_s(arch, 10, "fp3")


def test_decode_tokens_sums_steps() -> None:
    model = ComputeModel("jetson-agx-orin")
    total = model.decode_tokens_s("qwen2.5-1.5b", 100, 5)
    steps = sum(model.decode_s("qwen2.5-1.5b", n).seconds for n in range(100, 105))
    assert total.seconds == pytest.approx(steps)
    assert total.source == "roofline"


def test_past_tokens_adds_attention_and_kv_reads() -> None:
    model = ComputeModel("h100-sxm")
    fresh = model.prefill_s("qwen2.5-7b", 4096)
    after_prefix = model.prefill_s("qwen2.5-7b", 4096, past_tokens=4096)
    assert after_prefix.seconds > fresh.seconds


def test_negative_counts_rejected() -> None:
    with pytest.raises(ValueError):
        ComputeModel("h100-sxm").prefill_s("qwen2.5-7b", -1)
    with pytest.raises(ValueError):
        ComputeModel("h100-sxm").decode_s("qwen2.5-7b", 10, batch=0)


_REAL_DEVICES = sorted(name for name, d in DEVICES.items() if not d.is_ideal)


@settings(max_examples=200, deadline=None)
@given(
    device=st.sampled_from(_REAL_DEVICES),
    model=st.sampled_from(sorted(ARCHS)),
    tokens=st.integers(min_value=1, max_value=32_768),
    extra=st.integers(min_value=1, max_value=4096),
    batch=st.integers(min_value=1, max_value=16),
)
def test_prefill_increases_with_tokens(
    device: str, model: str, tokens: int, extra: int, batch: int
) -> None:
    cm = ComputeModel(device)
    assert cm.prefill_s(model, tokens + extra, batch).seconds > cm.prefill_s(
        model, tokens, batch
    ).seconds


@settings(max_examples=200, deadline=None)
@given(
    device=st.sampled_from(_REAL_DEVICES),
    model=st.sampled_from(sorted(ARCHS)),
    cache=st.integers(min_value=0, max_value=32_768),
    extra=st.integers(min_value=1, max_value=4096),
    batch=st.integers(min_value=1, max_value=16),
)
def test_decode_increases_with_cache_length(
    device: str, model: str, cache: int, extra: int, batch: int
) -> None:
    cm = ComputeModel(device)
    assert cm.decode_s(model, cache + extra, batch).seconds > cm.decode_s(
        model, cache, batch
    ).seconds


# ------------------------------------------------------------------------- timing table

ROWS = [
    "qwen2.5-7b,h100-sxm,eager,prefill,128,1,0.020,10,test",
    "qwen2.5-7b,h100-sxm,eager,prefill,512,1,0.080,10,test",
    "qwen2.5-7b,h100-sxm,eager,decode,100,1,0.010,10,test",
    "qwen2.5-7b,h100-sxm,eager,decode,300,1,0.014,10,test",
    "qwen2.5-7b,h100-sxm,eager,decode,100,4,0.012,10,test",
    "qwen2.5-7b,h100-sxm,eager,decode,300,4,0.018,10,test",
    "qwen2.5-7b,h100-sxm,eager,quantize_int8,1000,1,0.0005,5,test",
]


def test_table_exact_hit_is_measured(tmp_path: Path) -> None:
    table = TimingTable.load(write_csv(tmp_path, ROWS))
    assert len(table) == len(ROWS)
    assert table.lookup("qwen2.5-7b", "h100-sxm", "prefill", 128, 1) == 0.020
    est = ComputeModel("h100-sxm", table).prefill_s("qwen2.5-7b", 512)
    assert (est.seconds, est.source) == (0.080, "measured")
    q = ComputeModel("h100-sxm", table).quantize_s("qwen2.5-7b", 1000, "int8")
    assert (q.seconds, q.source) == (0.0005, "measured")


def test_table_midpoint_is_interpolated(tmp_path: Path) -> None:
    table = TimingTable.load(write_csv(tmp_path, ROWS))
    model = ComputeModel("h100-sxm", table)
    mid = model.prefill_s("qwen2.5-7b", 256)
    assert mid.source == "interpolated"
    assert 0.020 < mid.seconds < 0.080
    # log-log between (128, 0.02) and (512, 0.08): slope 1, so the value at 256 is 0.04
    assert mid.seconds == pytest.approx(0.040)
    dec = model.decode_s("qwen2.5-7b", 200)
    assert dec.source == "interpolated"
    assert dec.seconds == pytest.approx(0.012)  # linear midpoint
    # batch 2 between measured batches 1 and 4 at cache 200: 0.012 + (0.015 - 0.012) / 3
    both = model.decode_s("qwen2.5-7b", 200, batch=2)
    assert both.source == "interpolated"
    assert both.seconds == pytest.approx(0.013)


def test_table_outside_range_falls_back_to_roofline(tmp_path: Path) -> None:
    table = TimingTable.load(write_csv(tmp_path, ROWS))
    model = ComputeModel("h100-sxm", table)
    assert table.lookup("qwen2.5-7b", "h100-sxm", "prefill", 1024, 1) is None
    assert table.lookup("qwen2.5-7b", "h100-sxm", "prefill", 64, 1) is None
    assert table.lookup("qwen2.5-7b", "h100-sxm", "decode", 200, 8) is None
    for est in (
        model.prefill_s("qwen2.5-7b", 1024),
        model.prefill_s("qwen2.5-7b", 64),
        model.decode_s("qwen2.5-7b", 200, batch=8),
        model.prefill_s("qwen2.5-14b", 256),  # other model
        model.prefill_s("qwen2.5-7b", 256, past_tokens=10),  # cached prefix
    ):
        assert est.source == "roofline"
    other_stack = ComputeModel("h100-sxm", table, stack="vllm")
    assert other_stack.prefill_s("qwen2.5-7b", 128).source == "roofline"
    other_device = ComputeModel("a100-sxm-80gb", table)
    assert other_device.prefill_s("qwen2.5-7b", 128).source == "roofline"


def test_duplicate_rows_merge_by_repeats(tmp_path: Path) -> None:
    rows = [
        "qwen2.5-7b,h100-sxm,eager,decode,100,1,0.010,3,a",
        "qwen2.5-7b,h100-sxm,eager,decode,100,1,0.020,1,b",
    ]
    table = TimingTable.load(write_csv(tmp_path, rows))
    assert table.lookup("qwen2.5-7b", "h100-sxm", "decode", 100) == pytest.approx(0.0125)


def test_load_dir_reads_all_csvs(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(HEADER + "\n" + ROWS[0] + "\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text(HEADER + "\n" + ROWS[1] + "\n", encoding="utf-8")
    assert len(TimingTable.load_dir(tmp_path)) == 2


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("qwen2.5-7b,h100-sxm,eager,prefill,256,1,nan,10,x", "time_s must be finite"),
        ("qwen2.5-7b,h100-sxm,eager,prefill,256,1,-0.5,10,x", "time_s must be finite and > 0"),
        ("qwen2.5-7b,h100-sxm,eager,prefill,256,1,abc,10,x", "time_s must be a number"),
        ("qwen2.5-7b,h100-sxm,eager,train,256,1,0.1,10,x", "unknown op 'train'"),
        ("qwen2.5-7b,tpu-v9,eager,prefill,256,1,0.1,10,x", "unknown device 'tpu-v9'"),
        ("qwen9-7b,h100-sxm,eager,prefill,256,1,0.1,10,x", "unknown model 'qwen9-7b'"),
        ("qwen2.5-7b,h100-sxm,eager,prefill,25.6,1,0.1,10,x", "context_tokens must be an int"),
        ("qwen2.5-7b,h100-sxm,eager,prefill,0,1,0.1,10,x", "context_tokens must be >= 1"),
        ("qwen2.5-7b,h100-sxm,eager,prefill,256,0,0.1,10,x", "batch must be >= 1"),
        ("qwen2.5-7b,h100-sxm,eager,prefill,256,1,0.1,0,x", "n_repeats must be >= 1"),
        ("qwen2.5-7b,h100-sxm,eager,prefill,256,1,0.1", "expected 9 fields, got 7"),
    ],
)
def test_malformed_row_names_file_and_line(tmp_path: Path, bad_row: str, message: str) -> None:
    path = write_csv(tmp_path, [ROWS[0], ROWS[1], bad_row])
    with pytest.raises(InputError, match=message) as info:
        TimingTable.load(path)
    assert str(info.value).startswith(f"{path}:4: ")
    assert info.value.path == str(path) and info.value.line == 4


def test_missing_column_names_file_and_header_line(tmp_path: Path) -> None:
    header = HEADER.replace(",n_repeats", "")
    path = write_csv(tmp_path, ["qwen2.5-7b,h100-sxm,eager,prefill,128,1,0.02,x"], header)
    with pytest.raises(InputError, match="missing column.*n_repeats") as info:
        TimingTable.load(path)
    assert str(info.value).startswith(f"{path}:1: ")


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty timing table"):
        TimingTable.load(empty)
    with pytest.raises(InputError, match="timing table not found"):
        TimingTable.load(tmp_path / "nope.csv")


def test_ambiguous_stack_without_stack_argument(tmp_path: Path) -> None:
    rows = [ROWS[0], ROWS[0].replace(",eager,", ",vllm,")]
    table = TimingTable.load(write_csv(tmp_path, rows))
    with pytest.raises(InputError, match="several stacks"):
        table.lookup("qwen2.5-7b", "h100-sxm", "prefill", 128)
    assert table.lookup("qwen2.5-7b", "h100-sxm", "prefill", 128, stack="vllm") == 0.020
