"""Ops of MobileNet- and EfficientNet-style networks, added to the op table
(``ops.py``): the activations hardsigmoid, hardswish, silu, leakyrelu, tanh
and clip; softmax over channels; the element-wise mul (with a [C, 1, 1]
operand broadcast over H and W: squeeze-and-excitation), sub and division
by a constant; and mean over height and width.

Definitions are PyTorch's: hardsigmoid(x) = relu6(x + 3) / 6,
hardswish(x) = x · relu6(x + 3) / 6, silu(x) = x · σ(x), leakyrelu(x) =
x if x ≥ 0 else slope · x.  None has MACs or parameters.  A mul, like an
add, couples the channels of its inputs (channel i of the scale multiplies
channel i of the tensor), so pruning removes them together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .attrs import Attr
from .opdef import Attrs, Coupling, OpDef
from .shapes import Shape, ShapeError

__all__ = ["FLAT_OPS", "POINTWISE_OPS", "is_flat", "output_shape"]


def _same(attrs: Attrs, inputs: Sequence[Shape]) -> Shape:
    return inputs[0]


def _elementwise(kind: Coupling):
    return lambda attrs, inputs: kind


def _mul_shape(attrs: Attrs, inputs: Sequence[Shape]) -> Shape:
    a, b = inputs
    if a == b:
        return a
    for big, small in ((a, b), (b, a)):
        if small == Shape(big.c, 1, 1):
            return big
    raise ShapeError(f"mul inputs must have the same shape, or one be [C, 1, 1] with the other's C, "
                     f"got {a} and {b}")


def _sub_shape(attrs: Attrs, inputs: Sequence[Shape]) -> Shape:
    if inputs[0] != inputs[1]:
        raise ShapeError(f"sub inputs must have the same shape, got {inputs[0]} and {inputs[1]}")
    return inputs[0]


def _mean_shape(attrs: Attrs, inputs: Sequence[Shape]) -> Shape:
    return Shape(inputs[0].c, 1, 1)


def _clip_normalize(attrs: dict[str, Any]) -> str | None:
    low, high = attrs["min"], attrs["max"]
    if low is None and high is None:
        return "clip needs 'min', 'max' or both"
    if low is not None and high is not None and low > high:
        return f"clip min ({low:g}) must not exceed max ({high:g})"
    return None


def _div_normalize(attrs: dict[str, Any]) -> str | None:
    return "div by zero" if attrs["by"] == 0 else None


def _activation(name: str, doc: str, attrs: tuple[Attr, ...] = (), **extra) -> OpDef:
    return OpDef(name, doc, _same, attrs, positional=tuple(a.name for a in attrs), **extra)


POINTWISE_OPS = [
    _activation("hardsigmoid", "relu6(x + 3) / 6"),
    _activation("hardswish", "x · relu6(x + 3) / 6"),
    _activation("silu", "x · sigmoid(x) (swish)"),
    _activation("leakyrelu", "x if x ≥ 0 else slope · x",
                (Attr("slope", "float", 0.01, doc="the slope for negative x"),)),
    _activation("tanh", "hyperbolic tangent"),
    _activation("clip", "min(max(x, min), max) (either bound may be left out)",
                (Attr("min", "opt_float", None, doc="lower bound"), Attr("max", "opt_float", None, doc="upper bound")),
                normalize=_clip_normalize),
    _activation("div", "x / by, a constant", (Attr("by", "float", doc="the divisor"),), normalize=_div_normalize),
    OpDef("softmax", "softmax over channels", _same),
    OpDef("mul", "element-wise product; a [C, 1, 1] operand scales every pixel (squeeze-and-excitation)",
          _mul_shape, inputs=(2, 2), coupling_rule=_elementwise(Coupling.ELEMENTWISE)),
    OpDef("sub", "element-wise difference of two tensors of the same shape", _sub_shape, inputs=(2, 2),
          coupling_rule=_elementwise(Coupling.ELEMENTWISE)),
    OpDef("mean", "mean over height and width to [C, 1, 1]; keepdims=false: a [N, C] result", _mean_shape,
          (Attr("keepdims", "bool", True, doc="keep H and W (as 1) in the network's output"),)),
]

# Ops whose result is a [N, F] matrix (the IR keeps it as [F, 1, 1]).
FLAT_OPS = ("flatten", "linear")
_KEEPS_FLAT = ("bn", "relu", "relu6", "sigmoid", "identity", "hardsigmoid", "hardswish", "silu", "leakyrelu",
               "tanh", "clip", "div", "softmax", "add", "sub", "mul")


def is_flat(graph, name: str) -> bool:
    """Whether a layer's value is a [N, F] matrix rather than a feature map:
    flatten, linear and mean(keepdims=false) make one, element-wise ops on
    matrices keep one.  Backends return network outputs of such layers as
    [N, F]."""
    node = graph.node(name)
    if node.op in FLAT_OPS or (node.op == "mean" and not node.attrs["keepdims"]):
        return True
    if node.op not in _KEEPS_FLAT or tuple(node.shape)[1:] != (1, 1):
        return False
    return all(is_flat(graph, i) for i in node.inputs)


def output_shape(graph, node) -> list[int]:
    """A network output's shape per sample as backends give it: [F] for a
    matrix, else [C, H, W]."""
    return [node.shape.c] if is_flat(graph, node.inputs[0]) else list(node.shape)
