"""Widths in the cost model: how many bits each DRAM word and each buffer
word of a layer is (``ir.quant.widths``; unquantized layers: the target's
word).

* A layer reads each input at its producer's activation width, its weights
  at its weight width, and writes its output at its own activation width;
  DRAM traffic is counted in bits and divided by 8 for bytes.
* A deformable layer's offset map is written and read at the width of the
  layer's input (a feature map of the same format).
* The input buffer holds Buf_in = ⌊input_buffer bits / b⌋ words of the
  layer's input width b (Eq. 1).
"""

from __future__ import annotations

from ..ir import Graph, Node
from ..ir.quant import widths

__all__ = ["buffer_words", "input_bits", "io_bits", "traffic_bits"]


def input_bits(graph: Graph, node: Node, index: int = 0) -> int:
    """Bits of a layer's ``index``-th input: its producer's activation width."""
    return widths(graph, graph.node(node.inputs[index]))[1]


def io_bits(graph: Graph, node: Node) -> tuple[int, int, int]:
    """(first input, weight, output) bits of a layer; 0 for no weights."""
    w_bits, a_bits = widths(graph, node)
    return input_bits(graph, node) if node.inputs else 0, w_bits or 0, a_bits


def traffic_bits(graph: Graph, node: Node, dram_in: int, dram_weight: int, dram_out: int) -> int:
    """Bits of a layer's DRAM traffic in words read from its first input,
    weight words and output words."""
    in_bits, w_bits, out_bits = io_bits(graph, node)
    return dram_in * in_bits + dram_weight * w_bits + dram_out * out_bits


def buffer_words(graph: Graph, node: Node) -> int:
    """Buf_in of Eq. 1 for a layer: the input buffer in words of its input width."""
    return graph.target.input_buffer_bits // input_bits(graph, node)
