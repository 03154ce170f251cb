"""Graph verification, run after elaboration, after loading JSON and after
every pass.  It re-derives everything the graph claims and reports each
disagreement at the layer's source span:

* every op is known, its operand count allowed, its attributes canonical;
* names (network, target, layers) are valid hierarchical names
  (``res5.0.conv1``, see ``names``);
* the graph is acyclic, has an input and an output, every layer reaches an
  output, and outputs feed nothing;
* every stored shape equals the op's shape rule applied to its operands;
* no tensor, and not the whole network, is larger than the limits of
  :mod:`segc.ir.limits`;
* the target implements every layer's weight and activation widths
  (:mod:`segc.ir.quant_fit`).

The attributes and shapes are re-derived only in a full check: a graph the
front end has just built them for is checked without (``rederive=False``),
unless ``SEGC_VERIFY=all`` (set for the test suite) asks for every check
everywhere.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .attrs import AttrError
from .diagnostics import Diagnostic, Note
from .limits import size_problems
from .names import NAME_RULE, graph_name_problems, name_problem, shown
from .ops import OPS
from .quant_fit import width_problems
from .shapes import ShapeError

if TYPE_CHECKING:
    from .graph import Graph, Node

__all__ = ["verify_all", "verify_graph"]


def verify_all() -> bool:
    """Whether ``SEGC_VERIFY=all`` asks for the full check everywhere."""
    return os.environ.get("SEGC_VERIFY") == "all"


def _diag(node: Node, message: str, context: str | None) -> Diagnostic:
    text = f"layer {shown(node.name)}: {message}"
    if context:
        text = f"{context}: {text}"
    notes = tuple(Note("in the block called here", s) for s in reversed(node.trace))
    return Diagnostic(text, node.span, notes)


def _check_node(graph: Graph, node: Node, rederive: bool) -> str | None:
    opdef = OPS.get(node.op)
    if opdef is None:
        return f"unknown op '{node.op}'"
    if name_problem(node.name, "layer"):
        return f"not a valid layer name ({NAME_RULE})"
    if not opdef.accepts(len(node.inputs)):
        return f"{node.op} takes {opdef.arity_text()}, got {len(node.inputs)}"
    return _check_derived(graph, node, opdef) if rederive else None


def _check_derived(graph: Graph, node: Node, opdef) -> str | None:
    """Whether the attributes are canonical and the stored shape is the inferred one."""
    try:
        if dict(node.attrs) != opdef.build_attrs(dict(node.attrs)):
            return "attributes are not in canonical form"
    except AttrError as err:
        return str(err)
    try:
        shape = opdef.shape(node.attrs, graph.input_shapes(node))
    except ShapeError as err:
        return str(err)
    if shape != node.shape:
        return f"stored shape {node.shape} differs from the inferred shape {shape}"
    return None


def _check_structure(graph: Graph, context: str | None) -> list[Diagnostic]:
    problems = []
    nodes = graph.nodes()
    if not any(n.op == "input" for n in nodes):
        problems.append(Diagnostic(f"network {shown(graph.name)} has no input"))
    outputs = [n.name for n in nodes if n.op == "output"]
    if not outputs:
        problems.append(Diagnostic(f"network {shown(graph.name)} has no output"))
    live, is_output = set(outputs), frozenset(outputs)
    fed = {i for node in nodes for i in node.inputs if i in is_output}  # outputs that feed a layer
    for node in reversed(nodes):
        if node.name in live:
            live.update(node.inputs)
    for node in nodes:
        if node.op == "output" and node.name in fed:
            problems.append(_diag(node, "an output cannot feed other layers", context))
        elif outputs and node.name not in live:
            problems.append(_diag(node, "does not reach any output", context))
    return problems


def verify_graph(graph: Graph, context: str | None = None, rederive: bool = True) -> list[Diagnostic]:
    """Every problem found in the graph, as diagnostics (empty if sound);
    ``rederive=False`` trusts the attributes and shapes (see above)."""
    prefix = f"{context}: " if context else ""
    cycle = graph.cycle()
    if cycle:
        return [Diagnostic(f"{prefix}network {shown(graph.name)} has a cycle: {' → '.join([*cycle, cycle[0]])}")]
    problems = [Diagnostic(prefix + message) for message in graph_name_problems(graph)]
    rederive = rederive or verify_all()
    for node in graph.nodes():
        message = _check_node(graph, node, rederive)
        if message:
            problems.append(_diag(node, message, context))
    problems += [Diagnostic(prefix + message, node.span) for node, _, message in width_problems(graph)]
    return problems + _check_structure(graph, context) + (size_problems(graph) if not problems else [])
