"""Graph verification, run after elaboration, after loading JSON and after
every pass.  It re-derives everything the graph claims and reports each
disagreement at the layer's source span:

* every op is known, its operand count allowed, its attributes canonical;
* names are valid hierarchical names (``res5.0.conv1``);
* the graph is acyclic, has an input and an output, every layer reaches an
  output, and outputs feed nothing;
* every stored shape equals the op's shape rule applied to its operands;
* no tensor, and not the whole network, is larger than the limits of
  :mod:`segc.ir.limits`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .attrs import AttrError
from .diagnostics import Diagnostic, Note
from .limits import size_problems
from .ops import OPS
from .shapes import ShapeError

if TYPE_CHECKING:
    from .graph import Graph, Node

__all__ = ["NAME_RE", "verify_graph"]

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")


def _diag(node: Node, message: str, context: str | None) -> Diagnostic:
    text = f"layer '{node.name}': {message}"
    if context:
        text = f"{context}: {text}"
    notes = tuple(Note("in the block called here", s) for s in reversed(node.trace))
    return Diagnostic(text, node.span, notes)


def _check_node(graph: Graph, node: Node) -> str | None:
    opdef = OPS.get(node.op)
    if opdef is None:
        return f"unknown op '{node.op}'"
    if not NAME_RE.fullmatch(node.name):
        return "not a valid layer name"
    if not opdef.accepts(len(node.inputs)):
        return f"{node.op} takes {opdef.arity_text()}, got {len(node.inputs)}"
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
        problems.append(Diagnostic(f"network '{graph.name}' has no input"))
    outputs = [n.name for n in nodes if n.op == "output"]
    if not outputs:
        problems.append(Diagnostic(f"network '{graph.name}' has no output"))
    live = set(outputs)
    for node in reversed(nodes):
        if node.name in live:
            live.update(node.inputs)
    for node in nodes:
        if node.op == "output" and graph.consumers(node.name):
            problems.append(_diag(node, "an output cannot feed other layers", context))
        elif outputs and node.name not in live:
            problems.append(_diag(node, "does not reach any output", context))
    return problems


def verify_graph(graph: Graph, context: str | None = None) -> list[Diagnostic]:
    """Every problem found in the graph, as diagnostics (empty if sound)."""
    cycle = graph.cycle()
    if cycle:
        prefix = f"{context}: " if context else ""
        return [Diagnostic(f"{prefix}network '{graph.name}' has a cycle: {' → '.join([*cycle, cycle[0]])}")]
    problems = []
    for node in graph.nodes():
        message = _check_node(graph, node)
        if message:
            problems.append(_diag(node, message, context))
    return problems + _check_structure(graph, context) + (size_problems(graph) if not problems else [])
