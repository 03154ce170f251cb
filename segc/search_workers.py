"""Where the pruning search evaluates candidates on data: in this process,
in local worker processes, or on a Dask cluster (``dask.distributed``).

Each worker prunes the graph and weights of an
:class:`~segc.train.candidates.AccuracyTask` for one candidate's rates
and measures its accuracy; the task (graph, weights, samples) is loaded
once per worker process and reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from .ir import Diagnostic, SegError, serialize
from .passes.prune import prune
from .passes.search_space import with_widths

__all__ = ["candidate_accuracy", "evaluator", "scheduler_problem"]

_LOADED: dict[int, tuple] = {}


def _load(task) -> tuple:
    from .train.candidates import evaluation_samples

    key = hash(task)
    if key not in _LOADED:
        graph = serialize.loads(task.graph_json)
        subset, kind, classes = evaluation_samples(graph, task.data, task.samples, task.seed)
        _LOADED.clear()
        _LOADED[key] = (graph, task.arrays(), subset, kind, classes)
    return _LOADED[key]


def candidate_accuracy(task, candidate) -> float:
    """Accuracy of the task's network pruned at ``candidate``'s rates
    ({group: rate}), or at (rates, {layer: (weight bits, activation bits)})."""
    from .train.candidates import accuracy

    graph, arrays, subset, kind, classes = _load(task)
    rates, widths = candidate if isinstance(candidate, tuple) else (candidate, {})
    pruned, sliced = prune(graph, rates, arrays, task.pof)
    if widths:
        with_widths(graph, pruned, widths)
    return accuracy(pruned, sliced or {}, subset, kind, classes)


_INSTALLED: list = []


def _install(task) -> None:
    """Worker-process initialiser: the task travels once, not with every candidate."""
    _INSTALLED[:] = [task]


def _installed_accuracy(rates: dict[str, float]) -> float:
    return candidate_accuracy(_INSTALLED[0], rates)


CONNECT_SECONDS = 5  # to connect to a Dask scheduler, and for its first answer
_ADDRESS = re.compile(r"(?:(?:tcp|tls|ws|wss|ucx)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})")
_IN_PROCESS = re.compile(r"inproc://\S+")  # a LocalCluster(processes=False) in this process


def scheduler_problem(address: str) -> str | None:
    """Why ``address`` is not a Dask scheduler address (``[tcp://]HOST:PORT``), or None."""
    if _IN_PROCESS.fullmatch(address):
        return None
    match = _ADDRESS.fullmatch(address)
    if match is None or not 0 < int(match.group(2)) < 65536:
        return f"a Dask scheduler address is [tcp://]HOST:PORT (port 1 to 65535; or tls, ws, wss, ucx), got '{address}'"
    return None


async def _identity(address: str) -> object:
    """The scheduler's answer to 'identity' (TimeoutError after CONNECT_SECONDS)."""
    from distributed.comm import connect

    async def ask() -> object:
        comm = await connect(address, timeout=CONNECT_SECONDS)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    return await asyncio.wait_for(ask(), CONNECT_SECONDS)


def _dask_client(address: str):
    """A client of the scheduler at ``address``, checked first (format, then a
    time-bounded probe) so that no failure surfaces from inside Dask."""
    from dask.distributed import Client

    problem = scheduler_problem(address)
    if problem:
        raise SegError(Diagnostic(problem))
    with ThreadPoolExecutor(1) as thread:  # its own event loop, also when the caller runs one (a notebook)
        try:
            answer = thread.submit(asyncio.run, _identity(address)).result()
        except (OSError, asyncio.TimeoutError) as err:  # refused, unreachable, timed out (3.10: not an OSError)
            reason = str(err) or f"no answer within {CONNECT_SECONDS} s"
            raise SegError(Diagnostic(f"cannot reach the Dask scheduler at '{address}': {reason}")) from None
        except Exception:  # a server speaking another protocol (Dask may read its bytes as a huge size)
            answer = None
    if not isinstance(answer, dict) or answer.get("type") != "Scheduler":
        raise SegError(Diagnostic(f"'{address}' answered, but not as a Dask scheduler"))
    try:
        return Client(address, timeout=f"{CONNECT_SECONDS}s", set_as_default=False)
    except Exception as err:
        raise SegError(Diagnostic(f"cannot connect to the Dask scheduler at '{address}': {err}")) from None


Evaluate = Callable[[list[dict[str, float]]], list[float]]


@contextlib.contextmanager
def evaluator(task, workers: int | None = None, scheduler: str | None = None) -> Iterator[Evaluate]:
    """``evaluate(list of rates) -> accuracies``, in order: on the Dask
    scheduler at ``scheduler``, else in ``workers`` local processes (None:
    one per CPU), else (``workers`` ≤ 1) in this process."""
    workers = (os.cpu_count() or 1) if workers is None else workers
    if scheduler:
        client = _dask_client(scheduler)
        try:
            shared = client.scatter(task, broadcast=True)
            yield lambda batch: client.gather(client.map(candidate_accuracy, [shared] * len(batch), batch, pure=False))
        finally:
            client.close()
    elif workers > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_install, initargs=(task,)) as pool:
            yield lambda batch: list(pool.map(_installed_accuracy, batch))
    else:
        yield lambda batch: [candidate_accuracy(task, rates) for rates in batch]
