"""The cost rule of a transposed convolution (``deconv``) on the PE array:
the *scatter form*.

Every input pixel multiplies its ``C_o/g × k_y × k_x`` filter slice and adds
the products into a k_y × k_x window of the output.  The PE array runs this
as it runs a convolution, with the input grid in place of the output grid:
the geometry (``ConvGeometry.of``) is C_i → C_o in g groups, a k_x × k_y
window at stride 1 over W_o := W_i, H_o := H_i, so

* Eq. 2: ``g·⌈(C_i/g)/P_if⌉·⌈k_x/P_kx⌉·⌈(C_o/g)/P_of⌉·⌈k_y/P_ky⌉·W_i·H_i``
  cycles — exactly the op table's ``C_i·(C_o/g)·k_x·k_y·H_i·W_i`` MACs at
  full occupancy; no multiplication by an inserted zero is counted (the
  zero-stuffed equivalent convolution would do s² times the work);
* Eq. 1 and 3: tiles of the input grid, each read with the k − 1 border that
  the neighbouring tiles' overlapping output windows share;
* Eq. 4: weights ``k_x·k_y·C_i·C_o/g``; outputs are the real
  ``W_o·H_o·C_o`` words (each output written once, after its last partial
  sum), not the grid's W_i·H_i·C_o.

The vectorised model (``fastmodel.py``) keeps the outputs beyond the grid's
in ``other_bits``; the pruned model (``pruned_cost.py``) removes
``W_o·H_o − W_i·H_i`` of them per pruned output channel.
"""

from __future__ import annotations

from ..ir import Graph, Node

__all__ = ["DECONV_REASON", "extra_output_pixels"]

DECONV_REASON = "scatter form: Eq. 2-4 over the input grid, outputs W_o·H_o·C_o"


def extra_output_pixels(graph: Graph, node: Node) -> int:
    """Output pixels a deconv writes beyond its input grid: W_o·H_o − W_i·H_i."""
    x = graph.input_shapes(node)[0]
    return node.shape.h * node.shape.w - x.h * x.w
