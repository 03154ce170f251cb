"""A layered (Sugiyama) layout of a network, for pictures drawn without
Graphviz.  grandalf ranks the layers top to bottom (longest path from the
inputs), orders each rank to reduce crossings, routes an edge that spans
several ranks through one dummy vertex per rank it passes, and places
everything with Brandes and Köpf's method.

Coordinates are in points and y grows downward.  An edge is a polyline that
runs vertically through each rank's band (at its node's x or its dummy's x,
which grandalf keeps clear of the rank's other boxes) and turns only in the
gaps between ranks, where there are no boxes: no edge passes through a box
other than its own two ends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx
from grandalf.graphs import Edge, Vertex, graph_core
from grandalf.layouts import SugiyamaLayout

from ...ir import Graph

__all__ = ["Box", "Layout", "layered_layout"]

Point = tuple[float, float]
EdgeKey = tuple[str, str]
Measure = Callable[[str], tuple[float, float]]
"""A node's name to the width and height of its box, in points."""

X_SPACE = 16.0  # between neighbouring boxes (or lanes) of a rank
Y_SPACE = 30.0  # between ranks: where edges turn
LANE_WIDTH = 8.0  # what an edge passing through a rank takes of it
COMPONENT_SPACE = 40.0  # between unconnected parts of a network
ORDERING_ROUNDS = 4.5  # grandalf's sweeps (down and up) that reduce crossings


@dataclass(frozen=True)
class Box:
    """A node's box: centre and size."""

    x: float
    y: float
    width: float
    height: float

    @property
    def bottom(self) -> float:
        return self.y + self.height / 2

    @property
    def top(self) -> float:
        return self.y - self.height / 2

    def shifted(self, dx: float) -> Box:
        return Box(self.x + dx, self.y, self.width, self.height)


@dataclass(frozen=True)
class Layout:
    """Where each node's box is, its rank (0 at the top), each edge's polyline
    (from the source's bottom to the target's top) and the drawing's size."""

    boxes: dict[str, Box]
    ranks: dict[str, int]
    edges: dict[EdgeKey, tuple[Point, ...]]
    width: float
    height: float


class _View:
    """The size and place grandalf reads and writes on a vertex."""

    def __init__(self, w: float, h: float) -> None:
        self.w, self.h = w, h
        self.xy = (0.0, 0.0)


def _graph_edges(graph: Graph) -> list[EdgeKey]:
    """Each (source, target) pair once, in the graph's order."""
    return [(source, node.name) for node in graph.nodes() for source in dict.fromkeys(node.inputs)]


def layered_layout(graph: Graph, measure: Measure) -> Layout:
    """Lay ``graph`` out in ranks; unconnected parts sit side by side."""
    order = {name: i for i, name in enumerate(graph.topo_order())}
    edges = _graph_edges(graph)
    digraph = nx.DiGraph(edges)
    digraph.add_nodes_from(order)
    parts = sorted((sorted(part, key=order.__getitem__) for part in nx.weakly_connected_components(digraph)),
                   key=lambda names: order[names[0]])
    boxes: dict[str, Box] = {}
    ranks: dict[str, int] = {}
    polylines: dict[EdgeKey, tuple[Point, ...]] = {}
    left = height = 0.0
    for names in parts:
        members = set(names)
        part = _layout_part(names, [e for e in edges if e[0] in members], measure)
        boxes.update((name, box.shifted(left)) for name, box in part.boxes.items())
        polylines.update((key, tuple((x + left, y) for x, y in line)) for key, line in part.edges.items())
        ranks.update(part.ranks)
        left += part.width + COMPONENT_SPACE
        height = max(height, part.height)
    return Layout(boxes, ranks, {key: polylines[key] for key in edges}, left - COMPONENT_SPACE, height)


def _layout_part(names: list[str], edges: list[EdgeKey], measure: Measure) -> Layout:
    """Lay out one connected part with grandalf, its left edge at x = 0."""
    vertices = {name: Vertex(name) for name in names}
    for name, vertex in vertices.items():
        vertex.view = _View(*measure(name))
    links = {key: Edge(vertices[key[0]], vertices[key[1]]) for key in edges}
    sugiyama = SugiyamaLayout(graph_core(list(vertices.values()), list(links.values())))
    sugiyama.xspace, sugiyama.yspace = X_SPACE, Y_SPACE
    sugiyama.init_all()
    for layer in sugiyama.layers:
        for vertex in layer:
            if sugiyama.grx[vertex].dummy:
                vertex.view.w, vertex.view.h = LANE_WIDTH, 0.0
    sugiyama.draw(ORDERING_ROUNDS)
    left = min(v.view.xy[0] - v.view.w / 2 for layer in sugiyama.layers for v in layer)
    right = max(v.view.xy[0] + v.view.w / 2 for layer in sugiyama.layers for v in layer)
    boxes = {name: Box(v.view.xy[0] - left, v.view.xy[1], v.view.w, v.view.h) for name, v in vertices.items()}
    bands = [_band(layer) for layer in sugiyama.layers]
    ranks = {name: sugiyama.grx[v].rank for name, v in vertices.items()}
    lines = {}
    for key, link in links.items():
        lanes = sugiyama.ctrls.get(link, {})
        passes = [(lanes[rank].view.xy[0] - left, *bands[rank]) for rank in range(ranks[key[0]] + 1, ranks[key[1]])]
        lines[key] = _route(boxes[key[0]], bands[ranks[key[0]]][1], passes, boxes[key[1]], bands[ranks[key[1]]][0])
    return Layout(boxes, ranks, lines, right - left, bands[-1][1] if bands else 0.0)


def _band(layer: list) -> tuple[float, float]:
    """The top and bottom of a rank: the extent of its tallest box."""
    centre = layer[0].view.xy[1]
    half = max(v.view.h for v in layer) / 2
    return centre - half, centre + half


def _route(source: Box, source_band_bottom: float, passes: list[tuple[float, float, float]],
           target: Box, target_band_top: float) -> tuple[Point, ...]:
    """The polyline from ``source`` down to ``target``: straight down out of
    the source's rank, down each passed rank at its lane's x (x, top, bottom),
    straight down into the target; it turns only between ranks."""
    points = [(source.x, source.bottom), (source.x, source_band_bottom)]
    for x, top, bottom in passes:
        points += [(x, top), (x, bottom)]
    points += [(target.x, target_band_top), (target.x, target.top)]
    return tuple(p for i, p in enumerate(points) if i == 0 or p != points[i - 1])
