"""Device profiles: peak compute, memory bandwidth and capacity of edge and cloud hardware.

Figures are the vendors' *dense* numbers (no 2:4 structured sparsity) for the tensor-core
BF16/FP16 path on GPUs and the FP32 FMA path on CPUs. ``compute_efficiency`` and
``memory_efficiency`` scale the peaks to what real LLM kernels reach; the defaults (0.5, 0.7)
are placeholders to be calibrated against measured timings (see ``models/timings``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from models.errors import unknown_name

DEFAULT_COMPUTE_EFFICIENCY = 0.5
DEFAULT_MEMORY_EFFICIENCY = 0.7


@dataclass(frozen=True)
class Device:
    """One accelerator (or CPU) as the roofline sees it.

    ``peak_flops_per_s`` is dense BF16/FP16 tensor throughput for GPUs, FP32 for CPUs.
    ``native_dtype_bytes`` is the element size the device runs weights and KV in by default
    (2 = BF16 on GPUs, 4 = FP32 on the CPU profile).
    """

    name: str
    description: str
    peak_flops_per_s: float
    memory_bandwidth_bytes_per_s: float
    memory_bytes: float
    compute_efficiency: float = DEFAULT_COMPUTE_EFFICIENCY
    memory_efficiency: float = DEFAULT_MEMORY_EFFICIENCY
    source: str = ""
    notes: str = ""
    native_dtype_bytes: float = 2.0

    @property
    def is_ideal(self) -> bool:
        """True for the zero-time validation device."""
        return math.isinf(self.peak_flops_per_s) and math.isinf(self.memory_bandwidth_bytes_per_s)

    @property
    def effective_flops_per_s(self) -> float:
        """Peak FLOP/s times compute efficiency."""
        return self.peak_flops_per_s * self.compute_efficiency

    @property
    def effective_bandwidth_bytes_per_s(self) -> float:
        """Peak bandwidth times memory efficiency."""
        return self.memory_bandwidth_bytes_per_s * self.memory_efficiency


_GB = 1e9  # vendors quote decimal GB for capacity and GB/s for bandwidth
_TB = 1e12

_DEVICE_LIST = [
    Device(
        name="jetson-agx-orin",
        description="NVIDIA Jetson AGX Orin 64GB module (Ampere GPU, 2048 CUDA / 64 tensor "
        "cores, 256-bit LPDDR5 shared with the CPU), MAXN power mode",
        peak_flops_per_s=42.5 * _TB,
        memory_bandwidth_bytes_per_s=204.8 * _GB,
        memory_bytes=64 * _GB,
        source=(
            "NVIDIA Jetson AGX Orin Series Modules Data Sheet DS-10662-001 v1.8 "
            "(https://developer.nvidia.com/embedded/downloads, mirror "
            "https://static.generation-robots.com/media/Jetson-AGX-Orin-Data-Sheet.pdf): "
            "'JAO 64GB: 2048 CUDA cores | 64 Tensor cores | 170 Sparse TOPS | Maximum "
            "Operating Frequency: 1.3 GHz'; 'Memory Type 256-bit LPDDR5 | Maximum Memory Bus "
            "Bandwidth (up to) 204.8 GB/s'; capacity 64 GB"
        ),
        notes=(
            "The datasheet gives no FP16 figure; 42.5 TFLOP/s is derived: 170 sparse INT8 "
            "TOPS -> 85 dense INT8 TOPS -> 42.5 dense FP16 TFLOP/s (Ampere tensor cores run "
            "FP16 at half the INT8 rate); cross-check 64 tensor cores x 256 FMA/clk x 2 x "
            "1.3 GHz = 42.6 TFLOP/s. Memory is unified (CPU+GPU share 64 GB)."
        ),
    ),
    Device(
        name="rtx-4090-laptop",
        description="NVIDIA GeForce RTX 4090 Laptop GPU (AD103, 76 SMs, 16 GB GDDR6 on a "
        "256-bit bus at 18 Gbps), reference 1695 MHz boost",
        peak_flops_per_s=65.96 * _TB,
        memory_bandwidth_bytes_per_s=576 * _GB,
        memory_bytes=16 * _GB,
        source=(
            "https://hmc-tech.com/gpu/nvidia-geforce-rtx-4090-laptop-120w (spec database "
            "page, 120 W variant): 'Tensor FP16-32 65.96 TFLOPS', 'Tensor BF16 65.96 TFLOPS', "
            "'Memory Bandwidth 576GB/s', '16GB GDDR6', 'Memory Bus 256-bit', 'Boost Clock "
            "1.7GHz'; NVIDIA's laptop spec page lists 16 GB GDDR6 and a 1455-2040 MHz boost "
            "range"
        ),
        notes=(
            "Dense BF16 with FP32 accumulate (what PyTorch uses): 76 SMs x 512 FLOP/clk x "
            "1.695 GHz = 65.96 TFLOP/s; GeForce Ada runs FP32-accumulate at half the "
            "FP16-accumulate rate. The OEM power limit (80-150 W) sets the real clock: "
            "1455-2040 MHz spans 56.6-79.4 TFLOP/s. Bandwidth = 256 bit x 18 Gbps / 8."
        ),
    ),
    Device(
        name="a100-sxm-80gb",
        description="NVIDIA A100 80GB SXM4 (HBM2e)",
        peak_flops_per_s=312 * _TB,
        memory_bandwidth_bytes_per_s=2039 * _GB,
        memory_bytes=80 * _GB,
        source=(
            "NVIDIA A100 Tensor Core GPU datasheet (https://www.nvidia.com/content/dam/en-zz/"
            "Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf)"
            ": 'BFLOAT16 Tensor Core 312 TFLOPS | 624 TFLOPS*' (*with sparsity); A100 80GB "
            "SXM 'GPU Memory Bandwidth 2,039 GB/s', 'GPU Memory 80GB HBM2e'"
        ),
        notes="Dense BF16 = 312 TFLOP/s (624 is the sparsity figure).",
    ),
    Device(
        name="h100-sxm",
        description="NVIDIA H100 SXM5 80GB (HBM3)",
        peak_flops_per_s=989.5 * _TB,
        memory_bandwidth_bytes_per_s=3.35 * _TB,
        memory_bytes=80 * _GB,
        source=(
            "NVIDIA H100 Tensor Core GPU datasheet (https://resources.nvidia.com/"
            "en-us-tensor-core/nvidia-tensor-core-gpu-datasheet): H100 SXM 'BFLOAT16 Tensor "
            "Core 1,979 teraFLOPS*' (*with sparsity; 'Specifications 1/2 lower without "
            "sparsity'), 'GPU memory 80GB', 'GPU memory bandwidth 3.35TB/s'"
        ),
        notes="Dense BF16 = 1979 / 2 = 989.5 TFLOP/s.",
    ),
    Device(
        name="h200-sxm",
        description="NVIDIA H200 SXM 141GB (HBM3e; same GH100 compute as H100 SXM)",
        peak_flops_per_s=989.5 * _TB,
        memory_bandwidth_bytes_per_s=4.8 * _TB,
        memory_bytes=141 * _GB,
        source=(
            "NVIDIA H200 product page / datasheet (https://www.nvidia.com/en-us/data-center/"
            "h200/): H200 SXM 'BFLOAT16 Tensor Core 1,979 TFLOPS' (with sparsity), 'GPU "
            "Memory 141GB', 'GPU Memory Bandwidth 4.8TB/s'"
        ),
        notes="Dense BF16 = 1979 / 2 = 989.5 TFLOP/s; compute identical to H100 SXM.",
    ),
    Device(
        name="cpu-2core-x86",
        description="Weak edge CPU: 2 x86-64 cores with AVX2+FMA3 at an assumed 3.0 GHz, "
        "single-channel DDR4-3200, 8 GB; runs the model in FP32",
        peak_flops_per_s=2 * 32 * 3.0e9,
        memory_bandwidth_bytes_per_s=25.6 * _GB,
        memory_bytes=8 * _GB,
        source=(
            "ASSUMED figures, not a datasheet part. FP32 peak: two 256-bit FMA units per "
            "core = 32 FP32 FLOP/cycle on Haswell..Coffee Lake (Intel 64 and IA-32 "
            "Architectures Optimization Reference Manual; summary at https://stackoverflow."
            "com/questions/15655835: '32 SP FLOPs/cycle: two 8-wide FMA'), x 2 cores x "
            "3.0 GHz = 192 GFLOP/s. Bandwidth: one DDR4-3200 channel = 3200 MT/s x 8 B = "
            "25.6 GB/s (JEDEC DDR4 data rate x 64-bit channel)"
        ),
        notes=(
            "Assumptions: 3.0 GHz sustained all-core clock, one DDR4-3200 channel, 8 GB. "
            "native_dtype_bytes=4 (FP32 weights and KV), as CPU PyTorch runs by default."
        ),
        native_dtype_bytes=4.0,
    ),
    Device(
        name="ideal",
        description="Infinitely fast device: every operation takes zero time (validation)",
        peak_flops_per_s=math.inf,
        memory_bandwidth_bytes_per_s=math.inf,
        memory_bytes=math.inf,
        compute_efficiency=1.0,
        memory_efficiency=1.0,
        source="none (synthetic)",
        notes="Used to check that protocol timings reduce to pure network time.",
    ),
]

DEVICES: dict[str, Device] = {d.name: d for d in _DEVICE_LIST}


def get_device(name: str) -> Device:
    """Look up a device profile by name (case-insensitive); InputError if unknown."""
    key = name.strip().lower()
    if key not in DEVICES:
        raise unknown_name("device", name, list(DEVICES))
    return DEVICES[key]
