"""HLS lowering of the channel ops: a slice is a requantizing copy of its
contiguous channel range ([C][H][W] keeps a channel's pixels together); a
shuffle is ``channel_shuffle`` (``lib/segc_shuffle.h``)."""

from __future__ import annotations

from ...ir import Node
from .context import Call, Context, Lowered

__all__ = ["lower_shuffle", "lower_slice"]


def _fracs(ctx: Context, node: Node) -> dict[str, int]:
    return {"FRAC_IN": ctx.frac(node.inputs[0]), "FRAC_OUT": ctx.frac(node.name)}


def lower_slice(ctx: Context, node: Node) -> Lowered:
    c, h, w = node.shape
    source = f"{ctx.data(node.inputs[0])} + {node.attrs['start'] * h * w}"
    return Lowered([Call("requantize_copy", {"N": c * h * w, **_fracs(ctx, node)}, (source, ctx.data(node.name)))])


def lower_shuffle(ctx: Context, node: Node) -> Lowered:
    c, h, w = node.shape
    config = {"C": c, "HW": h * w, "GROUPS": node.attrs["groups"], **_fracs(ctx, node)}
    return Lowered([Call("channel_shuffle", config, (ctx.data(node.inputs[0]), ctx.data(node.name)))])
