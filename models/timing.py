"""Compute time of LLM prefill, decode and KV (de)quantisation on a device.

Two sources, in order of preference:

1. a measured timing table (:class:`TimingTable`, CSVs described in ``models/timings/README.md``),
   exact rows or interpolation between measured rows;
2. a roofline estimate from FLOP and byte counts of a Qwen-style decoder
   (:func:`roofline_time_s`).

:class:`ComputeModel` combines them and caches results, since the simulator asks per request.

FLOP / byte model (all counts per call; ``b`` = batch, ``P`` = params, ``P_ne`` = params
without the input embedding and the LM head, ``V`` = vocab, ``h`` = hidden size, ``l`` =
layers, ``H`` = attention heads, ``d`` = head dim, ``kv`` = KV bytes per token =
2 x l x kv_heads x d x kv_bytes_per_element, ``w`` = weight bytes per param):

* prefill of ``n`` new tokens (after ``p`` cached tokens, default 0):
  FLOPs = 2 P_ne n b + 4 l H d (n p + n^2 / 2) b + 2 V h b;
  bytes = P w + (p + n) kv b (weights once, past KV read, new KV written: p kv b + n kv b).
  The ``n^2 / 2`` term is causal QK^T plus AV; the LM head runs for the last token only.
* decode of one token at cache length ``L``:
  FLOPs = 2 (P_ne + V h) b + 4 l H d L b; bytes = P w + L kv b.
  ``P_ne + V h`` equals ``P`` for tied embeddings and ``P`` minus the embedding table (a
  lookup, no matmul) otherwise.
* quantise ``n`` tokens of KV to ``q`` bits: bytes = n E (e + q / 8), FLOPs = 4 n E, where
  E = KV elements per token and e = kv_bytes_per_element (read BF16, write quantised; per-group
  scales are ignored, they add < 1 % at group size 64+). Dequantise: the same bytes and
  2 n E FLOPs.

The roofline time is ``max(FLOPs / (peak x compute_eff), bytes / (bandwidth x memory_eff))``.

A *calibrated* roofline (:class:`Calibration`, ``models/timings/calibration.json``, fitted by
``python -m models.profile calibrate`` on measured rows) replaces the device's efficiencies per
(device, stack, op) and adds a fixed per-call overhead (kernel launches, Python):
``max(FLOPs / (peak x c_eff), bytes / (bw x m_eff)) + overhead_s + overhead_per_layer_s x layers``
(the per-layer term for prefill and decode only), or with ``overhead_mode="max"`` the larger of
the roofline and that overhead (host work overlapping GPU work). :class:`ComputeModel` uses it,
when given one, where no measured row covers a request (``source == "calibrated"``).
"""

from __future__ import annotations

import bisect
import csv
import functools
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from models.arch import ARCHS, ModelArch, get_arch
from models.devices import DEVICES, Device, get_device
from models.errors import InputError, unknown_name
from models.files import check_input_file

Source = Literal["measured", "interpolated", "calibrated", "roofline", "ideal"]

#: Where the shipped measured timing CSVs and their roofline calibration live.
DEFAULT_TIMINGS_DIR = Path(__file__).resolve().parent / "timings"
CALIBRATION_FILE = "calibration.json"

OPS: tuple[str, ...] = (
    "prefill",
    "decode",
    "quantize_int8",
    "quantize_int4",
    "dequantize_int8",
    "dequantize_int4",
)
PRECISION_BITS: dict[str, int] = {"int8": 8, "int4": 4}
CSV_COLUMNS: tuple[str, ...] = (
    "model",
    "device",
    "stack",
    "op",
    "context_tokens",
    "batch",
    "time_s",
    "n_repeats",
    "source",
)
#: Columns the profiler (``models.profiling``) writes after ``CSV_COLUMNS``; readers ignore them.
EXTRA_COLUMNS: tuple[str, ...] = ("time_min_s", "time_max_s", "peak_mem_bytes", "dtype")
QUANTIZE_FLOPS_PER_ELEMENT = 4.0  # abs-max, scale, round, clamp
DEQUANTIZE_FLOPS_PER_ELEMENT = 2.0  # convert, scale

_CACHE_SIZE = 1 << 16


# --------------------------------------------------------------------------- FLOPs and bytes


@functools.lru_cache(maxsize=256)
def non_embedding_params(arch: ModelArch) -> int:
    """Parameters excluding the input embedding and the LM head (counts, no units).

    Tied models store one V x h table (both roles); untied ones store two.
    """
    tables = 1 if arch.tied_embeddings else 2
    return arch.params - tables * arch.vocab_size * arch.hidden_size


def _check_counts(tokens: int, batch: int, name: str = "tokens") -> None:
    if tokens < 0:
        raise ValueError(f"{name} must be >= 0, got {tokens}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")


@functools.lru_cache(maxsize=_CACHE_SIZE)
def prefill_flops(arch: ModelArch, tokens: int, batch: int = 1, past_tokens: int = 0) -> float:
    """FLOPs to prefill ``tokens`` new tokens per sequence (after ``past_tokens`` cached).

    2 P_ne n b  +  4 l H d (n p + n^2/2) b  +  2 V h b (LM head on the last token only).
    """
    _check_counts(tokens, batch)
    _check_counts(past_tokens, batch, "past_tokens")
    n, p, b = float(tokens), float(past_tokens), float(batch)
    if n == 0:
        return 0.0
    linear = 2.0 * non_embedding_params(arch) * n * b
    attn = 4.0 * arch.layers * arch.attention_heads * arch.head_dim * (n * p + n * n / 2.0) * b
    lm_head = 2.0 * arch.vocab_size * arch.hidden_size * b
    return linear + attn + lm_head


@functools.lru_cache(maxsize=_CACHE_SIZE)
def prefill_bytes(
    arch: ModelArch,
    tokens: int,
    batch: int = 1,
    weight_bytes_per_param: float = 2.0,
    kv_bytes_per_element: float = 2.0,
    past_tokens: int = 0,
) -> float:
    """Bytes moved by a prefill: weights once + past KV read + new KV written (bytes)."""
    _check_counts(tokens, batch)
    _check_counts(past_tokens, batch, "past_tokens")
    if tokens == 0:
        return 0.0
    kv = arch.kv_bytes_per_token(kv_bytes_per_element)
    return arch.params * weight_bytes_per_param + (past_tokens + tokens) * kv * batch


@functools.lru_cache(maxsize=_CACHE_SIZE)
def decode_flops(arch: ModelArch, cache_tokens: int, batch: int = 1) -> float:
    """FLOPs for one decode step per sequence at cache length L.

    2 (P_ne + V h) b  +  4 l H d L b.
    """
    _check_counts(cache_tokens, batch, "cache_tokens")
    matmul_params = non_embedding_params(arch) + arch.vocab_size * arch.hidden_size
    attn = 4.0 * arch.layers * arch.attention_heads * arch.head_dim * cache_tokens * batch
    return 2.0 * matmul_params * batch + attn


@functools.lru_cache(maxsize=_CACHE_SIZE)
def decode_bytes(
    arch: ModelArch,
    cache_tokens: int,
    batch: int = 1,
    weight_bytes_per_param: float = 2.0,
    kv_bytes_per_element: float = 2.0,
) -> float:
    """Bytes read by one decode step: weights + L x kv_bytes_per_token x b (bytes)."""
    _check_counts(cache_tokens, batch, "cache_tokens")
    kv = arch.kv_bytes_per_token(kv_bytes_per_element)
    return arch.params * weight_bytes_per_param + cache_tokens * kv * batch


def _precision_bits(precision: str) -> int:
    key = precision.strip().lower()
    if key not in PRECISION_BITS:
        raise unknown_name("precision", precision, list(PRECISION_BITS))
    return PRECISION_BITS[key]


@functools.lru_cache(maxsize=_CACHE_SIZE)
def quantize_bytes(
    arch: ModelArch, tokens: int, precision: str, kv_bytes_per_element: float = 2.0
) -> float:
    """Bytes moved to (de)quantise ``tokens`` tokens of KV: full-precision side + quantised side."""
    _check_counts(tokens, 1)
    elements = float(arch.kv_elements_per_token()) * tokens
    return elements * (kv_bytes_per_element + _precision_bits(precision) / 8.0)


def roofline_time_s(flops: float, bytes_moved: float, device: Device) -> float:
    """Roofline seconds: max(flops / (peak x c_eff), bytes / (bw x m_eff)); 0 for ideal."""
    if device.is_ideal or (flops <= 0 and bytes_moved <= 0):
        return 0.0
    return max(
        flops / device.effective_flops_per_s,
        bytes_moved / device.effective_bandwidth_bytes_per_s,
    )


# --------------------------------------------------------------------------- measured table


@dataclass(frozen=True)
class TimingRow:
    """One CSV row. ``time_s`` is seconds for the whole op (decode: per token).

    The last four fields are the profiler's ``EXTRA_COLUMNS`` (range of the timed repeats,
    peak memory, dtype): set on rows the profiler measures, None on rows read from a CSV
    (the reader keeps ``CSV_COLUMNS`` only).
    """

    model: str
    device: str
    stack: str
    op: str
    context_tokens: int
    batch: int
    time_s: float
    n_repeats: int
    source: str
    time_min_s: float | None = None
    time_max_s: float | None = None
    peak_mem_bytes: int | None = None
    dtype: str | None = None

    def as_row(self) -> list[str]:
        """The CSV fields: ``CSV_COLUMNS`` (times as ``%.6e``), then ``EXTRA_COLUMNS`` when
        the row carries them (all four or none)."""
        fields = [self.model, self.device, self.stack, self.op, str(self.context_tokens),
                  str(self.batch), f"{self.time_s:.6e}", str(self.n_repeats), self.source]
        extra = (self.time_min_s, self.time_max_s, self.peak_mem_bytes, self.dtype)
        if all(x is None for x in extra):
            return fields
        if any(x is None for x in extra):
            raise ValueError(f"row has some but not all of {', '.join(EXTRA_COLUMNS)}")
        return fields + [f"{self.time_min_s:.6e}", f"{self.time_max_s:.6e}",
                         str(self.peak_mem_bytes), str(self.dtype)]


def _interp_linear(x: float, x0: float, x1: float, y0: float, y1: float) -> float:
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def _interp_loglog(x: float, x0: float, x1: float, y0: float, y1: float) -> float:
    t = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
    return math.exp(math.log(y0) + t * (math.log(y1) - math.log(y0)))


class TimingTable:
    """Measured op timings, keyed by (model, device, stack, op), then batch, then tokens.

    Interpolation in ``context_tokens`` (between the two nearest measured points at one batch):

    * ``prefill``: log-log (a power law through the two points). Prefill time grows from
      nearly flat (weight-read bound) through linear to quadratic (attention) in the prompt
      length; a local power law follows that superlinear curve, and measurement grids are
      usually geometric (128, 256, 512, ...), where linear interpolation overestimates most.
    * ``decode`` and the (de)quantise ops: linear. Their time is affine in the token count
      (fixed weight read plus per-token KV traffic), which linear interpolation reproduces
      exactly.

    A batch between two measured batches is interpolated linearly between the two token-
    interpolated values (both must exist). Nothing is extrapolated: outside the measured range
    ``lookup`` returns None. Duplicate rows (same key, tokens and batch) are merged into their
    ``n_repeats``-weighted mean.
    """

    def __init__(self, rows: Iterable[TimingRow] = ()) -> None:
        merged: dict[tuple[str, str, str, str, int, int], tuple[float, int]] = {}
        kept: list[TimingRow] = []
        for row in rows:
            kept.append(row)
            k = (row.model, row.device, row.stack, row.op, row.batch, row.context_tokens)
            total, n = merged.get(k, (0.0, 0))
            merged[k] = (total + row.time_s * row.n_repeats, n + row.n_repeats)
        self.rows: tuple[TimingRow, ...] = tuple(kept)
        grouped: dict[tuple[str, str, str, str], dict[int, dict[int, float]]] = {}
        for (model, device, stack, op, batch, tokens), (total, n) in merged.items():
            per_batch = grouped.setdefault((model, device, stack, op), {})
            per_batch.setdefault(batch, {})[tokens] = total / n
        self._index: dict[tuple[str, str, str, str], dict[int, tuple[list[int], list[float]]]] = {}
        self._batches: dict[tuple[str, str, str, str], list[int]] = {}
        self._stacks: dict[tuple[str, str, str], set[str]] = {}
        for key, per_batch in grouped.items():
            self._index[key] = {
                b: (sorted(pts), [pts[t] for t in sorted(pts)]) for b, pts in per_batch.items()
            }
            self._batches[key] = sorted(per_batch)
            self._stacks.setdefault((key[0], key[1], key[3]), set()).add(key[2])
        self._lookup = functools.lru_cache(maxsize=_CACHE_SIZE)(self._lookup_uncached)

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def load(cls, path: str | Path) -> TimingTable:
        """Read and validate one CSV; InputError naming the file and line for any bad row."""
        return cls(_read_csv(Path(path)))

    @classmethod
    def load_dir(cls, directory: str | Path) -> TimingTable:
        """Read every ``*.csv`` in ``directory`` (sorted by name) into one table."""
        rows: list[TimingRow] = []
        for path in sorted(Path(directory).glob("*.csv")):
            rows.extend(_read_csv(path))
        return cls(rows)

    def lookup(
        self,
        model: str,
        device: str,
        op: str,
        tokens: int,
        batch: int = 1,
        stack: str | None = None,
    ) -> float | None:
        """Measured or interpolated seconds, or None where no measurement covers the request.

        ``stack=None`` uses the only stack measured for (model, device, op) and raises
        InputError if there are several.
        """
        hit = self.lookup_with_source(model, device, op, tokens, batch, stack)
        return None if hit is None else hit[0]

    def lookup_with_source(
        self,
        model: str,
        device: str,
        op: str,
        tokens: int,
        batch: int = 1,
        stack: str | None = None,
    ) -> tuple[float, Source] | None:
        """Like :meth:`lookup`, with ``"measured"`` or ``"interpolated"`` alongside."""
        model, device, op = model.strip().lower(), device.strip().lower(), op.strip().lower()
        if stack is None:
            stacks = self._stacks.get((model, device, op), set())
            if not stacks:
                return None
            if len(stacks) > 1:
                raise InputError(
                    f"timing table has several stacks for {model}/{device}/{op} "
                    f"({', '.join(sorted(stacks))}); pass stack="
                )
            stack = next(iter(stacks))
        return self._lookup((model, device, stack.strip().lower(), op), int(tokens), int(batch))

    def _lookup_uncached(
        self, key: tuple[str, str, str, str], tokens: int, batch: int
    ) -> tuple[float, Source] | None:
        per_batch = self._index.get(key)
        if per_batch is None:
            return None
        loglog = key[3] == "prefill"
        if batch in per_batch:
            return _interp_tokens(per_batch[batch], tokens, loglog)
        batches = self._batches[key]
        i = bisect.bisect_left(batches, batch)
        if i == 0 or i == len(batches):
            return None
        b0, b1 = batches[i - 1], batches[i]
        lo = _interp_tokens(per_batch[b0], tokens, loglog)
        hi = _interp_tokens(per_batch[b1], tokens, loglog)
        if lo is None or hi is None:
            return None
        return _interp_linear(batch, b0, b1, lo[0], hi[0]), "interpolated"


def _interp_tokens(
    points: tuple[list[int], list[float]], tokens: int, loglog: bool
) -> tuple[float, Source] | None:
    xs, ys = points
    i = bisect.bisect_left(xs, tokens)
    if i < len(xs) and xs[i] == tokens:
        return ys[i], "measured"
    if i == 0 or i == len(xs):
        return None
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    if loglog and x0 > 0:
        return _interp_loglog(tokens, x0, x1, y0, y1), "interpolated"
    return _interp_linear(tokens, x0, x1, y0, y1), "interpolated"


def _parse_int(text: str, column: str, minimum: int, path: str, line: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise InputError(f"{column} must be an integer, got {text!r}", path, line) from None
    if value < minimum:
        raise InputError(f"{column} must be >= {minimum}, got {value}", path, line)
    return value


def _blank_comments(lines: Iterable[str]) -> Iterator[str]:
    """Yield ``lines`` with every ``#`` comment line blanked (kept, so line numbers stay)."""
    for line in lines:
        yield "\n" if line.lstrip().startswith("#") else line


def _read_csv(path: Path) -> list[TimingRow]:
    """Parse and validate a timing CSV (schema: ``CSV_COLUMNS``).

    Lines starting with ``#`` (after optional blanks) are comments, before or after the
    header (the profiler writes provenance there); blank lines are skipped.
    """
    where = str(path)
    check_input_file(path, "timing table")
    try:
        handle = path.open(newline="", encoding="utf-8-sig", errors="replace")
    except OSError as err:
        raise InputError(f"cannot read timing table: {err.strerror}", where) from None
    rows: list[TimingRow] = []
    with handle:
        reader = csv.reader(_blank_comments(handle))
        header: list[str] = []
        while not any(h.strip() for h in header):
            try:
                header = next(reader)
            except StopIteration:
                raise InputError("empty timing table (no header)", where, 1) from None
            except csv.Error as err:
                raise InputError(f"malformed CSV: {err}", where, reader.line_num) from None
        names = [h.strip().lower() for h in header]
        missing = [c for c in CSV_COLUMNS if c not in names]
        if missing:
            raise InputError(
                f"missing column(s) {', '.join(missing)}; expected {','.join(CSV_COLUMNS)}",
                where,
                reader.line_num,
            )
        col = {name: names.index(name) for name in CSV_COLUMNS}
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as err:
                raise InputError(f"malformed CSV: {err}", where, reader.line_num) from None
            line = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                raise InputError(f"expected {len(header)} fields, got {len(fields)}", where, line)
            rows.append(_parse_row(fields, col, where, line))
    return rows


def _parse_row(fields: list[str], col: dict[str, int], where: str, line: int) -> TimingRow:
    def get(name: str) -> str:
        return fields[col[name]].strip()

    model, device = get("model").lower(), get("device").lower()
    stack, op = get("stack").lower(), get("op").lower()
    if model not in ARCHS:
        raise InputError(f"unknown model {model!r}; known: {', '.join(sorted(ARCHS))}", where, line)
    if device not in DEVICES:
        raise InputError(
            f"unknown device {device!r}; known: {', '.join(sorted(DEVICES))}", where, line
        )
    if not stack:
        raise InputError("empty stack", where, line)
    if op not in OPS:
        raise InputError(f"unknown op {op!r}; known: {', '.join(OPS)}", where, line)
    tokens = _parse_int(
        get("context_tokens"), "context_tokens", 0 if op == "decode" else 1, where, line
    )
    batch = _parse_int(get("batch"), "batch", 1, where, line)
    n_repeats = _parse_int(get("n_repeats"), "n_repeats", 1, where, line)
    try:
        time_s = float(get("time_s"))
    except ValueError:
        raise InputError(f"time_s must be a number, got {get('time_s')!r}", where, line) from None
    if not math.isfinite(time_s) or time_s <= 0:
        raise InputError(f"time_s must be finite and > 0, got {get('time_s')!r}", where, line)
    return TimingRow(model, device, stack, op, tokens, batch, time_s, n_repeats, get("source"))


# --------------------------------------------------------------------------- compute model


@dataclass(frozen=True)
class TimeEstimate:
    """A duration in seconds and where it came from."""

    seconds: float
    source: Source


_SOURCE_RANK: dict[str, int] = {
    "ideal": 0,
    "measured": 1,
    "interpolated": 2,
    "calibrated": 3,
    "roofline": 4,
}


# --------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class RooflineFit:
    """Calibrated roofline of one (device, stack, op), fitted on measured rows.

    ``time = max(flops / (peak x compute_efficiency), bytes / (bandwidth x memory_efficiency))
    + overhead`` (seconds per call; decode: per step) with ``overhead = overhead_s +
    overhead_per_layer_s x layers``. ``overhead_mode="max"`` takes ``max(roofline, overhead)``
    instead of the sum: host-side work (Python, kernel launches) that overlaps GPU work, as in
    an eager stack; ``"add"`` suits overhead that does not overlap (gaps in a CUDA graph).
    ``errors`` holds the fit's relative errors (e.g. ``heldout_median``) for the record.
    """

    device: str
    stack: str
    op: str
    compute_efficiency: float
    memory_efficiency: float
    overhead_s: float = 0.0
    overhead_per_layer_s: float = 0.0
    overhead_mode: str = "add"
    errors: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def __post_init__(self) -> None:
        for name in ("compute_efficiency", "memory_efficiency"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"calibration {self.device}/{self.stack}/{self.op}: "
                                 f"{name} must be finite and > 0, got {value!r}")
        for name in ("overhead_s", "overhead_per_layer_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InputError(f"calibration {self.device}/{self.stack}/{self.op}: "
                                 f"{name} must be finite and >= 0, got {value!r}")
        if self.op not in OPS:
            raise unknown_name("calibration op", self.op, list(OPS))
        if self.overhead_mode not in ("add", "max"):
            raise InputError(f"calibration {self.device}/{self.stack}/{self.op}: "
                             f"overhead_mode must be add or max, got {self.overhead_mode!r}")

    def time_s(self, flops: float, bytes_moved: float, device: Device, layers: int = 0) -> float:
        """Calibrated seconds for one call on ``device`` (a model with ``layers`` layers)."""
        if device.is_ideal or (flops <= 0 and bytes_moved <= 0):
            return 0.0
        roof = max(
            flops / (device.peak_flops_per_s * self.compute_efficiency),
            bytes_moved / (device.memory_bandwidth_bytes_per_s * self.memory_efficiency),
        )
        overhead = self.overhead_s + self.overhead_per_layer_s * layers
        return max(roof, overhead) if self.overhead_mode == "max" else roof + overhead


class Calibration:
    """Calibrated roofline fits keyed by (device, stack, op); JSON on disk.

    File format (``models/timings/calibration.json``)::

        {"schema": 1, "note": "...", "fits": [{"device": "h200-sxm", "stack": "eager",
          "op": "decode", "compute_efficiency": 0.6, "memory_efficiency": 0.8,
          "overhead_s": 0.0, "overhead_per_layer_s": 0.0005, "errors": {...}}, ...]}
    """

    def __init__(self, fits: Iterable[RooflineFit] = (), note: str = "") -> None:
        self.fits: dict[tuple[str, str, str], RooflineFit] = {}
        for fit in fits:
            self.fits[(fit.device.lower(), fit.stack.lower(), fit.op)] = fit
        self.note = note

    def __len__(self) -> int:
        return len(self.fits)

    def get(self, device: str, stack: str, op: str) -> RooflineFit | None:
        """The fit for (device, stack, op), or None."""
        return self.fits.get((device.strip().lower(), stack.strip().lower(), op))

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """Read a calibration JSON; InputError naming the file if it is malformed."""
        where = str(path)
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as err:
            raise InputError(f"cannot read calibration: {err.strerror}", where) from None
        except json.JSONDecodeError as err:
            raise InputError(f"malformed calibration JSON: {err}", where) from None
        try:
            fits = [
                RooflineFit(
                    device=str(f["device"]).lower(),
                    stack=str(f["stack"]).lower(),
                    op=str(f["op"]),
                    compute_efficiency=float(f["compute_efficiency"]),
                    memory_efficiency=float(f["memory_efficiency"]),
                    overhead_s=float(f.get("overhead_s", 0.0)),
                    overhead_per_layer_s=float(f.get("overhead_per_layer_s", 0.0)),
                    overhead_mode=str(f.get("overhead_mode", "add")),
                    errors={k: float(v) for k, v in f.get("errors", {}).items()},
                    note=str(f.get("note", "")),
                )
                for f in data["fits"]
            ]
            for fit in fits:
                get_device(fit.device)  # validates the name
        except InputError as err:
            raise InputError(err.message, where) from None
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"malformed calibration: {err!r}", where) from None
        return cls(fits, str(data.get("note", "")))

    def save(self, path: str | Path) -> None:
        """Write the fits as JSON (sorted by device, stack, op)."""
        fits = [asdict(self.fits[k]) for k in sorted(self.fits)]
        text = json.dumps({"schema": 1, "note": self.note, "fits": fits}, indent=1)
        Path(path).write_text(text + "\n", encoding="utf-8")


def _stamp(paths: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)


@functools.lru_cache(maxsize=8)
def _load_dir_cached(directory: str, stamp: tuple) -> TimingTable:
    return TimingTable.load_dir(directory)


@functools.lru_cache(maxsize=8)
def _load_calibration_cached(path: str, stamp: tuple) -> Calibration:
    return Calibration.load(path)


def default_timing_table(directory: str | Path = DEFAULT_TIMINGS_DIR) -> TimingTable:
    """Every measured CSV in ``directory`` (default: the shipped ``models/timings/*.csv``) as
    one table; cached until a file changes."""
    return _load_dir_cached(str(directory), _stamp(sorted(Path(directory).glob("*.csv"))))


def default_calibration(directory: str | Path = DEFAULT_TIMINGS_DIR) -> Calibration | None:
    """The calibration next to the CSVs (``calibration.json``), or None if absent; cached."""
    path = Path(directory) / CALIBRATION_FILE
    if not path.is_file():
        return None
    return _load_calibration_cached(str(path), _stamp([path]))


class ComputeModel:
    """Prefill / decode / (de)quantise times for one device.

    Measured table first (matching ``stack``), roofline otherwise. Results are memoised
    per instance, so repeated calls with the same arguments cost a dict lookup.

    ``weight_bytes_per_param`` and ``kv_bytes_per_element`` default to the device's
    ``native_dtype_bytes`` (2 = BF16 on GPUs, 4 = FP32 on the CPU profile); pass e.g.
    0.5 for INT4 weights.

    ``calibration`` (optional): where it has a fit for (device, stack), the fallback is the
    calibrated roofline (``source == "calibrated"``) instead of the device's default
    efficiencies (``"roofline"``). :meth:`default` loads the shipped table and calibration.
    """

    def __init__(
        self,
        device: Device | str,
        timing_table: TimingTable | None = None,
        stack: str = "eager",
        weight_bytes_per_param: float | None = None,
        kv_bytes_per_element: float | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        self.device = get_device(device) if isinstance(device, str) else device
        self.timing_table = timing_table
        self.calibration = calibration
        self.stack = stack.strip().lower()
        native = self.device.native_dtype_bytes
        self.weight_bytes_per_param = (
            native if weight_bytes_per_param is None else float(weight_bytes_per_param)
        )
        self.kv_bytes_per_element = (
            native if kv_bytes_per_element is None else float(kv_bytes_per_element)
        )
        cache = functools.lru_cache(maxsize=_CACHE_SIZE)
        self._prefill = cache(self._prefill_uncached)
        self._decode = cache(self._decode_uncached)
        self._decode_tokens = cache(self._decode_tokens_uncached)
        self._quant = cache(self._quant_uncached)

    def __repr__(self) -> str:
        return (
            f"ComputeModel(device={self.device.name!r}, stack={self.stack!r}, "
            f"table_rows={len(self.timing_table) if self.timing_table else 0}, "
            f"calibrated={self._fit('decode') is not None})"
        )

    @classmethod
    def default(
        cls, device: Device | str, stack: str = "eager", **kwargs: float | None
    ) -> ComputeModel:
        """A model with the shipped tables and calibration (``models/timings/``)."""
        return cls(
            device,
            default_timing_table(),
            stack,
            calibration=default_calibration(),
            **kwargs,  # type: ignore[arg-type]
        )

    # public API -------------------------------------------------------------------------

    def prefill_s(
        self, arch: ModelArch | str, tokens: int, batch: int = 1, past_tokens: int = 0
    ) -> TimeEstimate:
        """Time to prefill ``tokens`` prompt tokens per sequence, ``batch`` sequences (s).

        ``past_tokens`` > 0 (continuing after a cached prefix) always uses the roofline,
        since the table measures prefill from an empty cache.
        """
        return self._prefill(_arch(arch), int(tokens), int(batch), int(past_tokens))

    def decode_s(self, arch: ModelArch | str, cache_tokens: int, batch: int = 1) -> TimeEstimate:
        """Time for one decode step (one token per sequence) at cache length ``cache_tokens``."""
        return self._decode(_arch(arch), int(cache_tokens), int(batch))

    def decode_tokens_s(
        self, arch: ModelArch | str, cache_tokens: int, new_tokens: int, batch: int = 1
    ) -> TimeEstimate:
        """Time to generate ``new_tokens`` tokens starting at cache length ``cache_tokens`` (s).

        Sum of :meth:`decode_s` at L = cache_tokens .. cache_tokens + new_tokens - 1; the
        source is the least precise one among the steps.
        """
        return self._decode_tokens(_arch(arch), int(cache_tokens), int(new_tokens), int(batch))

    def quantize_s(self, arch: ModelArch | str, tokens: int, precision: str) -> TimeEstimate:
        """Time to quantise ``tokens`` tokens of KV cache to ``precision`` ("int8"/"int4") (s)."""
        return self._quant(_arch(arch), int(tokens), precision.strip().lower(), "quantize")

    def dequantize_s(self, arch: ModelArch | str, tokens: int, precision: str) -> TimeEstimate:
        """Time to dequantise ``tokens`` tokens of ``precision`` KV back to full precision (s)."""
        return self._quant(_arch(arch), int(tokens), precision.strip().lower(), "dequantize")

    # internals --------------------------------------------------------------------------

    def _fit(self, op: str) -> RooflineFit | None:
        if self.calibration is None:
            return None
        return self.calibration.get(self.device.name, self.stack, op)

    def _roofline(self, op: str, flops: float, nbytes: float, layers: int) -> TimeEstimate:
        fit = self._fit(op)
        if fit is None:
            return TimeEstimate(roofline_time_s(flops, nbytes, self.device), "roofline")
        return TimeEstimate(fit.time_s(flops, nbytes, self.device, layers), "calibrated")

    def _measured(self, arch: ModelArch, op: str, tokens: int, batch: int) -> TimeEstimate | None:
        if self.timing_table is None:
            return None
        hit = self.timing_table.lookup_with_source(
            arch.name, self.device.name, op, tokens, batch, self.stack
        )
        return None if hit is None else TimeEstimate(hit[0], hit[1])

    def _prefill_uncached(
        self, arch: ModelArch, tokens: int, batch: int, past_tokens: int
    ) -> TimeEstimate:
        _check_counts(tokens, batch)
        _check_counts(past_tokens, batch, "past_tokens")
        if self.device.is_ideal:
            return TimeEstimate(0.0, "ideal")
        if tokens == 0:
            return TimeEstimate(0.0, "roofline")
        if past_tokens == 0:
            hit = self._measured(arch, "prefill", tokens, batch)
            if hit is not None:
                return hit
        flops = prefill_flops(arch, tokens, batch, past_tokens)
        nbytes = prefill_bytes(
            arch,
            tokens,
            batch,
            self.weight_bytes_per_param,
            self.kv_bytes_per_element,
            past_tokens,
        )
        return self._roofline("prefill", flops, nbytes, arch.layers)

    def _decode_uncached(self, arch: ModelArch, cache_tokens: int, batch: int) -> TimeEstimate:
        _check_counts(cache_tokens, batch, "cache_tokens")
        if self.device.is_ideal:
            return TimeEstimate(0.0, "ideal")
        hit = self._measured(arch, "decode", cache_tokens, batch)
        if hit is not None:
            return hit
        flops = decode_flops(arch, cache_tokens, batch)
        nbytes = decode_bytes(
            arch, cache_tokens, batch, self.weight_bytes_per_param, self.kv_bytes_per_element
        )
        return self._roofline("decode", flops, nbytes, arch.layers)

    def _decode_tokens_uncached(
        self, arch: ModelArch, cache_tokens: int, new_tokens: int, batch: int
    ) -> TimeEstimate:
        _check_counts(cache_tokens, batch, "cache_tokens")
        _check_counts(new_tokens, batch, "new_tokens")
        if self.device.is_ideal:
            return TimeEstimate(0.0, "ideal")
        total = 0.0
        worst: Source = "measured"
        for length in range(cache_tokens, cache_tokens + new_tokens):
            step = self._decode(arch, length, batch)
            total += step.seconds
            if _SOURCE_RANK[step.source] > _SOURCE_RANK[worst]:
                worst = step.source
        if new_tokens == 0:
            worst = "roofline"
        return TimeEstimate(total, worst)

    def _quant_uncached(
        self, arch: ModelArch, tokens: int, precision: str, kind: str
    ) -> TimeEstimate:
        _check_counts(tokens, 1)
        _precision_bits(precision)  # validates
        if self.device.is_ideal:
            return TimeEstimate(0.0, "ideal")
        hit = self._measured(arch, f"{kind}_{precision}", tokens, 1)
        if hit is not None:
            return hit
        per_element = (
            QUANTIZE_FLOPS_PER_ELEMENT if kind == "quantize" else DEQUANTIZE_FLOPS_PER_ELEMENT
        )
        flops = per_element * arch.kv_elements_per_token() * tokens
        nbytes = quantize_bytes(arch, tokens, precision, self.kv_bytes_per_element)
        return self._roofline(f"{kind}_{precision}", flops, nbytes, 0)


def _arch(arch: ModelArch | str) -> ModelArch:
    return get_arch(arch) if isinstance(arch, str) else arch
