"""Accuracy of pruned candidates on data, for the pruning search: the
torch module of a pruned (and maybe quantized: its ranges calibrated on the
same samples) graph evaluated on a fixed random subset of the
training split (Mori et al., Sec. 3.3: "random samples of the train set",
so the search stays unbiased with respect to the validation set).

:class:`AccuracyTask` is what a worker needs, picklable, with the weights
as raw bytes so that it can travel to worker processes or a Dask cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..backends.torch.module import build_module
from ..ir import Graph
from .data import check_dataset, network_task, open_dataset, random_subset
from .finetune import evaluate, score
from .ranges import calibrated_module, quantized_layers

__all__ = ["AccuracyTask", "accuracy", "evaluation_samples"]


@dataclass(frozen=True)
class AccuracyTask:
    graph_json: str  # the unpruned network (segc.graph JSON)
    weights: tuple[tuple[str, bytes, str, tuple[int, ...]], ...]  # (key, raw bytes, dtype, shape)
    data: str  # dataset spec: synthetic[:N] or cityscapes:ROOT
    samples: int
    seed: int
    pof: int | None = None

    @classmethod
    def of(cls, graph_json: str, arrays: dict[str, np.ndarray], data: str, samples: int, seed: int,
           pof: int | None = None) -> AccuracyTask:
        packed = tuple((k, np.ascontiguousarray(v).tobytes(), str(v.dtype), tuple(v.shape))
                       for k, v in sorted(arrays.items()))
        return cls(graph_json, packed, data, samples, seed, pof)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.frombuffer(raw, dtype=dtype).reshape(shape).copy() for k, raw, dtype, shape in self.weights}


def evaluation_samples(graph: Graph, data: str, samples: int, seed: int):
    """(subset, task, classes): ``samples`` random training samples (seeded)
    of the dataset a spec names, checked against the network."""
    kind, classes, shape = network_task(graph)
    dataset = open_dataset(data, "train", kind, classes, shape)
    check_dataset(dataset, shape, classes, kind)
    return random_subset(dataset, samples, seed), kind, classes


def accuracy(graph: Graph, arrays: dict[str, np.ndarray], subset, task: str, classes: int) -> float:
    """mIoU (segmentation) or top-1 (classification) of a network with numpy weights."""
    torch.set_num_threads(1)
    weights = {k: torch.from_numpy(v) for k, v in arrays.items()}
    if quantized_layers(graph):  # ranges calibrated on the same samples
        module = calibrated_module(graph, weights, subset, build_module)
    else:
        module = build_module(graph, weights)
    return float(score(evaluate(module, subset, task, classes)))
