"""Pruning a whole network with its weights, as ``segc prune`` does: rates
from one number, a rates file or the network's ``prune`` section; weights
as numpy arrays by ``state_dict`` name (the caller reads them through the
torch backend)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .dsl.loader import read_source
from .dsl.rates import parse_rates
from .ir import Diagnostic, Graph, PruneDirectives, SegError
from .passes.channels import ChannelGroup, channel_groups, kept_channels
from .passes.prune import prune, snap_pof
from .passes.prune_rates import check_keep, rate_sets, resolve_rates, share_rates, uniform_rates

__all__ = ["Pruned", "prune_network", "rates_from_text", "read_rates"]


@dataclass(frozen=True)
class Pruned:
    graph: Graph
    weights: dict[str, np.ndarray]
    groups: list[ChannelGroup]  # of the network before pruning
    rates: dict[str, float]
    kept: dict[str, int]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def read_rates(graph: Graph, spec: str | None) -> tuple[Graph, dict[str, float] | float]:
    """The graph (with a rates file's keep patterns added) and the rates:
    one number for every group, or {group: rate} from a rates file or, when
    ``spec`` is None, the network's own ``prune`` section."""
    own = graph.directives.prune or PruneDirectives()
    rate = None if spec is None else _number(spec)
    if rate is not None:
        if not 0.0 <= rate < 1.0:
            raise SegError(Diagnostic(f"--rates: a pruning rate must be at least 0 and below 1, got {spec}"))
        return graph, rate
    if spec is None:
        if not own.rules:
            raise SegError(Diagnostic(f"no pruning rates: give --rates, or write a 'prune {graph.name} {{ ... }}' "
                                      "section in the network's file"))
        return graph, resolve_rates(graph, channel_groups(graph), own)
    return rates_from_text(graph, read_source(spec), spec)


def rates_from_text(graph: Graph, text: str, path: str) -> tuple[Graph, dict[str, float]]:
    """The graph (with the text's keep patterns added) and {group: rate} from
    the lines of a rates file (``PATTERN: RATE``, ``keep PATTERN, ...``)."""
    own = graph.directives.prune or PruneDirectives()
    given = parse_rates(text, path)
    graph = graph.copy()
    graph.directives = dataclasses.replace(graph.directives, prune=PruneDirectives(given.rules, own.keep + given.keep))
    errors = []
    for check in (lambda: check_keep(graph, given), lambda: resolve_rates(graph, channel_groups(graph), given)):
        try:
            rates = check()
        except SegError as err:
            errors += err.diagnostics
    if errors:
        raise SegError(errors)
    return graph, rates


def prune_network(graph: Graph, spec: str | None, weights: dict[str, np.ndarray], snap: bool = False,
                  siblings: bool = False, text: str | None = None) -> Pruned:
    """Prune ``graph`` and its ``weights`` (numpy arrays by state_dict name)
    at the rates ``spec`` names (see :func:`read_rates`) or, given ``text``,
    at the rates of those rates-file lines."""
    graph, rates = rates_from_text(graph, text, "<rates>") if text is not None else read_rates(graph, spec)
    groups = channel_groups(graph)
    if isinstance(rates, float):
        rates = uniform_rates(groups, rates)
    if siblings:
        rates = share_rates(rates, rate_sets(groups, graph))
    pof = snap_pof(graph) if snap else None
    pruned, sliced = prune(graph, rates, weights, pof)
    by_name = {g.name: g for g in groups}
    kept = {name: kept_channels(by_name[name], rate, pof) for name, rate in rates.items()}
    return Pruned(pruned, sliced or {}, groups, rates, kept)
