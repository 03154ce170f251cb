"""Transposed convolution (``deconv``): the rules of its op-table entry.

PyTorch's ``ConvTranspose2d`` semantics: per spatial axis, input size ``n``,
kernel ``k``, stride ``s``, padding ``p``, dilation ``d``, output padding
``a`` (which must be below ``s`` or ``d``):

    out = (n − 1)·s − 2p + d·(k − 1) + a + 1

Weights are ``[C_i, C_o/g, k_h, k_w]`` (input channels first).  Work counts
(per input sample), in the scatter form — every input pixel multiplies its
``C_o/g × k_h × k_w`` filter slice into the output:

* MACs ``C_i·(C_o/g)·k_h·k_w·H_i·W_i``;
* parameters ``C_i·(C_o/g)·k_h·k_w (+C_o bias)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .attrs import Attr
from .opdef import Attrs
from .shapes import Shape, ShapeError

__all__ = ["DECONV_ATTRS", "deconv_macs", "deconv_normalize", "deconv_output", "deconv_params", "deconv_shape"]

DECONV_ATTRS = (
    Attr("out", "int", minimum=1, doc="output channels"),
    Attr("k", "pair", minimum=1, doc="kernel size"),
    Attr("stride", "pair", (1, 1), minimum=1),
    Attr("padding", "pair", (0, 0), minimum=0, doc="removed from each side of the full output"),
    Attr("output_padding", "pair", (0, 0), minimum=0, doc="added to the bottom and right; below stride or dilation"),
    Attr("dilation", "pair", (1, 1), minimum=1),
    Attr("groups", "int", 1, minimum=1, doc="channel groups"),
    Attr("bias", "bool", False),
)


def deconv_normalize(attrs: dict[str, Any]) -> str | None:
    for extra, s, d in zip(attrs["output_padding"], attrs["stride"], attrs["dilation"]):
        if extra >= max(s, d):
            return (f"deconv output_padding {list(attrs['output_padding'])} must be smaller than the stride "
                    f"{list(attrs['stride'])} or the dilation {list(attrs['dilation'])}")
    return None


def deconv_output(n: int, k: int, stride: int, pad: int, dilation: int, extra: int) -> int:
    """Output size along one axis (may be <= 0 when the padding eats it)."""
    return (n - 1) * stride - 2 * pad + dilation * (k - 1) + extra + 1


def deconv_shape(attrs: Attrs, inputs: Sequence[Shape]) -> Shape:
    x, = inputs
    groups, out = attrs["groups"], attrs["out"]
    if x.c % groups or out % groups:
        raise ShapeError(
            f"deconv groups={groups} must divide both the input channels ({x.c}) and the output channels ({out})"
        )
    ho, wo = (deconv_output(n, *args) for n, *args in zip(
        (x.h, x.w), attrs["k"], attrs["stride"], attrs["padding"], attrs["dilation"], attrs["output_padding"]))
    if ho < 1 or wo < 1:
        raise ShapeError(f"deconv output would be empty: padding {list(attrs['padding'])} removes all of it")
    return Shape(out, ho, wo)


def deconv_macs(attrs: Attrs, inputs: Sequence[Shape], out: Shape) -> int:
    x, (kh, kw) = inputs[0], attrs["k"]
    return x.c * (out.c // attrs["groups"]) * kh * kw * x.h * x.w


def deconv_params(attrs: Attrs, inputs: Sequence[Shape], out: Shape) -> int:
    kh, kw = attrs["k"]
    return inputs[0].c * (out.c // attrs["groups"]) * kh * kw + (out.c if attrs["bias"] else 0)
