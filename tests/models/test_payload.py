"""Tests of the payload model (models/payload.py) and its CLI (sim/payload.py)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# The repo root is not on sys.path under plain `pytest` (tests/ has no __init__.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from models.arch import get_arch  # noqa: E402
from models.errors import InputError  # noqa: E402
from models.payload import (  # noqa: E402
    INDEX_ENCODINGS,
    MixedPrecision,
    bitmap_decode,
    bitmap_encode,
    cloud_text_payload_bytes,
    decode_positions,
    delta_varint_decode,
    delta_varint_encode,
    delta_varint_size,
    encode_indices,
    encode_positions,
    evenly_spread_positions,
    kept_count,
    kv_bytes_per_token,
    kv_payload_breakdown,
    kv_payload_bytes,
    payload_table,
    scout_payload_bytes,
    text_bytes,
)
from sim.payload import main  # noqa: E402

Q7 = get_arch("qwen2.5-7b")
Q14 = get_arch("qwen2.5-14b")


# --- published arithmetic -------------------------------------------------------------------


def test_bf16_bytes_per_token_published():
    assert kv_bytes_per_token(Q7, "bf16") == 57_344
    assert kv_bytes_per_token(Q14, "bf16") == 196_608
    assert kv_bytes_per_token("qwen2.5-7b") == Q7.kv_bytes_per_token(2.0)


def test_14b_1024_tokens_over_200_mb():
    assert kv_payload_bytes(Q14, 1024, "bf16") == 201_326_592
    assert kv_payload_bytes(Q7, 1024, "bf16") == 58_720_256  # "58.7 MB"


def test_7b_170_tokens_is_9_7_mb():
    assert kv_payload_bytes(Q7, 170, "bf16") == 9_748_480
    assert round(9.7e6 / 336) == 28_869
    assert 9_748_480 / 336 == pytest.approx(29_013.333333, rel=1e-9)
    assert 9_748_480 * 3 == 29_013 * 1008 + 336  # 9,748,480 / 336 = 29,013 1/3 exactly


def test_336_bytes_explained():
    assert encode_indices(168, kept=84).all_sizes["int32"] == 336
    assert encode_indices(170, kept=168).all_sizes["int16"] == 336
    assert kept_count(168, 0.5) == 84
    assert encode_indices(170, kept=85).all_sizes["bitmap"] == 22
    assert len(bitmap_encode(170, range(0, 170, 2))) == 22


# --- quantisation ----------------------------------------------------------------------------


def test_int8_7b_170_exact():
    kv = kv_payload_breakdown(Q7, 170, "int8")
    assert kv.kv_data_bytes == 4_874_240
    assert kv.metadata_bytes == 170 * (28_672 // 64) * 4 == 304_640
    assert kv.index_bytes == 0 and kv.index_encoding == "none"
    assert kv.total_bytes == 4_874_240 + 304_640 == kv_payload_bytes(Q7, 170, "int8")


def test_int4_packing():
    kv = kv_payload_breakdown(Q7, 170, "int4")
    assert kv.kv_data_bytes == 170 * 28_672 // 2 == 2_437_120
    assert kv.metadata_bytes == 304_640
    # metadata shrinks with bigger groups; group of 1 element still takes a whole byte
    assert kv_payload_breakdown(Q7, 1, "int4", group_size=128).metadata_bytes == 224 * 4
    assert kv_payload_breakdown(Q7, 1, "int4", group_size=1).kv_data_bytes == 28_672


def test_bf16_has_no_metadata_and_ignores_group_size():
    kv = kv_payload_breakdown(Q7, 170, "bf16", group_size=48)
    assert kv.metadata_bytes == 0 and kv.total_bytes == 9_748_480


def test_group_size_must_divide_head_dim():
    with pytest.raises(InputError, match="head_dim"):
        kv_payload_bytes(Q7, 170, "int8", group_size=48)
    with pytest.raises(InputError):
        kv_payload_bytes(Q7, 170, "int4", group_size=0)


def test_mixed_default_between_int4_and_int8():
    int4 = kv_payload_bytes(Q7, 170, "int4")
    int8 = kv_payload_bytes(Q7, 170, "int8")
    mixed = kv_payload_breakdown(Q7, 170, "mixed")
    assert int4 < mixed.total_bytes < int8
    # 7 of 28 layers at INT8 (0-3 and 25-27), 21 at INT4; each layer 2*4*128 = 1024 elements
    assert MixedPrecision().high_layer_indices(28) == [0, 1, 2, 3, 25, 26, 27]
    assert mixed.kv_data_bytes == 170 * (7 * 1024 + 21 * 512)
    assert mixed.metadata_bytes == 304_640


def test_mixed_explicit_layers_and_bits():
    all_high = MixedPrecision(high_layers=list(range(28)))
    assert kv_payload_bytes(Q7, 170, "mixed", mixed=all_high) == kv_payload_bytes(Q7, 170, "int8")
    assert kv_payload_bytes(Q7, 170, "mixed", mixed=MixedPrecision(high_fraction=0.0)) == (
        kv_payload_bytes(Q7, 170, "int4")
    )
    bits = MixedPrecision(bits_per_layer=[16] * 28)
    assert kv_payload_bytes(Q7, 170, "mixed", mixed=bits) == 9_748_480
    assert MixedPrecision(high_fraction=0.25).high_layer_indices(48) == [
        0, 1, 2, 3, 4, 5, 42, 43, 44, 45, 46, 47]
    with pytest.raises(InputError):
        MixedPrecision(bits_per_layer=[8] * 27).layer_bits(28)
    with pytest.raises(InputError):
        MixedPrecision(high_layers=[28]).layer_bits(28)
    with pytest.raises(InputError):
        MixedPrecision(high_bits=3)
    with pytest.raises(InputError):
        kv_payload_bytes(Q7, 170, "int8", mixed=all_high)


def test_unknown_precision():
    with pytest.raises(InputError, match="precision"):
        kv_payload_bytes(Q7, 170, "fp8")


def test_retention_and_question_tokens():
    kv = kv_payload_breakdown(Q7, 170, "bf16", retention=0.5, question_tokens=10)
    assert kv.kept_tokens == 85
    assert kv.kv_data_bytes == 95 * 57_344
    assert kv.index_encoding == "bitmap" and kv.index_bytes == 22
    assert kv.total_bytes == 95 * 57_344 + 22


def test_kv_with_actual_positions():
    kv = kv_payload_breakdown(Q7, 1000, "bf16", kept_positions=[200, 400, 600])
    assert kv.kept_tokens == 3
    assert kv.index_encoding == "int16" and kv.index_bytes == 6


# --- kept_count ------------------------------------------------------------------------------


def test_kept_count_rounding():
    assert kept_count(170, 0.5) == 85
    assert kept_count(171, 0.5) == 86  # 85.5 rounds half up
    assert kept_count(5, 0.3) == 2  # 1.5 rounds half up
    assert kept_count(10, 0.01) == 1  # at least one
    assert kept_count(0, 0.5) == 0
    assert kept_count(170, 1.0) == 170


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.01, float("nan"), "x"])
def test_retention_errors(bad):
    with pytest.raises(InputError, match="retention"):
        kept_count(170, bad)
    with pytest.raises(InputError, match="retention"):
        kv_payload_bytes(Q7, 170, "bf16", retention=bad)
    with pytest.raises(InputError, match="retention"):
        scout_payload_bytes(170, bad)


def test_negative_tokens():
    with pytest.raises(InputError):
        kv_payload_bytes(Q7, -1, "bf16")
    with pytest.raises(InputError):
        kept_count(-1, 0.5)


# --- index encodings -------------------------------------------------------------------------


def test_encode_indices_170_half():
    enc = encode_indices(170, kept=85)
    assert enc.all_sizes == {"bitmap": 22, "int16": 170, "delta-varint": 85, "int32": 340}
    assert enc.name == "bitmap" and enc.bytes == 22


def test_count_only_uses_evenly_spread_positions():
    pos = evenly_spread_positions(1000, 7)
    assert pos.tolist() == [i * 1000 // 7 for i in range(7)]
    enc = encode_indices(1000, kept=7)
    assert enc.all_sizes["delta-varint"] == len(delta_varint_encode(pos)) == 13


def test_tie_break_order():
    assert encode_indices(8, kept_positions=[0]).name == "bitmap"  # bitmap 1 = varint 1
    assert encode_indices(1000, kept_positions=[200, 400, 600]).name == "int16"  # 6 = 6
    big = encode_indices(1 << 23, kept_positions=[1 << 21, 1 << 22])  # varint 8 = int32 8
    assert "int16" not in big.all_sizes
    assert big.all_sizes["delta-varint"] == big.all_sizes["int32"] == 8
    assert big.name == "delta-varint"


def test_int16_limit():
    assert "int16" in encode_indices(65_536, kept=10).all_sizes
    assert "int16" not in encode_indices(65_537, kept=10).all_sizes
    with pytest.raises(InputError):
        encode_positions("int16", 65_537, [1, 2])


def test_encode_indices_errors():
    with pytest.raises(InputError):
        encode_indices(10)
    with pytest.raises(InputError):
        encode_indices(10, kept=11)
    with pytest.raises(InputError):
        encode_indices(10, kept_positions=[1, 1])
    with pytest.raises(InputError):
        encode_indices(10, kept_positions=[10])
    with pytest.raises(InputError):
        encode_indices(10, kept_positions=[1, 2], kept=3)


def test_varint_known_bytes():
    assert delta_varint_encode([0, 1, 129]) == bytes([0x00, 0x01, 0x80, 0x01])
    assert delta_varint_encode([300]) == bytes([0xAC, 0x02])
    assert delta_varint_decode(bytes([0xAC, 0x02])) == [300]
    with pytest.raises(InputError):
        delta_varint_decode(bytes([0x80]))


def test_bitmap_known_bytes():
    assert bitmap_encode(10, [0, 3, 9]) == bytes([0b0000_1001, 0b0000_0010])
    with pytest.raises(InputError):
        bitmap_decode(bytes([0, 0xFF]), 10)  # bits past position 9
    with pytest.raises(InputError):
        bitmap_decode(bytes([0]), 10)  # wrong length


@st.composite
def index_sets(draw, max_n: int = 5000):
    n = draw(st.integers(min_value=0, max_value=max_n))
    if n == 0:
        return 0, []
    pos = draw(st.sets(st.integers(min_value=0, max_value=n - 1), max_size=min(n, 300)))
    return n, sorted(pos)


@settings(max_examples=200, deadline=None)
@given(index_sets())
def test_delta_varint_round_trip(case):
    n, pos = case
    data = delta_varint_encode(pos)
    assert delta_varint_decode(data) == pos
    assert len(data) == delta_varint_size(pos)


@settings(max_examples=200, deadline=None)
@given(index_sets())
def test_bitmap_round_trip(case):
    n, pos = case
    data = bitmap_encode(n, pos)
    assert len(data) == math.ceil(n / 8)
    assert bitmap_decode(data, n) == pos


@settings(max_examples=200, deadline=None)
@given(index_sets(max_n=1 << 20))
def test_chooser_picks_minimum_of_real_encodings(case):
    n, pos = case
    enc = encode_indices(n, kept_positions=pos)
    for name, size in enc.all_sizes.items():
        data = encode_positions(name, n, pos)
        assert len(data) == size
        assert decode_positions(name, data, n) == pos
    assert enc.bytes == min(enc.all_sizes.values()) == enc.all_sizes[enc.name]
    tied = [name for name in INDEX_ENCODINGS if enc.all_sizes.get(name) == enc.bytes]
    assert enc.name == tied[0]


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=200_000), st.floats(min_value=0.001, max_value=1.0))
def test_count_only_sizes_match_real_encoding(n, r):
    k = kept_count(n, r)
    enc = encode_indices(n, kept=k)
    pos = evenly_spread_positions(n, k)
    assert len(set(pos.tolist())) == k
    assert enc.all_sizes["delta-varint"] == len(delta_varint_encode(pos))
    assert enc.all_sizes["bitmap"] == len(bitmap_encode(n, pos))


# --- scout, text, table ----------------------------------------------------------------------


def test_text_bytes():
    assert text_bytes(170) == 680
    assert text_bytes(3, 1.1) == 4
    assert text_bytes(10, 3.3) == 33  # no float noise


def test_scout_payload():
    sc = scout_payload_bytes(170, 0.5, question_tokens=12)
    assert (sc.index_bytes, sc.index_encoding) == (22, "bitmap")
    assert sc.question_text_bytes == 48 and sc.context_text_bytes == 680
    assert sc.total_bytes == 22 + 48 + 680
    has = scout_payload_bytes(170, 0.5, question_tokens=12, cloud_has_context=True)
    assert has.context_text_bytes == 0 and has.total_bytes == 70
    real = scout_payload_bytes(170, 0.5, context_text_bytes=901)
    assert real.context_text_bytes == 901
    full = scout_payload_bytes(170, 1.0, cloud_has_context=True)
    assert full.total_bytes == 0 and full.index_encoding == "none"


def test_cloud_text_and_table():
    assert cloud_text_payload_bytes(170, 12) == 728
    assert cloud_text_payload_bytes(170, 12, cloud_has_context=True) == 48
    rows = payload_table(Q7, 170, 0.5)
    got = {(r.mode, r.precision): r for r in rows}
    assert [r.mode for r in rows] == ["kv"] * 4 + ["scout", "cloud-text", "edge-local"]
    assert got[("kv", "bf16")].bytes == 85 * 57_344 + 22
    assert got[("kv", "int8")].bytes == kv_payload_bytes(Q7, 170, "int8", 0.5)
    assert got[("scout", None)].bytes == 702
    assert got[("cloud-text", None)].bytes == 680
    assert got[("edge-local", None)].bytes == 0


# --- CLI -------------------------------------------------------------------------------------


def test_cli_json(capsys):
    assert main(["--model", "qwen2.5-7b", "--tokens", "170", "--retention", "0.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "qwen2.5-7b" and out["tokens"] == 170 and out["retention"] == 0.5
    rows = {(r["mode"], r["precision"]): r for r in out["rows"]}
    assert rows[("kv", "bf16")]["bytes"] == 4_874_262
    assert rows[("scout", None)]["bytes"] == 702
    enc = out["index_encodings"]
    assert enc["sizes"] == {"bitmap": 22, "int16": 170, "delta-varint": 85, "int32": 340}
    assert enc["chosen"] == "bitmap" and enc["kept"] == 85
    assert out["published_check"]["bf16_kv_context_bytes"] == 9_748_480


def test_cli_table(capsys):
    assert main(["--model", "qwen2.5-7b", "--tokens", "170", "--retention", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "9,748,480" in out and "28,869x" in out and "336 B = 84" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--model", "nope", "--tokens", "170"],
        ["--model", "qwen2.5-7b", "--tokens", "170", "--retention", "1.5"],
        ["--model", "qwen2.5-7b", "--tokens", "-5"],
        ["--model", "qwen2.5-7b", "--tokens", "abc"],
        ["--model", "qwen2.5-7b", "--tokens", "170", "--group-size", "48"],
    ],
)
def test_cli_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
