"""Where the pruning search evaluates candidates on data: in this process,
in local worker processes, or on a Dask cluster (``dask.distributed``).

Each worker prunes the graph and weights of an
:class:`~segc.train.candidates.AccuracyTask` for one candidate's rates
and measures its accuracy; the task (graph, weights, samples) is loaded
once per worker process and reused.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

from .ir import Diagnostic, SegError, serialize
from .passes.prune import prune

__all__ = ["candidate_accuracy", "evaluator"]

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


def candidate_accuracy(task, rates: dict[str, float]) -> float:
    """Accuracy of the task's network pruned at ``rates`` ({group: rate})."""
    from .train.candidates import accuracy

    graph, arrays, subset, kind, classes = _load(task)
    pruned, sliced = prune(graph, rates, arrays, task.pof)
    return accuracy(pruned, sliced or {}, subset, kind, classes)


_INSTALLED: list = []


def _install(task) -> None:
    """Worker-process initialiser: the task travels once, not with every candidate."""
    _INSTALLED[:] = [task]


def _installed_accuracy(rates: dict[str, float]) -> float:
    return candidate_accuracy(_INSTALLED[0], rates)


def _dask_client(address: str):
    from dask.distributed import Client

    try:
        return Client(address, timeout="5s", set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise SegError(Diagnostic(f"cannot reach the Dask scheduler at '{address}': {err}")) from None


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
