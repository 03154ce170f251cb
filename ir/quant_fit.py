"""Whether the target implements the widths of a network's layers.

A target implements operands up to its widest ``dsp_packing`` entry, or up
to its ``word`` when it gives no packing (``Target.widest_bits``).  Every
quantized layer's weight and activation widths must be at most that; an
unquantized layer computes at the word, which the target always implements.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .graph import Graph, Node

__all__ = ["width_problems"]

_WHAT = {"w": "weights", "a": "activations"}


def _limit_text(graph: Graph) -> str:
    target = graph.target
    if target.dsp_packing is not None:
        return f"its dsp_packing goes up to w{target.widest_bits}"
    return f"its word is {target.word_bits} bits and it gives no dsp_packing"


def width_problems(graph: Graph) -> list[tuple[Node, str, str]]:
    """(layer, option "w" or "a", message) for each width of a layer that
    the graph's target cannot implement."""
    target = graph.target
    if target is None:
        return []
    problems = []
    for node in graph.nodes():
        if node.quant is None:
            continue
        for option, bits in (("w", node.quant.w_bits), ("a", node.quant.a_bits)):
            if bits is not None and bits > target.widest_bits:
                problems.append((node, option, f"layer '{node.name}': {bits}-bit {_WHAT[option]} are wider than "
                                               f"target '{target.name}' implements ({_limit_text(graph)})"))
    return problems
