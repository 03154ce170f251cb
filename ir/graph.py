"""The graph IR: a typed façade over ``networkx.DiGraph``.

Each node is one layer, a frozen :class:`Node` (op, name, attributes, output
shape ``[C, H, W]``, source span).  Operand order is kept on the node
(``Node.inputs``), not taken from edge order; an edge ``u → v`` exists when
``u`` is an operand of ``v``.  Weights are not stored here (see DESIGN §3).

The ``networkx`` edges are built from the nodes' operands when first needed
(consumers, removal, a cycle, an order other than insertion): a graph that is
only built, read in order and annotated never holds them.

Passes edit the graph through :meth:`Graph.add`, :meth:`Graph.replace` and
:meth:`Graph.remove`, and read it in the deterministic topological order of
:meth:`Graph.nodes` (insertion order, where that is topological).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .diagnostics import Diagnostic, SegError, Span
from .directives import Directives
from .ops import OPS
from .quant import LayerQuant
from .record import Record
from .shapes import Shape
from .target import Target
from .verify import verify_graph

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["OUTPUT_PREFIX", "Graph", "Node"]

OUTPUT_PREFIX = "output."


@dataclass(frozen=True, slots=True)
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

    def annotated(self, key: str, value: Any) -> Node:
        """The node with annotation ``key`` set (the others kept), in a
        read-only :class:`Record`."""
        return Node(self.name, self.op, self.inputs, self.attrs, self.shape, self.span, self.trace,
                    Record({**self.annotations, key: value}), self.quant)


class Graph:
    """A network: nodes in a DAG, plus the target it runs on and the compiler
    directives (pruning rates) that later passes read."""

    def __init__(self, name: str, target: Target | None = None, directives: Directives | None = None):
        self.name = name
        self.target = target
        self.directives = directives or Directives()
        self._g: nx.DiGraph | None = None  # the edges, built when first needed (_edges), shared with copies
        self._shares_edges = False  # until an edit of the operands
        self._nodes: dict[str, Node] = {}
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
            return self._nodes[name]
        except KeyError:
            raise KeyError(f"no layer named '{name}' in network '{self.name}'") from None

    def nodes(self) -> list[Node]:
        """All nodes in deterministic topological order."""
        nodes = self._nodes
        return [nodes[n] for n in self.topo_order()]

    def topo_order(self) -> list[str]:
        if self._topo is None:
            self._topo = self._compute_topo()
        return self._topo

    def _compute_topo(self) -> list[str]:
        by_insertion = sorted(self._order, key=self._order.__getitem__)
        if all(self._order[i] < self._order[n] for n in by_insertion for i in self.node(n).inputs):
            return by_insertion
        return list(_nx().lexicographical_topological_sort(self._edges(), key=self._order.__getitem__))

    def producers(self, name: str) -> list[Node]:
        """The operands of a node, in operand order."""
        return [self.node(i) for i in self.node(name).inputs]

    def consumers(self, name: str) -> list[Node]:
        """The nodes reading this node's output, in insertion order."""
        return [self.node(c) for c in sorted(self._edges().successors(name), key=self._order.__getitem__)]

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
        self._nodes[node.name] = node
        if self._g is not None:
            self._own_edges()
            self._g.add_node(node.name)
            self._g.add_edges_from((i, node.name) for i in node.inputs)
        self._topo = None
        return node

    def replace(self, node: Node) -> Node:
        """Replace the node of the same name (its operands may change)."""
        old = self.node(node.name)
        missing = [i for i in node.inputs if i not in self._order]
        if missing:
            raise ValueError(f"layer '{node.name}' reads unknown layer(s) {missing}")
        self._nodes[node.name] = node
        if node.inputs != old.inputs:
            if self._g is not None:
                self._own_edges()
                self._g.remove_edges_from((i, node.name) for i in set(old.inputs))
                self._g.add_edges_from((i, node.name) for i in node.inputs)
            self._topo = None
        return node

    def annotate(self, name: str, key: str, value: Any) -> Node:
        """Set annotation ``key`` of a layer; its operands, attributes and
        shape stay as they are, so the graph needs no new check."""
        node = self.node(name).annotated(key, value)
        self._nodes[name] = node
        return node

    def remove(self, name: str) -> None:
        if any(True for _ in self._edges().successors(name)):
            users = ", ".join(c.name for c in self.consumers(name))
            raise ValueError(f"layer '{name}' is still read by {users}")
        self._own_edges()
        self._g.remove_node(name)  # type: ignore[union-attr]
        del self._nodes[name]
        del self._order[name]
        self._topo = None

    def copy(self) -> Graph:
        """A graph of the same (immutable) nodes, inserted in topological
        order.  The two share their edges until either edits operands, so
        a copy that is only annotated costs a dict of its nodes."""
        other = Graph(self.name, self.target, self.directives)
        order = self.topo_order()
        other._order = {name: index for index, name in enumerate(order)}
        other._next = len(order)
        other._nodes = {name: self._nodes[name] for name in order}
        other._topo = list(order)
        if self._g is not None:
            other._g = self._g
            self._shares_edges = other._shares_edges = True
        return other

    def _edges(self) -> nx.DiGraph:
        """The edges, built from the operands the first time they are needed."""
        if self._g is None:
            edges = _nx().DiGraph()
            edges.add_nodes_from(self._order)
            edges.add_edges_from((i, name) for name, node in self._nodes.items() for i in node.inputs)
            self._g, self._shares_edges = edges, False
        return self._g

    def _own_edges(self) -> None:
        """Before an edit of the edges: a graph of its own if it shares one."""
        if self._shares_edges:
            edges = _nx().DiGraph()
            edges.add_nodes_from(self._g)  # type: ignore[arg-type]
            edges.add_edges_from(self._g.edges)  # type: ignore[union-attr]
            self._g, self._shares_edges = edges, False

    # ------------------------------------------------------------ checks
    def is_acyclic(self) -> bool:
        """Whether the graph has a topological order (found once, kept)."""
        try:
            self.topo_order()
        except _nx().NetworkXUnfeasible:  # looked up only when raised
            return False
        return True

    def cycle(self) -> list[str]:
        """The layers of one cycle, or [] for a DAG."""
        if self.is_acyclic():
            return []
        try:
            return [u for u, _ in _nx().find_cycle(self._edges())]
        except _nx().NetworkXNoCycle:
            return []

    def structure(self) -> tuple:
        """Everything that defines the network (names, ops, operands,
        attributes, shapes, formats, target, directives); equal for equal graphs."""
        nodes = tuple(
            (n.name, n.op, n.inputs, tuple(sorted(n.attrs.items())), n.shape, n.quant) for n in self.nodes()
        )
        return (self.name, self.target, self.directives, nodes)

    def problems(self, context: str | None = None, rederive: bool = True) -> list[Diagnostic]:
        """Every inconsistency (see ``ir.verify``); ``context`` (e.g. "after
        pass 'tile'") prefixes each message; ``rederive=False`` trusts the
        attributes and shapes (unless ``SEGC_VERIFY=all``)."""
        return verify_graph(self, context, rederive)

    def verify(self, context: str | None = None, rederive: bool = True) -> None:
        """Raise SegError listing every inconsistency."""
        problems = self.problems(context, rederive)
        if problems:
            raise SegError(problems)


def _nx():
    """networkx, imported when a graph first needs its edges (``segc check`` and
    ``segc report`` of a network built in order never do)."""
    import networkx

    return networkx
