"""The timing profiler (models.profiling) and the roofline calibration, on tiny configs (CPU);
the old ``models.profile`` names and command line."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from models.arch import ModelArch  # noqa: E402
from models.devices import get_device  # noqa: E402
from models.errors import InputError  # noqa: E402
from models.profiling.calibrate import (  # noqa: E402
    FIT_ORDER,
    calibrate,
    error_summary,
    fit_best,
    fit_roofline,
    relative_errors,
    roofline_terms,
    split_rows,
)
from models.profiling.cli import main  # noqa: E402
from models.profiling.timers import choose_repeats, summarize_times, time_repeats  # noqa: E402
from models.timing import (  # noqa: E402
    CSV_COLUMNS,
    Calibration,
    ComputeModel,
    RooflineFit,
    TimingRow,
    TimingTable,
)

H200 = get_device("h200-sxm")
MODELS = ("qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b", "qwen2.5-7b", "qwen2.5-14b")
CONTEXTS = (128, 170, 256, 512, 1024, 2048, 4096, 8192)
BATCHES = (1, 4, 16)
# A real architecture's name (so the rows load) with tiny shapes (so it runs in a second).
TINY = ModelArch("qwen2.5-0.5b", 2, 2, 16, 64, 4, 128, 256, 100_000, True)


# ------------------------------------------------------------------------- repeats


def test_median_of_repeats_drops_warmups() -> None:
    calls = iter([0.9, 0.8, 0.3, 0.1, 0.2, 0.5, 0.4])  # 2 warm-ups, then 5 timed

    def timer(fn):
        fn()
        return next(calls)

    ran = []
    times = time_repeats(lambda: ran.append(1), timer, warmup=2, repeats=5)
    assert times == [0.3, 0.1, 0.2, 0.5, 0.4]
    assert len(ran) == 7
    assert summarize_times(times) == (0.3, 0.1, 0.5, 5)
    assert summarize_times([0.1, 0.4])[0] == pytest.approx(0.25)  # even count: midpoint
    with pytest.raises(ValueError):
        summarize_times([])


def test_repeat_count_follows_first_call() -> None:
    assert choose_repeats(0.005, 5) == 15  # cheap: more repeats
    assert choose_repeats(0.2, 5) == 5
    assert choose_repeats(3.0, 5) == 3  # big: fewer
    assert choose_repeats(3.0, 3) == 2
    seen = []

    def timer(fn):
        seen.append(1)
        return 2.0

    # a first call over a second skips the other warm-ups and times 3 repeats
    assert len(time_repeats(lambda: None, timer, warmup=2, repeats=5)) == 3
    assert len(seen) == 4


# ------------------------------------------------------------------------- profiler (tiny)


def test_static_cache_forward_matches_eager_and_uses_the_cache() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from models.profiling.model import (
        build_model,
        check_static_matches_eager,
        forward_fn,
        static_cache,
    )

    model = build_model(TINY, torch.float32, "cpu")
    with torch.inference_mode():
        errs = check_static_matches_eager(model, TINY, torch.float32, "cpu", use_graph=False)
        assert errs["decode"] < 1e-5 and errs["prefill"] < 1e-5
        ids = torch.zeros((1, 1), dtype=torch.long)
        pos = torch.full((1, 1), 8, dtype=torch.long)
        torch.manual_seed(0)
        a = forward_fn(model, ids, static_cache(TINY, 1, 9, 8, 1, torch.float32, "cpu"), pos,
                       static=True)()
        torch.manual_seed(1)
        b = forward_fn(model, ids, static_cache(TINY, 1, 9, 8, 1, torch.float32, "cpu"), pos,
                       static=True)()
    assert not torch.allclose(a, b)  # the cached KV reaches the attention


def test_profiler_writes_a_csv_the_timing_table_loads(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from models.profiling.grid import Grid
    from models.profiling.profiler import Profiler

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path / "cpu.csv"
        grid = Grid((8, 16), (1, 2), (8,), (1, 2), (8,))
        prof = Profiler(out=out, device="cpu", device_name="cpu-2core-x86", dtype_name="fp32",
                        grid=grid, stacks=("eager",), warmup=1, repeats=2, log=lambda s: None,
                        big_tokens=16)
        prof.run([TINY])
        text = out.read_text(encoding="utf-8")
        table = TimingTable.load(out)
        # 4 prefill + 2 decode + 4 KV ops, eager only
        assert len(table) == 10
        assert {r.op for r in table.rows} == {
            "prefill", "decode", "quantize_int8", "quantize_int4", "dequantize_int8",
            "dequantize_int4"}
        assert all(r.device == "cpu-2core-x86" and r.stack == "eager" for r in table.rows)
        assert all("random-weights" in r.source for r in table.rows)
        assert "# weights: RANDOM" in text and "torch " in text and "transformers " in text
        header = next(line for line in text.splitlines() if not line.startswith("#"))
        assert header.split(",")[: len(CSV_COLUMNS)] == list(CSV_COLUMNS)
        est = ComputeModel("cpu-2core-x86", table).prefill_s("qwen2.5-0.5b", 12, batch=1)
        assert est.source == "interpolated"
        # resuming measures nothing new; a zero time budget skips and logs every point
        Profiler(out=out, device="cpu", device_name="cpu-2core-x86", dtype_name="fp32",
                 grid=grid, stacks=("eager",), resume=True, log=lambda s: None).run([TINY])
        assert len(TimingTable.load(out)) == 10
        late = tmp_path / "late.csv"
        skipper = Profiler(out=late, device="cpu", device_name="cpu-2core-x86",
                           dtype_name="fp32", grid=grid, stacks=("eager",), deadline_s=0.0,
                           log=lambda s: None)
        skipper.run([TINY])
        assert len(skipper.skipped) == 10
        assert late.read_text().count("# skipped: ") == 10
        assert len(TimingTable.load(late)) == 0
    finally:
        torch.set_num_threads(threads)


def test_compiled_stack_needs_cuda(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from models.profiling.grid import QUICK_GRID
    from models.profiling.profiler import Profiler

    with pytest.raises(InputError, match="needs --device cuda"):
        Profiler(out=tmp_path / "x.csv", device="cpu", device_name="cpu-2core-x86",
                 dtype_name="fp32", grid=QUICK_GRID, stacks=("eager", "compiled"))


# ------------------------------------------------------------------------- comments in CSVs


def test_timing_csv_comment_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "# provenance, with a comma and a \"quote\n"
        "  # indented comment\n"
        + ",".join(CSV_COLUMNS) + "\n"
        "qwen2.5-7b,h100-sxm,eager,prefill,128,1,0.02,5,x\n"
        "# skipped: something\n"
        "qwen2.5-7b,h100-sxm,eager,prefill,256,1,nan,5,x\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        TimingTable.load(path)
    assert info.value.line == 6  # comment lines still count
    path.write_text("# only a comment\n", encoding="utf-8")
    with pytest.raises(InputError, match="empty timing table"):
        TimingTable.load(path)


# ------------------------------------------------------------------------- calibration


def synthetic_rows(fits: dict[str, RooflineFit], stack: str = "eager") -> list[TimingRow]:
    """Rows whose times the given fits produce exactly (h200-sxm, the real grid)."""
    rows = []
    for model in MODELS:
        for op, fit in fits.items():
            contexts = CONTEXTS if op == "prefill" else (128, 170, 512, 2048, 8192)
            batches = BATCHES if op in ("prefill", "decode") else (1,)
            for n in contexts:
                for b in batches:
                    row = TimingRow(model, "h200-sxm", stack, op, n, b, 1.0, 1, "synthetic")
                    t = fit.time_s(*_fb(roofline_terms(row, H200)), H200,
                                   roofline_terms(row, H200).layers)
                    rows.append(TimingRow(model, "h200-sxm", stack, op, n, b, t, 3, "synthetic"))
    return rows


def _fb(point):
    return point.flops, point.bytes


def test_fit_recovers_known_factors() -> None:
    truth = {
        "prefill": RooflineFit("h200-sxm", "eager", "prefill", 0.55, 0.8, 2e-3, 5e-4),
        "decode": RooflineFit("h200-sxm", "eager", "decode", 0.55, 0.65, 1e-3, 2e-4),
        "quantize_int8": RooflineFit("h200-sxm", "eager", "quantize_int8", 0.55, 0.05, 1e-4),
    }
    cal, report = calibrate(synthetic_rows(truth))
    for op, t in truth.items():
        got = cal.get("h200-sxm", "eager", op)
        assert got is not None and got.overhead_mode == "add"
        if op == "prefill":  # decode and the KV op take prefill's compute efficiency
            assert got.compute_efficiency == pytest.approx(t.compute_efficiency, rel=0.02)
        assert got.memory_efficiency == pytest.approx(t.memory_efficiency, rel=0.02)
        assert got.overhead_s + 48 * got.overhead_per_layer_s == pytest.approx(
            t.overhead_s + 48 * t.overhead_per_layer_s, rel=0.02)
        assert got.errors["heldout_median"] < 0.01 and got.errors["heldout_max"] < 0.02
    assert {r["split"] for r in report} == {"train", "heldout"}


def test_fit_prefers_overlapping_overhead_when_the_data_say_so() -> None:
    truth = {"decode": RooflineFit("h200-sxm", "eager", "decode", 0.5, 0.7, 0.0, 2e-3,
                                   overhead_mode="max")}
    points = [roofline_terms(r, H200) for r in synthetic_rows(truth)]
    best = fit_best(points, H200, "eager", "decode", per_layer=True, compute_efficiency=0.5)
    assert best.overhead_mode == "max"
    assert best.overhead_per_layer_s == pytest.approx(2e-3, rel=0.02)
    added = fit_roofline(points, H200, "eager", "decode", True, 0.5, overhead_mode="add")
    assert added.errors["fit_cost"] >= best.errors["fit_cost"]


def test_split_and_heldout_errors() -> None:
    truth = {"prefill": RooflineFit("h200-sxm", "compiled", "prefill", 0.5, 0.7, 1e-3, 0.0)}
    rows = [r for r in synthetic_rows(truth, "compiled") if r.model == "qwen2.5-7b"]
    train, held = split_rows(rows)
    assert len(train) + len(held) == len(rows) == 24
    # even-indexed contexts (128, 256, 1024, 4096) at batch 1 and 16 train; the rest is held
    assert {(r.context_tokens, r.batch) for r in train} == {
        (n, b) for n in (128, 256, 1024, 4096) for b in (1, 16)}
    assert all(r.batch == 4 or r.context_tokens in (170, 512, 2048, 8192) for r in held)
    points = [roofline_terms(r, H200) for r in held]
    assert max(relative_errors(truth["prefill"], points, H200)) < 1e-12
    slow = RooflineFit("h200-sxm", "compiled", "prefill", 0.5, 0.7, 1e-3, 0.0)
    scaled = [roofline_terms(TimingRow(**{**p.row.__dict__, "time_s": p.row.time_s / 1.25}),
                             H200) for p in points]
    errs = relative_errors(slow, scaled, H200)
    assert errs == pytest.approx([0.25] * len(errs))
    assert error_summary([0.1, 0.3, 0.2]) == {"median": 0.2, "max": 0.3, "n": 3.0}
    assert math.isnan(error_summary([])["median"])
    assert FIT_ORDER[0] == "prefill"


def test_calibration_roundtrip_and_compute_model(tmp_path: Path) -> None:
    fit = RooflineFit("h200-sxm", "eager", "decode", 0.5, 0.5, 0.0, 2e-3, "max",
                      errors={"heldout_median": 0.1})
    path = tmp_path / "calibration.json"
    Calibration([fit], "test").save(path)
    loaded = Calibration.load(path)
    assert loaded.get("H200-SXM", "eager", "decode") == fit
    plain = ComputeModel("h200-sxm").decode_s("qwen2.5-14b", 128)
    cal = ComputeModel("h200-sxm", calibration=loaded).decode_s("qwen2.5-14b", 128)
    assert plain.source == "roofline" and cal.source == "calibrated"
    assert cal.seconds == pytest.approx(48 * 2e-3)  # overhead-bound (max mode)
    other_stack = ComputeModel("h200-sxm", calibration=loaded, stack="compiled")
    assert other_stack.decode_s("qwen2.5-14b", 128).source == "roofline"
    # measured rows still win over the calibrated roofline
    table = TimingTable([TimingRow("qwen2.5-14b", "h200-sxm", "eager", "decode", 128, 1, 0.07,
                                   5, "t")])
    both = ComputeModel("h200-sxm", table, calibration=loaded)
    assert both.decode_s("qwen2.5-14b", 128).source == "measured"
    assert both.decode_s("qwen2.5-14b", 100).source == "calibrated"
    # bad files name themselves
    path.write_text(json.dumps({"fits": [{**json.loads(json.dumps(fit.__dict__)),
                                          "device": "tpu-v9"}]}), encoding="utf-8")
    with pytest.raises(InputError, match="unknown device") as info:
        Calibration.load(path)
    assert info.value.path == str(path)
    path.write_text("{", encoding="utf-8")
    with pytest.raises(InputError, match="malformed calibration JSON"):
        Calibration.load(path)
    with pytest.raises(InputError, match="overhead_mode"):
        RooflineFit("h200-sxm", "eager", "decode", 0.5, 0.5, overhead_mode="sum")


def test_calibrate_cli_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    truth = {"prefill": RooflineFit("h200-sxm", "eager", "prefill", 0.5, 0.7, 1e-3, 1e-4),
             "decode": RooflineFit("h200-sxm", "eager", "decode", 0.5, 0.7, 0.0, 1e-3)}
    csv_path = tmp_path / "h200.csv"
    lines = ["# synthetic", ",".join(CSV_COLUMNS)]
    for r in synthetic_rows(truth):
        lines.append(f"{r.model},{r.device},{r.stack},{r.op},{r.context_tokens},{r.batch},"
                     f"{r.time_s!r},{r.n_repeats},{r.source}")
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "cal.json"
    assert main(["calibrate", str(csv_path), "--out", str(out)]) == 0
    cal = Calibration.load(out)
    assert len(cal) == 2
    assert "held" not in capsys.readouterr().err


def test_shipped_tables_and_calibration_are_used_by_default(tmp_path: Path) -> None:
    from sim.simulation import build_timing

    table, cal = build_timing(None)
    assert table is not None  # every CSV in models/timings loads
    assert build_timing("none") == (None, None)
    (tmp_path / "a.csv").write_text(",".join(CSV_COLUMNS) + "\n", encoding="utf-8")
    table, cal = build_timing(str(tmp_path))
    assert len(table) == 0 and cal is None
    Calibration([RooflineFit("h200-sxm", "eager", "decode", 0.5, 0.5)]).save(
        tmp_path / "calibration.json")
    assert len(build_timing(str(tmp_path))[1]) == 1
    assert build_timing(str(tmp_path / "a.csv"))[1] is None
    default = ComputeModel.default("h200-sxm")
    if len(default.timing_table):
        # the shipped H200 rows answer a 170-token prefill of the 7B exactly
        assert default.prefill_s("qwen2.5-7b", 170).source == "measured"
        assert default.decode_s("qwen2.5-7b", 300).source == "interpolated"
        assert default.decode_s("qwen2.5-7b", 100).source in ("calibrated", "roofline")


def test_profile_cli_on_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import models.profiling.cli as profile_cli

    monkeypatch.setattr(profile_cli, "get_arch", lambda name: TINY)  # real name, tiny shapes
    threads = torch.get_num_threads()
    out = tmp_path / "cpu.csv"
    try:
        rc = main(["--models", "qwen2.5-0.5b", "--device", "cpu", "--dtype", "fp32",
                   "--out", str(out), "--contexts", "8", "--batches", "1",
                   "--decode-lengths", "8", "--decode-batches", "1", "--quant-lengths", "8",
                   "--warmup", "1", "--repeats", "2", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    assert rc == 0
    table = TimingTable.load(out)
    assert len(table) == 6 and {r.device for r in table.rows} == {"cpu-2core-x86"}
    assert "--device cpu" in out.read_text()
    assert main(["--models", "qwen2.5-0.5b", "--device", "cpu", "--stacks", "compiled",
                 "--out", str(tmp_path / "y.csv")]) == 2  # CUDA graphs need a GPU


def test_profile_cli_input_errors_are_one_line(capsys: pytest.CaptureFixture) -> None:
    assert main(["--device", "cpu", "--out", "/nonexistent/x.csv"]) == 2
    assert capsys.readouterr().err == "error: give --model or --models\n"
    assert main(["--bogus"]) == 2  # argparse's errors too, without a usage dump
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert main(["calibrate", "--no-such-flag"]) == 2
    assert main(["calibrate", "/nonexistent/t.csv", "--dry-run"]) == 2
    assert "timing table not found" in capsys.readouterr().err


# ------------------------------------------------------------------------- old names


def test_old_profile_module_names_still_import() -> None:
    import models.profile as old
    from models import kvquant, timing
    from models.profiling import calibrate as cal_mod
    from models.profiling import cli, grid, model, profiler, provenance, timers
    from models.units import KV_GROUP_SIZE

    for name in old.__all__:
        assert getattr(old, name) is not None, name
    assert old.main is cli.main and old.profile_main is cli.profile_main
    assert old.calibrate is cal_mod.calibrate and old.split_rows is cal_mod.split_rows
    assert old.roofline_terms is cal_mod.roofline_terms and old.FIT_ORDER is cal_mod.FIT_ORDER
    assert old.Profiler is profiler.Profiler and old.Grid is grid.Grid
    assert old.QUICK_GRID is grid.QUICK_GRID and old.time_repeats is timers.time_repeats
    assert old.build_model is model.build_model
    assert old.gpu_name_to_device is provenance.gpu_name_to_device
    assert old.Measurement is timing.TimingRow  # one dataclass for one CSV row
    assert old.GROUP_SIZE == KV_GROUP_SIZE == 64
    assert old.COLUMNS == timing.CSV_COLUMNS + timing.EXTRA_COLUMNS
    assert old.quantize_groups is kvquant.quantize_groups
    assert old.dequantize_groups is kvquant.dequantize_groups
    with pytest.raises(AttributeError):
        old.no_such_name  # noqa: B018


def test_both_entry_points_print_the_same_help() -> None:
    repo = Path(__file__).resolve().parents[2]

    def run(module: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", module, "calibrate", "--help"], cwd=repo,
                              capture_output=True, text=True, check=False,
                              env={**os.environ, "COLUMNS": "100"})

    old, new = run("models.profile"), run("models.profiling")
    assert old.returncode == new.returncode == 0
    assert old.stdout == new.stdout and "python -m models.profile calibrate" in old.stdout
