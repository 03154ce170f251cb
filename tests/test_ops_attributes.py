"""Attribute validation of the op table: every bad attribute (unknown,
wrong kind, out of range, NaN, infinity, missing) is named in an
:class:`AttrError`, and accepted values are stored in canonical form."""

from __future__ import annotations

import pytest

from segc.ir import OPS, AttrError

# ---------------------------------------------------------------- attribute validation

@pytest.mark.parametrize(("op", "given", "attr", "fragment"), [
    # unknown attribute, with the list of known ones
    ("conv", {"out": 4, "k": 3, "strides": 2}, "strides", "has no attribute 'strides' (it has: out, k, stride"),
    ("relu", {"inplace": True}, "inplace", "takes none"),
    # bool where an int is expected
    ("conv", {"out": True, "k": 3}, "out", "got true"),
    ("conv", {"out": 4, "k": 3, "groups": False}, "groups", "got false"),
    ("conv", {"out": 4, "k": True}, "k", "got true"),
    # float where an int is expected: a whole float gets the // hint
    ("conv", {"out": 4.0, "k": 3}, "out", "got 4.0 (use // for integer division)"),
    ("input", {"c": 3, "h": 224.0, "w": 224}, "h", "use //"),
    ("conv", {"out": 4.5, "k": 3}, "out", "must be a positive integer, got 4.5"),
    # negative and zero values
    ("conv", {"out": -1, "k": 3}, "out", "positive integer, got -1"),
    ("conv", {"out": 0, "k": 3}, "out", "positive integer, got 0"),
    ("conv", {"out": 4, "k": 3, "stride": 0}, "stride", "positive integer or a pair"),
    ("conv", {"out": 4, "k": [3, -1]}, "k", "got -1"),
    ("conv", {"out": 4, "k": 3, "padding": -1}, "padding", "non-negative integer"),
    ("conv", {"out": 4, "k": 3, "padding": [1, -1]}, "padding", "got [1, -1]"),
    ("bn", {"eps": -1e-5}, "eps", "non-negative number"),
    ("dconv", {"out": 4, "k": 3, "bound": -1}, "bound", "non-negative number"),
    ("dconv", {"out": 4, "k": 3, "offset_groups": 0}, "offset_groups", "positive integer"),
    ("upsample", {"scale": 0}, "scale", "positive number"),
    ("upsample", {"scale": -2}, "scale", "positive number"),
    # too large
    ("conv", {"out": 2**31, "k": 3}, "out", "at most 2147483647"),
    ("upsample", {"scale": 2000}, "scale", "at most 1024"),
    # wrong kinds
    ("conv", {"out": "4", "k": 3}, "out", 'got "4"'),
    ("conv", {"out": 4, "k": [1, 2, 3]}, "k", "pair [h, w]"),
    ("conv", {"out": 4, "k": 3, "bias": 1}, "bias", "true or false, got 1"),
    ("conv", {"out": 4, "k": 3, "padding": "full"}, "padding", '"same", "valid"'),
    ("bn", {"eps": "small"}, "eps", "number"),
    ("bn", {"eps": True}, "eps", "got true"),
    # enum choices
    ("dconv", {"out": 4, "k": 3, "shape": "round"}, "shape", 'one of "full", "square", got "round"'),
    ("upsample", {"scale": 2, "mode": "cubic"}, "mode", 'one of "nearest", "bilinear"'),
    ("upsample", {"scale": 2, "mode": 1}, "mode", "got 1"),
])
def test_bad_attribute_is_named(op, given, attr, fragment):
    with pytest.raises(AttrError) as err:
        OPS[op].build_attrs(given)
    assert err.value.attr == attr
    assert fragment in str(err.value)


def test_missing_required_attribute_message():
    with pytest.raises(AttrError, match="conv needs 'out'"):
        OPS["conv"].build_attrs({"k": 3})
    with pytest.raises(AttrError, match="input needs 'w'"):
        OPS["input"].build_attrs({"c": 3, "h": 4})


def test_missing_required_attribute_is_named():
    with pytest.raises(AttrError) as err:
        OPS["conv"].build_attrs({"k": 3})
    assert err.value.attr == "out"


@pytest.mark.parametrize(("op", "given", "attr"), [
    ("bn", {"eps": float("nan")}, "eps"),
    ("dconv", {"out": 4, "k": 3, "bound": float("nan")}, "bound"),
])
def test_nan_is_rejected(op, given, attr):
    with pytest.raises(AttrError) as err:
        OPS[op].build_attrs(given)
    assert err.value.attr == attr


def test_infinity_is_rejected():
    with pytest.raises(AttrError) as err:
        OPS["bn"].build_attrs({"eps": float("inf")})
    assert err.value.attr == "eps"


def test_whole_float_kernel_gets_the_integer_division_hint():
    with pytest.raises(AttrError, match="use //"):
        OPS["conv"].build_attrs({"out": 4, "k": 3.0})


def test_canonical_values():
    attrs = OPS["conv"].build_attrs({"out": 4, "k": [1, 7], "stride": 2, "padding": 1})
    assert attrs == {"out": 4, "k": (1, 7), "stride": (2, 2), "dilation": (1, 1), "groups": 1,
                     "padding": (1, 1), "bias": False}
    assert OPS["bn"].build_attrs({"eps": 1})["eps"] == 1.0
    assert isinstance(OPS["bn"].build_attrs({"eps": 1})["eps"], float)
