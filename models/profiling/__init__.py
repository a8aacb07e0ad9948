"""Profile prefill, decode and KV (de)quantisation of Qwen2.5 architectures -> timing CSV;
calibrate the roofline against the measured rows.

``python -m models.profile`` (kept, as ``models/profile.py`` re-exports this package) and
``python -m models.profiling`` run the same command line (:mod:`models.profiling.cli`).

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
* ``quantize_int{8,4}`` / ``dequantize_int{8,4}``: ``models.kvquant.quantize_groups`` /
  ``dequantize_groups`` (asymmetric group quantisation along head_dim, the two halves of
  ``models.kvquant.quant_dequant``) on one tensor of the model's KV for ``context_tokens``
  tokens, shape (2 x layers, kv_heads, tokens, head_dim).
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
overlaps GPU work (see ``models.timing.RooflineFit``); ``calibrate.fit_roofline`` fits it in
log space on the training rows (``split_rows``), ``fit_best`` picks the overhead form on them,
and ``relative_errors`` scores the held-back rows.

Run order: every model's decode, KV ops and prefills up to ``--big-tokens`` tokens x batch
first, then every model's bigger prefills, so a ``--max-minutes`` budget drops the most
expensive points; rows are appended as measured (a timeout keeps them; ``--resume`` goes on).

Modules, one concern each:

* :mod:`~models.profiling.grid`: what is measured (the point grids, the KV precisions);
* :mod:`~models.profiling.timers`: warm-ups, repeats, CPU and CUDA-event timers;
* :mod:`~models.profiling.model`: the random-weight Qwen2, its KV caches, forward closures,
  CUDA-graph capture and the compiled-vs-eager check;
* :mod:`~models.profiling.points`: the call each point times, and the decode diagnosis;
* :mod:`~models.profiling.provenance`: hardware / software lines, ceilings, the CSV header;
* :mod:`~models.profiling.profiler`: :class:`~models.profiling.profiler.Profiler`, which runs
  the grid and appends ``models.timing.TimingRow`` rows;
* :mod:`~models.profiling.calibrate`: the roofline fit and its held-out errors;
* :mod:`~models.profiling.cli`: the command line (on ``models.cli``).

The KV (de)quantisation arithmetic itself lives in ``models.kvquant``.
"""
