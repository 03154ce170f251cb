"""``tile``: choose the output tile (T_ox, T_oy) of every convolution and
linear layer (Eq. 1 of Mori et al., see ``hwmodel.py``) and write it under
the ``tiling`` annotation: ``{"mode", "tile": [T_ox, T_oy],
"input_tile": [T_ix, T_iy]}``.  The input buffer holds Buf_in words of the
layer's input width (``widths.py``).

Modes: ``paper`` (Eq. 1; dilated layers T = 1), ``dilation-aware`` (Eq. 1
with the real footprint of dilated tiles), ``none`` (T = 1 everywhere) and
``static`` (one square tile T × T for every layer, clamped to each layer's
output, the largest that fits the input buffer for all of them; dilated
layers keep T = 1 as in the paper's Fig. 4).

Layers on the target's depthwise engine stream their input through its
line buffer: the tile is one output row, [W_o, 1], reading [W_i, rows].

Deformable layers (dconv) read input positions that depend on the data
(``dconv_cost.py``).  Bounded (the variant ``deform.current_plan`` gives),
the input streams through a line buffer: the tile is one output row,
[W_o, 1], reading [W_i, rows] — the rows the bound needs.  Unbounded, the
samples are gathered without reuse and only the offset branch, an ordinary
convolution, is tiled by Eq. 1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..ir import Diagnostic, Graph, Node, SegError
from .base import Pass, PassResult
from .dconv_cost import offset_branch
from .deform import current_plan
from .engines import on_depthwise_engine
from .hwmodel import TILING_MODES, ConvGeometry, TileError, best_tile, input_tile
from .widths import buffer_words

__all__ = ["TILED_OPS", "TilePass", "require_target", "retile"]

TILED_OPS = ("conv", "dconv", "deconv", "linear")


def require_target(graph: Graph, pass_name: str):
    if graph.target is None:
        raise SegError(Diagnostic(
            f"pass '{pass_name}' needs a target: write 'network {graph.name} on TARGET' or give --target"
        ))
    return graph.target


def _geometry(graph: Graph, node: Node) -> ConvGeometry:
    """The geometry Eq. 1 sees (a deformable layer's: its offset branch)."""
    geom = ConvGeometry.of(graph, node)
    if node.op != "dconv":
        return geom
    return offset_branch(geom, node, current_plan(graph, node)["shape"])


def _line_buffer_tiling(graph: Graph, node: Node, mode: str) -> dict | None:
    """A bounded dconv's tiling: one output row from the rows its bound
    needs; a conv on the depthwise engine, or on a target whose convolutions
    stream their input (``conv_input``) when the line buffer holds its
    kernel's rows: one output row from the rows the kernel spans,
    (k_y − 1)·d + 1.  ``stream``: the input is read once."""
    if node.op == "deconv":  # scatters into its output: tiled by Eq. 1 (deconv_cost.py)
        return None
    if node.op == "conv":
        rows = (node.attrs["k"][0] - 1) * node.attrs["dilation"][0] + 1
        target = graph.target
        streamed = target.conv_input == "streamed" and rows <= (target.line_buffer_rows or 0)
        if not (streamed or on_depthwise_engine(graph, node, target)):
            return None
    elif (rows := current_plan(graph, node)["rows"]) is None:
        return None
    return {"mode": mode, "tile": [node.shape.w, 1], "input_tile": [graph.input_shapes(node)[0].w, rows],
            "stream": True}


def _static_side(graph: Graph, nodes: list[Node]) -> int:
    """Largest T such that a T×T tile (clamped) fits every non-dilated layer."""
    pairs = [(ConvGeometry.of(graph, n), buffer_words(graph, n)) for n in nodes if n.op != "dconv"]
    pairs = [(g, words) for g, words in pairs if not g.dilated]
    if not pairs:
        return 1
    low, high = 1, max(max(g.wo, g.ho) for g, _ in pairs)

    def fits(side: int) -> bool:
        for g, words in pairs:
            tix, tiy = input_tile(g, (min(side, g.wo), min(side, g.ho)), "paper")
            if tix * tiy * (g.ci // g.groups) > words:
                return False
        return True

    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


@dataclass(frozen=True)
class TilePass(Pass):
    name = "tile"
    annotates_only = True
    doc = "choose per-layer tiles (Eq. 1) against the target's input buffer"
    mode: str = "paper"

    def run(self, graph: Graph) -> PassResult:
        if self.mode not in TILING_MODES:
            raise SegError(Diagnostic(f"tile: unknown mode '{self.mode}' (modes: {', '.join(TILING_MODES)})"))
        target = require_target(graph, self.name)
        nodes = [n for n in graph.nodes() if n.op in TILED_OPS]
        side = _static_side(graph, nodes) if self.mode == "static" else 0
        errors = []
        for node in nodes:
            try:
                annotation = self._tiling(graph, node, buffer_words(graph, node), target.unroll.pof, side)
            except TileError as err:
                errors.append(Diagnostic(f"layer '{node.name}': {err}", node.span))
                continue
            graph.annotate(node.name, "tiling", annotation)
        if errors:
            raise SegError(errors)
        notes = (f"static tile {side}×{side}",) if self.mode == "static" else ()
        return PassResult(graph, bool(nodes), notes)

    def _tiling(self, graph: Graph, node: Node, words: int, pof: int, side: int) -> dict:
        if node.op != "linear" and (line := _line_buffer_tiling(graph, node, self.mode)) is not None:
            return line
        if self.mode != "static":
            tile, (tix, tiy) = retile(graph, node, self.mode)
            return {"mode": self.mode, "tile": [tile[0], tile[1]], "input_tile": [tix, tiy]}
        geom = _geometry(graph, node)
        tile = best_tile(geom, words, pof, "none")  # checks that 1×1 fits
        if not geom.dilated:
            tile = (min(side, geom.wo), min(side, geom.ho))
        tix, tiy = input_tile(geom, tile, "paper")
        return {"mode": self.mode, "tile": [tile[0], tile[1]], "input_tile": [tix, tiy]}


def retile(graph: Graph, node: Node, mode: str, ci: int | None = None,
           groups: int | None = None) -> tuple[tuple[int, int], tuple[int, int]]:
    """(tile, input tile) of a layer by Eq. 1 under ``mode`` (not ``static``),
    also when pruning makes its input channels ``ci`` in ``groups`` groups:
    Eq. 1 depends on them only through the buffer constraint.  A deformable
    layer is tiled by its offset branch, which reads all ``ci`` channels, or,
    when bounded, by the line-buffer rows its bound needs."""
    if node.op != "linear" and (line := _line_buffer_tiling(graph, node, mode)) is not None:
        return tuple(line["tile"]), tuple(line["input_tile"])
    geom = _geometry(graph, node)
    if ci is not None:
        geom = replace(geom, ci=ci) if node.op == "dconv" else replace(geom, ci=ci, groups=groups)
    tile = best_tile(geom, buffer_words(graph, node), graph.target.unroll.pof, mode)
    return tile, input_tile(geom, tile, mode)
