"""Profile prefill, decode and KV (de)quantisation of Qwen2.5 architectures -> timing CSV;
calibrate the roofline against the measured rows.

Profile (writes rows in the ``models/timings`` schema, plus ``#`` provenance comments)::

    python -m models.profile --model qwen2.5-14b --device cuda --out models/timings/h200-sxm.csv
    python -m models.profile --models qwen2.5-0.5b,qwen2.5-1.5b --device cpu --dtype fp32 \\
        --out models/timings/cpu-2core-x86.csv
    python -m models.profile --models qwen2.5-0.5b --device cuda --quick --check --out /tmp/x.csv

Calibrate (fits ``models/timings/calibration.json``, prints held-out errors)::

    python -m models.profile calibrate models/timings/h200-sxm.csv

What is measured (``--device cuda`` unless noted):

* The model is ``transformers``' ``Qwen2ForCausalLM`` built from a ``Qwen2Config`` with the
  shapes of ``models/arch.py`` and RANDOM weights (normal init). Timing does not depend on
  the weights' values; the CSV says so in its header and ``source`` column.
* ``prefill``: one forward of ``batch`` x ``context_tokens`` random token ids from an empty
  cache, KV kept, logits for the last token only (``logits_to_keep=1``, as the roofline counts).
* ``decode``: one forward of one token per sequence on a cache that already holds
  ``context_tokens`` tokens of random KV (time per generated token = per step).
* ``quantize_int{8,4}`` / ``dequantize_int{8,4}``: :func:`quantize_groups` /
  :func:`dequantize_groups` (asymmetric group quantisation along head_dim as
  ``models.kvquant.quant_dequant``, split into its two halves) on one tensor of the model's KV
  for ``context_tokens`` tokens, shape (2 x layers, kv_heads, tokens, head_dim).
* Stacks (``stack`` column): ``eager`` = plain transformers forward, SDPA attention,
  ``DynamicCache`` (grows by concatenation); ``compiled`` = a static, preallocated KV cache
  sized to the request and the same forward captured once as a CUDA graph and replayed
  (``torch.cuda.CUDAGraph``; what ``torch.compile(mode="reduce-overhead")`` does for launch
  overhead, without Inductor's kernel fusion), for prefill, decode and the KV ops alike.
  CUDA only; on the CPU only ``eager`` is measured.
* Timing: warm-up calls, then repeats timed with CUDA events (CPU: ``time.perf_counter``);
  ``time_s`` is the median. ``peak_mem_bytes`` = ``torch.cuda.max_memory_allocated`` over the
  point (weights included; CPU: the process's peak RSS so far, monotonic).

The calibrated roofline is ``max(FLOPs / (peak x c_eff), bytes / (bw x m_eff)) + o0 + o1 x
layers`` per (device, stack, op), or the max of the roofline and the overhead when host work
overlaps GPU work (see ``models.timing.RooflineFit``); :func:`fit_roofline` fits it in log
space on the training rows (:func:`split_rows`), :func:`fit_best` picks the overhead form on
them, and :func:`relative_errors` scores the held-back rows.

Run order: every model's decode, KV ops and prefills up to ``--big-tokens`` tokens x batch
first, then every model's bigger prefills, so a ``--max-minutes`` budget drops the most
expensive points; rows are appended as measured (a timeout keeps them; ``--resume`` goes on).
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import inspect
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from models.arch import ModelArch, get_arch
from models.devices import Device, get_device
from models.errors import InputError
from models.timing import (
    CALIBRATION_FILE,
    CSV_COLUMNS,
    DEFAULT_TIMINGS_DIR,
    DEQUANTIZE_FLOPS_PER_ELEMENT,
    QUANTIZE_FLOPS_PER_ELEMENT,
    Calibration,
    RooflineFit,
    TimingRow,
    _read_csv,
    decode_bytes,
    decode_flops,
    prefill_bytes,
    prefill_flops,
    quantize_bytes,
    roofline_time_s,
)

EXTRA_COLUMNS: tuple[str, ...] = ("time_min_s", "time_max_s", "peak_mem_bytes", "dtype")
COLUMNS: tuple[str, ...] = CSV_COLUMNS + EXTRA_COLUMNS
QUANT_BITS: dict[str, int] = {"int8": 8, "int4": 4}
GROUP_SIZE = 64
GPU_NAMES: dict[str, str] = {"H200": "h200-sxm", "H100": "h100-sxm", "A100": "a100-sxm-80gb"}


# --------------------------------------------------------------------------- grids


@dataclass(frozen=True)
class Grid:
    """What to measure: prefill (contexts x batches), decode (lengths x batches), KV ops."""

    contexts: tuple[int, ...]
    batches: tuple[int, ...]
    decode_lengths: tuple[int, ...]
    decode_batches: tuple[int, ...]
    quant_lengths: tuple[int, ...]


_CONTEXTS = (128, 170, 256, 512, 1024, 2048, 4096, 8192)  # powers of two plus 170
_LENGTHS = (128, 170, 512, 2048, 8192)
GPU_GRID = Grid(_CONTEXTS, (1, 4, 16), _LENGTHS, (1, 4, 16), _LENGTHS)
CPU_GRID = Grid(
    (128, 170, 256, 512, 1024, 2048), (1, 4), (128, 512, 2048), (1, 4), (128, 170, 512, 2048)
)
QUICK_GRID = Grid((128, 170, 512), (1, 4), (128, 512), (1, 4), (128, 512))


# --------------------------------------------------------------------------- timing


def summarize_times(times: Sequence[float]) -> tuple[float, float, float, int]:
    """(median, min, max, n) of the timed repeats (seconds); ValueError if empty."""
    if not times:
        raise ValueError("no timed repeats")
    return float(statistics.median(times)), float(min(times)), float(max(times)), len(times)


def choose_repeats(first_s: float, repeats: int) -> int:
    """Timed repeats for a point whose first (warm-up) call took ``first_s`` seconds:
    ``repeats`` normally, 3x that under 20 ms (cheap, steadier median), ``repeats - 2``
    (at least 2) from 1 s on, to keep big configurations within the device budget."""
    if first_s < 0.02:
        return 3 * repeats
    if first_s >= 1.0:
        return max(2, repeats - 2)
    return repeats


def time_repeats(
    fn: Callable[[], Any],
    timer: Callable[[Callable[[], Any]], float],
    warmup: int,
    repeats: int,
) -> list[float]:
    """Run ``fn`` ``warmup`` times (discarded), then return the timed repeats (seconds).

    ``timer(fn)`` runs ``fn`` once and returns its duration in seconds. The first warm-up's
    duration sets the number of timed repeats (:func:`choose_repeats`); warm-ups after the
    first are dropped when it took over a second.
    """
    first = timer(fn) if warmup > 0 else None
    extra = max(0, warmup - 1) if first is None or first < 1.0 else 0
    for _ in range(extra):
        timer(fn)
    n = repeats if first is None else choose_repeats(first, repeats)
    return [timer(fn) for _ in range(n)]


class CpuTimer:
    """Wall-clock timer (``time.perf_counter``) for synchronous CPU work."""

    def __call__(self, fn: Callable[[], Any]) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start


class CudaTimer:
    """CUDA-event timer on the current stream (waits for the end event)."""

    def __init__(self) -> None:
        import torch

        self.torch = torch
        self.start = torch.cuda.Event(enable_timing=True)
        self.end = torch.cuda.Event(enable_timing=True)

    def __call__(self, fn: Callable[[], Any]) -> float:
        self.start.record()
        fn()
        self.end.record()
        self.end.synchronize()
        return self.start.elapsed_time(self.end) / 1e3


# --------------------------------------------------------------------------- KV quantisation


def quantize_groups(x: Any, bits: int, group_size: int = GROUP_SIZE, meta_dtype: Any = None):
    """Quantise half: per-group min/max -> scale and zero, round, clamp, pack.

    Same arithmetic as :func:`models.kvquant.quant_dequant` (in ``x``'s dtype). Returns
    ``(packed uint8, scale, zero)``; INT4 packs two values per byte (even index in the low
    nibble). ``scale``/``zero`` are cast to ``meta_dtype`` (default float16, the 2 B each
    that the payload model counts).
    """
    import torch

    meta_dtype = torch.float16 if meta_dtype is None else meta_dtype
    d = x.shape[-1]
    g = min(group_size, d)
    if d % g:
        raise ValueError(f"group size {g} must divide head_dim {d}")
    if bits not in (4, 8):
        raise ValueError(f"bits must be 4 or 8, got {bits}")
    xg = x.reshape(*x.shape[:-1], d // g, g)
    lo = xg.amin(dim=-1, keepdim=True)
    hi = xg.amax(dim=-1, keepdim=True)
    levels = (1 << bits) - 1
    scale = (hi - lo).clamp_min(1e-12) / levels
    q = torch.clamp(torch.round((xg - lo) / scale), 0, levels).to(torch.uint8)
    if bits == 4:
        q = q[..., 0::2] | (q[..., 1::2] << 4)
    return q, scale.to(meta_dtype), lo.to(meta_dtype)


def dequantize_groups(packed: Any, scale: Any, zero: Any, bits: int, dtype: Any):
    """Dequantise half: unpack (INT4 nibbles), ``q x scale + zero`` in ``dtype``, ungroup."""
    import torch

    if bits == 4:
        q = torch.stack((packed & 0xF, packed >> 4), dim=-1)
        q = q.reshape(*packed.shape[:-1], packed.shape[-1] * 2)
    else:
        q = packed
    x = q.to(dtype) * scale.to(dtype) + zero.to(dtype)
    return x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])


# --------------------------------------------------------------------------- model


def qwen2_config(arch: ModelArch):
    """A transformers ``Qwen2Config`` with ``arch``'s shapes (SDPA attention, no sliding)."""
    from transformers import Qwen2Config

    if arch.hidden_size != arch.attention_heads * arch.head_dim:
        raise ValueError(f"{arch.name}: hidden_size != attention_heads x head_dim")
    return Qwen2Config(
        vocab_size=arch.vocab_size,
        hidden_size=arch.hidden_size,
        intermediate_size=arch.intermediate_size,
        num_hidden_layers=arch.layers,
        num_attention_heads=arch.attention_heads,
        num_key_value_heads=arch.kv_heads,
        max_position_embeddings=32768,
        rms_norm_eps=1e-6,
        tie_word_embeddings=arch.tied_embeddings,
        use_sliding_window=False,
        use_cache=True,
        attn_implementation="sdpa",
    )


def build_model(arch: ModelArch, dtype: Any, device: Any):
    """``Qwen2ForCausalLM`` with random weights, built directly on ``device`` in ``dtype``."""
    import torch
    from transformers import Qwen2ForCausalLM

    config = qwen2_config(arch)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Qwen2ForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model.to(dtype=dtype)
    model.eval()
    model.requires_grad_(False)
    return model


def _cache_kw(model: Any) -> str:
    """Name of the forward's cache argument: ``cache`` (transformers >= 5.2x) or
    ``past_key_values`` (earlier 5.x)."""
    params = inspect.signature(type(model).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _static_kv_class():
    from transformers.cache_utils import Cache

    class StaticKV(Cache):
        """Preallocated KV buffers at fixed addresses, for CUDA-graph capture.

        Duck-types the parts of transformers' ``Cache`` a Qwen2 forward uses (``update``,
        ``get_seq_length``). ``update`` writes the new keys/values at ``write_pos`` (a device
        tensor the caller sets) and returns the whole buffer, so the cache must be sized to
        exactly the tokens attended to (no mask is applied).
        """

        is_compileable = True

        def __init__(self, keys: list, values: list, write_pos: Any, seen: int) -> None:
            # Cache.__init__ is not called on purpose: its layer objects are not used.
            self.keys, self.values = keys, values
            self.write_pos = write_pos
            self.seen = seen
            self.layers: list = []

        def update(self, key_states, value_states, layer_idx, *args, **kwargs):
            k, v = self.keys[layer_idx], self.values[layer_idx]
            k.index_copy_(2, self.write_pos, key_states)
            v.index_copy_(2, self.write_pos, value_states)
            return k, v

        def get_seq_length(self, layer_idx: int = 0) -> int:
            return self.seen

        def __len__(self) -> int:
            return len(self.keys)

    return StaticKV


# Passing the per-layer-type masks as a dict makes the transformers forward skip mask
# creation (its "already prepared, e.g. by generate" path); None = no mask, so SDPA runs
# causal for a prefill (q_len > 1) and unmasked for a decode step over an exactly-sized cache.
NO_MASK: dict[str, None] = {"full_attention": None, "sliding_attention": None}


def random_kv(arch: ModelArch, batch: int, tokens: int, dtype: Any, device: Any) -> list:
    """[(K, V)] per layer of random KV, each (batch, kv_heads, tokens, head_dim)."""
    import torch

    shape = (batch, arch.kv_heads, tokens, arch.head_dim)
    return [
        (torch.randn(shape, dtype=dtype, device=device), torch.randn(shape, dtype=dtype,
                                                                     device=device))
        for _ in range(arch.layers)
    ]


def dynamic_cache(model: Any, kv: list):
    """A transformers ``DynamicCache`` holding ``kv``."""
    from transformers import DynamicCache

    try:
        return DynamicCache(ddp_cache_data=kv, config=model.config)
    except TypeError:
        cache = DynamicCache()
        for i, (k, v) in enumerate(kv):
            cache.update(k, v, i)
        return cache


def static_cache(arch: ModelArch, batch: int, length: int, write_from: int, new_tokens: int,
                 dtype: Any, device: Any, kv: list | None = None):
    """A :func:`_static_kv_class` cache of ``length`` tokens whose next forward writes
    ``new_tokens`` tokens at ``write_from``; filled with ``kv`` (copied) or random values."""
    import torch

    shape = (batch, arch.kv_heads, length, arch.head_dim)
    keys = [torch.empty(shape, dtype=dtype, device=device) for _ in range(arch.layers)]
    values = [torch.empty(shape, dtype=dtype, device=device) for _ in range(arch.layers)]
    for i, (k, v) in enumerate(zip(keys, values, strict=True)):
        if kv is not None:
            n = kv[i][0].shape[2]
            k[:, :, :n].copy_(kv[i][0])
            v[:, :, :n].copy_(kv[i][1])
        else:
            k.normal_()
            v.normal_()
    pos = torch.arange(write_from, write_from + new_tokens, device=device)
    return _static_kv_class()(keys, values, pos, write_from)


def forward_fn(model: Any, ids: Any, cache: Any = None, position_ids: Any = None,
               static: bool = False) -> Callable[[], Any]:
    """A no-argument closure running one forward (logits of the last token only)."""
    kw: dict[str, Any] = {"input_ids": ids, "use_cache": True, "logits_to_keep": 1}
    if cache is not None:
        kw[_cache_kw(model)] = cache
    if position_ids is not None:
        kw["position_ids"] = position_ids
    if static:
        kw["attention_mask"] = NO_MASK
    return lambda: model(**kw).logits


def capture_graph(fn: Callable[[], Any], warmup: int = 2) -> tuple[Any, Any]:
    """Warm ``fn`` up on a side stream, capture it as a CUDA graph; (graph, static output)."""
    import torch

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn()
    return graph, out


def relative_l2(a: Any, b: Any) -> float:
    """||a - b|| / ||b|| in float32."""
    a, b = a.float(), b.float()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def check_static_matches_eager(model: Any, arch: ModelArch, dtype: Any, device: Any,
                               use_graph: bool, tokens: int = 48, batch: int = 2) -> dict:
    """Relative L2 error of the static-cache (optionally CUDA-graph) forward against the eager
    DynamicCache forward, for a decode step and a prefill on the same inputs and cache."""
    import torch

    def run_once(fn):
        """One call of ``fn``, through a captured CUDA graph when ``use_graph``."""
        if not use_graph:
            return fn()
        graph, static_out = capture_graph(fn)
        graph.replay()
        torch.cuda.synchronize()
        return static_out

    out: dict[str, float] = {}
    gen = torch.Generator(device="cpu").manual_seed(0)
    ids = torch.randint(0, arch.vocab_size, (batch, 1), generator=gen).to(device)
    kv = random_kv(arch, batch, tokens, dtype, device)
    pos = torch.full((batch, 1), tokens, device=device, dtype=torch.long)
    ref = forward_fn(model, ids, dynamic_cache(model, [(k.clone(), v.clone()) for k, v in kv]),
                     pos)()
    st = static_cache(arch, batch, tokens + 1, tokens, 1, dtype, device, kv)
    fn = forward_fn(model, ids, st, pos, static=True)
    got = run_once(fn)
    out["decode"] = relative_l2(got, ref)
    pids = torch.randint(0, arch.vocab_size, (batch, tokens), generator=gen).to(device)
    ref = forward_fn(model, pids)()
    st = static_cache(arch, batch, tokens, 0, tokens, dtype, device)
    ppos = torch.arange(tokens, device=device).expand(batch, tokens)
    fn = forward_fn(model, pids, st, ppos, static=True)
    got = run_once(fn)
    out["prefill"] = relative_l2(got, ref)
    return out


# --------------------------------------------------------------------------- profiler


@dataclass
class Measurement:
    """One measured point (a CSV row)."""

    model: str
    device: str
    stack: str
    op: str
    context_tokens: int
    batch: int
    time_s: float
    n_repeats: int
    source: str
    time_min_s: float
    time_max_s: float
    peak_mem_bytes: int
    dtype: str

    def as_row(self) -> list[str]:
        return [
            self.model, self.device, self.stack, self.op, str(self.context_tokens),
            str(self.batch), f"{self.time_s:.6e}", str(self.n_repeats), self.source,
            f"{self.time_min_s:.6e}", f"{self.time_max_s:.6e}", str(self.peak_mem_bytes),
            self.dtype,
        ]


def environment_lines(device: str, dtype_name: str, device_name: str) -> list[str]:
    """Provenance: hardware, driver and software versions (one fact per line)."""
    import torch
    import transformers

    lines = [
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"transformers {transformers.__version__}, platform {platform.platform()}",
    ]
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        lines.append(
            f"gpu: {props.name}, {props.multi_processor_count} SMs, "
            f"{props.total_memory / 2**30:.1f} GiB, capability {props.major}.{props.minor}, "
            f"CUDA runtime {torch.version.cuda}"
        )
        try:
            smi = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version,clocks.max.sm,"
                 "clocks.max.mem,power.limit", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=20, check=False,
            ).stdout.strip()
            lines.append(f"nvidia-smi: {smi.replace(',', ';')}")
        except (OSError, subprocess.SubprocessError) as err:
            lines.append(f"nvidia-smi unavailable: {err}")
    else:
        model_name = platform.processor() or "unknown"
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    model_name = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        lines.append(f"cpu: {model_name}, {os.cpu_count()} logical cores visible, "
                     f"torch threads {torch.get_num_threads()}")
    lines.append(f"device profile: {device_name}; dtype {dtype_name} (weights and KV)")
    return lines


def gpu_name_to_device() -> str:
    """The ``models/devices.py`` name for the visible GPU (InputError if unknown)."""
    import torch

    name = torch.cuda.get_device_name(0)
    for key, value in GPU_NAMES.items():
        if key in name:
            return value
    raise InputError(f"unknown GPU {name!r}: pass --device-name (one of models/devices.py)")


def measure_ceilings() -> list[str]:
    """A bf16 8192^3 matmul rate and a device-to-device copy rate (median of 10 each)."""
    import torch

    timer = CudaTimer()
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    mm = summarize_times(time_repeats(lambda: a @ b, timer, 3, 10))[0]
    src = torch.empty(2**30, device="cuda", dtype=torch.uint8).random_(0, 255)  # 1 GiB
    dst = torch.empty_like(src)
    cp = summarize_times(time_repeats(lambda: dst.copy_(src), timer, 3, 10))[0]
    return [
        f"ceiling: bf16 matmul 8192^3 on random data {2 * 8192**3 / mm / 1e12:.0f} TFLOP/s "
        f"(median of 10)",
        f"ceiling: device copy of 1 GiB {2 * 2**30 / cp / 1e9:.0f} GB/s counting read + write "
        f"(median of 10)",
    ]


def _available_cpu_bytes() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return math.inf


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
        g = self.grid
        lines = [
            "scoutsim measured timing table, written by models/profile.py",
            f"command: python -m models.profile {' '.join(self.argv)}",
            f"date: {date}; models: {', '.join(models)}",
            "weights: RANDOM (transformers Qwen2ForCausalLM from a Qwen2Config with the "
            "models/arch.py shapes; normal init). Timing does not depend on weight values.",
            *environment_lines(self.device, self.dtype_name, self.device_name),
            *self.header_extra,
            "stacks: eager = transformers forward with SDPA attention and a DynamicCache "
            "(grows by concatenation); compiled = static preallocated KV cache sized to the "
            "request + the same forward captured once as a CUDA graph and replayed "
            "(torch.cuda.CUDAGraph; no Inductor fusion) - prefill and decode and KV ops",
            "ops: prefill = one forward of batch x context_tokens from an empty cache "
            "(logits of the last token only); decode = one step per token on a cache of "
            "context_tokens random KV; (de)quantize = group-64 asymmetric quantisation of one "
            "(2 x layers; kv_heads; tokens; head_dim) KV tensor (models/profile.py "
            "quantize_groups / dequantize_groups; unfused PyTorch ops)",
            f"grid: prefill contexts {list(g.contexts)} x batches {list(g.batches)}; decode "
            f"lengths {list(g.decode_lengths)} x batches {list(g.decode_batches)}; KV ops at "
            f"{list(g.quant_lengths)} tokens",
            f"method: {self.warmup} warm-up call(s) (1 if the first takes >= 1 s), then "
            f"{self.repeats} timed repeats (3x under 20 ms, {max(2, self.repeats - 2)} from 1 s "
            "on); time_s = median; "
            + ("CUDA events" if self.cuda else "time.perf_counter (synchronous CPU)"),
            "extra columns: time_min_s/time_max_s = range over the timed repeats; "
            "peak_mem_bytes = "
            + ("torch.cuda.max_memory_allocated over the point (model weights included)"
               if self.cuda else "peak RSS of the process so far (monotonic; ru_maxrss)"),
        ]
        with self.out.open("w", encoding="utf-8", newline="") as f:
            for line in lines:
                f.write(f"# {line}\n")
            csv.writer(f).writerow(COLUMNS)

    def write(self, m: Measurement) -> None:
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
        return _available_cpu_bytes()

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
        m = Measurement(label, self.device_name, stack, op, tokens, batch, med, n, self.source,
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
        big = None if phase is None else phase == 2
        if all(k in self.done for k in self.keys(label, phase)):
            return
        dev, dt = self.device, self.dtype
        t0 = self.elapsed()
        model = build_model(arch, dt, dev)
        n_params = sum(p.numel() for p in model.parameters())
        self.log(f"[{self.elapsed():7.1f}s] {label}: built {n_params:,} params "
                 f"(models/arch.py: {arch.params:,}) in {self.elapsed() - t0:.1f} s")
        if self.check and phase != 2:
            errs = check_static_matches_eager(model, arch, dt, dev, use_graph=self.cuda)
            self.log(f"[{self.elapsed():7.1f}s] {label}: static/graph vs eager logits, "
                     f"relative L2: decode {errs['decode']:.2e}, prefill {errs['prefill']:.2e}")
            if max(errs.values()) > 0.05:
                raise RuntimeError(f"compiled path disagrees with eager: {errs}")
        g = self.grid
        gen = torch.Generator(device="cpu").manual_seed(1)

        def ids(batch: int, tokens: int):
            return torch.randint(0, arch.vocab_size, (batch, tokens), generator=gen).to(dev)

        with torch.inference_mode():
            if "decode" in self.ops and phase != 2:
                points = sorted(((L, b) for L in g.decode_lengths for b in g.decode_batches),
                                key=lambda p: (p[0] * p[1], p[0]))
                for L, b in points:
                    for stack in self.stacks:
                        self.run_point(arch, label, stack, "decode", L, b,
                                       self._decode_setup(model, arch, stack, L, b, ids))
                if self.diagnose and "eager" in self.stacks:
                    self.diagnose_decode(model, arch, label, ids)
            if "kvquant" in self.ops and phase != 2:
                for n in sorted(g.quant_lengths):
                    for precision, bits in QUANT_BITS.items():
                        for stack in self.stacks:
                            for kind in ("quantize", "dequantize"):
                                self.run_point(arch, label, stack, f"{kind}_{precision}", n, 1,
                                               self._quant_setup(arch, kind, bits, n))
            if "prefill" in self.ops:
                for n, b in self.prefill_points(big):
                    for stack in self.stacks:
                        self.run_point(arch, label, stack, "prefill", n, b,
                                       self._prefill_setup(model, arch, stack, n, b, ids))
        del model
        self._release()

    def diagnose_decode(self, model: Any, arch: ModelArch, label: str, ids: Any) -> None:
        """Where an eager decode step's time goes: torch.profiler over 3 steps at cache 512,
        batch 1 and 16 -> wall per step, GPU kernel time per step, kernels per step, and the
        top CPU ops by self time (printed, and written as CSV comments)."""
        from torch.profiler import ProfilerActivity, profile

        torch = self.torch
        lines = []
        for b in (1, 16):
            step = self._decode_setup(model, arch, "eager", 512, b, ids)()
            for _ in range(2):
                step()
            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.cuda else [])
            if self.cuda:
                torch.cuda.synchronize()
            t = time.perf_counter()
            with profile(activities=acts) as prof:
                for _ in range(3):
                    step()
                if self.cuda:
                    torch.cuda.synchronize()
            wall = (time.perf_counter() - t) / 3
            events = prof.key_averages()
            gpu_us = sum(getattr(e, "self_device_time_total", 0.0) for e in events) / 3
            kernels = sum(e.count for e in events
                          if getattr(e, "self_device_time_total", 0.0) > 0) / 3
            cpu_ms = sum(e.self_cpu_time_total for e in events) / 3 / 1e3
            top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:6]
            tops = "; ".join(f"{e.key} {e.self_cpu_time_total / 3 / 1e3:.1f} ms" for e in top)
            lines.append(f"diagnose: {label} eager decode cache 512 batch {b}: wall "
                         f"{wall * 1e3:.1f} ms/step (profiled), GPU busy {gpu_us / 1e3:.1f} "
                         f"ms/step, {kernels:.0f} kernels/step, profiled CPU ops {cpu_ms:.1f} "
                         f"ms/step; top self-CPU ops per step: "
                         f"{tops}")
            del step
        for line in lines:
            self.log(line)
            with self.out.open("a", encoding="utf-8") as f:
                f.write(f"# {line.replace(',', ';')}\n")

    def _decode_setup(self, model, arch, stack, L, b, ids):
        torch, dev, dt = self.torch, self.device, self.dtype

        def setup():
            x = ids(b, 1)
            if stack == "compiled":
                kv = static_cache(arch, b, L + 1, L, 1, dt, dev)
                pos = torch.full((b, 1), L, device=dev, dtype=torch.long)
                return forward_fn(model, x, kv, pos, static=True)
            cache = dynamic_cache(model, random_kv(arch, b, L, dt, dev))
            state = {"pos": L}
            kw = {"input_ids": x, "use_cache": True, "logits_to_keep": 1,
                  _cache_kw(model): cache}

            def step():  # the cache grows by one token per call, as in generation
                kw["position_ids"] = torch.full((b, 1), state["pos"], device=dev,
                                                dtype=torch.long)
                state["pos"] += 1
                return model(**kw).logits

            return step

        return setup

    def _prefill_setup(self, model, arch, stack, n, b, ids):
        torch, dev, dt = self.torch, self.device, self.dtype

        def setup():
            x = ids(b, n)
            if stack == "compiled":
                kv = static_cache(arch, b, n, 0, n, dt, dev)
                pos = torch.arange(n, device=dev).expand(b, n)
                return forward_fn(model, x, kv, pos, static=True)
            return forward_fn(model, x)

        return setup

    def _quant_setup(self, arch, kind, bits, n):
        torch, dev, dt = self.torch, self.device, self.dtype

        def kv():
            return torch.randn((2 * arch.layers, arch.kv_heads, n, arch.head_dim), dtype=dt,
                               device=dev)

        def setup():
            if kind == "quantize":
                x = kv()
                return lambda: quantize_groups(x, bits)
            packed, scale, zero = quantize_groups(kv(), bits)
            return lambda: dequantize_groups(packed, scale, zero, bits, dt)

        return setup

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


# --------------------------------------------------------------------------- calibration


#: Fitted in this order: prefill fixes the compute efficiency that the memory-bound ops reuse.
FIT_ORDER: tuple[str, ...] = (
    "prefill",
    "decode",
    "quantize_int8",
    "quantize_int4",
    "dequantize_int8",
    "dequantize_int4",
)
#: Ops whose overhead has a per-layer term (one model forward).
FORWARD_OPS: frozenset[str] = frozenset({"prefill", "decode"})


@dataclass(frozen=True)
class FitPoint:
    """A measured row with its roofline FLOPs and bytes."""

    row: TimingRow
    flops: float
    bytes: float
    layers: int


def roofline_terms(row: TimingRow, device: Device | None = None) -> FitPoint:
    """FLOPs and bytes of a row by ``models.timing``'s counts, at the device's native
    element size (2 B for BF16 GPUs, 4 B for the FP32 CPU profile)."""
    arch = get_arch(row.model)
    w = (device or get_device(row.device)).native_dtype_bytes
    n, b = row.context_tokens, row.batch
    if row.op == "prefill":
        fl, by = prefill_flops(arch, n, b), prefill_bytes(arch, n, b, w, w)
    elif row.op == "decode":
        fl, by = decode_flops(arch, n, b), decode_bytes(arch, n, b, w, w)
    else:
        kind, precision = row.op.split("_")
        per = QUANTIZE_FLOPS_PER_ELEMENT if kind == "quantize" else DEQUANTIZE_FLOPS_PER_ELEMENT
        fl = per * arch.kv_elements_per_token() * n
        by = quantize_bytes(arch, n, precision, w)
    return FitPoint(row, fl, by, arch.layers)


def predict(fit: RooflineFit, point: FitPoint, device: Device) -> float:
    """The calibrated roofline's seconds for a measured point."""
    return fit.time_s(point.flops, point.bytes, device, point.layers)


def fit_roofline(points: Sequence[FitPoint], device: Device, stack: str, op: str,
                 per_layer: bool = True, compute_efficiency: float | None = None,
                 note: str = "", overhead_mode: str = "add") -> RooflineFit:
    """Least-squares fit, in log time, of ``max(F / (peak c), B / (bw m)) + o`` (or, with
    ``overhead_mode="max"``, ``max(F / (peak c), B / (bw m), o)``), ``o = o0 + o1 x layers``.

    ``per_layer=False`` fixes o1 = 0; ``compute_efficiency`` given fixes c (for ops that are
    never compute-bound: decode, the KV ops). Efficiencies are bounded to (1e-4, 1],
    overheads to [0, 1] s (o0) and [0, 50] ms (o1). Several starts; the best is kept, its
    cost (half the sum of squared log residuals) in ``errors["fit_cost"]``.
    """
    import numpy as np
    from scipy.optimize import least_squares

    if not points:
        raise ValueError("no points to fit")
    fl = np.array([p.flops for p in points])
    by = np.array([p.bytes for p in points])
    layers = np.array([p.layers for p in points], dtype=float)
    y = np.log(np.array([p.row.time_s for p in points]))
    peak, bw = device.peak_flops_per_s, device.memory_bandwidth_bytes_per_s
    fix_c = compute_efficiency is not None

    def unpack(x):
        i = 0
        if fix_c:
            c = compute_efficiency
        else:
            c = math.exp(x[0])
            i = 1
        m = math.exp(x[i])
        o0 = x[i + 1] * 1e-3
        o1 = x[i + 2] * 1e-3 if per_layer else 0.0
        return c, m, o0, o1

    def residual(x):
        c, m, o0, o1 = unpack(x)
        roof = np.maximum(fl / (peak * c), by / (bw * m))
        o = o0 + o1 * layers
        t = np.maximum(roof, o) if overhead_mode == "max" else roof + o
        return np.log(np.maximum(t, 1e-12)) - y

    lo = ([] if fix_c else [math.log(1e-4)]) + [math.log(1e-4), 0.0] + ([0.0] if per_layer
                                                                          else [])
    hi = ([] if fix_c else [0.0]) + [0.0, 1000.0] + ([50.0] if per_layer else [])
    t_min_ms = 1e3 * float(np.exp(y.min()))
    best = None
    for c0 in ([None] if fix_c else [0.05, 0.3, 0.8]):
        for m0 in (0.05, 0.3, 0.8):
            for o_start in (0.0, 0.5 * t_min_ms, 0.9 * t_min_ms):
                x0 = ([] if c0 is None else [math.log(c0)]) + [math.log(m0), min(o_start, 999.0)]
                if per_layer:
                    x0 += [min(o_start / float(layers.mean()), 49.0)]
                    x0[-2] = 0.0
                res = least_squares(residual, x0, bounds=(lo, hi), method="trf",
                                    x_scale="jac", max_nfev=2000)
                if best is None or res.cost < best.cost:
                    best = res
    assert best is not None
    c, m, o0, o1 = unpack(best.x)
    return RooflineFit(device.name, stack, op, float(c), float(m), float(o0), float(o1),
                       overhead_mode=overhead_mode, errors={"fit_cost": float(best.cost)},
                       note=note)


def fit_best(points: Sequence[FitPoint], device: Device, stack: str, op: str,
             per_layer: bool, compute_efficiency: float | None, note: str = "") -> RooflineFit:
    """:func:`fit_roofline` with overhead added and with overhead overlapping; the one with
    the lower training cost wins (chosen on training rows only)."""
    fits = [fit_roofline(points, device, stack, op, per_layer, compute_efficiency, note, mode)
            for mode in ("add", "max")]
    return min(fits, key=lambda f: f.errors["fit_cost"])


def split_rows(rows: Iterable[TimingRow]) -> tuple[list[TimingRow], list[TimingRow]]:
    """(training, held-out). Per (model, device, stack, op): rows at the even-indexed
    context lengths (0, 2, 4, ... of that op's sorted lengths) AND at the smallest or largest
    batch train the fit; every other row (odd-indexed lengths, middle batches) is held out."""
    rows = list(rows)
    contexts: dict[tuple[str, str, str, str], list[int]] = {}
    batches: dict[tuple[str, str, str, str], list[int]] = {}
    for r in rows:
        k = (r.model, r.device, r.stack, r.op)
        contexts.setdefault(k, []).append(r.context_tokens)
        batches.setdefault(k, []).append(r.batch)
    train, held = [], []
    for r in rows:
        k = (r.model, r.device, r.stack, r.op)
        order = sorted(set(contexts[k]))
        bs = batches[k]
        even = order.index(r.context_tokens) % 2 == 0
        edge = r.batch in (min(bs), max(bs))
        (train if even and edge else held).append(r)
    return train, held


def relative_errors(fit: RooflineFit | None, points: Sequence[FitPoint],
                    device: Device) -> list[float]:
    """|predicted - measured| / measured per point (``fit=None``: the default roofline)."""
    out = []
    for p in points:
        if fit is None:
            pred = roofline_time_s(p.flops, p.bytes, device)
        else:
            pred = predict(fit, p, device)
        out.append(abs(pred - p.row.time_s) / p.row.time_s)
    return out


def error_summary(errors: Sequence[float]) -> dict[str, float]:
    """Median and max of relative errors (NaN when empty) and their count."""
    if not errors:
        return {"median": math.nan, "max": math.nan, "n": 0.0}
    return {"median": float(statistics.median(errors)), "max": float(max(errors)),
            "n": float(len(errors))}


def _sig(x: float, digits: int = 5, floor: float = 0.0) -> float:
    """``x`` to ``digits`` significant digits (0 below ``floor``), for a readable JSON."""
    if not math.isfinite(x) or abs(x) < floor:
        return 0.0 if math.isfinite(x) else x
    return float(f"{x:.{digits}g}")


def calibrate(rows: Sequence[TimingRow], note: str = "") -> tuple[Calibration, list[dict]]:
    """Fit every (device, stack, op) of ``rows`` on the training split (:func:`split_rows`):
    prefill with free c, m, o0, o1; decode with c fixed to prefill's (decode is never
    compute-bound) and free m, o0, o1; each KV op with that c and free m, o0 (one tensor, no
    per-layer term). Returns the calibration and a report (one dict per fit and split) with
    the calibrated and the default roofline's relative errors."""
    train, held = split_rows(rows)
    report: list[dict] = []
    fits: list[RooflineFit] = []
    for device_name, stack in sorted({(r.device, r.stack) for r in rows}):
        device = get_device(device_name)
        prefill_c = None
        for op in FIT_ORDER:
            tr = [roofline_terms(r, device) for r in train
                  if (r.device, r.stack, r.op) == (device_name, stack, op)]
            he = [roofline_terms(r, device) for r in held
                  if (r.device, r.stack, r.op) == (device_name, stack, op)]
            if len(tr) < 4:
                continue
            fixed_c = None if op == "prefill" else (prefill_c or 1.0)
            fit = fit_best(tr, device, stack, op, per_layer=op in FORWARD_OPS,
                           compute_efficiency=fixed_c, note=note)
            if op == "prefill":
                prefill_c = fit.compute_efficiency
            errors: dict[str, float] = dict(fit.errors)
            for name, pts in (("train", tr), ("heldout", he)):
                cal = error_summary(relative_errors(fit, pts, device))
                default = error_summary(relative_errors(None, pts, device))
                errors.update({f"{name}_median": cal["median"], f"{name}_max": cal["max"],
                               f"{name}_n": cal["n"],
                               f"default_roofline_{name}_median": default["median"],
                               f"default_roofline_{name}_max": default["max"]})
                report.append({"device": device_name, "stack": stack, "op": op,
                               "split": name, "n": int(cal["n"]), "median": cal["median"],
                               "max": cal["max"], "default_median": default["median"],
                               "default_max": default["max"]})
            fits.append(replace(
                fit, note="", errors={k: _sig(v) for k, v in errors.items()},
                compute_efficiency=_sig(fit.compute_efficiency),
                memory_efficiency=_sig(fit.memory_efficiency),
                overhead_s=_sig(fit.overhead_s, floor=1e-9),
                overhead_per_layer_s=_sig(fit.overhead_per_layer_s, floor=1e-9)))
    return Calibration(fits, note), report


# --------------------------------------------------------------------------- CLI


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(t) for t in text.split(",") if t.strip())


def profile_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m models.profile",
                                description="Measure prefill/decode/KV-op times -> timing CSV "
                                "(`python -m models.profile calibrate -h` for the fit)")
    p.add_argument("--model", help="one architecture (models/arch.py name)")
    p.add_argument("--models", help="comma-separated architectures, profiled in order")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--device-name", help="models/devices.py profile written in the rows "
                   "(default: from the GPU's name; cpu-2core-x86 on the CPU)")
    p.add_argument("--dtype", choices=("bf16", "fp32", "fp16"),
                   help="weights and KV dtype (default bf16 on cuda, fp32 on cpu)")
    p.add_argument("--out", required=True, type=Path, help="CSV to write")
    p.add_argument("--stacks", help="comma-separated: eager,compiled (default: both on cuda, "
                   "eager on cpu)")
    p.add_argument("--ops", default="decode,kvquant,prefill",
                   help="subset of decode,kvquant,prefill")
    p.add_argument("--quick", action="store_true", help="small grid (smoke test)")
    p.add_argument("--contexts", type=_ints, help="prefill context lengths")
    p.add_argument("--batches", type=_ints, help="prefill batch sizes")
    p.add_argument("--decode-lengths", type=_ints, help="decode cache lengths")
    p.add_argument("--decode-batches", type=_ints, help="decode batch sizes")
    p.add_argument("--quant-lengths", type=_ints, help="KV (de)quantise token counts")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--max-minutes", type=float, help="wall budget; points that would end "
                   "later are skipped (logged)")
    p.add_argument("--max-point-s", type=float, help="skip points estimated slower than "
                   "this per call (default: none on cuda, 60 on cpu)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--resume", action="store_true", help="append to --out, skipping rows "
                   "it already has")
    p.add_argument("--check", action="store_true", help="check the compiled path's logits "
                   "against eager first (abort if they differ)")
    p.add_argument("--ceilings", action="store_true", help="measure matmul / copy ceilings "
                   "into the header (cuda)")
    p.add_argument("--diagnose", action="store_true", help="profile eager decode steps "
                   "(torch.profiler) per model; summary in the log and CSV comments")
    p.add_argument("--big-tokens", type=int, default=16384, help="prefills above this many "
                   "tokens x batch run after every model's other points (default %(default)s)")
    a = p.parse_args(argv)
    names = [n.strip() for n in (a.models or a.model or "").split(",") if n.strip()]
    if not names:
        p.error("give --model or --models")
    archs = [get_arch(n) for n in names]
    import torch

    if a.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda but torch sees no GPU")
    if a.threads:
        torch.set_num_threads(a.threads)
    dtype = a.dtype or ("bf16" if a.device == "cuda" else "fp32")
    device_name = a.device_name or (gpu_name_to_device() if a.device == "cuda"
                                    else "cpu-2core-x86")
    get_device(device_name)
    base = QUICK_GRID if a.quick else (GPU_GRID if a.device == "cuda" else CPU_GRID)
    grid = Grid(a.contexts or base.contexts, a.batches or base.batches,
                a.decode_lengths or base.decode_lengths, a.decode_batches or base.decode_batches,
                a.quant_lengths or base.quant_lengths)
    stacks = tuple(s.strip() for s in (a.stacks or ("eager,compiled" if a.device == "cuda"
                                                    else "eager")).split(","))
    bad = set(stacks) - {"eager", "compiled"}
    if bad:
        raise InputError(f"unknown stack(s) {sorted(bad)}: eager, compiled")
    ops = tuple(o.strip() for o in a.ops.split(","))
    if set(ops) - {"decode", "kvquant", "prefill"}:
        raise InputError(f"--ops {a.ops!r}: choose from decode,kvquant,prefill")
    extra = measure_ceilings() if a.ceilings and a.device == "cuda" else []
    for line in extra:
        print(line, flush=True)
    prof = Profiler(
        out=a.out, device=a.device, device_name=device_name, dtype_name=dtype, grid=grid,
        stacks=stacks, warmup=a.warmup, repeats=a.repeats,
        deadline_s=a.max_minutes * 60 if a.max_minutes else math.inf,
        max_point_s=a.max_point_s if a.max_point_s else (60.0 if a.device == "cpu"
                                                         else math.inf),
        ops=ops, resume=a.resume, check=a.check, diagnose=a.diagnose, big_tokens=a.big_tokens,
        argv=list(argv), header_extra=extra,
    )
    prof.run(archs)
    return 0


def calibrate_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m models.profile calibrate",
                                description="Fit the roofline's efficiencies and overheads per "
                                "(device, stack) on measured rows; report held-out errors")
    p.add_argument("tables", nargs="*", type=Path,
                   help=f"timing CSVs (default: every CSV in {DEFAULT_TIMINGS_DIR})")
    p.add_argument("--out", type=Path, default=DEFAULT_TIMINGS_DIR / CALIBRATION_FILE,
                   help="calibration JSON to write (default: %(default)s)")
    p.add_argument("--dry-run", action="store_true", help="report only")
    a = p.parse_args(argv)
    paths = a.tables or sorted(DEFAULT_TIMINGS_DIR.glob("*.csv"))
    rows = [r for path in paths for r in _read_csv(Path(path))]
    if not rows:
        raise InputError("no measured rows to calibrate on")
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    note = (f"fitted {date} by python -m models.profile calibrate on "
            f"{', '.join(Path(x).name for x in paths)}; training rows = even-indexed context "
            "lengths at the smallest and largest batch; errors are relative")
    cal, report = calibrate(rows, note)
    print(f"{'device':9s} {'stack':8s} {'op':15s} {'c_eff':>6s} {'m_eff':>6s} {'o0 ms':>7s} "
          f"{'o1 ms/l':>7s} {'mode':4s} {'split':7s} {'n':>3s}  calibrated med / max   "
          "default med / max")
    for r in report:
        f = cal.get(r["device"], r["stack"], r["op"])
        assert f is not None
        print(f"{f.device:9s} {f.stack:8s} {f.op:15s} {f.compute_efficiency:6.3f} "
              f"{f.memory_efficiency:6.3f} {f.overhead_s * 1e3:7.3f} "
              f"{f.overhead_per_layer_s * 1e3:7.3f} {f.overhead_mode:4s} {r['split']:7s} "
              f"{r['n']:3d}  "
              f"{r['median']:8.1%} / {r['max']:6.1%}   {r['default_median']:6.1%} / "
              f"{r['default_max']:6.1%}")
    if not a.dry_run:
        cal.save(a.out)
        print(f"\nwrote {a.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] == "calibrate":
            return calibrate_main(args[1:])
        return profile_main(args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
