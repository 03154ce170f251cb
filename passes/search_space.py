"""The genome of the pruning search (Mori et al., Sec. 3.3): one locus per
set of channel groups that share a rate, in network order, holding the
index of a pruning rate from a discrete set.

With bit widths asked (``widths``: (weight bits, activation bits) pairs),
one more locus per layer with weights follows, in network order, holding
the index of that layer's widths (pruning and quantization searched
jointly).

Neighbouring loci are neighbouring layers, so single-point crossover
passes on runs of layers together, as the paper intends.  Groups that read
the same input (the convolutions of a residual block's shortcut, the ASPP
branches) share one locus when ``siblings`` is on (the paper's hardware
heuristic, Sec. 4.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Diagnostic, Graph, SegError
from ..ir.quant import WEIGHTED_OPS, QuantRule, apply_quantize, option_problem, quantize_rules
from .channels import ChannelGroup, channel_groups, kept_channels
from .prune_rates import rate_sets

__all__ = ["DEFAULT_RATES", "SearchSpace", "search_space", "with_widths"]

DEFAULT_RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


@dataclass(frozen=True)
class SearchSpace:
    groups: tuple[ChannelGroup, ...]  # every channel group (prunable or not)
    loci: tuple[tuple[str, ...], ...]  # group names sharing each locus
    rates: tuple[float, ...]  # the rate a gene value selects
    pof: int | None = None  # snap kept channels to multiples of P_of
    width_layers: tuple[str, ...] = ()  # the layers with a width locus, after the rate loci
    widths: tuple[tuple[int, int], ...] = ()  # the (weight, activation) bits a width gene selects

    @property
    def genes(self) -> int:
        return len(self.loci) + len(self.width_layers)

    def upper(self) -> np.ndarray:
        """The largest value of each locus."""
        return np.array([len(self.rates) - 1] * len(self.loci) + [len(self.widths) - 1] * len(self.width_layers))

    def layer_widths(self, genome) -> dict[str, tuple[int, int]]:
        """{layer: (weight bits, activation bits)} of a genome (empty without width loci)."""
        values = list(genome)[len(self.loci):]
        return {layer: self.widths[int(v)] for layer, v in zip(self.width_layers, values)}

    def group_rates(self, genome) -> dict[str, float]:
        """{group name: rate} of a genome (every prunable group)."""
        return {name: self.rates[int(v)] for v, names in zip(genome, self.loci) for name in names}

    def kept(self, genomes: np.ndarray) -> np.ndarray:
        """Kept channels (candidates × groups) of genomes (candidates × loci)."""
        table = {(g.name, i): kept_channels(g, r, self.pof) for g in self.groups for i, r in enumerate(self.rates)}
        column = {name: j for j, names in enumerate(self.loci) for name in names}
        kept = np.empty((len(genomes), len(self.groups)), dtype=np.int64)
        for k, group in enumerate(self.groups):
            if group.name in column:
                kept[:, k] = [table[group.name, int(v)] for v in genomes[:, column[group.name]]]
            else:
                kept[:, k] = group.channels
        return kept

    def layer_rates(self, genome) -> dict[str, float]:
        """{layer: rate} for the producers of every prunable group."""
        rates = self.group_rates(genome)
        return {layer: rates[g.name] for g in self.groups if g.name in rates for layer in g.producers}


def search_space(graph: Graph, rates=DEFAULT_RATES, siblings: bool = True, pof: int | None = None,
                 widths: tuple[tuple[int, int], ...] = ()) -> SearchSpace:
    """The genome of a graph's prunable groups (and, with ``widths``, of its
    layers with weights); rates must lie in [0, 1)."""
    bad = [r for r in rates if not 0.0 <= r < 1.0]
    if bad or not rates:
        shown = ", ".join(f"{r:g}" for r in bad) if bad else "none given"
        raise SegError(Diagnostic(f"pruning rates must lie in [0, 1) (got: {shown})"))
    groups = channel_groups(graph)
    prunable = [g for g in groups if g.prunable]
    if not prunable:
        raise SegError(Diagnostic(f"network '{graph.name}' has no prunable channel group"))
    loci = [tuple(s) for s in rate_sets(prunable, graph)] if siblings else [(g.name,) for g in prunable]
    problems = [p for pair in widths for p in map(option_problem, ("w", "a"), pair) if p]
    if problems:
        raise SegError([Diagnostic(f"bit widths: {p}") for p in dict.fromkeys(problems)])
    layers = tuple(n.name for n in graph.nodes() if n.op in WEIGHTED_OPS) if widths else ()
    return SearchSpace(tuple(groups), tuple(loci), tuple(sorted({float(r) for r in rates})), pof, layers,
                       tuple(dict.fromkeys(widths)))


def with_widths(network: Graph, candidate: Graph, widths: dict[str, tuple[int, int]]) -> Graph:
    """``candidate`` (a pruned copy of ``network``) with the network's formats,
    then each layer of ``widths`` at its (weight bits, activation bits)."""
    rules = [QuantRule(layer, (("w", w), ("a", a))) for layer, (w, a) in widths.items()]
    return apply_quantize(candidate, quantize_rules(network) + rules)
