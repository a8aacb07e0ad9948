"""The cloud GPU shared by every device: FIFO or static batching, on SimPy events.

``fifo``: one request at a time in order of arrival at the cloud; it occupies the GPU for
its ``cloud_busy_s`` (first token, then the rest of its answer). ``batched``: when the GPU
frees up, it takes the oldest waiting request and up to ``max_batch - 1`` more of the same
kind (:func:`sim.costs.batch_kind`) in arrival order, and serves them as one batch timed by
:meth:`sim.costs.CostModel.cloud_batch_s` (the device profile at that batch size): all its
first tokens come out together, and the next batch starts when this one has decoded every
answer (static batching). ``continuous``: iteration-level scheduling (as Orca and vLLM):
whenever an iteration ends and fewer than ``max_batch`` requests are decoding, the oldest
waiting requests of one kind are prefilled together (their first tokens come out at the end
of that iteration; prefill first), otherwise every running request decodes one token in
one step timed by the profile at the running batch (the two kinds' models run one after
the other within an iteration). A batch of one costs exactly FIFO's time (continuous: up to
float rounding of the per-step sum).
Waiting jobs sit in one FIFO queue per kind, so taking a batch costs O(batch), however long
the queue grows under overload.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

import simpy

from models.operating import OperatingPoint
from models.request import Request
from sim.costs import CostModel, OpCost, batch_kind

SERVING = ("fifo", "batched", "continuous")


@dataclass(slots=True)
class _Running:
    """A request decoding under continuous batching."""

    kind: str
    cache_tokens: int
    remaining: int  # decode steps left


@dataclass(slots=True)
class _Job:
    seq: int  # arrival order at the cloud
    op: OperatingPoint
    request: Request
    cost: OpCost
    done: simpy.Event


class CloudGpu:
    """Submit jobs with :meth:`submit`; its event fires with (start_s, first_token_s)."""

    def __init__(self, env: simpy.Environment, costs: CostModel, serving: str = "fifo",
                 max_batch: int = 8):
        if serving not in SERVING:
            raise ValueError(f"cloud serving must be one of {SERVING}, not {serving!r}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, not {max_batch}")
        self.env, self.costs = env, costs
        self.serving = serving
        self.max_batch = 1 if serving == "fifo" else max_batch
        self.running: list[_Running] = []
        self.queues: dict[str, deque[_Job]] = {}  # per batch kind, arrival order
        self.queued_work_s = 0.0  # sum of the waiting jobs' cloud_busy_s
        self.busy = False
        self.busy_until_s = 0.0  # when the batch in service (or the last one) ends
        self.busy_s = 0.0  # total GPU busy time
        self.batches: list[int] = []  # size of every batch served
        self._seq = itertools.count()

    def submit(self, op: OperatingPoint, request: Request, cost: OpCost) -> simpy.Event:
        job = _Job(next(self._seq), op, request, cost, self.env.event())
        self.queues.setdefault(batch_kind(op), deque()).append(job)
        self.queued_work_s += cost.cloud_busy_s
        if not self.busy:
            self._start_next()
        return job.done

    @property
    def free_at_s(self) -> float:
        """When the GPU would be free if every waiting job ran alone, FIFO (what a policy
        that asks is told; may lie in the past when the GPU is idle)."""
        return self.busy_until_s + self.queued_work_s

    def _take_batch(self, room: int | None = None) -> list[_Job]:
        """The oldest waiting job and up to ``room`` - 1 (default max_batch - 1) more of its
        kind."""
        queue = min((q for q in self.queues.values() if q), key=lambda q: q[0].seq)
        room = self.max_batch if room is None else room
        batch = [queue.popleft() for _ in range(min(room, len(queue)))]
        self.queued_work_s -= sum(j.cost.cloud_busy_s for j in batch)
        if not any(self.queues.values()):
            self.queued_work_s = 0.0  # no float residue when the queue empties
        return batch

    def _start_next(self, _event: simpy.Event | None = None) -> None:
        if self.serving == "continuous":
            self._iterate()
            return
        self.busy = False
        if not any(self.queues.values()):
            return
        batch = self._take_batch()
        ttft_s, busy_s = self.costs.cloud_batch_s([(j.op, j.request) for j in batch])
        start = self.env.now
        self.busy = True
        self.busy_until_s = start + busy_s
        self.busy_s += busy_s
        self.batches.append(len(batch))
        first = self.env.timeout(ttft_s)
        for job in batch:
            first.callbacks.append(lambda _e, j=job: j.done.succeed((start, start + ttft_s)))
        self.env.timeout(busy_s).callbacks.append(self._start_next)

    def _iterate(self) -> None:
        """Continuous batching: run the next iteration (prefill if there is room and a
        request waits, else one decode step of every running request), or go idle."""
        start = self.env.now
        room = self.max_batch - len(self.running)
        if room > 0 and any(self.queues.values()):
            batch = self._take_batch(room)
            ttft_s, _ = self.costs.cloud_batch_s([(j.op, j.request) for j in batch])
            self.batches.append(len(batch))

            def done(_e, batch=batch, start=start, ttft_s=ttft_s) -> None:
                for j in batch:
                    j.done.succeed((start, start + ttft_s))
                    if j.request.answer_tokens > 1:
                        self.running.append(_Running(
                            batch_kind(j.op), self.costs.cloud_decode_start_tokens(
                                j.op, j.request), j.request.answer_tokens - 1))
                self._iterate()

            step_s, after = ttft_s, done
        elif self.running:
            step_s = 0.0
            for kind in sorted({r.kind for r in self.running}):
                group = [r for r in self.running if r.kind == kind]
                step_s += self.costs.cloud_decode_step_s(
                    kind, max(r.cache_tokens for r in group), len(group))

            def after(_e) -> None:
                for r in self.running:
                    r.cache_tokens += 1
                    r.remaining -= 1
                self.running = [r for r in self.running if r.remaining > 0]
                self._iterate()
        else:
            self.busy = False
            return
        self.busy = True
        self.busy_until_s = start + step_s
        self.busy_s += step_s
        self.env.timeout(step_s).callbacks.append(after)
