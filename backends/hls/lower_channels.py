"""HLS lowering of the channel ops: a slice is a requantizing copy of its
contiguous channel range ([C][H][W] keeps a channel's pixels together); a
shuffle is ``channel_shuffle`` (``lib/segc_shuffle.h``); a transposed
convolution is ``deconv2d`` (``lib/segc_deconv.h``), with a convolution's
weight and bias formats."""

from __future__ import annotations

from ...ir import Node
from .context import Call, Context, Lowered
from .lower_conv import conv_weights
from .scales import rescale_info, word_rescale

__all__ = ["lower_deconv", "lower_shuffle", "lower_slice"]


def _fracs(ctx: Context, node: Node) -> dict[str, int]:
    return {"FRAC_IN": ctx.frac(node.inputs[0]), "FRAC_OUT": ctx.frac(node.name)}


def lower_slice(ctx: Context, node: Node) -> Lowered:
    c, h, w = node.shape
    source = f"{ctx.data(node.inputs[0])} + {node.attrs['start'] * h * w}"
    config = {"N": c * h * w, **_fracs(ctx, node), **word_rescale(ctx, node.inputs[0], node)}
    return Lowered([Call("requantize_copy", config, (source, ctx.data(node.name)))], info=rescale_info(config))


def lower_shuffle(ctx: Context, node: Node) -> Lowered:
    c, h, w = node.shape
    config = {"C": c, "HW": h * w, "GROUPS": node.attrs["groups"], **_fracs(ctx, node)}
    return Lowered([Call("channel_shuffle", config, (ctx.data(node.inputs[0]), ctx.data(node.name)))])


def lower_deconv(ctx: Context, node: Node) -> Lowered:
    """``deconv2d`` (``lib/segc_deconv.h``), weights [C_i][C_o/g][k_h][k_w] as stored."""
    a, x, u = node.attrs, ctx.graph.input_shapes(node)[0], ctx.unroll
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = a["k"], a["stride"], a["padding"], a["dilation"]
    config = {"CI": x.c, "H": x.h, "W": x.w, "CO": node.shape.c, "HO": node.shape.h, "WO": node.shape.w,
              "KH": kh, "KW": kw, "SH": sh, "SW": sw, "PH": ph, "PW": pw, "DH": dh, "DW": dw,
              "GROUPS": a["groups"], "POF": u.pof}
    formats, weight, bias = conv_weights(ctx, node, "", ctx.frac(node.inputs[0]), a["bias"])
    config.update(formats, FRAC_OUT=ctx.frac(node.name))
    return Lowered([Call("deconv2d", config, (ctx.data(node.inputs[0]), weight, bias, ctx.data(node.name)))])
