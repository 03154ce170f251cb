"""A picture (SVG or PNG) of a network.  With Graphviz's ``dot`` on the
PATH it lays out the DOT text; without it, matplotlib draws the layers in
rows by topological depth (so a picture needs no system binary).  Both
give the same bytes for the same graph on the same machine."""

from __future__ import annotations

import shutil
import subprocess

import networkx as nx

from ...ir import Diagnostic, Graph, SegError
from .dot import COLORS, node_label, to_dot

__all__ = ["ENGINES", "render_picture"]

ENGINES = ("auto", "graphviz", "matplotlib")


def render_picture(graph: Graph, fmt: str, engine: str = "auto") -> bytes:
    """The picture's bytes; ``fmt`` is "svg" or "png"."""
    dot = shutil.which("dot")
    if engine == "graphviz" and dot is None:
        raise SegError(Diagnostic("the graphviz engine needs the 'dot' program on the PATH; "
                                  "use --engine matplotlib"))
    if engine != "matplotlib" and dot is not None:
        return _graphviz(dot, to_dot(graph), fmt)
    return _matplotlib(graph, fmt)


def _graphviz(dot: str, text: str, fmt: str) -> bytes:
    done = subprocess.run([dot, f"-T{fmt}"], input=text.encode(), capture_output=True, check=False, timeout=300)
    if done.returncode != 0:
        raise SegError(Diagnostic(f"dot failed: {done.stderr.decode(errors='replace').strip()}"))
    return done.stdout


def _layout(graph: Graph) -> dict[str, tuple[float, float]]:
    digraph = nx.DiGraph()
    for node in graph.nodes():
        digraph.add_node(node.name)
        digraph.add_edges_from((i, node.name) for i in node.inputs)
    order = {name: i for i, name in enumerate(graph.topo_order())}
    positions = {}
    for depth, names in enumerate(nx.topological_generations(digraph)):
        ordered = sorted(names, key=order.__getitem__)
        for i, name in enumerate(ordered):
            positions[name] = (i - (len(ordered) - 1) / 2, -depth)
    return positions


def _matplotlib(graph: Graph, fmt: str) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "segc"
    positions = _layout(graph)
    width = max(abs(x) for x, _ in positions.values()) * 2 + 1
    depth = -min(y for _, y in positions.values()) + 1
    fig, ax = plt.subplots(figsize=(max(4.0, 2.6 * width), max(3.0, 0.9 * depth)))
    for node in graph.nodes():
        x, y = positions[node.name]
        for source in dict.fromkeys(node.inputs):
            sx, sy = positions[source]
            ax.annotate("", xy=(x, y + 0.18), xytext=(sx, sy - 0.18),
                        arrowprops={"arrowstyle": "->", "color": "#666666", "lw": 0.8}, zorder=1)
        ax.text(x, y, node_label(node), ha="center", va="center", fontsize=7,
                bbox={"boxstyle": "round", "fc": COLORS.get(node.op, "#eeeeee"), "ec": "#888888"}, zorder=3)
    ax.set_xlim(-width / 2 - 0.5, width / 2 + 0.5)
    ax.set_ylim(-depth + 0.5, 0.5)
    ax.axis("off")
    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    fig.savefig(buffer, format=fmt, bbox_inches="tight", metadata=metadata, dpi=100)
    plt.close(fig)
    return buffer.getvalue()
