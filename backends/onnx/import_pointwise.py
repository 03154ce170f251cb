"""ONNX import of the ops of ``ir/ops_pointwise.py``: HardSigmoid (PyTorch's
alpha = 1/6, beta = 1/2 only), HardSwish, LeakyRelu, Tanh, Softmax over
channels, Mul (x·Sigmoid(x) becomes one silu layer, x·HardSigmoid(x) one
hardswish layer: the patterns exporters write), Sub,
Div by a constant and ReduceMean over height and width (mean; without
keepdims, a [N, C] matrix)."""

from __future__ import annotations

import numpy as np
import onnx

from .importer import _attrs, _Importer

__all__ = ["POINTWISE_IMPORT"]


def _f32(value) -> float:
    return float(str(np.float32(value)))


def _layer(im: _Importer, node: onnx.NodeProto, op: str, inputs: list[str], attrs: dict | None = None) -> str:
    name = im.add(im.layer_name(node), op, [im.tensor(node, v) for v in inputs], attrs or {}, node)
    im.values[node.output[0]] = name
    return name


def _one(op: str):
    return lambda im, node: _layer(im, node, op, [node.input[0]])


def _alpha_beta(node: onnx.NodeProto) -> tuple[float, float]:
    a = _attrs(node)
    return float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))


def _is_pytorchs(node: onnx.NodeProto) -> bool:
    """A HardSigmoid with PyTorch's alpha = 1/6 (in float32) and beta = 1/2."""
    alpha, beta = _alpha_beta(node)
    return bool(np.isclose(alpha, 1 / 6, rtol=1e-6, atol=0)) and beta == 0.5


def _hard_sigmoid(im: _Importer, node: onnx.NodeProto) -> None:
    alpha, beta = _alpha_beta(node)
    if not _is_pytorchs(node):
        raise im.fail(node, f"HardSigmoid with alpha={alpha:g}, beta={beta:g} is not supported; segc's "
                            "hardsigmoid is PyTorch's (alpha=1/6, beta=0.5)")
    _layer(im, node, "hardsigmoid", [node.input[0]])


def _leaky_relu(im: _Importer, node: onnx.NodeProto) -> None:
    _layer(im, node, "leakyrelu", [node.input[0]], {"slope": _f32(_attrs(node).get("alpha", 0.01))})


def _opset(im: _Importer) -> int:
    return next((o.version for o in im.model.opset_import if o.domain in ("", "ai.onnx")), 1)


def _softmax(im: _Importer, node: onnx.NodeProto) -> None:
    axis = int(_attrs(node).get("axis", 1 if _opset(im) < 13 else -1))
    if axis not in (1, -3):
        raise im.fail(node, f"Softmax over axis {axis} is not supported; only over channels (axis 1)")
    shape = im.graph.node(im.tensor(node, node.input[0])).shape
    if _opset(im) < 13 and (shape.h, shape.w) != (1, 1):
        raise im.fail(node, "Softmax before opset 13 normalises over C·H·W together; only a softmax over "
                            "channels is supported")
    _layer(im, node, "softmax", [node.input[0]])


def _producer(im: _Importer, value: str) -> onnx.NodeProto | None:
    return next((n for n in im.model.graph.node if value in n.output), None)


_GATED = {"Sigmoid": "silu", "HardSigmoid": "hardswish"}  # x · gate(x)


def _gated_input(im: _Importer, mul: onnx.NodeProto) -> tuple[str, str] | None:
    """(x, op) where ``mul`` is x · Sigmoid(x) (silu) or x · HardSigmoid(x)
    (hardswish, as opset 13 exporters write it) and the gate feeds nothing else."""
    outputs = {v.name for v in im.model.graph.output}
    for gate, x in ((mul.input[1], mul.input[0]), (mul.input[0], mul.input[1])):
        producer = _producer(im, gate)
        users = [n for n in im.model.graph.node if gate in n.input]
        if producer is None or producer.op_type not in _GATED or (producer.op_type == "HardSigmoid"
                                                                  and not _is_pytorchs(producer)):
            continue
        if producer.input[0] == x and users == [mul] and gate not in outputs:
            return x, _GATED[producer.op_type]
    return None


def _gate(lower):
    """A Sigmoid or HardSigmoid that a Mul turns into silu or hardswish makes no layer of its own."""
    def run(im: _Importer, node: onnx.NodeProto) -> None:
        users = [n for n in im.model.graph.node if node.output[0] in n.input]
        if len(users) == 1 and users[0].op_type == "Mul" and len(users[0].input) == 2 \
                and _gated_input(im, users[0]) is not None:
            return
        lower(im, node)
    return run


def _binary(op: str):
    def lower(im: _Importer, node: onnx.NodeProto) -> None:
        if any(isinstance(im.constants.get(v), np.ndarray) for v in node.input):
            raise im.fail(node, f"{node.op_type} with a constant is not supported (only of two feature maps)")
        gated = _gated_input(im, node) if op == "mul" else None
        if gated is not None:
            _layer(im, node, gated[1], [gated[0]])
        else:
            _layer(im, node, op, list(node.input))
    return lower


def _div(im: _Importer, node: onnx.NodeProto) -> None:
    divisor = im.constants.get(node.input[1])
    if not isinstance(divisor, np.ndarray) or divisor.size != 1 or float(divisor.reshape(())) == 0:
        raise im.fail(node, "only division by a non-zero constant number is supported")
    _layer(im, node, "div", [node.input[0]], {"by": _f32(divisor.reshape(()))})


def _reduce_mean(im: _Importer, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    axes = a.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = im.constant(node, node.input[1], "the axes").reshape(-1).tolist()
    if sorted(int(v) % 4 for v in axes or []) != [2, 3]:
        raise im.fail(node, f"only ReduceMean over height and width (axes [2, 3]) is supported, got axes {axes}")
    _layer(im, node, "mean", [node.input[0]], {"keepdims": bool(a.get("keepdims", 1))})  # without: [N, C]


POINTWISE_IMPORT = {
    "HardSigmoid": _gate(_hard_sigmoid), "HardSwish": _one("hardswish"), "LeakyRelu": _leaky_relu,
    "Tanh": _one("tanh"), "Softmax": _softmax, "Sigmoid": _gate(_one("sigmoid")), "Mul": _binary("mul"),
    "Sub": _binary("sub"), "Div": _div, "ReduceMean": _reduce_mean,
}
