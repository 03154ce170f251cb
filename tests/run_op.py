"""Applies one op of the op table (``segc.ir.OPS``) to input shapes, for the
``test_ops_*`` modules.  Not a test module."""

from __future__ import annotations

from segc.ir import OPS, Shape


def run(op: str, inputs: list[Shape], **given_attrs) -> tuple[Shape, int, int]:
    """(output shape, MACs, params) of one op applied to ``inputs``."""
    opdef = OPS[op]
    attrs = opdef.build_attrs(given_attrs)
    out = opdef.shape(attrs, inputs)
    return out, opdef.macs(attrs, inputs, out), opdef.params(attrs, inputs, out)


def out_shape(op: str, inputs: list[Shape], **given_attrs) -> Shape:
    return run(op, inputs, **given_attrs)[0]

