"""Per-request cost of an operating point: payload bytes, compute times, expected quality.

Compute steps per mode (times from :class:`models.timing.ComputeModel`):

=========== ============================================ ==========================================
mode        edge (before sending)                        cloud (after the payload arrives)
=========== ============================================ ==========================================
kv          prefill(edge model, context+question)        [decode], dequantise, one decode step of
            + quantise (int8/int4/mixed) [+ encode]      the *edge* model at the kept cache = first
                                                         token; then answer_tokens-1 decode steps
scout       prefill(edge model, context+question) with   prefill(cloud model, context+question),
            attention scores -> top-k indices            mask -> first token; then decode
cloud-text  nothing                                      prefill(cloud model) -> first token; decode
edge-local  prefill(edge model) -> first token; decode   nothing
=========== ============================================ ==========================================

``edge_s``/``cloud_ttft_s`` are the times to the hand-off and to the first token; the
``*_busy_s`` times include decoding the rest of the answer, which keeps the accelerator busy
(FIFO, one request at a time). ``mixed`` precision is timed as INT4 (its dominant part).
With ``kv_encoding`` zstd or entropy the KV payload is the measured coded size and the codec's
measured CPU seconds (:mod:`models.kvencoding`) are added: encode on the edge, decode in the
cloud before dequantising.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from models.arch import get_arch
from models.kvencoding import encoded_kv
from models.operating import (
    MODE_SPECS,
    ModeSpec,
    OperatingPoint,
    register_mode_spec,
    unregister_mode_spec,
)
from models.payload import (
    cloud_text_payload_bytes,
    kept_count,
    kv_payload_bytes,
    scout_payload_bytes,
)
from models.quality import PairQuality
from models.request import Request
from models.timing import ComputeModel, TimeEstimate
from models.units import KV_GROUP_SIZE


def batch_kind(op: OperatingPoint) -> str:
    """Which requests the cloud can batch together: ``prefill`` (scout and cloud-text both
    prefill the cloud model), ``kv`` (decode on the edge model's received cache), or
    ``edge`` (never reaches the cloud). From the mode's :class:`~models.operating.ModeSpec`."""
    return MODE_SPECS[op.mode].batch_kind


def _kept_tokens(op: OperatingPoint, req: Request) -> int:
    """Context positions kept at the operating point's retention, plus the question."""
    return kept_count(req.context_tokens, op.retention) + req.question_tokens


def _timed_precision(op: OperatingPoint) -> str:
    """The precision whose (de)quantisation times an operating point (mixed as INT4)."""
    return "int4" if op.precision == "mixed" else op.precision


@dataclass(frozen=True, slots=True)
class OpCost:
    """What one operating point costs for one request. Bytes and seconds."""

    op: OperatingPoint
    payload_bytes: int
    edge_s: float
    edge_busy_s: float
    cloud_ttft_s: float
    cloud_busy_s: float
    quality: float
    quality_source: str
    compute_sources: frozenset[str]
    #: the request crosses the uplink and is answered by the cloud (False: on the edge)
    uses_link: bool = True
    #: ``op.label``, computed once (every record carries it)
    label: str = ""


class CostModel:
    """Costs for one scenario (model pair, devices, payload options, quality cache)."""

    def __init__(self, *, edge_model: str, cloud_model: str, edge_compute: ComputeModel,
                 cloud_compute: ComputeModel, quality: PairQuality | None,
                 cloud_has_context: bool = False, kv_group_size: int = KV_GROUP_SIZE,
                 kv_encoding: str = "raw"):
        self.edge_arch = get_arch(edge_model)
        self.cloud_arch = get_arch(cloud_model)
        self.edge = edge_compute
        self.cloud = cloud_compute
        self.quality = quality
        self.cloud_has_context = cloud_has_context
        self.kv_group_size = kv_group_size
        self.kv_encoding = kv_encoding
        self._cache: dict[tuple, OpCost] = {}

    def cost(self, op: OperatingPoint, req: Request) -> OpCost:
        """Cost of ``op`` for ``req`` (memoised on the request's sizes)."""
        key = (op, req.context_tokens, req.question_tokens, req.answer_tokens)
        c = self._cache.get(key)
        if c is None:
            c = self._cache[key] = self._compute(op, req.context_tokens, req.question_tokens,
                                                 req.answer_tokens)
        return c

    def cloud_batch_s(self, jobs: list[tuple[OperatingPoint, Request]]) -> tuple[float, float]:
        """(time to the batch's first tokens, time the GPU stays busy) when the cloud serves
        ``jobs`` together as one static batch of the same kind (:func:`batch_kind`).

        A batch of b sequences is timed as b sequences of its longest member: cloud-model
        prefill of the longest prompt (scout, cloud-text) or, for KV jobs, each job's
        dequantisation followed by one decode step of the edge model at the longest kept
        cache; then the longest answer's remaining tokens at batch b. One job costs exactly
        its :class:`OpCost`'s ``cloud_ttft_s`` and ``cloud_busy_s``.
        """
        if len(jobs) == 1:
            c = self.cost(*jobs[0])
            return c.cloud_ttft_s, c.cloud_busy_s
        kinds = {batch_kind(op) for op, _ in jobs}
        if len(kinds) != 1 or "edge" in kinds:
            raise ValueError(f"a batch must be of one cloud kind, not {sorted(kinds)}")
        b = len(jobs)
        answer = max(r.answer_tokens for _, r in jobs)
        cache = max(self.cloud_decode_start_tokens(op, r) for op, r in jobs)
        if kinds == {"kv"}:
            ttft = 0.0
            for op, r in jobs:
                qp = _timed_precision(op)
                if qp != "bf16":
                    ttft += self.cloud.dequantize_s(
                        self.edge_arch, kept_count(r.context_tokens, op.retention), qp).seconds
                if self.kv_encoding != "raw":
                    ttft += encoded_kv(self.edge_arch, r.context_tokens, op.precision,
                                       op.retention, r.question_tokens, self.kv_group_size,
                                       encoding=self.kv_encoding).decode_s
            ttft += self.cloud.decode_s(self.edge_arch, cache - 1, b).seconds
            rest = (self.cloud.decode_tokens_s(self.edge_arch, cache, answer - 1, b).seconds
                    if answer > 1 else 0.0)
            return ttft, ttft + rest
        prompt = max(r.context_tokens + r.question_tokens for _, r in jobs)
        ttft = self.cloud.prefill_s(self.cloud_arch, prompt, b).seconds
        rest = (self.cloud.decode_tokens_s(self.cloud_arch, cache, answer - 1, b).seconds
                if answer > 1 else 0.0)
        return ttft, ttft + rest

    def cloud_decode_start_tokens(self, op: OperatingPoint, req: Request) -> int:
        """Cache length (tokens) at the first decode step after the first answer token."""
        return _MODE_COSTS[op.mode].decode_start_tokens(op, req)

    def cloud_decode_step_s(self, kind: str, cache_tokens: int, batch: int) -> float:
        """One decode step of ``batch`` sequences of a cloud kind (``prefill``: the cloud
        model; ``kv``: the edge model on the cloud GPU) at ``cache_tokens``."""
        arch = self.edge_arch if kind == "kv" else self.cloud_arch
        return self.cloud.decode_s(arch, cache_tokens, batch).seconds

    def _compute(self, op: OperatingPoint, ctx: int, q: int, answer: int) -> OpCost:
        times: list[TimeEstimate] = []

        def t(est: TimeEstimate) -> float:
            times.append(est)
            return est.seconds

        mode = _MODE_COSTS[op.mode]
        stages = mode.stages(self, op, ctx, q, answer, t)
        if mode.quality is not None:
            quality, qsource = mode.quality(op)
        elif self.quality is not None:
            qv = self.quality.quality(op, ctx)
            quality, qsource = qv.mean, qv.source
        else:
            quality, qsource = float("nan"), "disabled"
        local = not MODE_SPECS[op.mode].uses_link
        return OpCost(
            op=op,
            payload_bytes=int(stages.payload_bytes),
            edge_s=stages.edge_s,
            edge_busy_s=stages.edge_s + (stages.decode_rest_s if local else 0.0),
            cloud_ttft_s=stages.cloud_ttft_s,
            cloud_busy_s=0.0 if local else stages.cloud_ttft_s + stages.decode_rest_s,
            quality=quality,
            quality_source=qsource,
            compute_sources=frozenset(e.source for e in times),
            uses_link=not local,
            label=op.label,
        )


# --- modes: what each one sends and computes ---------------------------------------------

@dataclass(frozen=True, slots=True)
class StageTimes:
    """One request's work under a mode: payload bytes; edge time to the hand-off; cloud
    time to the first token; time to decode the rest of the answer (on the cloud, or on
    the edge for a mode that does not use the link). Bytes and seconds."""

    payload_bytes: float
    edge_s: float = 0.0
    cloud_ttft_s: float = 0.0
    decode_rest_s: float = 0.0


#: ``stages(costs, op, context_tokens, question_tokens, answer_tokens, timed)``: ``timed``
#: takes a :class:`~models.timing.TimeEstimate`, records its source and returns its seconds
StagesFn = Callable[[CostModel, OperatingPoint, int, int, int, Callable[[TimeEstimate], float]],
                    StageTimes]
DecodeStartFn = Callable[[OperatingPoint, Request], int]
QualityFn = Callable[[OperatingPoint], tuple[float, str]]


@dataclass(frozen=True, slots=True)
class ModeCosts:
    """A mode's cost functions (see :func:`register_mode`)."""

    stages: StagesFn
    decode_start_tokens: DecodeStartFn
    #: ``quality(op) -> (expected quality, source)``; None: from the scenario's quality cache
    quality: QualityFn | None = None


def _prompt_tokens(op: OperatingPoint, req: Request) -> int:
    return req.context_tokens + req.question_tokens


def _kv_stages(m: CostModel, op: OperatingPoint, ctx: int, q: int, answer: int,
               t: Callable[[TimeEstimate], float]) -> StageTimes:
    kept_ctx = kept_count(ctx, op.retention)
    kept = kept_ctx + q
    payload = kv_payload_bytes(m.edge_arch, ctx, op.precision, op.retention, q, m.kv_group_size)
    edge_s = t(m.edge.prefill_s(m.edge_arch, ctx + q))
    cloud_ttft_s = decode_rest_s = 0.0
    if m.kv_encoding != "raw":  # measured coded size; CPU encode on the edge, decode in the cloud
        enc = encoded_kv(m.edge_arch, ctx, op.precision, op.retention, q, m.kv_group_size,
                         encoding=m.kv_encoding)
        payload = enc.total_bytes
        edge_s += enc.encode_s
        cloud_ttft_s += enc.decode_s
    qp = _timed_precision(op)
    if qp != "bf16":  # only the context KV is quantised (the question's is sent at bf16)
        edge_s += t(m.edge.quantize_s(m.edge_arch, kept_ctx, qp))
        cloud_ttft_s += t(m.cloud.dequantize_s(m.edge_arch, kept_ctx, qp))
    cloud_ttft_s += t(m.cloud.decode_s(m.edge_arch, kept))
    if answer > 1:
        decode_rest_s = t(m.cloud.decode_tokens_s(m.edge_arch, kept + 1, answer - 1))
    return StageTimes(payload, edge_s, cloud_ttft_s, decode_rest_s)


def _scout_stages(m: CostModel, op: OperatingPoint, ctx: int, q: int, answer: int,
                  t: Callable[[TimeEstimate], float]) -> StageTimes:
    payload = scout_payload_bytes(ctx, op.retention, q, m.cloud_has_context).total_bytes
    edge_s = t(m.edge.prefill_s(m.edge_arch, ctx + q))
    cloud_ttft_s = t(m.cloud.prefill_s(m.cloud_arch, ctx + q))
    kept = kept_count(ctx, op.retention) + q
    decode_rest_s = 0.0
    if answer > 1:
        decode_rest_s = t(m.cloud.decode_tokens_s(m.cloud_arch, kept, answer - 1))
    return StageTimes(payload, edge_s, cloud_ttft_s, decode_rest_s)


def _cloud_text_stages(m: CostModel, op: OperatingPoint, ctx: int, q: int, answer: int,
                       t: Callable[[TimeEstimate], float]) -> StageTimes:
    payload = cloud_text_payload_bytes(ctx, q, m.cloud_has_context)
    cloud_ttft_s = t(m.cloud.prefill_s(m.cloud_arch, ctx + q))
    decode_rest_s = 0.0
    if answer > 1:
        decode_rest_s = t(m.cloud.decode_tokens_s(m.cloud_arch, ctx + q, answer - 1))
    return StageTimes(payload, 0.0, cloud_ttft_s, decode_rest_s)


def _edge_local_stages(m: CostModel, op: OperatingPoint, ctx: int, q: int, answer: int,
                       t: Callable[[TimeEstimate], float]) -> StageTimes:
    edge_s = t(m.edge.prefill_s(m.edge_arch, ctx + q))
    decode_rest_s = 0.0
    if answer > 1:
        decode_rest_s = t(m.edge.decode_tokens_s(m.edge_arch, ctx + q, answer - 1))
    return StageTimes(0, edge_s, 0.0, decode_rest_s)


_MODE_COSTS: dict[str, ModeCosts] = {
    "kv": ModeCosts(_kv_stages, lambda op, req: _kept_tokens(op, req) + 1),
    "scout": ModeCosts(_scout_stages, _kept_tokens),
    "cloud-text": ModeCosts(_cloud_text_stages, _prompt_tokens),
    "edge-local": ModeCosts(_edge_local_stages, _prompt_tokens),
}
_BUILTIN_MODES = frozenset(_MODE_COSTS)


def _unvalued(op: OperatingPoint) -> tuple[float, str]:
    return float("nan"), "unvalued"


def register_mode(spec: ModeSpec, stages: StagesFn, *,
                  decode_start_tokens: DecodeStartFn = _prompt_tokens,
                  quality: QualityFn = _unvalued) -> None:
    """Add a protocol mode: its :class:`~models.operating.ModeSpec` (does it use the link,
    which cloud jobs batch with it) and its cost functions. Every engine and predictor
    then runs it unchanged. ``decode_start_tokens(op, request)``: cache length at the first
    decode step after the first token (continuous batching; default: the whole prompt);
    ``quality(op)``: (expected quality, source), default NaN ("unvalued")."""
    register_mode_spec(spec)
    _MODE_COSTS[spec.name] = ModeCosts(stages, decode_start_tokens, quality)


def unregister_mode(name: str) -> None:
    """Forget a mode added by :func:`register_mode` (for tests)."""
    if name in _BUILTIN_MODES:
        raise ValueError(f"cannot unregister the built-in mode {name!r}")
    _MODE_COSTS.pop(name, None)
    unregister_mode_spec(name)
