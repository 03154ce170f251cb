"""The graph IR: a typed façade over ``networkx.DiGraph``.

Each node is one layer, a frozen :class:`Node` (op, name, attributes, output
shape ``[C, H, W]``, source span).  Operand order is kept on the node
(``Node.inputs``), not taken from edge order; an edge ``u → v`` exists when
``u`` is an operand of ``v``.  Weights are not stored here (see DESIGN §3).

Passes edit the graph through :meth:`Graph.add`, :meth:`Graph.replace` and
:meth:`Graph.remove`, and read it in the deterministic topological order of
:meth:`Graph.nodes` (insertion order, where that is topological).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx

from .diagnostics import Diagnostic, SegError, Span
from .directives import Directives
from .ops import OPS
from .quant import LayerQuant
from .shapes import Shape
from .target import Target
from .verify import verify_graph

__all__ = ["OUTPUT_PREFIX", "Graph", "Node"]

OUTPUT_PREFIX = "output."


@dataclass(frozen=True)
class Node:
    """One layer.  ``span`` is where the op was written; ``trace`` holds the
    block call sites that led there, outermost first.  ``annotations`` holds
    pass results, one documented key per pass (``tiling``, ``cost``, …).
    ``quant`` is the layer's number format (``ir/quant.py``), None when the
    network leaves it unquantized."""

    name: str
    op: str
    inputs: tuple[str, ...] = ()
    attrs: Mapping[str, Any] = field(default_factory=dict)
    shape: Shape | None = None
    span: Span | None = field(default=None, compare=False, repr=False)
    trace: tuple[Span, ...] = field(default=(), compare=False, repr=False)
    annotations: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    quant: LayerQuant | None = None

    @property
    def opdef(self):
        return OPS[self.op]

    @property
    def output_name(self) -> str:
        """The user's name of an output node (``output.logits`` → ``logits``)."""
        return self.name[len(OUTPUT_PREFIX):] if self.name.startswith(OUTPUT_PREFIX) else self.name

    def with_(self, **changes: Any) -> Node:
        return replace(self, **changes)


class Graph:
    """A network: nodes in a DAG, plus the target it runs on and the compiler
    directives (pruning rates) that later passes read."""

    def __init__(self, name: str, target: Target | None = None, directives: Directives | None = None):
        self.name = name
        self.target = target
        self.directives = directives or Directives()
        self._g = nx.DiGraph()
        self._order: dict[str, int] = {}
        self._topo: list[str] | None = None
        self._next = 0

    # ------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._order

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes())

    def node(self, name: str) -> Node:
        try:
            return self._g.nodes[name]["node"]
        except KeyError:
            raise KeyError(f"no layer named '{name}' in network '{self.name}'") from None

    def nodes(self) -> list[Node]:
        """All nodes in deterministic topological order."""
        return [self._g.nodes[n]["node"] for n in self.topo_order()]

    def topo_order(self) -> list[str]:
        if self._topo is None:
            self._topo = self._compute_topo()
        return self._topo

    def _compute_topo(self) -> list[str]:
        by_insertion = sorted(self._order, key=self._order.__getitem__)
        if all(self._order[i] < self._order[n] for n in by_insertion for i in self.node(n).inputs):
            return by_insertion
        return list(nx.lexicographical_topological_sort(self._g, key=self._order.__getitem__))

    def producers(self, name: str) -> list[Node]:
        """The operands of a node, in operand order."""
        return [self.node(i) for i in self.node(name).inputs]

    def consumers(self, name: str) -> list[Node]:
        """The nodes reading this node's output, in insertion order."""
        return [self.node(c) for c in sorted(self._g.successors(name), key=self._order.__getitem__)]

    def input_shapes(self, node: Node) -> list[Shape]:
        return [self.node(i).shape for i in node.inputs]  # type: ignore[misc]

    @property
    def inputs(self) -> list[Node]:
        return [n for n in self.nodes() if n.op == "input"]

    @property
    def outputs(self) -> list[Node]:
        return [n for n in self.nodes() if n.op == "output"]

    # ------------------------------------------------------------ editing
    def add(self, node: Node) -> Node:
        if node.name in self._order:
            raise ValueError(f"layer '{node.name}' already exists")
        missing = [i for i in node.inputs if i not in self._order]
        if missing:
            raise ValueError(f"layer '{node.name}' reads unknown layer(s) {missing}")
        self._order[node.name] = self._next
        self._next += 1
        self._g.add_node(node.name, node=node)
        self._g.add_edges_from((i, node.name) for i in node.inputs)
        self._topo = None
        return node

    def replace(self, node: Node) -> Node:
        """Replace the node of the same name (its operands may change)."""
        old = self.node(node.name)
        missing = [i for i in node.inputs if i not in self._order]
        if missing:
            raise ValueError(f"layer '{node.name}' reads unknown layer(s) {missing}")
        self._g.remove_edges_from((i, node.name) for i in set(old.inputs))
        self._g.add_edges_from((i, node.name) for i in node.inputs)
        self._g.nodes[node.name]["node"] = node
        self._topo = None
        return node

    def remove(self, name: str) -> None:
        if any(True for _ in self._g.successors(name)):
            users = ", ".join(c.name for c in self.consumers(name))
            raise ValueError(f"layer '{name}' is still read by {users}")
        self._g.remove_node(name)
        del self._order[name]
        self._topo = None

    def copy(self) -> Graph:
        other = Graph(self.name, self.target, self.directives)
        for node in self.nodes():
            other.add(node)
        return other

    # ------------------------------------------------------------ checks
    def is_acyclic(self) -> bool:
        return nx.is_directed_acyclic_graph(self._g)

    def cycle(self) -> list[str]:
        """The layers of one cycle, or [] for a DAG."""
        if nx.is_directed_acyclic_graph(self._g):
            return []
        try:
            return [u for u, _ in nx.find_cycle(self._g)]
        except nx.NetworkXNoCycle:
            return []

    def structure(self) -> tuple:
        """Everything that defines the network (names, ops, operands,
        attributes, shapes, formats, target, directives); equal for equal graphs."""
        nodes = tuple(
            (n.name, n.op, n.inputs, tuple(sorted(n.attrs.items())), n.shape, n.quant) for n in self.nodes()
        )
        return (self.name, self.target, self.directives, nodes)

    def problems(self, context: str | None = None) -> list[Diagnostic]:
        """Every inconsistency (see ``ir.verify``); ``context`` (e.g. "after
        pass 'tile'") prefixes each message."""
        return verify_graph(self, context)

    def verify(self, context: str | None = None) -> None:
        """Raise SegError listing every inconsistency."""
        problems = self.problems(context)
        if problems:
            raise SegError(problems)
