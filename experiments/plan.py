"""Capacity planning: the inverse question, answered with certified bounds.

Run: ``python -m experiments.plan --target-hit-rate 0.95 --vary bandwidth_mbps --range 1:100
--policy int8,scout [scenario flags, as python -m sim.run] [--json]``.

The forward question is "given this link, what hit rate?"; a design review asks the
inverse: *what uplink do I need for 95% of answers within 2 s with INT8? How short a
deadline can this protocol promise on this trace?* For each policy this finds the smallest
value of a knob that meets a target (or the largest, for a knob that makes things worse as
it grows: users, arrival rate, context length), **certified**: a bracket ``[a, b]`` such
that the target's 95% CI lies wholly on the failing side at one end and wholly on the
meeting side at the other.

How. The hit rate is monotone in every knob here for a static policy on one link (more
bandwidth never lowers it: a property test of the engines), so the search bisects the
range (geometric midpoints for rates, arithmetic for times, whole numbers for counts) from
its two ends. Each evaluation is one :func:`sim.simulation.run` with the same seed, so every
knob value sees the same requests (common random numbers) and a difference between two
values is the knob's alone. Where a midpoint's CI straddles the target, the requests are
doubled (up to ``--max-requests``); if it still straddles, the bracket found so far is
returned, certified at its ends, with status ``not separable at n = N``. Monotonicity is
assumed for the search but checked on what was evaluated: two knob values whose CIs are
disjoint in the wrong order are reported in ``non_monotone``, never hidden. A target that
the range's far end does not meet is ``not reachable in range``; one the near end already
meets is ``met at the range's end``.

Targets: ``--target-hit-rate P`` (deadline hit rate >= P, Wilson CI), ``--target-utility U``
(mean quality of hits >= U, Student-t CI), ``--target-p95-s X`` (95% of first tokens within
X s: the fraction within X, Wilson CI, >= 0.95). ``--frontier AXIS=V1,V2,...`` answers the
question once per value of a second knob (e.g. the required uplink per deadline) and
prints one curve per policy.

What it does not do yet: run its evaluations through the sweep store (resumable, parallel
on Dask); draw the frontier figure in ``experiments.figures``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.cli import Parser, command, run_main
from models.errors import InputError

#: knob -> (direction of the hit rate as it grows: +1 better, -1 worse; how to bisect)
KNOBS: dict[str, tuple[int, str]] = {
    "bandwidth_scale": (+1, "geometric"),
    "bandwidth_mbps": (+1, "geometric"),
    "rate_per_s": (-1, "geometric"),
    "deadline_s": (+1, "arithmetic"),
    "users": (-1, "whole"),
    "context_tokens": (-1, "whole"),
    "max_batch": (+1, "whole"),
}
P95 = 0.95


@dataclass(frozen=True)
class Target:
    """What a policy must meet: ``kind`` (hit_rate | utility | p95_s) and its value."""

    kind: str
    value: float

    def describe(self) -> str:
        return {"hit_rate": f"hit rate >= {self.value:g}", "utility": f"utility >= {self.value:g}",
                "p95_s": f"p95 latency <= {self.value:g} s"}[self.kind]


@dataclass
class Evaluation:
    """One knob value, one policy: the measure, its 95% CI and how many requests."""

    value: float
    requests: int
    estimate: float
    ci_low: float
    ci_high: float

    def side(self, target: float) -> int:
        """+1: the CI lies wholly at or above ``target``; -1: wholly below; 0: straddles."""
        if self.ci_low >= target:
            return 1
        if self.ci_high < target:
            return -1
        return 0


@dataclass
class PlanResult:
    """One policy's answer."""

    policy: str
    knob: str
    target: str
    value: float | None
    bracket_low: float | None
    bracket_high: float | None
    status: str
    at_low: Evaluation | None = None
    at_high: Evaluation | None = None
    evaluations: list[Evaluation] = field(default_factory=list)
    non_monotone: list[tuple[float, float]] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        ends = {}
        for name, ev in (("low", self.at_low), ("high", self.at_high)):
            ends[f"estimate_at_{name}"] = None if ev is None else ev.estimate
            ends[f"ci_at_{name}"] = None if ev is None else [ev.ci_low, ev.ci_high]
            ends[f"n_at_{name}"] = None if ev is None else ev.requests
        return {"policy": self.policy, "knob": self.knob, "target": self.target,
                "value": self.value, "bracket_low": self.bracket_low,
                "bracket_high": self.bracket_high, "status": self.status, **ends,
                "evaluations": len(self.evaluations),
                "simulated_requests": sum(e.requests for e in self.evaluations),
                "non_monotone": [list(p) for p in self.non_monotone]}


def _knob_changes(knob: str, value: float) -> dict[str, Any]:
    """The Scenario fields that set a knob to ``value`` (whole numbers where the field is;
    a constant link replaces the trace)."""
    kind = KNOBS[knob][1]
    if kind == "whole":
        v: Any = int(round(value))
        v = str(v) if knob == "context_tokens" else v
    else:
        v = float(value)
    return {knob: v, "trace": None} if knob == "bandwidth_mbps" else {knob: v}


def evaluate_task(task: dict[str, Any]) -> dict[str, Any]:
    """One evaluation, in any process or Dask worker (pure: the result depends on ``task``
    only): the scenario ``task["scenario"]`` (Scenario fields) with ``knob`` set to
    ``value``, one policy, ``requests`` requests, the same seed at every value (common
    random numbers); returns the :class:`Evaluation`'s fields."""
    from sim.metrics import mean_interval, wilson_interval
    from sim.scenario import Scenario
    from sim.simulation import run

    knob, value = task["knob"], task["value"]
    s = dataclasses.replace(Scenario(**task["scenario"]), policies=[task["policy"]],
                            requests=task["requests"], compare_to=None,
                            **_knob_changes(knob, value))
    kind, goal = task["target"]
    if kind == "hit_rate":
        row = run(s, records=False).summary.iloc[0]
        ev = Evaluation(value, int(row.requests), float(row.deadline_hit_rate),
                        float(row.hit_rate_ci_low), float(row.hit_rate_ci_high))
    else:
        df = run(s).requests
        if kind == "p95_s":
            within = int((df.latency_s <= goal).sum())
            lo, hi = wilson_interval(within, len(df))
            ev = Evaluation(value, len(df), within / len(df), lo, hi)
        else:
            u = df.quality.where(df.hit, 0.0).to_numpy(float)
            lo, hi = mean_interval(u)
            ev = Evaluation(value, len(df), float(u.mean()), lo, hi)
    return dataclasses.asdict(ev)


def _midpoint(a: float, b: float, kind: str) -> float:
    if kind == "geometric" and a > 0:
        return math.sqrt(a * b)
    m = (a + b) / 2
    return float(math.floor(m)) if kind == "whole" else m


def _converged(a: float, b: float, kind: str, rel_tol: float) -> bool:
    if kind == "whole":
        return abs(b - a) <= 1
    return abs(b - a) <= rel_tol * max(abs(a), abs(b))


#: a search's request for an evaluation: (knob value, requests)
Ask = tuple[float, int]


def search(policy: str, knob: str, lo: float, hi: float, target: Target, *,
           requests: int = 200, max_requests: int = 3200, rel_tol: float = 0.02,
           max_evaluations: int = 60) -> Generator[Ask, Evaluation, PlanResult]:
    """One policy's certified answer over ``[lo, hi]`` (see the module docstring), as a
    generator: it yields the evaluations it needs, one at a time, is sent each result, and
    returns the :class:`PlanResult`; so that many searches can be driven together, their
    evaluations run in batches (:func:`plan`)."""
    direction, kind = KNOBS[knob]
    goal = P95 if target.kind == "p95_s" else target.value
    evals: list[Evaluation] = []

    def side_at(value: float) -> Generator[Ask, Evaluation, tuple[int, Evaluation]]:
        n = requests  # per device with several devices (Evaluation.requests: all of them)
        while True:
            ev = yield value, n
            evals.append(ev)
            s = ev.side(goal)
            if s or n >= max_requests:
                return s, ev
            n = min(2 * n, max_requests)

    # ``meet``: the end where the target should hold; ``fail``: the other end
    meet_v, fail_v = (hi, lo) if direction > 0 else (lo, hi)
    s_meet, e_meet = yield from side_at(meet_v)
    s_fail, e_fail = yield from side_at(fail_v)
    out = PlanResult(policy, knob, target.describe(), None, None, None, "")
    bracketed = False  # both ends certified: the answer lies between fail_v and meet_v
    if s_meet < 0:
        out.status = "not reachable in range"
    elif s_fail > 0:
        out.status = "met at the range's end"
        out.value = fail_v
    elif s_meet == 0 or s_fail == 0:  # an end itself is not certified: no bracket
        out.status = f"not separable at the range's end at n = {max_requests}"
    else:
        # bisect between the failing end ``fail_v`` and the meeting end ``meet_v``; values
        # whose CI straddles the target even at the most requests narrow the bracket no
        # further but split it: the search goes on in the gaps on either side of them
        straddles: list[float] = []
        while len(evals) < max_evaluations:
            order = sorted(straddles, key=lambda v: abs(v - fail_v))
            gaps = [(fail_v, meet_v)] if not order else [(fail_v, order[0]),
                                                        (order[-1], meet_v)]
            todo = [(x, y) for x, y in gaps if not _converged(x, y, kind, rel_tol)]
            m = None
            for x, y in todo:
                c = _midpoint(min(x, y), max(x, y), kind)
                if c not in (x, y):
                    m = c
                    break
            if m is None:
                break
            side, ev = yield from side_at(m)
            if side > 0:
                meet_v, e_meet = m, ev
            elif side < 0:
                fail_v, e_fail = m, ev
            else:
                straddles.append(m)
            lo_v, hi_v = sorted((fail_v, meet_v))
            straddles = [v for v in straddles if lo_v < v < hi_v]
        out.status = ("certified" if _converged(fail_v, meet_v, kind, rel_tol)
                      else f"not separable at n = {max_requests}")
        out.value, bracketed = meet_v, True
    if bracketed:
        out.bracket_low, out.bracket_high = sorted((fail_v, meet_v))
        out.at_low, out.at_high = (e_fail, e_meet) if fail_v < meet_v else (e_meet, e_fail)
    out.evaluations = evals
    out.non_monotone = _non_monotone(evals, direction)
    return out


def plan_policy(policy: str, knob: str, lo: float, hi: float, target: Target,
                evaluate: Callable[[str, str, float, int], Evaluation],
                **kw: Any) -> PlanResult:
    """:func:`search` driven one evaluation at a time by ``evaluate(policy, knob, value,
    requests)``."""
    gen = search(policy, knob, lo, hi, target, **kw)
    try:
        value, n = next(gen)
        while True:
            value, n = gen.send(evaluate(policy, knob, value, n))
    except StopIteration as stop:
        return stop.value


def _non_monotone(evals: Sequence[Evaluation], direction: int) -> list[tuple[float, float]]:
    """Pairs (v1, v2), v1 < v2, whose CIs are disjoint in the order the knob's direction
    forbids (a larger bandwidth with a certainly lower hit rate)."""
    bad = []
    pts = sorted(evals, key=lambda e: e.value)
    for i, a in enumerate(pts):
        for b in pts[i + 1:]:
            if b.value == a.value:
                continue
            worse = b.ci_high < a.ci_low if direction > 0 else b.ci_low > a.ci_high
            if worse:
                bad.append((a.value, b.value))
    return bad


class Store:
    """Evaluations already made, one JSON line each in ``path`` (appended and flushed as
    each finishes, keyed by the hash of its task): a rerun with the same file takes them
    from there, so an interrupted plan resumes without losing finished evaluations. No
    path: kept in memory only."""

    def __init__(self, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        self.done: dict[str, dict[str, Any]] = {}
        if self.path is not None and self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                    self.done[rec["key"]] = rec["evaluation"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by an interruption: run that one again

    @staticmethod
    def key(task: dict[str, Any]) -> str:
        from sim.grid.spec import stable_hash

        return stable_hash(task)

    def put(self, key: str, evaluation: dict[str, Any]) -> None:
        self.done[key] = evaluation
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as f:
                f.write(json.dumps({"key": key, "evaluation": evaluation}) + "\n")
                f.flush()
                os.fsync(f.fileno())


class Runner:
    """Where evaluations run, kept open across a plan's rounds: in this process, on ``jobs``
    local processes, or on the Dask cluster at ``scheduler``. A context manager."""

    def __init__(self, jobs: int = 1, scheduler: str | None = None):
        self.jobs, self.scheduler = jobs, scheduler
        self.pool: Any = None
        self.client: Any = None

    def __enter__(self) -> Runner:
        if self.scheduler is not None:
            from experiments.sweep.executors import dask_client

            self.client = dask_client(self.scheduler)
        elif self.jobs > 1:
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(max_workers=self.jobs)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.client is not None:
            self.client.close()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def run(self, tasks: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
        """(index, result) of :func:`evaluate_task` for each task, as they finish."""
        if self.client is not None:
            from distributed import as_completed

            futures = {self.client.submit(evaluate_task, t, pure=False): i
                       for i, t in enumerate(tasks)}
            for fut in as_completed(list(futures)):
                yield futures[fut], fut.result()
        elif self.pool is not None and len(tasks) > 1:
            yield from enumerate(self.pool.map(evaluate_task, tasks))
        else:
            for i, t in enumerate(tasks):
                yield i, evaluate_task(t)


def plan_many(problems: Sequence[tuple[dict[str, Any], Any, str]], knob: str, lo: float,
              hi: float, target: Target, *, requests: int = 200, max_requests: int = 3200,
              rel_tol: float = 0.02, jobs: int = 1, scheduler: str | None = None,
              store: Store | None = None, quiet: bool = True) -> Any:
    """Many searches at once, one per ``(labels, base scenario, policy)``: in rounds, each
    round the next evaluation every unfinished search asks for, run as one batch (local
    processes or Dask), taken from ``store`` where already made. The answers do not depend
    on how the batches run. A DataFrame: the labels, then :meth:`PlanResult.row`."""
    import pandas as pd

    _check(knob, lo, hi)
    store = store or Store()
    gens = [search(policy, knob, lo, hi, target, requests=requests,
                   max_requests=max_requests, rel_tol=rel_tol) for _, _, policy in problems]
    task = [{"scenario": dataclasses.asdict(base), "policy": policy, "knob": knob,
             "target": (target.kind, target.value)} for _, base, policy in problems]
    asks = {i: next(g) for i, g in enumerate(gens)}  # what each open search waits for
    results: dict[int, PlanResult] = {}
    made = 0
    with Runner(jobs, scheduler) as runner:
        while asks:  # one round: every open search's next evaluation, as one batch
            order = sorted(asks)
            tasks = [{**task[i], "value": asks[i][0], "requests": asks[i][1]} for i in order]
            keys = [Store.key(t) for t in tasks]
            todo = [j for j, k in enumerate(keys) if k not in store.done]
            for j, res in runner.run([tasks[j] for j in todo]):
                store.put(keys[todo[j]], res)
            made += len(todo)
            if not quiet and sys.stderr.isatty():
                print(f"\rplan: {len(asks)} searches open, {made} evaluations made", end="",
                      file=sys.stderr, flush=True)
            for i, k in zip(order, keys, strict=True):
                try:
                    asks[i] = gens[i].send(Evaluation(**store.done[k]))
                except StopIteration as stop:
                    results[i] = stop.value
                    del asks[i]
    if not quiet and sys.stderr.isatty():
        print(file=sys.stderr)
    return pd.DataFrame([{**problems[i][0], **results[i].row()} for i in range(len(problems))])


def _check(knob: str, lo: float, hi: float) -> None:
    if knob not in KNOBS:
        raise InputError(f"--vary must be one of {', '.join(KNOBS)}, not {knob!r}")
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise InputError(f"--range needs LO < HI, finite, not {lo:g}:{hi:g}")
    if KNOBS[knob][1] == "geometric" and lo <= 0:
        raise InputError(f"--range for {knob} must start above 0")


def plan(base: Any, knob: str, lo: float, hi: float, target: Target, *,
         policies: Sequence[str] | None = None, **kw: Any) -> Any:
    """Every policy's answer for one scenario as a DataFrame (one row per policy; the
    columns of :meth:`PlanResult.row`). ``kw``: :func:`plan_many`'s (``requests``,
    ``max_requests``, ``rel_tol``, ``jobs``, ``scheduler``, ``store``)."""
    return plan_many([({}, base, p) for p in (policies or base.policies)], knob, lo, hi,
                     target, **kw)


def _parse_range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(":"))
    except ValueError:
        raise InputError(f"--range must be LO:HI, e.g. 1:100, not {text!r}") from None
    return lo, hi


def _target(args: Any) -> Target:
    given = [(k, v) for k, v in (("hit_rate", args.target_hit_rate),
                                  ("utility", args.target_utility),
                                  ("p95_s", args.target_p95_s)) if v is not None]
    if len(given) != 1:
        raise InputError("give exactly one of --target-hit-rate, --target-utility, "
                         "--target-p95-s")
    kind, value = given[0]
    if kind != "p95_s" and not 0 < value < 1:
        raise InputError(f"--target-{kind.replace('_', '-')} must be in (0, 1), not {value:g}")
    if kind == "p95_s" and not value > 0:
        raise InputError(f"--target-p95-s must be positive, not {value:g}")
    return Target(kind, value)


def _fmt(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"


def format_table(df: Any) -> str:
    lines = [f"{'policy':<14} {'value':>9} {'bracket':>21} {'status':<26} {'evals':>5} "
             f"{'requests':>9}  at the bracket's ends (estimate [95% CI])"]
    for r in df.itertuples():
        br = (f"[{_fmt(r.bracket_low)}, {_fmt(r.bracket_high)}]"
              if r.bracket_low is not None else "-")
        ends = ""
        if r.ci_at_low is not None:
            ends = (f"{_fmt(r.estimate_at_low)} [{_fmt(r.ci_at_low[0])},{_fmt(r.ci_at_low[1])}]"
                    f" .. {_fmt(r.estimate_at_high)} [{_fmt(r.ci_at_high[0])},"
                    f"{_fmt(r.ci_at_high[1])}]")
        lines.append(f"{r.policy:<14} {_fmt(r.value):>9} {br:>21} {r.status:<26} "
                     f"{r.evaluations:>5} {r.simulated_requests:>9,}  {ends}")
        if r.non_monotone:
            lines.append(f"  non-monotone: {r.non_monotone}")
    return "\n".join(lines)


@command
def main(argv: list[str] | None = None) -> int:
    from sim.run import build_parser as run_parser
    from sim.run import scenario_from_args

    ap = Parser(prog="python -m experiments.plan", description=__doc__.split("\n\n")[0],
                parents=[run_parser()], add_help=False, conflict_handler="resolve")
    ap.add_argument("--vary", required=True, choices=list(KNOBS), help="the knob to plan")
    ap.add_argument("--range", required=True, dest="knob_range", help="LO:HI of the knob")
    ap.add_argument("--target-hit-rate", type=float, help="deadline hit rate to reach")
    ap.add_argument("--target-utility", type=float, help="utility (quality of hits) to reach")
    ap.add_argument("--target-p95-s", type=float, help="p95 first-token latency to stay under")
    ap.add_argument("--start-requests", type=int, default=200,
                    help="requests per evaluation at first (doubled where a CI straddles)")
    ap.add_argument("--max-requests", type=int, default=3200,
                    help="most requests per evaluation")
    ap.add_argument("--rel-tol", type=float, default=0.02,
                    help="stop when the bracket is this narrow (relative; counts: 1)")
    ap.add_argument("--frontier", help="AXIS=V1,V2,...: the answer per value of a second knob")
    ap.add_argument("--traces", help="A,B,...: the answer on each of these traces (names of "
                                     "shipped traces or paths), one curve each")
    ap.add_argument("-j", "--jobs", type=int, default=1,
                    help="local processes for the evaluations (the answers do not change)")
    ap.add_argument("--scheduler", help="run the evaluations on the Dask scheduler at this "
                                        "address (e.g. tcp://host:8786)")
    ap.add_argument("--store", help="JSON-lines file of finished evaluations: a rerun with "
                                    "it resumes (and repeats none)")
    args = ap.parse_args(argv)
    target = _target(args)
    lo, hi = _parse_range(args.knob_range)
    base = scenario_from_args(args)
    if args.start_requests < 1 or args.max_requests < args.start_requests:
        raise InputError("--start-requests must be >= 1 and <= --max-requests")
    if not 0 < args.rel_tol < 1:
        raise InputError(f"--rel-tol must be in (0, 1), not {args.rel_tol:g}")
    if args.jobs < 1:
        raise InputError(f"--jobs must be at least 1, not {args.jobs}")
    problems = _problems(base, args.frontier, args.traces)
    out = plan_many(problems, args.vary, lo, hi, target, requests=args.start_requests,
                    max_requests=args.max_requests, rel_tol=args.rel_tol, jobs=args.jobs,
                    scheduler=args.scheduler, store=Store(args.store), quiet=args.quiet)
    if args.json:
        for rec in out.to_dict(orient="records"):
            print(json.dumps(rec))
        return 0
    print(f"plan: {args.vary} in [{lo:g}, {hi:g}] for {target.describe()}; "
          f"{args.start_requests} requests per evaluation at first (up to "
          f"{args.max_requests}), the same seed at every value; "
          f"{int(out.simulated_requests.sum()):,} requests simulated in all")
    labels = [c for c in ("trace", "frontier") if c in out.columns]
    if not labels:
        print(format_table(out))
    for key, part in (out.groupby(labels, sort=False) if labels else []):
        key = key if isinstance(key, tuple) else (key,)
        print("\n" + ", ".join(f"{part.iloc[0].get('frontier_axis', '') or lab} = {k}"
                               if lab == "frontier" else f"{lab} = {k}"
                               for lab, k in zip(labels, key, strict=True)))
        print(format_table(part))
    return 0


def _problems(base: Any, frontier: str | None, traces: str | None
              ) -> list[tuple[dict[str, Any], Any, str]]:
    """(labels, scenario, policy) for every trace x frontier value x policy asked for."""
    from sim.scenario import trace_by_name

    bases: list[tuple[dict[str, Any], Any]] = [({}, base)]
    if traces:
        bases = [({"trace": t}, dataclasses.replace(base, trace=trace_by_name(t),
                                                    bandwidth_mbps=None))
                 for t in traces.split(",")]
    if frontier:
        axis, _, values = frontier.partition("=")
        if axis not in KNOBS or not values:
            raise InputError(f"--frontier must be AXIS=V1,V2,... with AXIS one of "
                             f"{', '.join(KNOBS)}, not {frontier!r}")
        out = []
        for labels, b in bases:
            for v in values.split(","):
                try:
                    x = float(v)
                except ValueError:
                    raise InputError(f"--frontier value {v!r} is not a number") from None
                out.append(({**labels, "frontier_axis": axis, "frontier": x},
                            dataclasses.replace(b, **_knob_changes(axis, x))))
        bases = out
    for _, b in bases:
        b.validate()
    return [(labels, b, p) for labels, b in bases for p in b.policies]


if __name__ == "__main__":
    run_main(main)
