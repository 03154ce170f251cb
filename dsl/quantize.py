"""``quantize NETWORK { pattern: w=8, a=8, scheme=int ... }`` → every
layer's number format (``Node.quant``, :mod:`segc.ir.quant`).

Options: ``w`` and ``a`` (weight and activation bits), ``scheme``
(``fixed``, ``int`` or ``float``, bare or quoted), ``w_frac`` and ``a_frac``
(fraction bits of scheme ``fixed``).  For each option the last matching rule
that sets it wins.  A pattern must match a layer of the network; a width
the network's target cannot implement is an error at the rule.
"""

from __future__ import annotations

from ..ir import Diagnostic, Graph, SegError
from ..ir.directives import matches
from ..ir.quant import OPTIONS, QuantRule, apply_quantize, option_problem, unmatched_rules
from ..ir.quant_fit import width_problems
from . import ast
from .deform import rule_options
from .evaluate import suggestion

__all__ = ["lower_quantize"]


def _checked(name: str, value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    problem = option_problem(name, value)
    if problem:
        raise ValueError(problem)
    return value


def _rule(rule: ast.DeformRule, errors: list[Diagnostic]) -> QuantRule:
    options, spans = rule_options(rule, "quantize", OPTIONS, _checked, errors)
    return QuantRule(rule.pattern.text, options, rule.span, spans)  # type: ignore[union-attr]


def _applied(graph: Graph, rules: list[QuantRule]) -> list[Diagnostic]:
    """Set every layer's format from ``rules``; fraction bits on an "int"
    layer are an error, reported once, at the rule that last set the scheme
    or the fraction bits."""
    try:
        apply_quantize(graph, rules)
    except ValueError as err:
        culprit = next(r for r in reversed(rules) if dict(r.options).keys() & {"scheme", "a_frac", "w_frac"})
        return [Diagnostic(str(err), culprit.span)]
    return []


def lower_quantize(section: ast.QuantizeDef, graph: Graph) -> list[QuantRule]:
    """The rules of a quantize section (values checked, patterns matched),
    applied to ``graph``'s layers."""
    errors: list[Diagnostic] = []
    rules = [_rule(rule, errors) for rule in section.rules]
    unmatched = unmatched_rules(graph, rules)
    for rule, written in zip(rules, section.rules):
        if rule in unmatched:
            close = suggestion(rule.pattern, [n.name for n in graph.nodes()])
            errors.append(Diagnostic(f"'{rule.pattern}' matches no layer of network '{graph.name}'{close}",
                                     written.pattern.span))  # type: ignore[union-attr]
    errors = errors or _applied(graph, rules) or _width_errors(graph, rules)
    if errors:
        raise SegError(errors)
    return rules


def _width_errors(graph: Graph, rules: list[QuantRule]) -> list[Diagnostic]:
    """Widths the target cannot implement, each at the value of the rule
    that set it (once per rule and option)."""
    errors, seen = [], set()
    for node, option, message in width_problems(graph):
        rule = next(r for r in reversed(rules) if matches(r.pattern, node.name) and option in dict(r.options))
        if (id(rule), option) not in seen:
            seen.add((id(rule), option))
            errors.append(Diagnostic(message, rule.value_span(option)))
    return errors
