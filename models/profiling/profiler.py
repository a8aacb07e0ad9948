"""The profiler: runs a :class:`~models.profiling.grid.Grid` of points per model and appends
one CSV row (:class:`models.timing.TimingRow`, ``CSV_COLUMNS`` + ``EXTRA_COLUMNS``) per point as
it is measured, skipping points over the time or memory budget (logged as ``#`` lines)."""

from __future__ import annotations

import csv
import datetime as _dt
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.arch import ModelArch
from models.errors import InputError
from models.profiling.grid import QUANT_BITS, Grid
from models.profiling.model import build_model, capture_graph, check_static_matches_eager
from models.profiling.points import decode_setup, diagnose_decode, prefill_setup, quant_setup
from models.profiling.provenance import available_cpu_bytes, environment_lines, header_lines
from models.profiling.timers import CpuTimer, CudaTimer, summarize_times, time_repeats
from models.timing import (
    CSV_COLUMNS,
    EXTRA_COLUMNS,
    TimingRow,
    _read_csv,
    decode_bytes,
    decode_flops,
    prefill_bytes,
    prefill_flops,
    quantize_bytes,
)

#: the columns of a profiled table
COLUMNS: tuple[str, ...] = CSV_COLUMNS + EXTRA_COLUMNS


@dataclass
class Profiler:
    """Runs the grid for one model after another, appending rows to ``out`` as it goes."""

    out: Path
    device: str  # "cuda" or "cpu"
    device_name: str  # models/devices.py profile name written in the rows
    dtype_name: str  # "bf16" or "fp32"
    grid: Grid
    stacks: tuple[str, ...]
    warmup: int = 2
    repeats: int = 5
    deadline_s: float = math.inf  # wall seconds from start; later points are skipped
    max_point_s: float = math.inf  # skip points estimated slower than this (one call)
    ops: tuple[str, ...] = ("decode", "kvquant", "prefill")
    resume: bool = False
    check: bool = False
    diagnose: bool = False
    big_tokens: int = 16384  # prefills above this many tokens x batch run in phase 2
    argv: Sequence[str] = ()
    log: Callable[[str], None] = field(default=lambda s: print(s, flush=True))
    header_extra: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        import torch

        self.torch = torch
        self.dtype = {"bf16": torch.bfloat16, "fp32": torch.float32,
                      "fp16": torch.float16}[self.dtype_name]
        self.elem_bytes = {"bf16": 2, "fp32": 4, "fp16": 2}[self.dtype_name]
        self.cuda = self.device == "cuda"
        if "compiled" in self.stacks and not self.cuda:
            raise InputError("stack 'compiled' (CUDA graphs) needs --device cuda")
        self.timer = CudaTimer() if self.cuda else CpuTimer()
        self.start = time.monotonic()
        self.done: set[tuple[str, str, str, int, int]] = set()
        self.skipped: list[str] = []
        self.fastest: dict[tuple[str, str, str], float] = {}
        self.source = ""

    # ---------------------------------------------------------------- output

    def open_output(self, models: Sequence[str]) -> None:
        """Write the provenance header (or, with ``resume``, note the resumption)."""
        self.out.parent.mkdir(parents=True, exist_ok=True)
        date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
        import torch
        import transformers

        gpu = (torch.cuda.get_device_name(0).replace(" ", "-") if self.cuda
               else platform.machine())
        self.source = (f"models/profile.py random-weights {self.dtype_name} {gpu} "
                       f"torch-{torch.__version__} transformers-{transformers.__version__} "
                       f"{date}")
        if self.resume and self.out.exists():
            for row in _read_csv(self.out):
                self.done.add((row.model, row.stack, row.op, row.context_tokens, row.batch))
            env = environment_lines(self.device, self.dtype_name, self.device_name)
            with self.out.open("a", encoding="utf-8") as f:
                f.write(f"# resumed {date}: {' '.join(self.argv)} ({len(self.done)} rows kept)\n")
                for line in [*env, *self.header_extra]:
                    f.write(f"# resumed run {line}\n")
            self.log(f"resuming {self.out}: {len(self.done)} rows already measured")
            return
        env = [*environment_lines(self.device, self.dtype_name, self.device_name),
               *self.header_extra]
        lines = header_lines(models=models, argv=self.argv, date=date, env=env,
                             grid=self.grid, warmup=self.warmup, repeats=self.repeats,
                             cuda=self.cuda)
        with self.out.open("w", encoding="utf-8", newline="") as f:
            for line in lines:
                f.write(f"# {line}\n")
            csv.writer(f).writerow(COLUMNS)

    def write(self, m: TimingRow) -> None:
        """Append a measured row to ``out``."""
        with self.out.open("a", encoding="utf-8", newline="") as f:
            csv.writer(f).writerow(m.as_row())
        self.done.add((m.model, m.stack, m.op, m.context_tokens, m.batch))

    def skip(self, model: str, stack: str, op: str, tokens: int, batch: int,
             reason: str) -> None:
        line = (f"skipped: model={model} stack={stack} op={op} context_tokens={tokens} "
                f"batch={batch} reason={reason}")
        self.skipped.append(line)
        with self.out.open("a", encoding="utf-8") as f:
            f.write(f"# {line}\n")
        self.log(f"[{self.elapsed():7.1f}s] {line}")

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    # ---------------------------------------------------------------- memory

    def free_bytes(self) -> float:
        if self.cuda:
            free, _ = self.torch.cuda.mem_get_info()
            cached = self.torch.cuda.memory_reserved() - self.torch.cuda.memory_allocated()
            return float(free + cached)
        return available_cpu_bytes()

    def need_bytes(self, arch: ModelArch, op: str, tokens: int, batch: int) -> float:
        """Rough extra memory of a point beyond the weights, with a margin (the smoke run's
        14B prefill at 4096 x 16 peaked 18 GiB over the weights; this says 29)."""
        e = self.elem_bytes
        kv = arch.kv_bytes_per_token(e) * tokens * batch
        if op == "prefill":
            act = batch * tokens * (2 * arch.intermediate_size + 4 * arch.hidden_size) * e
            if not self.cuda:  # math SDPA materialises the scores
                act += batch * arch.attention_heads * tokens * tokens * 4
            return 1.5 * (kv + act + batch * arch.vocab_size * 4)
        if op == "decode":
            return 2.4 * kv + 1.5 * batch * arch.vocab_size * 4
        return 1.5 * (arch.kv_elements_per_token() * tokens * (e + 6))

    def peak_bytes(self) -> int:
        if self.cuda:
            return int(self.torch.cuda.max_memory_allocated())
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024

    # ---------------------------------------------------------------- estimates

    def estimate_s(self, arch: ModelArch, stack: str, op: str, tokens: int, batch: int) -> float:
        """A rough duration of one call, for the time budget: a roofline at rates a little
        under what such a device reaches (GPU 400 TFLOP/s, 3 TB/s; CPU 50 GFLOP/s, 8 GB/s)
        plus the fastest call of the same (model, stack, op kind) seen so far (overhead)."""
        w = self.elem_bytes
        if op == "prefill":
            fl, by = prefill_flops(arch, tokens, batch), prefill_bytes(arch, tokens, batch, w, w)
        elif op == "decode":
            fl, by = decode_flops(arch, tokens, batch), decode_bytes(arch, tokens, batch, w, w)
        else:
            fl = 4.0 * arch.kv_elements_per_token() * tokens
            by = 3.0 * quantize_bytes(arch, tokens, "int8", w)
        peak, bw = (4e14, 3e12) if self.cuda else (5e10, 8e9)
        overhead = self.fastest.get((arch.name, stack, op.split("_")[0]), 0.0)
        return max(fl / peak, by / bw) + overhead

    def budget_ok(self, arch: ModelArch, stack: str, op: str, tokens: int,
                  batch: int) -> str | None:
        """None if the point may run, else the reason to skip it."""
        est = self.estimate_s(arch, stack, op, tokens, batch)
        if est > self.max_point_s:
            return f"estimated {est:.1f} s per call > --max-point-s {self.max_point_s:g}"
        calls = 1 + (self.warmup + self.repeats if est < 1.0 else 1 + max(2, self.repeats - 2))
        if self.elapsed() + est * calls + 2.0 > self.deadline_s:
            return (f"time budget (estimated {est * calls:.1f} s, "
                    f"{self.deadline_s - self.elapsed():.0f} s left)")
        return None

    # ---------------------------------------------------------------- points

    def run_point(self, arch: ModelArch, label: str, stack: str, op: str, tokens: int,
                  batch: int, setup: Callable[[], Callable[[], Any]]) -> None:
        """Measure one point: ``setup()`` builds inputs and returns the call to time."""
        torch = self.torch
        if (label, stack, op, tokens, batch) in self.done:
            return
        reason = self.budget_ok(arch, stack, op, tokens, batch)
        if reason is None and self.need_bytes(arch, op, tokens, batch) > self.free_bytes():
            reason = (f"memory (needs ~{self.need_bytes(arch, op, tokens, batch) / 2**30:.1f} "
                      f"GiB; {self.free_bytes() / 2**30:.1f} GiB free)")
        if reason is not None:
            self.skip(label, stack, op, tokens, batch, reason)
            return
        graph = None
        try:
            if self.cuda:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            fn = setup()
            if stack == "compiled":
                graph, _ = capture_graph(fn, warmup=1)
                fn = graph.replay
            times = time_repeats(fn, self.timer, self.warmup, self.repeats)
        except (torch.cuda.OutOfMemoryError, MemoryError) as err:
            del graph
            self._release(big=True)
            self.skip(label, stack, op, tokens, batch, f"out of memory ({type(err).__name__})")
            return
        med, lo, hi, n = summarize_times(times)
        m = TimingRow(label, self.device_name, stack, op, tokens, batch, med, n, self.source,
                      lo, hi, self.peak_bytes(), self.dtype_name)
        del graph, fn
        self._release(big=self.need_bytes(arch, op, tokens, batch) > 2**30)
        self.write(m)
        key = (arch.name, stack, op.split("_")[0])
        self.fastest[key] = min(self.fastest.get(key, math.inf), lo)
        self.log(f"[{self.elapsed():7.1f}s] {label:14s} {stack:8s} {op:15s} "
                 f"n={tokens:5d} b={batch:2d}: {med * 1e3:10.3f} ms (x{n}, "
                 f"{lo * 1e3:.3f}-{hi * 1e3:.3f}) peak {m.peak_mem_bytes / 2**30:.1f} GiB")

    def _release(self, big: bool = True) -> None:
        """Free what a point left behind (cached GPU blocks only after big points)."""
        import gc

        if big:
            gc.collect()
        if self.cuda:
            self.torch.cuda.synchronize()
            if big:
                self.torch.cuda.empty_cache()

    # ---------------------------------------------------------------- per model

    def prefill_points(self, big: bool | None) -> list[tuple[int, int]]:
        """Prefill (tokens, batch) points, ascending by tokens x batch; ``big`` selects those
        above ``big_tokens`` (True), the others (False) or all (None)."""
        g = self.grid
        points = sorted(((n, b) for n in g.contexts for b in g.batches),
                        key=lambda p: (p[0] * p[1], p[0]))
        if big is None:
            return points
        return [p for p in points if (p[0] * p[1] > self.big_tokens) == big]

    def keys(self, label: str, phase: int | None) -> list[tuple[str, str, str, int, int]]:
        """Row keys (model, stack, op, tokens, batch) that ``phase`` of a model measures."""
        g, out = self.grid, []
        if "prefill" in self.ops:
            big = None if phase is None else phase == 2
            out += [(label, s, "prefill", n, b) for n, b in self.prefill_points(big)
                    for s in self.stacks]
        if phase != 2 and "decode" in self.ops:
            out += [(label, s, "decode", n, b) for n in g.decode_lengths
                    for b in g.decode_batches for s in self.stacks]
        if phase != 2 and "kvquant" in self.ops:
            out += [(label, s, f"{k}_{p}", n, 1) for n in g.quant_lengths for p in QUANT_BITS
                    for k in ("quantize", "dequantize") for s in self.stacks]
        return out

    def profile_model(self, arch: ModelArch, label: str | None = None,
                      phase: int | None = None) -> None:
        """The grid for one architecture (``label`` names it in the rows). ``phase`` 1 =
        decode, KV ops and the small prefills; 2 = the big prefills; None = everything."""
        torch = self.torch
        label = label or arch.name
        if all(k in self.done for k in self.keys(label, phase)):
            return
        model = self._build(arch, label, check=self.check and phase != 2)
        gen = torch.Generator(device="cpu").manual_seed(1)

        def ids(batch: int, tokens: int):
            return torch.randint(0, arch.vocab_size, (batch, tokens), generator=gen).to(
                self.device)

        with torch.inference_mode():
            self._measure(model, arch, label, phase, ids)
        del model
        self._release()

    def _build(self, arch: ModelArch, label: str, check: bool) -> Any:
        """The random-weight model, logged; with ``check``, the compiled path's logits
        checked against eager (RuntimeError if they differ)."""
        dev, dt = self.device, self.dtype
        t0 = self.elapsed()
        model = build_model(arch, dt, dev)
        n_params = sum(p.numel() for p in model.parameters())
        self.log(f"[{self.elapsed():7.1f}s] {label}: built {n_params:,} params "
                 f"(models/arch.py: {arch.params:,}) in {self.elapsed() - t0:.1f} s")
        if check:
            errs = check_static_matches_eager(model, arch, dt, dev, use_graph=self.cuda)
            self.log(f"[{self.elapsed():7.1f}s] {label}: static/graph vs eager logits, "
                     f"relative L2: decode {errs['decode']:.2e}, prefill {errs['prefill']:.2e}")
            if max(errs.values()) > 0.05:
                raise RuntimeError(f"compiled path disagrees with eager: {errs}")
        return model

    def _measure(self, model: Any, arch: ModelArch, label: str, phase: int | None,
                 ids: Any) -> None:
        """Every point of ``phase`` for one built model: decode, KV ops, prefill."""
        g, dev, dt = self.grid, self.device, self.dtype
        big = None if phase is None else phase == 2
        if "decode" in self.ops and phase != 2:
            points = sorted(((L, b) for L in g.decode_lengths for b in g.decode_batches),
                            key=lambda p: (p[0] * p[1], p[0]))
            for L, b in points:
                for stack in self.stacks:
                    self.run_point(arch, label, stack, "decode", L, b,
                                   decode_setup(model, arch, stack, L, b, ids, dev, dt))
            if self.diagnose and "eager" in self.stacks:
                self.diagnose_decode(model, arch, label, ids)
        if "kvquant" in self.ops and phase != 2:
            for n in sorted(g.quant_lengths):
                for precision, bits in QUANT_BITS.items():
                    for stack in self.stacks:
                        for kind in ("quantize", "dequantize"):
                            self.run_point(arch, label, stack, f"{kind}_{precision}", n, 1,
                                           quant_setup(arch, kind, bits, n, dev, dt))
        if "prefill" in self.ops:
            for n, b in self.prefill_points(big):
                for stack in self.stacks:
                    self.run_point(arch, label, stack, "prefill", n, b,
                                   prefill_setup(model, arch, stack, n, b, ids, dev, dt))

    def diagnose_decode(self, model: Any, arch: ModelArch, label: str, ids: Any) -> None:
        """:func:`~models.profiling.points.diagnose_decode`, printed and written as CSV
        comments."""
        lines = diagnose_decode(model, arch, label, ids, self.device, self.dtype, self.cuda)
        for line in lines:
            self.log(line)
            with self.out.open("a", encoding="utf-8") as f:
                f.write(f"# {line.replace(',', ';')}\n")

    # ---------------------------------------------------------------- family

    def run(self, archs: Sequence[ModelArch], labels: Sequence[str] | None = None) -> None:
        """Profile ``archs``: phase 1 (decode, KV ops, prefills up to ``big_tokens`` tokens
        x batch) for every model, then phase 2 (the bigger prefills) for every model, so a
        time budget cuts the most expensive points last."""
        labels = list(labels or [a.name for a in archs])
        self.open_output(labels)
        for phase in (1, 2):
            for arch, label in zip(archs, labels, strict=True):
                self.profile_model(arch, label, phase)
        self.log(f"[{self.elapsed():7.1f}s] done: {self.out} ({len(self.skipped)} skipped)")
