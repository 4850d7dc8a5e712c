"""Independent trainings in worker processes (a 2-core CPU trains two small models at once).

The small recurrent models of the study run fastest single-threaded (per-time-step
operations are too small to split), so one training leaves the second core of a 2-core
CPU idle. :func:`map_in_workers` runs independent trainings in worker processes, each
with a fixed number of torch threads, and returns their results in task order; since
every training is seeded and runs with the same thread count as a serial run, results
are identical to serial ones.

Data shared by all tasks (sequences, features, targets) is sent once per worker, at
start-up, and read by tasks through :func:`shared`; results come back pickled as bytes
(tensors as plain bytes, not shared-memory handles).

References
----------
Python documentation, ``concurrent.futures.ProcessPoolExecutor`` and
``multiprocessing`` start methods (forkserver, spawn).
PyTorch documentation, "Multiprocessing best practices" (threads per process).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

import torch
from tqdm import tqdm

#: Modules the forkserver imports once, so workers start without re-importing them:
#: ``__main__`` (a script's; Python's default), the model code, and ``torch._dynamo``,
#: which the first ``torch.optim`` optimiser imports (~1 s otherwise).
PRELOAD: tuple[str, ...] = (
    "__main__",
    "helpers.models.deep.crossfit",
    "helpers.models.tuning",
    "torch._dynamo",
)

_SHARED: dict[str, Any] = {}


def worker_context(method: str | None = None) -> multiprocessing.context.BaseContext:
    """Start method for workers: ``forkserver`` (preloading :data:`PRELOAD`) or ``spawn``.

    Both are safe with torch, also inside a notebook kernel (no fork of a process that
    runs threads). The forkserver imports torch and the model code once; each worker
    then starts in a fraction of a second instead of re-importing them (seconds on a
    busy 2-core CPU). Default: ``forkserver`` where the OS has it, else ``spawn``.
    """
    if method is None:
        methods = multiprocessing.get_all_start_methods()
        method = "forkserver" if "forkserver" in methods else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(list(PRELOAD))
    return context


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily ``torch.set_num_threads(n)`` (``None``: leave as is)."""
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def shared() -> dict[str, Any]:
    """In a worker: the ``data`` given to :func:`map_in_workers` (plus task caches)."""
    return _SHARED


def _init_worker(data: dict[str, Any], threads: int) -> None:
    torch.set_num_threads(threads)
    _SHARED.clear()
    _SHARED.update(data)


def _call(fn: Callable[..., Any], args: tuple) -> bytes:
    return pickle.dumps(fn(*args), protocol=pickle.HIGHEST_PROTOCOL)


class WorkerJobs:
    """Tasks running in worker processes; :meth:`results` waits for them, in task order.

    Made by :func:`start_in_workers`. The caller's process is free while the workers
    train, e.g. to fit single-threaded models on a core the workers leave idle.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        tasks: Sequence[tuple],
        data: dict[str, Any],
        n_jobs: int,
        threads: int,
        mp_context: str | None,
    ) -> None:
        self._n = len(tasks)
        self._collected = False
        self._pool: ProcessPoolExecutor | None = None
        self._pending: dict[Any, int] = {}
        if not tasks:
            return
        self._pool = ProcessPoolExecutor(
            max_workers=max(1, min(n_jobs, len(tasks))),
            mp_context=worker_context(mp_context),
            initializer=_init_worker,
            initargs=(data, threads),
        )
        self._pending = {self._pool.submit(_call, fn, task): i for i, task in enumerate(tasks)}

    def done(self) -> bool:
        """Whether every task has finished (without waiting)."""
        return all(future.done() for future in self._pending)

    def results(self, progress: bool = False, desc: str = "trainings") -> list[Any]:
        """Wait for every task and return their results in task order.

        Raises ``RuntimeError`` when called a second time: the workers are gone then.
        """
        if self._collected:
            raise RuntimeError("WorkerJobs.results() was already called; keep its list")
        self._collected = True
        results: list[Any] = [None] * self._n
        if self._pool is None:
            return results
        bar = tqdm(total=self._n, desc=desc, disable=not progress, leave=False)
        try:
            waiting = set(self._pending)
            while waiting:
                done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
                for future in done:  # a failed task raises here, before the others end
                    results[self._pending[future]] = pickle.loads(future.result())
                    bar.update()
        except BaseException:
            for future in self._pending:
                future.cancel()
            raise
        finally:
            bar.close()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        return results


def start_in_workers(
    fn: Callable[..., Any],
    tasks: Sequence[tuple],
    data: dict[str, Any],
    n_jobs: int,
    threads: int = 1,
    mp_context: str | None = None,
) -> WorkerJobs:
    """Start ``[fn(*task) for task in tasks]`` in worker processes and return at once.

    Same arguments as :func:`map_in_workers`; collect with :meth:`WorkerJobs.results`.
    """
    return WorkerJobs(fn, tasks, data, n_jobs, threads, mp_context)


def map_in_workers(
    fn: Callable[..., Any],
    tasks: Sequence[tuple],
    data: dict[str, Any],
    n_jobs: int,
    threads: int = 1,
    progress: bool = False,
    desc: str = "trainings",
    mp_context: str | None = None,
) -> list[Any]:
    """``[fn(*task) for task in tasks]`` in ``n_jobs`` worker processes, in task order.

    Parameters
    ----------
    fn : callable
        A module-level function (workers import it by name); it reads ``data`` through
        :func:`shared`. Its result must pickle.
    tasks : sequence of tuples
        Arguments of each call; tasks start in this order (put the longest first).
    data : dict
        Sent once to each worker (picklable: arrays, frames, configs).
    threads : int
        ``torch.set_num_threads`` in each worker.
    mp_context : str, optional
        See :func:`worker_context`.
    """
    jobs = start_in_workers(fn, tasks, data, n_jobs, threads, mp_context)
    return jobs.results(progress=progress, desc=desc)
