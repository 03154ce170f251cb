"""HLS lowering of the ops of ``ir/ops_pointwise.py`` onto
``lib/segc_activation.h``.

Constants are integers: leakyrelu's slope in 2^-15 units, a division's
1/by as M / 2^R with M of 15 significant bits (2^14 ≤ |M| < 2^15), clip's
bounds in 2^-G units (G = max(fraction bits in, out)), clamped to the int
range (a bound past the data's range clips nothing).  tanh and silu read
the sigmoid table; softmax a table of round(2^15·exp(x)) at steps of 2^-8
on [−16, 0] (the sigmoid table's layout).  mean is the global average
pooling kernel.
"""

from __future__ import annotations

import math

from ...ir import Diagnostic, Node, SegError
from .context import Call, Context, Lowered

__all__ = ["EXP_TABLE", "POINTWISE_HLS", "POINTWISE_STAGES", "op_constants", "reciprocal"]

_INT_MAX = 2**31 - 1
EXP_TABLE = {"X_MIN": -16, "STEP_BITS": 8, "ENTRIES": 16 * 256 + 1}


def _elements(node: Node) -> int:
    return node.shape.c * node.shape.h * node.shape.w


def _io(ctx: Context, node: Node) -> dict[str, int]:
    return {"FRAC_IN": ctx.frac(node.inputs[0]), "FRAC_OUT": ctx.frac(node.name)}


def reciprocal(by: float) -> tuple[int, int]:
    """(M, R) with M / 2^R = 1/by rounded to 15 significant bits."""
    r = 14 - math.floor(math.log2(abs(1 / by)))
    m = math.floor(2**r / by + 0.5)
    return (m, r) if abs(m) < 2**15 else (math.floor(2 ** (r - 1) / by + 0.5), r - 1)


def _bound(value: float | None, bits: int) -> int:
    if value is None:
        return 0
    return max(-_INT_MAX, min(_INT_MAX, math.floor(value * 2.0**bits + 0.5)))


def _constants(ctx: Context, node: Node) -> dict[str, int | bool]:
    return op_constants(node, ctx.frac(node.inputs[0]), ctx.frac(node.name))


def op_constants(node: Node, frac_in: int, frac_out: int) -> dict[str, int | bool]:
    """The integer constants of an activation's kernel (leakyrelu, div, clip)."""
    a = node.attrs
    if node.op == "leakyrelu":
        slope = math.floor(a["slope"] * 2**15 + 0.5)
        if abs(slope) > _INT_MAX:
            raise SegError(Diagnostic(f"layer '{node.name}': the HLS library takes leakyrelu slopes below "
                                      f"±65,536, this one is {a['slope']:g}", node.span))
        return {"SLOPE": slope}
    if node.op == "div":
        m, r = reciprocal(a["by"])
        return {"M": m, "R": r}
    if node.op == "clip":
        bits = max(frac_in, frac_out)
        return {"LOW": _bound(a["min"], bits), "HIGH": _bound(a["max"], bits), "HAS_LOW": a["min"] is not None,
                "HAS_HIGH": a["max"] is not None}
    return {}


def _activation(ctx: Context, node: Node) -> Lowered:
    from .lower import SIGMOID_TABLE, sigmoid_table

    config = {"N": _elements(node), **_io(ctx, node), **_constants(ctx, node)}
    if node.op in ("tanh", "silu"):
        config.update(SIGMOID_TABLE)
        call = Call(node.op, config, (ctx.data(node.inputs[0]), "segc_sigmoid_table", ctx.data(node.name)))
        return Lowered([call], tables=[sigmoid_table()])
    return Lowered([Call(node.op, config, (ctx.data(node.inputs[0]), ctx.data(node.name)))])


def _binary(ctx: Context, node: Node) -> Lowered:
    a, b = node.inputs
    shapes = ctx.graph.input_shapes(node)
    if node.op == "mul" and shapes[0] != node.shape:  # the [C, 1, 1] operand second
        a, b = b, a
    fracs = {"FRAC_IN0": ctx.frac(a), "FRAC_IN1": ctx.frac(b), "FRAC_OUT": ctx.frac(node.name)}
    if node.op == "mul":
        broadcast = ctx.graph.node(b).shape != node.shape
        config = {"C": node.shape.c, "HW": node.shape.h * node.shape.w, **fracs, "BROADCAST": broadcast}
    else:
        config = {"N": _elements(node), **fracs, "FRAC_ACC": max(fracs["FRAC_IN0"], fracs["FRAC_IN1"])}
    return Lowered([Call(node.op, config, (ctx.data(a), ctx.data(b), ctx.data(node.name)))])


def _mean(ctx: Context, node: Node) -> Lowered:
    x = ctx.graph.input_shapes(node)[0]
    config = dict(C=x.c, H=x.h, W=x.w, **_io(ctx, node))
    return Lowered([Call("global_avg_pool", config, (ctx.data(node.inputs[0]), ctx.data(node.name)))])


def _exp_table() -> str:
    from .lower import function_table

    return function_table("segc_exp_table", EXP_TABLE, math.exp)


def _softmax(ctx: Context, node: Node) -> Lowered:
    config = {"C": node.shape.c, "HW": node.shape.h * node.shape.w, **_io(ctx, node), **EXP_TABLE}
    call = Call("softmax", config, (ctx.data(node.inputs[0]), "segc_exp_table", ctx.data(node.name)))
    return Lowered([call], tables=[_exp_table()])


POINTWISE_HLS = {
    **dict.fromkeys(("hardsigmoid", "hardswish", "silu", "leakyrelu", "tanh", "clip", "div"), _activation),
    "mul": _binary,
    "sub": _binary,
    "mean": _mean,
    "softmax": _softmax,
}


def stage_line(op: str, cfg: str, call: Call) -> str:
    """The epilogue line of one fused activation (``fusion.py``)."""
    table = f", {call.args[1]}" if op in ("tanh", "silu") else ""
    return f"        v = segc::{op}_one<{cfg}>(v{table});"


POINTWISE_STAGES = ("hardsigmoid", "hardswish", "silu", "leakyrelu", "tanh", "clip", "div")
