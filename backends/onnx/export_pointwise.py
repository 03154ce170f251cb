"""ONNX export of the ops of ``ir/ops_pointwise.py`` (one function per op,
on ``export.py``'s emitter), and of network outputs that are [N, F]
matrices (``is_flat``): a Flatten makes them [N, F] as the torch module
returns them.

hardsigmoid is HardSigmoid with alpha = 1/6, beta = 1/2 (relu6(x + 3) / 6
= clip(x/6 + 1/2, 0, 1)); silu is Sigmoid then Mul, as exporters write it;
mean is ReduceMean over axes [2, 3] (without keepdims, reshaped back to
[N, C, 1, 1], as a linear layer's Gemm is: the IR's tensors stay 4-D until an
output).
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from ...ir import Graph, Node
from ...ir.ops_pointwise import is_flat

__all__ = ["POINTWISE_ONNX", "flatten_outputs"]


def _same_op(op: str, **attrs):
    def lower(e, n: Node) -> None:
        e.node(op, list(n.inputs), n.name, n.name, **attrs)
    return lower


def _silu(e, n: Node) -> None:
    gate = e.node("Sigmoid", [n.inputs[0]], f"{n.name}/sigmoid", f"{n.name}/sigmoid")
    e.node("Mul", [n.inputs[0], gate], n.name, n.name)


def _clip(e, n: Node) -> None:
    bounds = [e.constant(f"{n.name}/{b}", n.attrs[b], np.float32) if n.attrs[b] is not None else ""
              for b in ("min", "max")]
    e.node("Clip", [n.inputs[0], *bounds], n.name, n.name)


def _reduce_mean(e, n: Node, output: str, keepdims: int) -> str:
    """ReduceMean over [2, 3]: its axes an attribute up to opset 17, an input after."""
    if e.opset < 18:
        return e.node("ReduceMean", [n.inputs[0]], output, n.name, axes=[2, 3], keepdims=keepdims)
    axes = e.constant(f"{n.name}/axes", [2, 3])
    return e.node("ReduceMean", [n.inputs[0], axes], output, n.name, keepdims=keepdims)


def _mean(e, n: Node) -> None:
    if n.attrs["keepdims"]:
        _reduce_mean(e, n, n.name, 1)
        return
    flat = _reduce_mean(e, n, f"{n.name}/mean", 0)
    e.node("Reshape", [flat, e.constant(f"{n.name}/nchw", [0, -1, 1, 1])], n.name, f"{n.name}/reshape")


def _div(e, n: Node) -> None:
    e.node("Div", [n.inputs[0], e.constant(f"{n.name}/by", n.attrs["by"], np.float32)], n.name, n.name)


POINTWISE_ONNX = {
    "hardsigmoid": _same_op("HardSigmoid", alpha=1 / 6, beta=0.5),
    "hardswish": _same_op("HardSwish"),
    "silu": _silu,
    "leakyrelu": lambda e, n: e.node("LeakyRelu", [n.inputs[0]], n.name, n.name, alpha=n.attrs["slope"]),
    "tanh": _same_op("Tanh"),
    "clip": _clip,
    "div": _div,
    "softmax": _same_op("Softmax", axis=1),
    "mul": _same_op("Mul"),
    "sub": _same_op("Sub"),
    "mean": _mean,
}


def flatten_outputs(graph: Graph, nodes: list) -> None:
    """Outputs that are matrices leave through a Flatten (axis 1): the output
    layer's Identity becomes one, or, where the layer's value is the graph
    output itself, that value is renamed ``NAME/4d`` and flattened."""
    for out in graph.outputs:
        if not is_flat(graph, out.inputs[0]):
            continue
        if out.output_name != out.inputs[0]:
            node = next(n for n in nodes if n.name == out.name)
            node.op_type = "Flatten"
            node.attribute.append(helper.make_attribute("axis", 1))
            continue
        inner = f"{out.output_name}/4d"
        for node in nodes:
            node.input[:] = [inner if v == out.output_name else v for v in node.input]
            node.output[:] = [inner if v == out.output_name else v for v in node.output]
        nodes.append(helper.make_node("Flatten", [inner], [out.output_name], name=out.name, axis=1))
