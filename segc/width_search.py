"""Bit widths in the pruning search: a candidate's graph (pruned at its
rates, each layer with weights at its widths) and its latency from the cost
model of that graph, which reads the widths from the layers' formats.

A width gene sets a layer's weight and activation bits with a quantize rule
after the network's own rules; the scheme and fraction bits come from the
network's quantize section (``fixed`` where it has none).
"""

from __future__ import annotations

import numpy as np

from .ir import Diagnostic, Graph, SegError
from .passes.cost import Calibration
from .passes.prune import prune
from .passes.search_space import SearchSpace, with_widths

__all__ = ["candidate_graph", "candidate_latencies", "parse_widths"]


def parse_widths(text: str | None) -> tuple[tuple[int, int], ...]:
    """``16,8,4/8`` → ((16, 16), (8, 8), (4, 8)): N for N-bit weights and
    activations, W/A for W-bit weights and A-bit activations."""
    if not text:
        return ()
    pairs = []
    for part in text.split(","):
        weight, _, activation = part.strip().partition("/")
        if not (weight.isdigit() and (activation or weight).isdigit()):
            raise SegError(Diagnostic(f"--widths takes bits separated by commas, each N or W/A (weights/"
                                      f"activations), e.g. 16,8,4/8; got '{text}'"))
        pairs.append((int(weight), int(activation or weight)))
    return tuple(pairs)


def candidate_graph(graph: Graph, space: SearchSpace, genome, weights: dict | None = None):
    """(graph, weights) of a candidate: pruned at its rates, at its widths."""
    pruned, sliced = prune(graph, space.group_rates(genome), weights, space.pof)
    return with_widths(graph, pruned, space.layer_widths(genome)), sliced


def candidate_latencies(graph: Graph, space: SearchSpace, genomes: np.ndarray, tiling: str,
                        calibration: Calibration | None) -> np.ndarray:
    """The latency (s) of each candidate from the cost model of its graph."""
    from .hardware import report

    return np.array([report(candidate_graph(graph, space, genome)[0], tiling, calibration)["totals"]["latency_s"]
                     for genome in genomes], dtype=np.float64)
