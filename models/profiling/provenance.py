"""Provenance of a measured table: the hardware and software it ran on (``#`` comment lines of
the CSV), the GPU's ``models/devices.py`` name, optional matmul / copy ceilings, the memory
left, and the header the profiler writes above the rows."""

from __future__ import annotations

import math
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

from models.errors import InputError
from models.profiling.grid import Grid
from models.profiling.timers import CudaTimer, summarize_times, time_repeats
from models.units import KV_GROUP_SIZE

#: substring of torch's GPU name -> models/devices.py profile
GPU_NAMES: dict[str, str] = {"H200": "h200-sxm", "H100": "h100-sxm", "A100": "a100-sxm-80gb"}


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


def available_cpu_bytes() -> float:
    """MemAvailable of /proc/meminfo in bytes (inf where unreadable)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return math.inf



def header_lines(*, models: Sequence[str], argv: Sequence[str], date: str, env: Sequence[str],
                 grid: Grid, warmup: int, repeats: int, cuda: bool) -> list[str]:
    """The ``#`` lines above a new table's header row (without the ``# ``): the command, the
    models, ``env`` (:func:`environment_lines` plus extras), what the stacks, ops and grid
    are, and how each point is timed."""
    g = grid
    return [
        "scoutsim measured timing table, written by models/profile.py",
        f"command: python -m models.profile {' '.join(argv)}",
        f"date: {date}; models: {', '.join(models)}",
        "weights: RANDOM (transformers Qwen2ForCausalLM from a Qwen2Config with the "
        "models/arch.py shapes; normal init). Timing does not depend on weight values.",
        *env,
        "stacks: eager = transformers forward with SDPA attention and a DynamicCache "
        "(grows by concatenation); compiled = static preallocated KV cache sized to the "
        "request + the same forward captured once as a CUDA graph and replayed "
        "(torch.cuda.CUDAGraph; no Inductor fusion) - prefill and decode and KV ops",
        "ops: prefill = one forward of batch x context_tokens from an empty cache "
        "(logits of the last token only); decode = one step per token on a cache of "
        f"context_tokens random KV; (de)quantize = group-{KV_GROUP_SIZE} asymmetric "
        "quantisation of one (2 x layers; kv_heads; tokens; head_dim) KV tensor "
        "(models/profile.py quantize_groups / dequantize_groups; unfused PyTorch ops)",
        f"grid: prefill contexts {list(g.contexts)} x batches {list(g.batches)}; decode "
        f"lengths {list(g.decode_lengths)} x batches {list(g.decode_batches)}; KV ops at "
        f"{list(g.quant_lengths)} tokens",
        f"method: {warmup} warm-up call(s) (1 if the first takes >= 1 s), then "
        f"{repeats} timed repeats (3x under 20 ms, {max(2, repeats - 2)} from 1 s "
        "on); time_s = median; "
        + ("CUDA events" if cuda else "time.perf_counter (synchronous CPU)"),
        "extra columns: time_min_s/time_max_s = range over the timed repeats; "
        "peak_mem_bytes = "
        + ("torch.cuda.max_memory_allocated over the point (model weights included)"
           if cuda else "peak RSS of the process so far (monotonic; ru_maxrss)"),
    ]
