"""The op table: every op segc knows, declared once.

Work counts (per input sample):

* conv: ``H_o·W_o·C_o·(C_i/g)·k_h·k_w`` MACs, ``C_o·(C_i/g)·k_h·k_w (+C_o bias)``
  parameters.
* dconv (deformable, CoDeNet): the main convolution plus its offset branch,
  a conv from ``C_i`` to ``2·k_h·k_w·G`` offsets (shape "full", same window
  as the main conv) or a 1×1 conv to ``G`` scales (shape "square"), with bias;
  ``G`` = offset groups.  Bilinear sampling is not a multiply-accumulate and
  is not counted here.
* deconv (transposed): ``C_i·(C_o/g)·k_h·k_w·H_i·W_i`` MACs, as many
  parameters (+C_o bias); see ``ops_deconv.py``.
* linear: ``F_i·F_o`` MACs, ``F_i·F_o + F_o`` parameters.
* bn: ``2·C`` parameters (scale and shift; running statistics are buffers).
* everything else: no MACs, no parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .attrs import Attr
from .opdef import Attrs, Coupling, OpDef
from .ops_channels import SHUFFLE_ATTRS, SLICE_ATTRS, shuffle_shape, slice_normalize, slice_shape
from .ops_deconv import DECONV_ATTRS, deconv_macs, deconv_normalize, deconv_params, deconv_shape
from .ops_pointwise import POINTWISE_OPS
from .shapes import Shape, ShapeError, check_window, conv_padding, pool_output

__all__ = ["OPS", "conv_pads", "opdef"]


def conv_pads(attrs: Attrs) -> tuple[int, int]:
    """Per-side (height, width) padding of a conv, dconv or pooling node."""
    return conv_padding(attrs["padding"], attrs["k"], attrs.get("dilation", (1, 1)))


# ---------------------------------------------------------------- conv, dconv

def _conv_shape(attrs: Attrs, inputs: Sequence[Shape], op: str = "conv") -> Shape:
    x, = inputs
    groups, out = attrs["groups"], attrs["out"]
    if x.c % groups or out % groups:
        raise ShapeError(
            f"{op} groups={groups} must divide both the input channels ({x.c}) and the output channels ({out})"
        )
    ho, wo = check_window(op, x, attrs["k"], attrs["stride"], attrs["dilation"], conv_pads(attrs))
    return Shape(out, ho, wo)


def _conv_macs(attrs: Attrs, inputs: Sequence[Shape], out: Shape) -> int:
    kh, kw = attrs["k"]
    return out.h * out.w * out.c * (inputs[0].c // attrs["groups"]) * kh * kw


def _conv_params(attrs: Attrs, inputs: Sequence[Shape], out: Shape) -> int:
    kh, kw = attrs["k"]
    return out.c * (inputs[0].c // attrs["groups"]) * kh * kw + (out.c if attrs["bias"] else 0)


def _conv_coupling(attrs: Attrs, inputs: Sequence[Shape]) -> Coupling:
    groups = attrs["groups"]
    if groups == 1:
        return Coupling.SOURCE
    if groups == inputs[0].c == attrs["out"]:
        return Coupling.DEPTHWISE
    return Coupling.GROUPED


def offset_channels(attrs: Attrs) -> int:
    """Channels the offset branch of a dconv predicts."""
    kh, kw = attrs["k"]
    per_group = 2 * kh * kw if attrs["shape"] == "full" else 1
    return per_group * attrs["offset_groups"]


def _offset_window(attrs: Attrs) -> int:
    kh, kw = attrs["k"]
    return kh * kw if attrs["shape"] == "full" else 1


def _dconv_shape(attrs: Attrs, inputs: Sequence[Shape]) -> Shape:
    if inputs[0].c % attrs["offset_groups"]:
        raise ShapeError(
            f"dconv offset_groups={attrs['offset_groups']} must divide the input channels ({inputs[0].c})"
        )
    return _conv_shape(attrs, inputs, "dconv")


def _dconv_macs(attrs: Attrs, inputs: Sequence[Shape], out: Shape) -> int:
    offsets = out.h * out.w * offset_channels(attrs) * inputs[0].c * _offset_window(attrs)
    return _conv_macs(attrs, inputs, out) + offsets


def _dconv_params(attrs: Attrs, inputs: Sequence[Shape], out: Shape) -> int:
    n_off = offset_channels(attrs)
    offsets = n_off * inputs[0].c * _offset_window(attrs) + n_off
    return _conv_params(attrs, inputs, out) + offsets


def _dconv_normalize(attrs: dict[str, Any]) -> str | None:
    if attrs["shape"] == "square" and attrs["k"][0] != attrs["k"][1]:
        return 'dconv shape="square" needs a square kernel'
    return None


_WINDOW = (
    Attr("k", "pair", minimum=1, doc="kernel size"),
    Attr("stride", "pair", (1, 1), minimum=1),
    Attr("dilation", "pair", (1, 1), minimum=1),
    Attr("groups", "int", 1, minimum=1, doc="channel groups; = channels for depthwise"),
    Attr("padding", "padding", "same", minimum=0),
)
_CONV_ATTRS = (Attr("out", "int", minimum=1, doc="output channels"), *_WINDOW, Attr("bias", "bool", False))
_DCONV_ATTRS = (
    *_CONV_ATTRS,
    Attr("bound", "opt_float", None, minimum=0, doc="offsets clamped to [-bound, bound]"),
    Attr("shape", "enum", "full", choices=("full", "square"), doc="sampling shape"),
    Attr("round", "bool", False, doc="integer offsets, no bilinear interpolation"),
    Attr("offset_groups", "int", 1, minimum=1, doc="deformable groups"),
)


# ---------------------------------------------------------------- pooling

def _pool_normalize(attrs: dict[str, Any]) -> str | None:
    if attrs.get("global"):
        if attrs["k"] is not None or attrs["stride"] is not None or attrs["padding"] != (0, 0):
            return "avgpool(global=true) takes no k, stride or padding"
        return None
    if attrs["k"] is None:
        return "pooling needs 'k' (or global=true for avgpool)"
    if attrs["stride"] is None:
        attrs["stride"] = attrs["k"]
    pads = attrs["padding"]
    if pads != "same" and any(2 * p > k for p, k in zip(pads, attrs["k"])):
        return f"pooling padding {list(pads)} must be at most half the kernel {list(attrs['k'])}"
    return None


def _pool_shape(attrs: Attrs, inputs: Sequence[Shape]) -> Shape:
    x, = inputs
    if attrs.get("global"):
        return Shape(x.c, 1, 1)
    k, stride = attrs["k"], attrs["stride"]
    pads = conv_padding(attrs["padding"], k, (1, 1))
    ho = pool_output(x.h, k[0], stride[0], pads[0], attrs["ceil"])
    wo = pool_output(x.w, k[1], stride[1], pads[1], attrs["ceil"])
    if ho < 1 or wo < 1:
        raise ShapeError(
            f"pooling output would be empty: the {x.h}×{x.w} input is smaller than the {k[0]}×{k[1]} window"
        )
    return Shape(x.c, ho, wo)


_POOL_ATTRS = (
    Attr("k", "pair", None, minimum=1, doc="window size"),
    Attr("stride", "pair", None, minimum=1, doc="defaults to k"),
    Attr("padding", "padding", (0, 0), minimum=0),
    Attr("ceil", "bool", False, doc="round the output size up (ceil_mode)"),
)


# ---------------------------------------------------------------- the rest

def _same(attrs: Attrs, inputs: Sequence[Shape]) -> Shape:
    return inputs[0]


def _input_shape(attrs: Attrs, inputs: Sequence[Shape]) -> Shape:
    return Shape(attrs["c"], attrs["h"], attrs["w"])


def _bn_params(attrs: Attrs, inputs: Sequence[Shape], out: Shape) -> int:
    return 2 * out.c


def _add_shape(attrs: Attrs, inputs: Sequence[Shape]) -> Shape:
    for other in inputs[1:]:
        if other != inputs[0]:
            raise ShapeError(f"add inputs must have the same shape, got {inputs[0]} and {other}")
    return inputs[0]


def _concat_shape(attrs: Attrs, inputs: Sequence[Shape]) -> Shape:
    for other in inputs[1:]:
        if (other.h, other.w) != (inputs[0].h, inputs[0].w):
            raise ShapeError(
                f"concat inputs must have the same height and width, got {inputs[0]} and {other}"
            )
    return Shape(sum(s.c for s in inputs), inputs[0].h, inputs[0].w)


def _upsample_normalize(attrs: dict[str, Any]) -> str | None:
    if attrs["align_corners"] and attrs["mode"] != "bilinear":
        return 'align_corners=true needs mode="bilinear"'
    return None


def _upsample_shape(attrs: Attrs, inputs: Sequence[Shape]) -> Shape:
    x = inputs[0]
    scale = attrs["scale"]
    if (scale is None) == (len(inputs) == 1):
        raise ShapeError("upsample needs exactly one of 'scale' or 'to' (a tensor whose size to match)")
    if scale is None:
        return Shape(x.c, inputs[1].h, inputs[1].w)
    ho, wo = int(x.h * scale[0]), int(x.w * scale[1])
    if ho < 1 or wo < 1:
        raise ShapeError(f"upsample output would be empty: {x.h}×{x.w} scaled by {scale[0]:g}×{scale[1]:g}")
    return Shape(x.c, ho, wo)


def _flatten_shape(attrs: Attrs, inputs: Sequence[Shape]) -> Shape:
    x, = inputs
    return Shape(x.c * x.h * x.w, 1, 1)


def _linear_shape(attrs: Attrs, inputs: Sequence[Shape]) -> Shape:
    x, = inputs
    if (x.h, x.w) != (1, 1):
        raise ShapeError(f"linear needs a [C, 1, 1] input, got {x}; flatten or pool it first")
    return Shape(attrs["out"], 1, 1)


def _linear_macs(attrs: Attrs, inputs: Sequence[Shape], out: Shape) -> int:
    return inputs[0].c * out.c


def _linear_params(attrs: Attrs, inputs: Sequence[Shape], out: Shape) -> int:
    return inputs[0].c * out.c + (out.c if attrs["bias"] else 0)


def _coupling(kind: Coupling):
    return lambda attrs, inputs: kind


def _activation(name: str, doc: str) -> OpDef:
    return OpDef(name, doc, _same)


_OP_LIST = [
    OpDef(
        "input", "a network input of shape [c, h, w]", _input_shape,
        attrs=(Attr("c", "int", minimum=1), Attr("h", "int", minimum=1), Attr("w", "int", minimum=1)),
        inputs=(0, 0), coupling_rule=_coupling(Coupling.FIXED),
    ),
    OpDef("output", "a network output", _same, coupling_rule=_coupling(Coupling.FIXED)),
    OpDef(
        "conv", "2-D convolution (grouped, depthwise, dilated)", _conv_shape, _CONV_ATTRS,
        positional=("out",), macs_rule=_conv_macs, params_rule=_conv_params, coupling_rule=_conv_coupling,
    ),
    OpDef(
        "dconv", "deformable 2-D convolution with its offset branch (CoDeNet variants)", _dconv_shape,
        _DCONV_ATTRS, positional=("out",), macs_rule=_dconv_macs, params_rule=_dconv_params,
        coupling_rule=_conv_coupling, normalize=_dconv_normalize,
    ),
    OpDef(
        "deconv", "transposed 2-D convolution (PyTorch's ConvTranspose2d)", deconv_shape, DECONV_ATTRS,
        positional=("out",), macs_rule=deconv_macs, params_rule=deconv_params, coupling_rule=_conv_coupling,
        normalize=deconv_normalize,
    ),
    OpDef(
        "bn", "batch normalisation", _same, (Attr("eps", "float", 1e-5, minimum=0),), params_rule=_bn_params,
    ),
    _activation("relu", "max(x, 0)"),
    _activation("relu6", "min(max(x, 0), 6)"),
    _activation("sigmoid", "1 / (1 + exp(-x))"),
    _activation("identity", "x"),
    OpDef("maxpool", "max pooling", _pool_shape, _POOL_ATTRS, positional=("k",), normalize=_pool_normalize),
    OpDef(
        "avgpool", "average pooling (padding counted in the average); global=true pools to 1×1", _pool_shape,
        (*_POOL_ATTRS, Attr("global", "bool", False)), positional=("k",), normalize=_pool_normalize,
    ),
    OpDef(
        "upsample", "resize by a scale or to the size of another tensor ('to')", _upsample_shape,
        (
            Attr("scale", "scale", None),
            Attr("mode", "enum", "nearest", choices=("nearest", "bilinear")),
            Attr("align_corners", "bool", False),
        ),
        inputs=(1, 2), positional=("scale",), operand_keywords=("to",), shape_only=(1,),
        normalize=_upsample_normalize,
    ),
    OpDef("add", "element-wise sum", _add_shape, inputs=(2, None), coupling_rule=_coupling(Coupling.ELEMENTWISE)),
    OpDef(
        "concat", "concatenation along channels", _concat_shape, inputs=(1, None),
        coupling_rule=_coupling(Coupling.CONCAT),
    ),
    OpDef(
        "slice", "channels [start, end) of the input (a split is several slices)", slice_shape, SLICE_ATTRS,
        positional=("start", "end"), coupling_rule=_coupling(Coupling.SLICE), normalize=slice_normalize,
    ),
    OpDef(
        "shuffle", "ShuffleNet's channel shuffle across groups", shuffle_shape, SHUFFLE_ATTRS,
        positional=("groups",), coupling_rule=_coupling(Coupling.SHUFFLE),
    ),
    OpDef("flatten", "[C, H, W] to [C·H·W, 1, 1]", _flatten_shape, coupling_rule=_coupling(Coupling.FLATTEN)),
    OpDef(
        "linear", "fully connected layer on a [C, 1, 1] input", _linear_shape,
        (Attr("out", "int", minimum=1), Attr("bias", "bool", True)), positional=("out",),
        macs_rule=_linear_macs, params_rule=_linear_params, coupling_rule=_coupling(Coupling.SOURCE),
    ),
    *POINTWISE_OPS,
]

OPS: dict[str, OpDef] = {op.name: op for op in _OP_LIST}


def opdef(name: str) -> OpDef:
    return OPS[name]
