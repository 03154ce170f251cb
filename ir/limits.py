"""Limits on what segc accepts, each configurable by an environment variable.

Tensor sizes are checked when a graph is verified (after elaboration,
loading a JSON graph or importing ONNX, and after every pass), before any
cost, buffer or weight computation allocates anything in proportion:

* ``SEGC_MAX_TENSOR_ELEMENTS`` (2³¹): elements of one tensor, a layer's
  output C·H·W or its parameters;
* ``SEGC_MAX_NETWORK_ELEMENTS`` (2³⁶): the elements of all layers' outputs
  and parameters together.

The deepest example (DeepLabV3+ at 960×960) has about 2²⁹ in all; a
2048×1024 Cityscapes image at 64 channels is 2²⁷ in one tensor.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .diagnostics import Diagnostic, SegError
from .ops import OPS

if TYPE_CHECKING:
    from .graph import Graph, Node

__all__ = ["NETWORK_ELEMENTS", "TENSOR_ELEMENTS", "env_limit", "size_problems"]

TENSOR_ELEMENTS = ("SEGC_MAX_TENSOR_ELEMENTS", 2**31)
NETWORK_ELEMENTS = ("SEGC_MAX_NETWORK_ELEMENTS", 2**36)


def env_limit(setting: tuple[str, int]) -> int:
    """The limit a (variable, default) setting has now: the variable's value
    (a positive integer) when set, else the default."""
    variable, default = setting
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) == 0:
        raise SegError(Diagnostic(f"{variable} must be a positive integer, got '{text}'"))
    return int(text)


def _over(count: int, what: str, setting: tuple[str, int], limit: int, scope: str) -> str:
    return f"{what} {count:,} elements, over the limit of {limit:,} {scope} (set {setting[0]} to raise it)"


def _node_sizes(graph: Graph, node: Node) -> tuple[int, int]:
    """(output elements, parameters) of a layer."""
    c, h, w = node.shape
    params = OPS[node.op].params(node.attrs, graph.input_shapes(node), node.shape) if node.op in OPS else 0
    return c * h * w, params


def size_problems(graph: Graph) -> list[Diagnostic]:
    """The first layer (in order) whose output or parameters exceed the
    tensor limit, or else the first at which the network's total does."""
    per_tensor, per_network = env_limit(TENSOR_ELEMENTS), env_limit(NETWORK_ELEMENTS)
    total = 0
    for node in graph.nodes():
        if node.shape is None:
            continue
        elements, params = _node_sizes(graph, node)
        if elements > per_tensor or params > per_tensor:  # the message only then: a shape's text costs
            count, what = (elements, f"its output {node.shape} has") if elements > per_tensor else \
                (params, "its parameters have")
            message = _over(count, what, TENSOR_ELEMENTS, per_tensor, "per tensor")
            return [Diagnostic(f"layer '{node.name}': {message}", node.span)]
        total += elements + params
        if total > per_network:
            message = _over(total, "the outputs and parameters of the network up to here have", NETWORK_ELEMENTS,
                            per_network, "per network")
            return [Diagnostic(f"layer '{node.name}': {message}", node.span)]
    return []
