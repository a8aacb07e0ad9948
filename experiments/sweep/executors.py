"""Where cells run: in this process, on local worker processes, or on a Dask cluster.

Each executor takes the cells' tasks and yields :func:`~sim.grid.cells.run_cell`
results as they finish; closing the generator stops the cells still in flight.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

from models.errors import InputError
from sim.grid.cells import run_cell

__all__ = ["CONNECT_TIMEOUT_S", "dask_client", "run_dask", "run_local", "run_serial"]

CONNECT_TIMEOUT_S = 20  # how long to wait for a Dask scheduler


def _worker_init(parent_pid: int) -> None:
    """Pool workers leave Ctrl-C to the parent and exit when the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def run_serial(tasks: list[dict]) -> Iterator[dict]:
    for t in tasks:
        yield run_cell(t)


def run_local(tasks: list[dict], jobs: int) -> Iterator[dict]:
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    ex = ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init,
                             initargs=(os.getpid(),))
    finished = False
    try:
        futures = [ex.submit(run_cell, t) for t in tasks]
        for f in as_completed(futures):
            try:
                res = f.result()
            except BrokenProcessPool:
                raise InputError("a worker process died (killed, or out of memory); the "
                                 "finished cells are kept: rerun to resume") from None
            yield res
        finished = True
    finally:
        if finished:
            ex.shutdown(wait=True)
        else:  # interrupted or failed: drop queued cells, stop the ones in flight
            procs = list((getattr(ex, "_processes", None) or {}).values())
            ex.shutdown(wait=False, cancel_futures=True)
            for p in procs:
                with contextlib.suppress(Exception):
                    p.terminate()


def dask_client(address: str):
    """A client of the Dask scheduler at ``address``, or one line of InputError saying why
    not (distributed not installed, the scheduler unreachable or the address bad)."""
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--scheduler needs dask distributed (pip install "
                         "'dask[distributed]')") from None
    try:
        return Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError, ValueError, TypeError) as err:  # ValueError: a bad address
        raise InputError(f"cannot reach the Dask scheduler at {address}: {err}") from None


def run_dask(tasks: list[dict], address: str) -> Iterator[dict]:
    client = dask_client(address)
    from distributed import as_completed as dask_completed

    futures = []
    try:
        futures = [client.submit(run_cell, t, pure=False) for t in tasks]
        for fut in dask_completed(futures):
            try:
                res = fut.result()
            except (ModuleNotFoundError, ImportError) as err:
                raise InputError(f"a Dask worker cannot import scoutsim ({err}); install it "
                                 "on every worker (pip install -e .)") from None
            fut.release()
            yield res
    finally:
        with contextlib.suppress(Exception):
            client.cancel([f for f in futures if not f.done()])
        with contextlib.suppress(Exception):
            client.close(timeout=10)
