"""ONNX import of the ops of ``ir/ops_pointwise.py``: HardSigmoid (PyTorch's
alpha = 1/6, beta = 1/2 only), HardSwish, LeakyRelu, Tanh, Softmax over
channels, Mul (SiLU's x·Sigmoid(x) pattern becomes one silu layer), Sub,
Div by a constant and ReduceMean over height and width (keeping them: a
global average pooling; not: a [N, C] mean)."""

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
    if all(v in im.rank2 for v in inputs):  # an activation of a [N, F] matrix is one
        im.rank2.add(node.output[0])
    return name


def _one(op: str):
    return lambda im, node: _layer(im, node, op, [node.input[0]])


def _hard_sigmoid(im: _Importer, node: onnx.NodeProto) -> None:
    a = _attrs(node)
    alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
    if not (np.isclose(alpha, 1 / 6, rtol=1e-6, atol=0) and beta == 0.5):
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
    _layer(im, node, "softmax", [node.input[0]])


def _producer(im: _Importer, value: str) -> onnx.NodeProto | None:
    return next((n for n in im.model.graph.node if value in n.output), None)


def _silu_input(im: _Importer, mul: onnx.NodeProto) -> str | None:
    """x where ``mul`` is x · Sigmoid(x) and that Sigmoid feeds nothing else."""
    for gate, x in ((mul.input[1], mul.input[0]), (mul.input[0], mul.input[1])):
        sigmoid = _producer(im, gate)
        users = [n for n in im.model.graph.node if gate in n.input]
        outputs = {v.name for v in im.model.graph.output}
        if sigmoid is not None and sigmoid.op_type == "Sigmoid" and sigmoid.input[0] == x and users == [mul] \
                and gate not in outputs:
            return x
    return None


def _sigmoid(im: _Importer, node: onnx.NodeProto) -> None:
    users = [n for n in im.model.graph.node if node.output[0] in n.input]
    if len(users) == 1 and users[0].op_type == "Mul" and len(users[0].input) == 2 and _silu_input(im, users[0]):
        return  # the Mul makes the silu layer
    _layer(im, node, "sigmoid", [node.input[0]])


def _binary(op: str):
    def lower(im: _Importer, node: onnx.NodeProto) -> None:
        if any(isinstance(im.constants.get(v), np.ndarray) for v in node.input):
            raise im.fail(node, f"{node.op_type} with a constant is not supported (only of two feature maps)")
        silu = _silu_input(im, node) if op == "mul" else None
        if silu is not None:
            _layer(im, node, "silu", [silu])
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
    keep = bool(a.get("keepdims", 1))
    if keep:
        _layer(im, node, "avgpool", [node.input[0]], {"global": True})
    else:
        _layer(im, node, "mean", [node.input[0]], {"keepdims": False})
        im.rank2.add(node.output[0])


POINTWISE_IMPORT = {
    "HardSigmoid": _hard_sigmoid, "HardSwish": _one("hardswish"), "LeakyRelu": _leaky_relu, "Tanh": _one("tanh"),
    "Softmax": _softmax, "Sigmoid": _sigmoid, "Mul": _binary("mul"), "Sub": _binary("sub"), "Div": _div,
    "ReduceMean": _reduce_mean,
}
