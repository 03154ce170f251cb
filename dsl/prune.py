"""``prune NETWORK { pattern: rate ... keep pattern, ... }`` →
:class:`~segc.ir.PruneDirectives`.  A rate is the fraction of output
channels to remove, in [0, 1); a pattern that matches no layer it could
apply to is an error (it is almost always a typo), and so is a rate that
would leave a matched layer no channel (kept: ⌊(1 − rate)·C + ½⌋)."""

from __future__ import annotations

from ..ir import Coupling, Diagnostic, Graph, KeepRule, PruneDirectives, PruneRule, SegError
from ..ir.directives import matches
from . import ast

__all__ = ["lower_prune"]

_PRUNABLE = (Coupling.SOURCE, Coupling.DEPTHWISE, Coupling.GROUPED)


def _prunable(graph: Graph) -> list[str]:
    return [n.name for n in graph.nodes() if n.opdef.coupling(n.attrs, graph.input_shapes(n)) in _PRUNABLE]


def _empties(graph: Graph, stmt: ast.PruneRate, prunable: list[str]) -> list[Diagnostic]:
    """A rate that rounds a matched layer to no channel: ⌊(1 − rate)·C + ½⌋ = 0."""
    rate = stmt.rate.value  # type: ignore[union-attr]
    for name in prunable:
        channels = graph.node(name).shape.c
        if matches(stmt.pattern, name) and int((1.0 - rate) * channels + 0.5 + 1e-9) == 0:  # as kept_count
            return [Diagnostic(f"pruning {rate:g} of the {channels} output channels of '{name}' would leave none; "
                               f"a rate of at most {1.0 - 0.5 / channels:g} keeps one", stmt.rate.span)]
    return []


def lower_prune(section: ast.PruneDef, graph: Graph) -> PruneDirectives:
    errors = []
    rules, keeps = [], []
    prunable = _prunable(graph)
    names = [n.name for n in graph.nodes()]
    for stmt in section.stmts:
        if isinstance(stmt, ast.PruneRate):
            rate = stmt.rate.value  # type: ignore[union-attr]
            if not 0 <= rate < 1:
                errors.append(Diagnostic(f"a pruning rate must be at least 0 and below 1, got {rate:g}",
                                         stmt.rate.span))  # type: ignore[union-attr]
            elif not any(matches(stmt.pattern, n) for n in prunable):
                errors.append(Diagnostic(
                    f"'{stmt.pattern}' matches no conv, dconv or linear layer of network '{graph.name}'", stmt.span
                ))
            else:
                errors += _empties(graph, stmt, prunable)
                rules.append(PruneRule(stmt.pattern, float(rate), stmt.span))
            continue
        for pattern in stmt.patterns:
            if any(matches(pattern.text, n) for n in names):
                keeps.append(KeepRule(pattern.text, pattern.span))
            else:
                errors.append(Diagnostic(f"'{pattern.text}' matches no layer of network '{graph.name}'", pattern.span))
    if errors:
        raise SegError(errors)
    return PruneDirectives(tuple(rules), tuple(keeps))
