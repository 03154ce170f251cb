"""The engines of an accelerator and the work each does for a layer: one
table, keyed by engine, as ops are in ``ir/ops.py``; a new engine is one
entry here (its cost) plus its fields in ``ir/target.py``.

* ``pe`` — the PE array of Mori et al.: convolutions and linear layers by
  Eq. 2 (cycles) and Eq. 3–4 (DRAM words, tiles from the ``tile`` pass;
  on a target whose convolutions stream their input through the line
  buffer, C·H_i·W_i words instead of Eq. 3); deformable layers by
  ``dconv_cost.py``; transposed ones in the scatter form of
  ``deconv_cost.py``.
* ``depthwise`` — a depthwise engine of L lanes × T taps (CoDeNet's
  released design: 16 × 9), when the target has one, for convolutions with
  one input and one output channel per group:
  ⌈C/L⌉ · ⌈k_x·k_y/T⌉ · W_o·H_o cycles, the input streamed once through its
  line buffer (C·H_i·W_i words), weights C·k_x·k_y, outputs C·W_o·H_o.
  Deformable ones sample through the same T taps (``dconv_cost.py``).
* ``elementwise`` — a unit of width w taps per cycle, when the target has
  one, for upsampling, pooling, unfused adds, batch norm and activations:
  ⌈work / w⌉ cycles, work = elements × taps.
* ``lanes`` — without such a unit the same ops stream through the PE
  array's P_of lanes: ⌈work / P_of⌉ cycles.

Every engine's work also gives ``dram_bits``: its DRAM words at their
widths (``widths.py``).

Streamed ops read their inputs from DRAM and write their output back; the
taps of an element are the pooling window, 4 for bilinear, 1 for nearest,
the number of inputs for add; a global average reads every input element.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..ir import Graph, Node, Target
from .dconv_cost import dconv_cost, dconv_reason
from .deconv_cost import DECONV_REASON
from .deform import current_plan
from .hwmodel import ConvGeometry, compute_cycles, dram_accesses
from .widths import input_bits, traffic_bits

__all__ = ["ENGINES", "conv_engine", "elements", "on_depthwise_engine", "read_inputs", "stream_engine"]


def elements(shape) -> int:
    return shape.c * shape.h * shape.w


def on_depthwise_engine(graph: Graph, node: Node, target: Target) -> bool:
    """Whether a layer runs on the target's depthwise engine."""
    return target.depthwise is not None and node.op in ("conv", "dconv") and ConvGeometry.of(graph, node).depthwise


def _tiling(node: Node) -> dict:
    tiling = node.annotations.get("tiling")
    if tiling is None:
        raise KeyError(node.name)
    return tiling


def _on_pe(graph: Graph, node: Node, target: Target) -> dict:
    tiling = _tiling(node)
    if node.op == "dconv":
        plan = current_plan(graph, node)
        return {**dconv_cost(graph, node, target, plan, tiling), "reason": dconv_reason(plan)}
    geom = ConvGeometry.of(graph, node)
    tile, in_tile = tuple(tiling["tile"]), tuple(tiling["input_tile"])
    dram_in, dram_w, dram_out = dram_accesses(geom, tile, in_tile, target.unroll.pof)
    reason = "Eq. 2-5"
    if tiling.get("stream"):  # through the line buffer, once
        dram_in, reason = elements(graph.input_shapes(node)[0]), "Eq. 2, 4-5, input streamed once"
    if node.op == "deconv":
        dram_out, reason = elements(node.shape), DECONV_REASON
    return {"cycles_compute": compute_cycles(geom, target.unroll), "dram_in": dram_in, "dram_weight": dram_w,
            "dram_out": dram_out, "dram_bits": traffic_bits(graph, node, dram_in, dram_w, dram_out),
            "tile": list(tile), "input_tile": list(in_tile), "reason": reason}


def _on_depthwise(graph: Graph, node: Node, target: Target) -> dict:
    if node.op == "dconv":
        return _on_pe(graph, node, target)  # dconv_cost.py samples through the engine's taps
    tiling = _tiling(node)
    geom, engine = ConvGeometry.of(graph, node), target.depthwise
    x = graph.input_shapes(node)[0]
    cycles = -(-geom.groups // engine.lanes) * -(-(geom.kx * geom.ky) // engine.taps) * geom.wo * geom.ho
    words = (elements(x), geom.groups * geom.kx * geom.ky, elements(node.shape))
    reason = f"depthwise engine {engine.lanes}×{engine.taps}, input streamed once"
    return {"cycles_compute": cycles, "dram_in": words[0], "dram_weight": words[1], "dram_out": words[2],
            "dram_bits": traffic_bits(graph, node, *words), "tile": list(tiling["tile"]),
            "input_tile": list(tiling["input_tile"]), "reason": reason}


def _taps(graph: Graph, node: Node) -> int:
    a = node.attrs
    if node.op in ("maxpool", "avgpool"):
        if a.get("global"):
            x = graph.input_shapes(node)[0]
            return x.h * x.w
        return a["k"][0] * a["k"][1]
    if node.op == "upsample":
        return 4 if a["mode"] == "bilinear" else 1
    if node.op in ("add", "mul", "sub"):
        return len(node.inputs)
    return _pointwise_taps(graph, node)


def _pointwise_taps(graph: Graph, node: Node) -> int:
    """mean reads every pixel of a channel; softmax passes over the channels
    three times (maximum, sum of exponentials, division)."""
    if node.op == "mean":
        x = graph.input_shapes(node)[0]
        return x.h * x.w
    return 3 if node.op == "softmax" else 1


def _streamed(graph: Graph, node: Node, cycles: int, reason: str) -> dict:
    read = read_inputs(graph, node, range(len(node.inputs)))
    out = elements(node.shape)
    return {"cycles_compute": cycles, "dram_in": read[0], "dram_weight": 0, "dram_out": out,
            "dram_bits": read[1] + traffic_bits(graph, node, 0, 0, out), "stream_work": stream_work(graph, node),
            "reason": reason}


def read_inputs(graph: Graph, node: Node, indices) -> tuple[int, int]:
    """(words, bits) a layer reads from its inputs at ``indices``, each at
    its producer's width (shape-only operands are not read)."""
    shapes = graph.input_shapes(node)
    read = [i for i in indices if i not in node.opdef.shape_only]
    return (sum(elements(shapes[i]) for i in read),
            sum(elements(shapes[i]) * input_bits(graph, node, i) for i in read))


def stream_work(graph: Graph, node: Node) -> int:
    """Elements × taps of a streamed layer."""
    return elements(node.shape) * _taps(graph, node)


def _on_unit(graph: Graph, node: Node, target: Target) -> dict:
    width = target.elementwise.width
    cycles = math.ceil(stream_work(graph, node) / width)
    return _streamed(graph, node, cycles, f"elementwise unit, {width:g} taps per cycle")


def _on_lanes(graph: Graph, node: Node, target: Target) -> dict:
    cycles = -(-stream_work(graph, node) // target.unroll.pof)
    return _streamed(graph, node, cycles, "streams its inputs and output through DRAM on the P_of lanes")


# engine -> the work it does for a layer (cycles, DRAM words, tiles, reason)
ENGINES: dict[str, Callable[[Graph, Node, Target], dict]] = {
    "pe": _on_pe, "depthwise": _on_depthwise, "elementwise": _on_unit, "lanes": _on_lanes,
}


def conv_engine(graph: Graph, node: Node, target: Target) -> str:
    return "depthwise" if on_depthwise_engine(graph, node, target) else "pe"


def stream_engine(target: Target) -> str:
    return "elementwise" if target.elementwise is not None else "lanes"
