"""A picture (SVG or PNG) of a network.  With Graphviz's ``dot`` on the
PATH it lays out the DOT text; without it (or with ``engine="matplotlib"``)
matplotlib draws the layered layout of ``layout.py``: the layers in ranks top
to bottom, branches side by side, long edges (skip connections) routed
around the boxes.  Both give the same bytes for the same graph on the same
machine."""

from __future__ import annotations

import io
import itertools
import shutil
import subprocess
from typing import TYPE_CHECKING

from ...ir import Diagnostic, Graph, SegError
from .dot import COLORS, node_label, to_dot
from .layout import Layout, Point, layered_layout

if TYPE_CHECKING:
    from matplotlib.path import Path

__all__ = ["ENGINES", "picture_layout", "render_picture"]

ENGINES = ("auto", "graphviz", "matplotlib")

FONT_SIZE = 7.0  # points
PAD = (6.0, 4.0)  # between a label and its box's border, points
MARGIN = 8.0  # around the drawing, points
EDGE_COLOR = "#666666"
PNG_DPI = 100
MAX_PIXELS = 32768  # a PNG's longest side; Agg draws at most 65536 pixels
STYLE = {"svg.hashsalt": "segc", "svg.fonttype": "none", "font.family": "sans-serif",
         "font.sans-serif": ["DejaVu Sans"]}


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


def picture_layout(graph: Graph) -> Layout:
    """The layered layout the matplotlib engine draws: boxes sized to the
    labels of ``dot.py`` in points, y growing downward."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(STYLE):
        figure = Figure(dpi=72)  # one pixel per point
        renderer = FigureCanvasAgg(figure).get_renderer()
        labels = {node.name: figure.text(0, 0, node_label(node), fontsize=FONT_SIZE) for node in graph.nodes()}

        def measure(name: str) -> tuple[float, float]:
            extent = labels[name].get_window_extent(renderer)
            return extent.width + 2 * PAD[0], extent.height + 2 * PAD[1]

        return layered_layout(graph, measure)


def _matplotlib(graph: Graph, fmt: str) -> bytes:
    import matplotlib
    from matplotlib.figure import Figure

    layout = picture_layout(graph)
    with matplotlib.rc_context(STYLE):
        width, height = layout.width + 2 * MARGIN, layout.height + 2 * MARGIN
        figure = Figure(figsize=(width / 72, height / 72))
        axes = figure.add_axes((0, 0, 1, 1))
        axes.set_xlim(-MARGIN, layout.width + MARGIN)
        axes.set_ylim(layout.height + MARGIN, -MARGIN)
        axes.axis("off")
        _draw(axes, graph, layout)
        buffer = io.BytesIO()
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        figure.savefig(buffer, format=fmt, metadata=metadata, dpi=min(PNG_DPI, MAX_PIXELS * 72 / max(width, height)))
    return buffer.getvalue()


def _draw(axes, graph: Graph, layout: Layout) -> None:
    """Edges under the boxes, labels over them; added as artists, not
    patches (the limits are set), unclipped (all lies inside)."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    for line in layout.edges.values():
        axes.add_artist(FancyArrowPatch(path=_curve(line), arrowstyle="-|>,head_length=4,head_width=2",
                                        color=EDGE_COLOR, lw=0.8, shrinkA=0, shrinkB=0, zorder=1, clip_on=False))
    for node in graph.nodes():
        box = layout.boxes[node.name]
        axes.add_artist(FancyBboxPatch((box.x - box.width / 2, box.top), box.width, box.height,
                                       boxstyle="round,pad=0,rounding_size=4", fc=COLORS.get(node.op, "#eeeeee"),
                                       ec="#888888", lw=0.8, zorder=2, clip_on=False))
        axes.text(box.x, box.y, node_label(node), ha="center", va="center", multialignment="center",
                  fontsize=FONT_SIZE, zorder=3, clip_on=False)


def _curve(line: tuple[Point, ...]) -> Path:
    """The polyline as a path: vertical runs stay straight, each turn between
    two ranks becomes an S-shaped cubic Bézier that stays between them."""
    from matplotlib.path import Path

    vertices, codes = [line[0]], [Path.MOVETO]
    for (x0, y0), (x1, y1) in itertools.pairwise(line):
        if x0 == x1:
            vertices.append((x1, y1))
            codes.append(Path.LINETO)
        else:
            middle = (y0 + y1) / 2
            vertices += [(x0, middle), (x1, middle), (x1, y1)]
            codes += [Path.CURVE4] * 3
    return Path(vertices, codes)
