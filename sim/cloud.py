"""The cloud GPU shared by every device: FIFO or static batching, on SimPy events.

``fifo``: one request at a time in order of arrival at the cloud; it occupies the GPU for
its ``cloud_busy_s`` (first token, then the rest of its answer). ``batched``: when the GPU
frees up, it takes the oldest waiting request and up to ``max_batch - 1`` more of the same
kind (:func:`sim.costs.batch_kind`) in arrival order, and serves them as one batch timed by
:meth:`sim.costs.CostModel.cloud_batch_s` (the device profile at that batch size): all its
first tokens come out together, and the next batch starts when this one has decoded every
answer (static batching; no continuous batching). A batch of one costs exactly FIFO's time.
Waiting jobs sit in one FIFO queue per kind, so taking a batch costs O(batch), however long
the queue grows under overload.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

import simpy

from models.operating import OperatingPoint
from sim.costs import CostModel, OpCost, batch_kind
from sim.workload import Request

SERVING = ("fifo", "batched")


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
        self.max_batch = 1 if serving == "fifo" else max_batch
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

    def _take_batch(self) -> list[_Job]:
        """The oldest waiting job and up to max_batch - 1 more of its kind."""
        queue = min((q for q in self.queues.values() if q), key=lambda q: q[0].seq)
        batch = [queue.popleft() for _ in range(min(self.max_batch, len(queue)))]
        self.queued_work_s -= sum(j.cost.cloud_busy_s for j in batch)
        if not any(self.queues.values()):
            self.queued_work_s = 0.0  # no float residue when the queue empties
        return batch

    def _start_next(self, _event: simpy.Event | None = None) -> None:
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
