"""``deform NETWORK { pattern: bound=auto, shape=square, round=true ... }`` →
:class:`~segc.ir.directives.DeformDirectives`.

Options: ``bound`` (a non-negative integer number of rows, ``auto`` for the
largest the target's line buffer allows, or ``none`` for unbounded),
``shape`` (``full`` or ``square``, bare or quoted) and ``round`` (true or
false).  A pattern must match a dconv layer of the network.  When the
network has a target, every layer a rule matches is checked against its
line buffer here (``ir/dconv_plan.py``), so ``segc check`` reports a bound
that cannot fit; the ``deform`` pass applies the rules.
"""

from __future__ import annotations

from collections.abc import Callable

from ..ir import Diagnostic, Graph, SegError
from ..ir.dconv_plan import PlanError, blame, dconv_plan, layer_settings
from ..ir.directives import DeformDirectives, DeformRule, matches
from . import ast
from .evaluate import Env, ExprEvaluator, suggestion
from .values import is_poison, type_name

__all__ = ["check_deform", "lower_deform", "option_value"]

OPTIONS = ("bound", "shape", "round")


def _bound(value: object) -> object:
    if value in ("auto", "none"):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        shown = f"'{value}'" if isinstance(value, str) else type_name(value)
        raise ValueError(f"bound must be a number of rows, auto or none, got {shown}")
    if value < 0:
        raise ValueError(f"bound must be a non-negative integer (rows), auto or none, got {value:g}")
    if value != int(value):
        raise ValueError(f"bound must be an integer number of rows (offsets move whole rows), got {value:g}")
    return int(value)


def _shape(value: object) -> object:
    if not isinstance(value, str) or value not in ("full", "square"):
        shown = f"'{value}'" if isinstance(value, str) else type_name(value)
        raise ValueError(f"unknown shape {shown} (shapes: full, square)")
    return value


def _round(value: object) -> object:
    if not isinstance(value, bool):
        raise ValueError(f"round must be true or false, got {type_name(value)}")
    return value


_CONVERT = {"bound": _bound, "shape": _shape, "round": _round}


def option_value(expr: ast.Expr | None, evaluator: ExprEvaluator, env: Env) -> object:
    """A bare word is a name (``square``, ``auto``); anything else is evaluated."""
    if isinstance(expr, ast.Var):
        return expr.name
    return evaluator.guarded(expr, env)  # type: ignore[arg-type]


def rule_options(rule: ast.DeformRule, section: str, names: tuple[str, ...], convert: Callable[[str, object], object],
                 errors: list[Diagnostic]) -> tuple[tuple, tuple]:
    """The (name, value) options of a deform or quantize section's rule and
    where each value is written: each value evaluated and passed through
    ``convert``, whose ValueError becomes an error at the value."""
    evaluator, env = ExprEvaluator(), Env()
    options, spans = [], []
    for option in rule.options:
        if option.name not in names:
            hint = suggestion(option.name, names) or f" (options: {', '.join(names)})"
            errors.append(Diagnostic(f"{section} rules have no option '{option.name}'{hint}", option.name_span))
            continue
        if option.name in dict(options):
            errors.append(Diagnostic(f"option '{option.name}' is given twice in this rule", option.name_span))
            continue
        value = option_value(option.value, evaluator, env)
        if is_poison(value):
            continue
        try:
            options.append((option.name, convert(option.name, value)))
            spans.append((option.name, option.value.span))  # type: ignore[union-attr]
        except ValueError as err:
            errors.append(Diagnostic(str(err), option.value.span))  # type: ignore[union-attr]
    errors.extend(evaluator.errors)
    return tuple(options), tuple(spans)


def _rule(rule: ast.DeformRule, errors: list[Diagnostic]) -> DeformRule:
    options, spans = rule_options(rule, "deform", OPTIONS, lambda name, value: _CONVERT[name](value), errors)
    return DeformRule(rule.pattern.text, options, rule.span, spans)  # type: ignore[union-attr]


def lower_deform(section: ast.DeformDef, graph: Graph) -> DeformDirectives:
    """The directives of a deform section (values checked, patterns matched)."""
    errors: list[Diagnostic] = []
    deformable = [n.name for n in graph.nodes() if n.op == "dconv"]
    rules = []
    for rule in section.rules:
        pattern = rule.pattern
        if not any(matches(pattern.text, n) for n in deformable):  # type: ignore[union-attr]
            errors.append(Diagnostic(
                f"'{pattern.text}' matches no dconv layer of network '{graph.name}'", pattern.span,  # type: ignore
            ))
        rules.append(_rule(rule, errors))
    if errors:
        raise SegError(errors)
    return DeformDirectives(tuple(rules))


def check_deform(graph: Graph) -> None:
    """Every layer a deform rule matches has a variant its target can hold."""
    if graph.target is None or graph.directives.deform is None:
        return
    errors = []
    for node in graph.nodes():
        if node.op != "dconv" or not graph.directives.deform.rules_for(node.name):
            continue
        settings = layer_settings(graph, node)
        try:
            dconv_plan(graph, node, graph.target, settings)
        except PlanError as err:
            errors.append(Diagnostic(str(err), blame(node, settings, err.option)))
    if errors:
        raise SegError(errors)
