"""The op table as a whole: the channel coupling of every op, shape-only
operands, and one documented, working use of every op with attributes that
round-trip through ``build_attrs``."""

from __future__ import annotations

import pytest

from segc.ir import OPS, Coupling, Shape

# ---------------------------------------------------------------- channel coupling

@pytest.mark.parametrize(("op", "given", "inputs", "expected"), [
    ("conv", {"out": 16, "k": 3}, [Shape(8, 4, 4)], Coupling.SOURCE),
    ("conv", {"out": 8, "k": 3, "groups": 8}, [Shape(8, 4, 4)], Coupling.DEPTHWISE),
    ("conv", {"out": 16, "k": 3, "groups": 4}, [Shape(8, 4, 4)], Coupling.GROUPED),
    # a depthwise multiplier (8 -> 16 in 8 groups) is grouped, not depthwise
    ("conv", {"out": 16, "k": 3, "groups": 8}, [Shape(8, 4, 4)], Coupling.GROUPED),
    ("dconv", {"out": 16, "k": 3}, [Shape(8, 4, 4)], Coupling.SOURCE),
    ("dconv", {"out": 8, "k": 3, "groups": 8}, [Shape(8, 4, 4)], Coupling.DEPTHWISE),
    ("linear", {"out": 10}, [Shape(8, 1, 1)], Coupling.SOURCE),
    ("deconv", {"out": 16, "k": 2, "stride": 2}, [Shape(8, 4, 4)], Coupling.SOURCE),
    ("deconv", {"out": 8, "k": 4, "stride": 2, "groups": 8}, [Shape(8, 4, 4)], Coupling.DEPTHWISE),
    ("deconv", {"out": 16, "k": 2, "groups": 4}, [Shape(8, 4, 4)], Coupling.GROUPED),
    ("slice", {"start": 2, "end": 6}, [Shape(8, 4, 4)], Coupling.SLICE),
    ("shuffle", {"groups": 2}, [Shape(8, 4, 4)], Coupling.SHUFFLE),
    ("add", {}, [Shape(8, 4, 4), Shape(8, 4, 4)], Coupling.ELEMENTWISE),
    ("concat", {}, [Shape(8, 4, 4), Shape(4, 4, 4)], Coupling.CONCAT),
    ("flatten", {}, [Shape(8, 4, 4)], Coupling.FLATTEN),
    ("bn", {}, [Shape(8, 4, 4)], Coupling.PASSTHROUGH),
    ("relu", {}, [Shape(8, 4, 4)], Coupling.PASSTHROUGH),
    ("maxpool", {"k": 2}, [Shape(8, 4, 4)], Coupling.PASSTHROUGH),
    ("avgpool", {"global": True}, [Shape(8, 4, 4)], Coupling.PASSTHROUGH),
    ("upsample", {"scale": 2}, [Shape(8, 4, 4)], Coupling.PASSTHROUGH),
    ("upsample", {}, [Shape(8, 4, 4), Shape(3, 8, 8)], Coupling.PASSTHROUGH),
    ("input", {"c": 3, "h": 4, "w": 4}, [], Coupling.FIXED),
    ("output", {}, [Shape(8, 4, 4)], Coupling.FIXED),
    ("mul", {}, [Shape(8, 4, 4), Shape(8, 1, 1)], Coupling.ELEMENTWISE),
    ("sub", {}, [Shape(8, 4, 4), Shape(8, 4, 4)], Coupling.ELEMENTWISE),
    ("hardswish", {}, [Shape(8, 4, 4)], Coupling.PASSTHROUGH),
    ("softmax", {}, [Shape(8, 4, 4)], Coupling.PASSTHROUGH),
    ("mean", {"keepdims": False}, [Shape(8, 4, 4)], Coupling.PASSTHROUGH),
])
def test_coupling(op, given, inputs, expected):
    opdef = OPS[op]
    assert opdef.coupling(opdef.build_attrs(given), inputs) is expected


def test_upsample_to_operand_is_shape_only():
    assert OPS["upsample"].shape_only == (1,)
    assert OPS["upsample"].operand_keywords == ("to",)
    assert all(OPS[op].shape_only == () for op in ("add", "concat", "conv"))


# ---------------------------------------------------------------- the table is consistent

# One valid use of every op: (attributes given, input shapes).
VALID_USE = {
    "input": ({"c": 3, "h": 8, "w": 8}, []),
    "output": ({}, [Shape(3, 8, 8)]),
    "conv": ({"out": 4, "k": 3}, [Shape(3, 8, 8)]),
    "dconv": ({"out": 4, "k": 3}, [Shape(4, 8, 8)]),
    "bn": ({}, [Shape(3, 8, 8)]),
    "relu": ({}, [Shape(3, 8, 8)]),
    "relu6": ({}, [Shape(3, 8, 8)]),
    "sigmoid": ({}, [Shape(3, 8, 8)]),
    "identity": ({}, [Shape(3, 8, 8)]),
    "maxpool": ({"k": 2}, [Shape(3, 8, 8)]),
    "avgpool": ({"global": True}, [Shape(3, 8, 8)]),
    "upsample": ({"scale": 2}, [Shape(3, 8, 8)]),
    "add": ({}, [Shape(3, 8, 8), Shape(3, 8, 8)]),
    "concat": ({}, [Shape(3, 8, 8), Shape(5, 8, 8)]),
    "flatten": ({}, [Shape(3, 8, 8)]),
    "linear": ({"out": 10}, [Shape(3, 1, 1)]),
    "deconv": ({"out": 4, "k": 2, "stride": 2}, [Shape(3, 8, 8)]),
    "slice": ({"start": 1, "end": 3}, [Shape(3, 8, 8)]),
    "shuffle": ({"groups": 2}, [Shape(4, 8, 8)]),
    "hardsigmoid": ({}, [Shape(3, 8, 8)]),
    "hardswish": ({}, [Shape(3, 8, 8)]),
    "silu": ({}, [Shape(3, 8, 8)]),
    "leakyrelu": ({"slope": 0.2}, [Shape(3, 8, 8)]),
    "tanh": ({}, [Shape(3, 8, 8)]),
    "clip": ({"min": -1.0, "max": 1.0}, [Shape(3, 8, 8)]),
    "div": ({"by": 6.0}, [Shape(3, 8, 8)]),
    "softmax": ({}, [Shape(3, 8, 8)]),
    "mul": ({}, [Shape(3, 8, 8), Shape(3, 1, 1)]),
    "sub": ({}, [Shape(3, 8, 8), Shape(3, 8, 8)]),
    "mean": ({}, [Shape(3, 8, 8)]),
}


def test_every_op_has_a_valid_use_listed():
    assert set(VALID_USE) == set(OPS)


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_is_documented_and_works(name):
    opdef = OPS[name]
    assert opdef.name == name
    assert opdef.doc.strip()
    given, inputs = VALID_USE[name]
    assert opdef.accepts(len(inputs))
    attrs = opdef.build_attrs(given)
    out = opdef.shape(attrs, inputs)
    assert isinstance(out, Shape) and min(out) >= 1
    assert opdef.macs(attrs, inputs, out) >= 0
    assert opdef.params(attrs, inputs, out) >= 0
    assert isinstance(opdef.coupling(attrs, inputs), Coupling)


@pytest.mark.parametrize("name", sorted(OPS))
def test_build_attrs_of_defaults_round_trips(name):
    opdef = OPS[name]
    defaults = {a.name: a.default for a in opdef.attrs if not a.required}
    attrs = opdef.build_attrs({**defaults, **VALID_USE[name][0]})
    assert opdef.build_attrs(attrs) == attrs
    assert opdef.build_attrs(dict(attrs)) == opdef.build_attrs(opdef.build_attrs(attrs))
