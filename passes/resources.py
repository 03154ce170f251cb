"""A resource estimate of the generated HLS design, per layer: DSP blocks,
block RAM, LUTs and flip-flops, written beside the layer's ``cost``
(``cost["resources"]``) and summed by the reports and ``hls-config``.

The HLS backend calls one kernel per accelerator layer, each a template
instance with its own PE lanes and buffers, so the design's total is the sum
over layers.  First-order, documented approximations (docs/quantization.md,
"Resources"), not synthesis results:

* DSPs: a PE-array layer's U = P_if·P_of·P_kx·P_ky lanes at ``p`` MACs per
  DSP for its operand width b (the wider of its weights and its input;
  ``Target.macs_per_dsp_at``): ⌈U / p⌉; the depthwise engine's
  ⌈lanes·taps / p⌉ (or its ``dsp``); a streamed layer on the elementwise
  unit, the unit's DSPs; on the P_of lanes, none (adds and compares).
* Block RAM: the input tile, T_ix·T_iy·C_i/g words of the input width, and
  one weight block, P_of·C_i/g·k_x·k_y words of the weight width (the depthwise
  engine: lanes channels of each), each rounded up to whole blocks
  (partitioning into banks is not counted: small banks go to LUT RAM).
* LUTs and flip-flops: one of each per bit of every lane's accumulator
  adder, w + a + ⌈log2(C_i/g·k_x·k_y)⌉ bits (a carry-chain adder costs one
  LUT per bit on UltraScale, UG574), U lanes (depthwise: lanes·taps); a
  streamed layer, one per bit of each of its lanes at the output width.
"""

from __future__ import annotations

import math

from ..ir import Diagnostic, Graph, Node, SegError, Target
from .hwmodel import ConvGeometry
from .widths import io_bits

__all__ = ["RESOURCES", "layer_resources", "operand_bits"]

RESOURCES = ("dsp", "bram", "lut", "ff")


def operand_bits(graph: Graph, node: Node) -> int:
    """Width of a layer's multiplies: the wider of its weights and its input."""
    in_bits, w_bits, out_bits = io_bits(graph, node)
    return max(in_bits, w_bits) if node.inputs else out_bits


def _dsps(graph: Graph, node: Node, target: Target, macs: int) -> int:
    per_dsp = target.macs_per_dsp_at(operand_bits(graph, node))
    if per_dsp is None:
        raise SegError(Diagnostic(f"layer '{node.name}': {operand_bits(graph, node)}-bit operands are wider than "
                                  f"target '{target.name}' implements ({target.widest_bits} bits)", node.span))
    return math.ceil(macs / per_dsp)


def _blocks(bits: int, target: Target) -> int:
    return math.ceil(bits / target.bram_block_bits)


def _conv(graph: Graph, node: Node, cost: dict, target: Target) -> dict[str, int]:
    geom = ConvGeometry.of(graph, node)
    in_bits, w_bits, _ = io_bits(graph, node)
    tix, tiy = cost["input_tile"]
    window = geom.kx * geom.ky
    if cost["engine"] == "depthwise":
        engine = target.depthwise
        lanes, channels, out_lanes = engine.lanes * engine.taps, engine.lanes, engine.lanes
        dsp = engine.dsp if engine.dsp is not None else _dsps(graph, node, target, lanes)
    else:
        lanes, channels, out_lanes = target.unroll.macs_per_cycle, geom.ci // geom.groups, target.unroll.pof
        dsp = _dsps(graph, node, target, lanes)
    adder = w_bits + in_bits + math.ceil(math.log2(max(2, geom.ci // geom.groups * window)))
    bram = _blocks(tix * tiy * channels * in_bits, target) + _blocks(out_lanes * channels * window * w_bits, target)
    return {"dsp": dsp, "bram": bram, "lut": lanes * adder, "ff": lanes * adder}


def _stream(graph: Graph, node: Node, cost: dict, target: Target) -> dict[str, int]:
    _, _, out_bits = io_bits(graph, node)
    unit = target.elementwise if cost["engine"] == "elementwise" else None
    lanes = math.ceil(unit.width) if unit is not None else target.unroll.pof
    dsp = 0
    if unit is not None:
        dsp = unit.dsp if unit.dsp is not None else _dsps(graph, node, target, lanes)
    return {"dsp": dsp, "bram": 0, "lut": lanes * out_bits, "ff": lanes * out_bits}


def layer_resources(graph: Graph, node: Node, cost: dict, target: Target) -> dict[str, int]:
    """DSPs, RAM blocks, LUTs and flip-flops of a layer's kernel (zeros for
    fused and free layers, which have none of their own)."""
    if cost["rule"] == "conv":
        return _conv(graph, node, cost, target)
    if cost["rule"] == "stream":
        return _stream(graph, node, cost, target)
    return dict.fromkeys(RESOURCES, 0)
