"""HLS lowering of the multiply-accumulate layers: conv, dconv, linear.

Tiles come from the ``tile`` pass (``tiling`` annotation), unroll factors
from the target.  The tile buffer along one axis holds a dense window of
(T − 1)s + (k − 1)d + 1 input pixels, or, for a dilated layer computed one
output pixel at a time (the paper's rule), just its k dilated taps.
Formats: weights and biases get the most fraction bits that hold them, a
bias at most those of the accumulator (input + weight fraction bits).
Deformable layers render the deform pass's variant (``dconv_variant``);
bounded offsets get the format that holds the bound itself
(so no input can overflow it), unbounded ones the calibrated format; at
most 14 fraction bits so bilinear weights stay within 64-bit sums.  A
bounded layer's line buffer holds the input rows an output row can sample
(``hls_linebuffer.sampled_rows``).
"""

from __future__ import annotations

import numpy as np

from ...ir import Diagnostic, Node, SegError, conv_pads, offset_channels
from ...ir.dconv_plan import dconv_variant
from ...ir.quant import layer_quant
from .context import Call, Context, Lowered
from .fixed import WORD_BITS, frac_bits
from .intmac import int_weights
from .linebuffer import planned_rows, sampled_rows

__all__ = ["OFFSET_FRAC_MAX", "lower_conv", "lower_dconv", "lower_linear", "offset_frac", "offset_words"]

OFFSET_FRAC_MAX = 14


def _axis(tile: int, stride: int, k: int, dilation: int) -> tuple[int, int, int]:
    """(buffer pixels, load step, tap step) of the tile buffer along one axis."""
    if dilation > 1 and tile == 1:
        return k, dilation, 1
    return (tile - 1) * stride + (k - 1) * dilation + 1, 1, dilation


def _window(ctx: Context, node: Node) -> dict[str, int]:
    a, x = node.attrs, ctx.graph.input_shapes(node)[0]
    (kh, kw), (sh, sw), (dh, dw) = a["k"], a["stride"], a["dilation"]
    ph, pw = conv_pads(a)
    tiling = node.annotations.get("tiling")
    if tiling is None:
        raise SegError(Diagnostic(f"layer '{node.name}' has no tiling; run the 'tile' pass first", node.span))
    tox, toy = tiling["tile"]
    u = ctx.unroll
    return {"CI": x.c, "H": x.h, "W": x.w, "HO": node.shape.h, "WO": node.shape.w, "KH": kh, "KW": kw,
            "SH": sh, "SW": sw, "DH": dh, "DW": dw, "PH": ph, "PW": pw, "TOX": tox, "TOY": toy,
            "PIF": u.pif, "POF": u.pof, "PKX": u.pkx, "PKY": u.pky}


def _tile_buffer(config: dict[str, int]) -> dict[str, int]:
    tix, ldx, bdx = _axis(config["TOX"], config["SW"], config["KW"], config["DW"])
    tiy, ldy, bdy = _axis(config["TOY"], config["SH"], config["KH"], config["DH"])
    return {"TIX": tix, "TIY": tiy, "LDX": ldx, "LDY": ldy, "BDX": bdx, "BDY": bdy}


def _weights(ctx: Context, node: Node, prefix: str, f_in: int, bias: bool) -> tuple[dict, str, str]:
    """Pack ``prefix``weight (and bias); their formats and addresses.  The
    layer's own weights take its format (``ir.quant.layer_quant``: fixed
    point of ``w_bits``, or the integer scheme, ``intmac``); the offsets
    branch of a deformable layer and every bias stay 16-bit fixed point."""
    quant = layer_quant(ctx.graph, node)
    w = ctx.weight(node, f"{prefix}weight")
    if not prefix and quant.scheme == "int":
        formats, weight = int_weights(ctx, node, w, ctx.weight(node, "bias") if bias else None, f_in)
        return formats, weight, "nullptr"
    w = w * ctx.unit(node.inputs[0])  # per input word at its nominal format (``scales``)
    w_bits = quant.w_bits if not prefix and quant.w_bits is not None else WORD_BITS
    given = quant.w_frac if not prefix else None
    f_w = given if given is not None else ctx.param_frac(node, f"{prefix}weight", w, bits=w_bits)
    weight = ctx.pack(node, f"{prefix}weight", w, f_w, w_bits)
    f_b, address = 0, "nullptr"
    if bias:
        b = ctx.weight(node, f"{prefix}bias")
        f_b = ctx.param_frac(node, f"{prefix}bias", b, limit=f_in + f_w)
        address = ctx.pack(node, f"{prefix}bias", b, f_b)
    return {"FRAC_IN": f_in, "FRAC_W": f_w, "FRAC_B": f_b, "BIAS": bias, "INT": False}, weight, address


conv_weights = _weights  # for transposed convolutions (lower_channels.py)


def lower_conv(ctx: Context, node: Node) -> Lowered:
    a = node.attrs
    config = _window(ctx, node)
    config.update(CO=node.shape.c, GROUPS=a["groups"], **_tile_buffer(config))
    formats, weight, bias = _weights(ctx, node, "", ctx.frac(node.inputs[0]), a["bias"])
    config.update(formats, FRAC_OUT=ctx.frac(node.name), CLAMPED=False)
    call = Call("conv2d", config, (ctx.data(node.inputs[0]), weight, bias, ctx.data(node.name)))
    return Lowered([call], info=_buffer_info(config))


def _buffer_info(config: dict) -> dict:
    words = config["CI"] // config["GROUPS"] * config["TIX"] * config["TIY"]
    return {"tile": [config["TOX"], config["TOY"]], "tile_buffer": [config["TIX"], config["TIY"]],
            "tile_buffer_words": words}


def offset_words(node: Node) -> int:
    """Scratch words a dconv needs for its offsets (or scales)."""
    return offset_channels(node.attrs) * node.shape.h * node.shape.w


def offset_frac(ctx: Context, node: Node) -> int:
    """Fraction bits of a dconv's offsets (full) or scales (square)."""
    variant = dconv_variant(node)
    bound, square = variant["bound"], variant["shape"] == "square"
    calibrated_max = ctx.offset_max.get(node.name, 0.0)
    if bound is None:
        frac = frac_bits(calibrated_max, ctx.headroom)
    else:
        frac = frac_bits(max(abs(1 - bound), bound) if square else bound)
    if frac is None or frac < 0:
        reach = f"bound {bound:g}" if bound is not None else f"calibration reaches {calibrated_max:.6g}"
        raise SegError(Diagnostic(
            f"layer '{node.name}': deformable offsets do not fit 16-bit fixed point with a fraction ({reach}); "
            "bound them (dconv bound=...)", node.span,
        ))
    return min(frac, OFFSET_FRAC_MAX)


def _offset_conv(ctx: Context, node: Node, window: dict, f_off: int) -> Call:
    full = dconv_variant(node)["shape"] == "full"
    config = dict(window, CO=offset_channels(node.attrs), GROUPS=1)
    if not full:
        config.update(KH=1, KW=1, DH=1, DW=1, PH=0, PW=0)
    config.update(_tile_buffer(config))
    formats, weight, bias = _weights(ctx, node, "offset.", ctx.frac(node.inputs[0]), True)
    config.update(formats, FRAC_OUT=f_off, BITS=WORD_BITS, CLAMPED=dconv_variant(node)["bound"] is not None)
    return Call("conv2d", config, (ctx.data(node.inputs[0]), weight, bias, ctx.scratch(node.name)), "_offset")


def lower_dconv(ctx: Context, node: Node) -> Lowered:
    a, variant = node.attrs, dconv_variant(node)
    f_off = offset_frac(ctx, node)
    window = _window(ctx, node)
    offsets = _offset_conv(ctx, node, window, f_off)
    bound, square = variant["bound"], variant["shape"] == "square"
    low, high = ((1 - bound, bound) if square else (-bound, bound)) if bound is not None else (0, 0)
    config = dict(window, CO=node.shape.c, GROUPS=a["groups"], OFFSET_GROUPS=a["offset_groups"], SQUARE=square,
                  ROUND=variant["round"], BOUNDED=bound is not None, FRAC_OFF=f_off,
                  BOUND_LO=int(np.floor(low * 2.0**f_off + 0.5)), BOUND_HI=int(np.floor(high * 2.0**f_off + 0.5)))
    first, rows = sampled_rows(config) if bound is not None else (0, 0)
    config.update(LB_FIRST=first, LB_ROWS=rows)
    formats, weight, bias = _weights(ctx, node, "", ctx.frac(node.inputs[0]), a["bias"])
    config.update(formats, FRAC_OUT=ctx.frac(node.name))
    args = (ctx.data(node.inputs[0]), ctx.scratch(node.name), weight, bias, ctx.data(node.name))
    info = {"tile": [window["TOX"], window["TOY"]], "offset_frac": f_off,
            "deform": {"shape": variant["shape"], "round": variant["round"],
                       "bound_words": [config["BOUND_LO"], config["BOUND_HI"]] if bound is not None else None}}
    if bound is not None:
        info["line_buffer"] = {"first_row": first, "rows": rows, "words": config["CI"] * rows * config["W"],
                               "deform_rows": planned_rows(ctx.graph, node)}
    return Lowered([offsets, Call("deform_conv2d", config, args)], info=info)


def lower_linear(ctx: Context, node: Node) -> Lowered:
    u = ctx.unroll
    config = {"CI": ctx.graph.input_shapes(node)[0].c, "CO": node.shape.c, "PIF": u.pif, "POF": u.pof}
    formats, weight, bias = _weights(ctx, node, "", ctx.frac(node.inputs[0]), node.attrs["bias"])
    config.update(formats, FRAC_OUT=ctx.frac(node.name))
    return Lowered([Call("linear", config, (ctx.data(node.inputs[0]), weight, bias, ctx.data(node.name)))])
