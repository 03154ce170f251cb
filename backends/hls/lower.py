"""The HLS lowering table: every op of ``ir/ops.py`` maps to a function that
lowers one layer to kernel calls of ``lib/`` (or to ``None``: a view or
an input, which computes nothing).  An op missing here is an error naming
it, never an approximation.

Resizing follows torch's coordinate rules (``aten/src/ATen/native/
UpSample.h``), computed here in float32 as torch does: nearest reads
``min(floor(dst · scale), n − 1)`` (``dst`` itself when the size is kept,
``dst >> 1`` when doubled); bilinear reads rows ``y0 = floor(src)`` and
``y0 + 1`` (clamped) with weight ``src − y0``, where ``src = scale·dst``
(align_corners) or ``max(scale·(dst + ½) − ½, 0)``; ``scale`` is
``1/scale_factor`` when a factor was given, else ``in/out`` (align_corners:
``(in − 1)/(out − 1)``).  Weights are tabulated in 2^-15 units.
"""

from __future__ import annotations

import math

import numpy as np

from ...ir import Diagnostic, Node, SegError, conv_pads
from .context import Call, Context, Lowered
from .fixed import WORD_BITS
from .lower_channels import lower_deconv, lower_shuffle, lower_slice
from .lower_conv import lower_conv, lower_dconv, lower_linear
from .lower_pointwise import POINTWISE_HLS
from .scales import add_rescale, rescale, rescale_info, word_rescale

__all__ = ["HLS_LOWERING", "MAX_ADD_INPUTS", "SIGMOID_TABLE", "function_table", "logistic", "resize_table",
           "sigmoid_table", "table_values"]

MAX_ADD_INPUTS = 4
SIGMOID_TABLE = {"X_MIN": -16, "STEP_BITS": 6, "ENTRIES": 32 * 64 + 1}


def _elements(node: Node) -> int:
    return node.shape.c * node.shape.h * node.shape.w


def _io(ctx: Context, node: Node) -> dict[str, int]:
    return {"FRAC_IN": ctx.frac(node.inputs[0]), "FRAC_OUT": ctx.frac(node.name)}


def _unary(kernel: str, **extra):
    def lower(ctx: Context, node: Node) -> Lowered:
        config = dict(N=_elements(node), **_io(ctx, node), **extra, **word_rescale(ctx, node.inputs[0], node))
        if node.op == "relu6" and ctx.unit(node.name) != 1.0:
            config["SIX_WORD"] = math.floor(6 / ctx.scale(node.name) + 0.5)
        info = {**rescale_info(config), **({"six_word": config["SIX_WORD"]} if "SIX_WORD" in config else {})}
        return Lowered([Call(kernel, config, (ctx.data(node.inputs[0]), ctx.data(node.name)))], info=info)
    return lower


def _bn(ctx: Context, node: Node) -> Lowered:
    gamma, beta = ctx.weight(node, "weight"), ctx.weight(node, "bias")
    mean, var = ctx.weight(node, "running_mean"), ctx.weight(node, "running_var")
    scale = gamma / np.sqrt(var + node.attrs["eps"])
    shift = beta - mean * scale
    scale = scale * ctx.unit(node.inputs[0])  # per input word at the nominal format
    f_in = ctx.frac(node.inputs[0])
    f_scale = ctx.param_frac(node, "scale", scale)
    f_shift = ctx.param_frac(node, "shift", shift, limit=f_in + f_scale)
    config = {"C": node.shape.c, "HW": node.shape.h * node.shape.w, "FRAC_IN": f_in, "FRAC_SCALE": f_scale,
              "FRAC_SHIFT": f_shift, "FRAC_OUT": ctx.frac(node.name),
              **rescale(1.0, ctx.unit(node.name), 2 * WORD_BITS + 2)}
    args = (ctx.data(node.inputs[0]), ctx.pack(node, "scale", scale, f_scale),
            ctx.pack(node, "shift", shift, f_shift), ctx.data(node.name))
    return Lowered([Call("batch_norm", config, args)], info=rescale_info(config))


def table_values(layout: dict, function) -> list[int]:
    """round(2^15·function(x)) at x = X_MIN + n·2^-STEP_BITS, n < ENTRIES."""
    step = 2.0 ** -layout["STEP_BITS"]
    return [math.floor(2**15 * function(layout["X_MIN"] + n * step) + 0.5) for n in range(layout["ENTRIES"])]


def logistic(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def function_table(name: str, layout: dict, function) -> str:
    """A C table of :func:`table_values`."""
    values = table_values(layout, function)
    rows = [", ".join(str(v) for v in values[i:i + 16]) for i in range(0, len(values), 16)]
    body = ",\n    ".join(rows)
    return f"static const int32_t {name}[{layout['ENTRIES']}] = {{\n    {body}\n}};"


def sigmoid_table() -> str:
    return function_table("segc_sigmoid_table", SIGMOID_TABLE, logistic)


def _sigmoid(ctx: Context, node: Node) -> Lowered:
    config = dict(N=_elements(node), **_io(ctx, node), **SIGMOID_TABLE)
    call = Call("sigmoid", config, (ctx.data(node.inputs[0]), "segc_sigmoid_table", ctx.data(node.name)))
    return Lowered([call], tables=[sigmoid_table()])


def _pool(ctx: Context, node: Node) -> Lowered:
    x, a = ctx.graph.input_shapes(node)[0], node.attrs
    config = dict(C=x.c, H=x.h, W=x.w, **_io(ctx, node))
    if a.get("global"):
        config.update(word_rescale(ctx, node.inputs[0], node, WORD_BITS + 2 * (x.h * x.w).bit_length()))
        return Lowered([Call("global_avg_pool", config, (ctx.data(node.inputs[0]), ctx.data(node.name)))],
                       info=rescale_info(config))
    ph, pw = conv_pads({**a, "dilation": (1, 1)})
    config.update(HO=node.shape.h, WO=node.shape.w, KH=a["k"][0], KW=a["k"][1], SH=a["stride"][0],
                  SW=a["stride"][1], PH=ph, PW=pw)
    window = a["k"][0] * a["k"][1] if node.op == "avgpool" else 1
    config.update(word_rescale(ctx, node.inputs[0], node, WORD_BITS + 2 * window.bit_length()))
    kernel = "max_pool" if node.op == "maxpool" else "avg_pool"
    return Lowered([Call(kernel, config, (ctx.data(node.inputs[0]), ctx.data(node.name)))], info=rescale_info(config))


def resize_table(n_in: int, n_out: int, factor: float | None, mode: str, align_corners: bool) -> np.ndarray:
    """Per output index: [source] (nearest) or [y0, y1, weight of y1 in 2^-15] (bilinear)."""
    f32, dst = np.float32, np.arange(n_out, dtype=np.int64)
    inverse = f32(1.0 / factor) if factor else f32(n_in) / f32(n_out)
    if mode == "nearest":
        if n_out == n_in:
            return dst[:, None]
        if n_out == 2 * n_in:
            return (dst >> 1)[:, None]
        src = np.floor(dst.astype(f32) * inverse).astype(np.int64)
        return np.minimum(src, n_in - 1)[:, None]
    if align_corners:
        scale = f32(n_in - 1) / f32(n_out - 1) if n_out > 1 else f32(0)
        src = scale * dst.astype(f32)
    else:
        src = np.maximum(inverse * (dst.astype(f32) + f32(0.5)) - f32(0.5), f32(0))
    y0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    weight = np.clip(src - y0.astype(f32), f32(0), f32(1))
    y1 = y0 + (y0 < n_in - 1)
    return np.stack([y0, y1, np.floor(weight.astype(np.float64) * 2**15 + 0.5).astype(np.int64)], axis=1)


def _c_table(name: str, table: np.ndarray) -> str:
    values = table.reshape(-1).tolist()
    rows = [", ".join(str(v) for v in values[i:i + 24]) for i in range(0, len(values), 24)]
    body = ",\n    ".join(rows)
    return f"static const int {name}[{len(values)}] = {{\n    {body}\n}};"


def _upsample(ctx: Context, node: Node) -> Lowered:
    x, a = ctx.graph.input_shapes(node)[0], node.attrs
    factor = a["scale"] or (None, None)
    rows = resize_table(x.h, node.shape.h, factor[0], a["mode"], a["align_corners"])
    cols = resize_table(x.w, node.shape.w, factor[1], a["mode"], a["align_corners"])
    name = ctx.ident[node.name]
    config = dict(C=x.c, H=x.h, W=x.w, HO=node.shape.h, WO=node.shape.w, **_io(ctx, node))
    config.update(word_rescale(ctx, node.inputs[0], node, WORD_BITS + (31 if a["mode"] == "bilinear" else 0)))
    kernel = "resize_bilinear" if a["mode"] == "bilinear" else "resize_nearest"
    args = (ctx.data(node.inputs[0]), f"{name}_rows", f"{name}_cols", ctx.data(node.name))
    return Lowered([Call(kernel, config, args)], tables=[_c_table(f"{name}_rows", rows),
                                                        _c_table(f"{name}_cols", cols)], info=rescale_info(config))


def _add(ctx: Context, node: Node) -> Lowered:
    count = len(node.inputs)
    if count > MAX_ADD_INPUTS:
        raise SegError(Diagnostic(
            f"layer '{node.name}': the HLS library adds at most {MAX_ADD_INPUTS} tensors in one layer, "
            f"this add has {count}; split it into several adds", node.span,
        ))
    fracs = [ctx.frac(i) for i in node.inputs]
    config = {"N": _elements(node), "INPUTS": count, "FRAC_ACC": max(fracs), "FRAC_OUT": ctx.frac(node.name)}
    config.update({f"FRAC_IN{i}": fracs[i] if i < count else max(fracs) for i in range(MAX_ADD_INPUTS)})
    scaled = add_rescale(ctx, node)
    config.update(scaled, **{f"ADD_M{i}": 0 for i in range(count, MAX_ADD_INPUTS) if scaled})
    inputs = [ctx.data(i) for i in node.inputs] + ["nullptr"] * (MAX_ADD_INPUTS - count)
    info = {"rescale": [[scaled[f"ADD_M{i}"] for i in range(count)], scaled["ADD_SHIFT"]]} if scaled else {}
    return Lowered([Call("add", config, (*inputs, ctx.data(node.name)))], info=info)


def _concat(ctx: Context, node: Node) -> Lowered:
    calls, channel, factors = [], 0, []
    for index, (name, shape) in enumerate(zip(node.inputs, ctx.graph.input_shapes(node))):
        config = {"N": shape.c * shape.h * shape.w, "FRAC_IN": ctx.frac(name), "FRAC_OUT": ctx.frac(node.name),
                  **word_rescale(ctx, name, node)}
        out = f"{ctx.data(node.name)} + {channel * shape.h * shape.w}"
        calls.append(Call("requantize_copy", config, (ctx.data(name), out), f"_{index}"))
        factors.append(rescale_info(config).get("rescale", [1, 0]))
        channel += shape.c
    return Lowered(calls, info={"rescale": factors} if any(f != [1, 0] for f in factors) else {})


def unsupported(node: Node) -> SegError:
    return SegError(Diagnostic(
        f"layer '{node.name}': op '{node.op}' is not implemented by the HLS kernel library", node.span,
    ))


HLS_LOWERING = {
    "input": None,
    "output": None,
    "flatten": None,
    "identity": None,
    "conv": lower_conv,
    "dconv": lower_dconv,
    "linear": lower_linear,
    "bn": _bn,
    "relu": _unary("relu", SIX=False),
    "relu6": _unary("relu", SIX=True),
    "sigmoid": _sigmoid,
    "maxpool": _pool,
    "avgpool": _pool,
    "upsample": _upsample,
    "add": _add,
    "concat": _concat,
    "deconv": lower_deconv,
    "slice": lower_slice,
    "shuffle": lower_shuffle,
    **POINTWISE_HLS,
}
