"""An accuracy proxy for the pruning search when no data is given.

Magnitude pruning keeps, in each group, the ``k`` channels of largest L1
importance ``I_c`` (``prune.py``).  The proxy is the share of importance a
candidate keeps, averaged over the prunable groups with weights ``w_g``
proportional to the MACs of the layers the group's channels enter or leave
(its producers and consumers), so that pruning a heavy group counts more:

    proxy = Σ_g w_g · (Σ_{c ∈ top-k_g} I_c) / (Σ_c I_c),   Σ_g w_g = 1.

It is 1 for the unpruned network and falls monotonically with every rate.
It is a ranking heuristic, not a prediction of top-1 or mIoU: use real data
(``segc search --data``) for accuracy figures.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph
from .prune import channel_importance
from .search_space import SearchSpace

__all__ = ["ImportanceProxy"]


class ImportanceProxy:
    """``proxy(kept)``: the kept-importance share per candidate (rows of kept channels)."""

    def __init__(self, graph: Graph, space: SearchSpace, weights):
        self.columns, self.shares, weights_g = [], [], []
        for k, group in enumerate(space.groups):
            if not group.prunable:
                continue
            importance = np.sort(channel_importance(group, weights))[::-1]
            total = importance.sum()
            cumulative = np.concatenate([[0.0], np.cumsum(importance)])
            self.columns.append(k)
            self.shares.append(cumulative / total if total > 0 else np.linspace(0.0, 1.0, group.channels + 1))
            layers = set(group.producers) | {name for name, _ in group.consumers}
            weights_g.append(sum(_macs(graph, name) for name in layers))
        total = float(sum(weights_g))
        self.weights = np.asarray(weights_g, dtype=np.float64) / (total if total > 0 else 1.0)

    def __call__(self, kept: np.ndarray) -> np.ndarray:
        score = np.zeros(len(kept))
        for weight, k, shares in zip(self.weights, self.columns, self.shares):
            score += weight * shares[kept[:, k]]
        return score


def _macs(graph: Graph, name: str) -> int:
    node = graph.node(name)
    return node.opdef.macs(node.attrs, graph.input_shapes(node), node.shape)
