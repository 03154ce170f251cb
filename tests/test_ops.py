"""The op table (``segc.ir.OPS``): shape rules, MAC and parameter counts,
attribute validation and channel coupling of every op.

Every expected number is written out as arithmetic in the test (or cited);
nothing is computed by calling segc.  Shapes are ``[C, H, W]`` (no batch).
Cross-checks against PyTorch run when torch is importable.
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segc.ir import OPS, AttrError, Coupling, Shape, ShapeError, conv_pads, offset_channels


def run(op: str, inputs: list[Shape], **given_attrs) -> tuple[Shape, int, int]:
    """(output shape, MACs, params) of one op applied to ``inputs``."""
    opdef = OPS[op]
    attrs = opdef.build_attrs(given_attrs)
    out = opdef.shape(attrs, inputs)
    return out, opdef.macs(attrs, inputs, out), opdef.params(attrs, inputs, out)


def out_shape(op: str, inputs: list[Shape], **given_attrs) -> Shape:
    return run(op, inputs, **given_attrs)[0]


# ---------------------------------------------------------------- conv shapes

@pytest.mark.parametrize(("x", "attrs", "expected"), [
    # "same" at stride 1 keeps the size, for any odd kernel
    (Shape(3, 32, 32), {"k": 3}, Shape(8, 32, 32)),
    (Shape(3, 31, 17), {"k": 5}, Shape(8, 31, 17)),
    (Shape(3, 9, 9), {"k": 7}, Shape(8, 9, 9)),
    # "same" at stride 2 gives ceil(n / 2): pad 1, (33 + 2 - 2 - 1) // 2 + 1 = 17
    (Shape(3, 32, 32), {"k": 3, "stride": 2}, Shape(8, 16, 16)),
    (Shape(3, 33, 33), {"k": 3, "stride": 2}, Shape(8, 17, 17)),
    # k=5 s=2 on 15: pad 2, (15 + 4 - 4 - 1) // 2 + 1 = 8
    (Shape(3, 15, 15), {"k": 5, "stride": 2}, Shape(8, 8, 8)),
    # "valid": n - k + 1, and (32 - 3) // 2 + 1 = 15 at stride 2
    (Shape(3, 32, 32), {"k": 3, "padding": "valid"}, Shape(8, 30, 30)),
    (Shape(3, 32, 32), {"k": 3, "stride": 2, "padding": "valid"}, Shape(8, 15, 15)),
    # explicit int padding: (8 + 2*2 - 3) // 1 + 1 = 10
    (Shape(3, 8, 8), {"k": 3, "padding": 2}, Shape(8, 10, 10)),
    (Shape(3, 8, 8), {"k": 3, "padding": 0}, Shape(8, 6, 6)),
    # explicit [h, w] padding: h (10 + 2 - 3) + 1 = 10, w (10 - 3) + 1 = 8
    (Shape(3, 10, 10), {"k": 3, "padding": [1, 0]}, Shape(8, 10, 8)),
    # asymmetric kernels: [1, 7] "same" pads (0, 3); "valid" gives 17 x (17 - 7 + 1)
    (Shape(3, 17, 17), {"k": [1, 7]}, Shape(8, 17, 17)),
    (Shape(3, 17, 17), {"k": [1, 7], "padding": "valid"}, Shape(8, 17, 11)),
    (Shape(3, 17, 17), {"k": [7, 1], "stride": 2}, Shape(8, 9, 9)),
    (Shape(3, 17, 17), {"k": [7, 1], "stride": [2, 1], "padding": "valid"}, Shape(8, (17 - 7) // 2 + 1, 17)),
    # dilation: "same" pads d*(k-1)/2 and keeps the size at stride 1
    (Shape(3, 65, 65), {"k": 3, "dilation": 2}, Shape(8, 65, 65)),
    (Shape(3, 32, 32), {"k": 3, "dilation": 6}, Shape(8, 32, 32)),
    (Shape(3, 64, 64), {"k": 3, "dilation": 18}, Shape(8, 64, 64)),
    # dilation 18 "valid": the kernel spans 18*2 + 1 = 37, so 64 - 37 + 1 = 28
    (Shape(3, 64, 64), {"k": 3, "dilation": 18, "padding": "valid"}, Shape(8, 64 - 37 + 1, 64 - 37 + 1)),
    # dilation 2, stride 2, padding 2 on 33: (33 + 4 - 4 - 1) // 2 + 1 = 17
    (Shape(3, 33, 33), {"k": 3, "dilation": 2, "stride": 2, "padding": 2}, Shape(8, 17, 17)),
    # an even kernel dilated by 2 spans 3: "same" pads 1
    (Shape(3, 8, 8), {"k": 2, "dilation": 2}, Shape(8, 8, 8)),
])
def test_conv_output_shape(x, attrs, expected):
    assert out_shape("conv", [x], out=8, **attrs) == expected


def test_resnet18_conv1_known_point():
    # torchvision resnet18.conv1: 3 -> 64, 7x7, stride 2, padding 3 on 224x224 -> 112x112.
    out, macs, params = run("conv", [Shape(3, 224, 224)], out=64, k=7, stride=2, padding=3)
    assert out == Shape(64, 112, 112)
    assert macs == 112 * 112 * 64 * 3 * 7 * 7 == 118_013_952
    assert params == 64 * 3 * 7 * 7 == 9_408
    # "same" at stride 2 chooses the same padding, 3
    assert run("conv", [Shape(3, 224, 224)], out=64, k=7, stride=2) == (out, macs, params)


def test_conv_pads_of_same_valid_and_explicit():
    conv = OPS["conv"]
    assert conv_pads(conv.build_attrs({"out": 1, "k": 7})) == (3, 3)
    assert conv_pads(conv.build_attrs({"out": 1, "k": [1, 7]})) == (0, 3)
    assert conv_pads(conv.build_attrs({"out": 1, "k": 3, "dilation": 6})) == (6, 6)
    assert conv_pads(conv.build_attrs({"out": 1, "k": 3, "padding": "valid"})) == (0, 0)
    assert conv_pads(conv.build_attrs({"out": 1, "k": 3, "padding": [2, 1]})) == (2, 1)


def test_conv_same_needs_an_odd_kernel():
    with pytest.raises(ShapeError, match="odd kernel"):
        out_shape("conv", [Shape(3, 8, 8)], out=4, k=2)
    with pytest.raises(ShapeError, match="width kernel spans 4"):
        out_shape("conv", [Shape(3, 8, 8)], out=4, k=[3, 4])


def test_conv_window_larger_than_input_is_rejected():
    with pytest.raises(ShapeError, match="empty"):
        out_shape("conv", [Shape(3, 3, 3)], out=4, k=5, padding="valid")


def test_conv_groups_must_divide_channels():
    with pytest.raises(ShapeError, match=r"groups=4 must divide .*\(6\).*\(8\)"):
        out_shape("conv", [Shape(6, 8, 8)], out=8, k=3, groups=4)
    with pytest.raises(ShapeError, match="groups=4"):
        out_shape("conv", [Shape(8, 8, 8)], out=6, k=3, groups=4)


# ---------------------------------------------------------------- conv work

def test_plain_conv_macs_and_params():
    _, macs, params = run("conv", [Shape(3, 32, 32)], out=64, k=3)
    assert macs == 32 * 32 * 64 * 3 * 3 * 3
    assert params == 64 * 3 * 3 * 3


def test_biased_conv_adds_one_parameter_per_output_channel():
    _, macs, params = run("conv", [Shape(3, 32, 32)], out=64, k=3, bias=True)
    assert macs == 32 * 32 * 64 * 3 * 3 * 3
    assert params == 64 * 3 * 3 * 3 + 64


def test_grouped_conv_work():
    out, macs, params = run("conv", [Shape(32, 16, 16)], out=64, k=3, groups=4)
    assert out == Shape(64, 16, 16)
    assert macs == 16 * 16 * 64 * (32 // 4) * 3 * 3
    assert params == 64 * (32 // 4) * 3 * 3


def test_depthwise_conv_work():
    out, macs, params = run("conv", [Shape(32, 16, 16)], out=32, k=3, stride=2, groups=32)
    assert out == Shape(32, 8, 8)
    assert macs == 8 * 8 * 32 * 1 * 3 * 3
    assert params == 32 * 1 * 3 * 3


def test_asymmetric_and_pointwise_conv_work():
    _, macs, params = run("conv", [Shape(16, 17, 17)], out=24, k=[1, 7])
    assert macs == 17 * 17 * 24 * 16 * 1 * 7
    assert params == 24 * 16 * 1 * 7
    _, macs, params = run("conv", [Shape(64, 56, 56)], out=128, k=1, stride=2)
    assert macs == 28 * 28 * 128 * 64
    assert params == 128 * 64


# ---------------------------------------------------------------- dconv

def test_dconv_full_shape_counts_its_offset_branch():
    # main 3x3 conv 16 -> 32, plus a 3x3 conv 16 -> 2*3*3 = 18 offsets with bias
    out, macs, params = run("dconv", [Shape(16, 8, 8)], out=32, k=3)
    assert out == Shape(32, 8, 8)
    assert macs == 8 * 8 * 32 * 16 * 3 * 3 + 8 * 8 * 18 * 16 * 3 * 3
    assert params == 32 * 16 * 3 * 3 + (18 * 16 * 3 * 3 + 18)


def test_dconv_full_shape_with_offset_groups_and_stride():
    # offset_groups 2: 2*3*3*2 = 36 offsets; stride 2 on 16 -> 8 for both branches
    out, macs, params = run("dconv", [Shape(16, 16, 16)], out=32, k=3, stride=2, offset_groups=2)
    assert out == Shape(32, 8, 8)
    assert macs == 8 * 8 * 32 * 16 * 3 * 3 + 8 * 8 * 36 * 16 * 3 * 3
    assert params == 32 * 16 * 3 * 3 + (36 * 16 * 3 * 3 + 36)


def test_dconv_square_shape_predicts_scales_with_a_pointwise_conv():
    # 4 offset groups -> 4 scales from a 1x1 conv 16 -> 4 with bias
    _, macs, params = run("dconv", [Shape(16, 8, 8)], out=32, k=3, shape="square", offset_groups=4)
    assert macs == 8 * 8 * 32 * 16 * 3 * 3 + 8 * 8 * 4 * 16 * 1 * 1
    assert params == 32 * 16 * 3 * 3 + (4 * 16 + 4)


def test_depthwise_dconv_as_in_codenet():
    # CoDeNet's deform_up: depthwise 3x3, square, bounded, rounded; one scale per pixel
    out, macs, params = run(
        "dconv", [Shape(64, 8, 8)], out=64, k=3, groups=64, bound=6, shape="square", round=True,
    )
    assert out == Shape(64, 8, 8)
    assert macs == 8 * 8 * 64 * 1 * 3 * 3 + 8 * 8 * 1 * 64 * 1
    assert params == 64 * 1 * 3 * 3 + (1 * 64 + 1)


def test_depthwise_dconv_full_shape_with_bias():
    _, macs, params = run("dconv", [Shape(8, 4, 4)], out=8, k=3, groups=8, bias=True)
    assert macs == 4 * 4 * 8 * 1 * 3 * 3 + 4 * 4 * 18 * 8 * 3 * 3
    assert params == (8 * 1 * 3 * 3 + 8) + (18 * 8 * 3 * 3 + 18)


def test_offset_channels():
    dconv = OPS["dconv"]
    assert offset_channels(dconv.build_attrs({"out": 8, "k": 3})) == 2 * 3 * 3
    assert offset_channels(dconv.build_attrs({"out": 8, "k": 5, "offset_groups": 4})) == 2 * 5 * 5 * 4
    assert offset_channels(dconv.build_attrs({"out": 8, "k": 3, "shape": "square", "offset_groups": 4})) == 4


def test_dconv_offset_groups_must_divide_input_channels():
    with pytest.raises(ShapeError, match="offset_groups=3"):
        out_shape("dconv", [Shape(16, 8, 8)], out=16, k=3, offset_groups=3)


def test_dconv_square_shape_needs_a_square_kernel():
    with pytest.raises(AttrError, match="square kernel"):
        OPS["dconv"].build_attrs({"out": 8, "k": [3, 5], "shape": "square"})


# ---------------------------------------------------------------- pooling

@pytest.mark.parametrize(("op", "x", "attrs", "expected"), [
    # stride defaults to k: 32 / 2
    ("maxpool", Shape(8, 32, 32), {"k": 2}, Shape(8, 16, 16)),
    ("avgpool", Shape(8, 7, 7), {"k": 2}, Shape(8, 3, 3)),
    # ResNet stem pool: (112 + 2 - 3) // 2 + 1 = 56
    ("maxpool", Shape(64, 112, 112), {"k": 3, "stride": 2, "padding": 1}, Shape(64, 56, 56)),
    # floor: (8 - 3) // 2 + 1 = 3; ceil: ceil(5 / 2) + 1 = 4 (last window starts at 6 < 8)
    ("maxpool", Shape(1, 8, 8), {"k": 3, "stride": 2}, Shape(1, 3, 3)),
    ("maxpool", Shape(1, 8, 8), {"k": 3, "stride": 2, "ceil": True}, Shape(1, 4, 4)),
    # avg ceil on 7: ceil(5 / 2) + 1 = 4
    ("avgpool", Shape(8, 7, 7), {"k": 2, "ceil": True}, Shape(8, 4, 4)),
    # ceil whose last window would start in the right padding is dropped (PyTorch):
    # n=5 k=2 s=2 p=1: ceil(5 / 2) + 1 = 4, but (4 - 1) * 2 = 6 >= 5 + 1, so 3
    ("maxpool", Shape(1, 5, 5), {"k": 2, "padding": 1, "ceil": True}, Shape(1, 3, 3)),
    # pair kernel and stride: h (9 - 3) // 3 + 1 = 3, w (9 - 1) // 1 + 1 = 9
    ("maxpool", Shape(2, 9, 9), {"k": [3, 1]}, Shape(2, 3, 9)),
    ("avgpool", Shape(2, 9, 10), {"k": 2, "stride": [1, 2]}, Shape(2, 8, 5)),
    # global average pooling
    ("avgpool", Shape(512, 7, 7), {"global": True}, Shape(512, 1, 1)),
])
def test_pool_output_shape(op, x, attrs, expected):
    out, macs, params = run(op, [x], **attrs)
    assert out == expected
    assert (macs, params) == (0, 0)


def test_pool_stride_defaults_to_kernel():
    assert OPS["maxpool"].build_attrs({"k": 3})["stride"] == (3, 3)
    assert OPS["avgpool"].build_attrs({"k": [2, 3]})["stride"] == (2, 3)


@pytest.mark.parametrize(("k", "padding"), [(3, 2), (2, 2), (1, 1), ([3, 5], [1, 3])])
def test_pool_padding_over_half_the_kernel_is_rejected(k, padding):
    with pytest.raises(AttrError, match="at most half the kernel"):
        OPS["maxpool"].build_attrs({"k": k, "padding": padding})


def test_pool_padding_of_half_the_kernel_is_accepted():
    # PyTorch allows pad <= k / 2: k=2 p=1 gives (4 + 2 - 2) // 2 + 1 = 3
    assert out_shape("maxpool", [Shape(1, 4, 4)], k=2, padding=1) == Shape(1, 3, 3)


def test_pool_needs_a_kernel_and_global_takes_none():
    with pytest.raises(AttrError, match="needs 'k'"):
        OPS["maxpool"].build_attrs({})
    with pytest.raises(AttrError, match="takes no k"):
        OPS["avgpool"].build_attrs({"global": True, "k": 2})
    with pytest.raises(AttrError, match="has no attribute 'global'"):
        OPS["maxpool"].build_attrs({"global": True})


def test_pool_window_larger_than_input_is_rejected():
    with pytest.raises(ShapeError, match="empty"):
        out_shape("maxpool", [Shape(1, 2, 2)], k=3)


# ---------------------------------------------------------------- upsample

@pytest.mark.parametrize(("x", "scale", "expected"), [
    (Shape(8, 5, 7), 2, Shape(8, 10, 14)),
    (Shape(8, 5, 5), 1.5, Shape(8, math.floor(5 * 1.5), math.floor(5 * 1.5))),  # 7
    (Shape(8, 4, 6), 0.5, Shape(8, 2, 3)),
    (Shape(4, 3, 3), [2, 3], Shape(4, 6, 9)),
])
def test_upsample_by_scale(x, scale, expected):
    out, macs, params = run("upsample", [x], scale=scale)
    assert out == expected
    assert (macs, params) == (0, 0)


def test_upsample_scale_is_stored_as_a_float_pair():
    assert OPS["upsample"].build_attrs({"scale": 2})["scale"] == (2.0, 2.0)


def test_upsample_to_the_size_of_another_tensor():
    assert out_shape("upsample", [Shape(8, 4, 4), Shape(16, 16, 12)], mode="bilinear") == Shape(8, 16, 12)


def test_upsample_needs_exactly_one_of_scale_and_to():
    with pytest.raises(ShapeError, match="exactly one"):
        out_shape("upsample", [Shape(8, 4, 4), Shape(8, 8, 8)], scale=2)
    with pytest.raises(ShapeError, match="exactly one"):
        out_shape("upsample", [Shape(8, 4, 4)])


def test_upsample_to_nothing_is_rejected():
    with pytest.raises(ShapeError, match="empty"):
        out_shape("upsample", [Shape(8, 4, 4)], scale=0.1)


def test_align_corners_needs_bilinear():
    with pytest.raises(AttrError, match="bilinear"):
        OPS["upsample"].build_attrs({"scale": 2, "align_corners": True})
    attrs = OPS["upsample"].build_attrs({"scale": 2, "mode": "bilinear", "align_corners": True})
    assert attrs["align_corners"] is True


# ---------------------------------------------------------------- add, concat, flatten, linear, bn, activations

def test_add_keeps_the_shape():
    x = Shape(16, 8, 8)
    assert run("add", [x, x]) == (x, 0, 0)
    assert run("add", [x, x, x]) == (x, 0, 0)


def test_add_mismatch_names_both_shapes():
    with pytest.raises(ShapeError) as err:
        out_shape("add", [Shape(3, 4, 4), Shape(3, 4, 5)])
    assert "[3, 4, 4]" in str(err.value)
    assert "[3, 4, 5]" in str(err.value)
    with pytest.raises(ShapeError, match=r"\[8, 4, 4\].*\[4, 4, 4\]"):
        out_shape("add", [Shape(8, 4, 4), Shape(8, 4, 4), Shape(4, 4, 4)])


def test_add_and_concat_arity():
    assert not OPS["add"].accepts(1)
    assert OPS["add"].accepts(2) and OPS["add"].accepts(7)
    assert OPS["concat"].accepts(1) and OPS["concat"].accepts(5)
    assert not OPS["conv"].accepts(2)
    assert OPS["upsample"].accepts(2) and not OPS["upsample"].accepts(3)
    assert OPS["input"].accepts(0) and not OPS["input"].accepts(1)


def test_concat_sums_channels():
    out = out_shape("concat", [Shape(4, 8, 8), Shape(6, 8, 8), Shape(2, 8, 8)])
    assert out == Shape(4 + 6 + 2, 8, 8)


def test_concat_spatial_mismatch_is_rejected():
    with pytest.raises(ShapeError, match=r"\[4, 8, 8\].*\[4, 8, 4\]"):
        out_shape("concat", [Shape(4, 8, 8), Shape(4, 8, 4)])


def test_flatten():
    assert out_shape("flatten", [Shape(16, 4, 4)]) == Shape(16 * 4 * 4, 1, 1)
    assert out_shape("flatten", [Shape(512, 1, 1)]) == Shape(512, 1, 1)


def test_linear_work():
    # ResNet-18's fc: 512 -> 1000 with bias
    out, macs, params = run("linear", [Shape(512, 1, 1)], out=1000)
    assert out == Shape(1000, 1, 1)
    assert macs == 512 * 1000
    assert params == 512 * 1000 + 1000
    assert run("linear", [Shape(512, 1, 1)], out=10, bias=False)[2] == 512 * 10


def test_linear_needs_a_flat_input():
    with pytest.raises(ShapeError, match="flatten or pool"):
        out_shape("linear", [Shape(16, 4, 4)], out=10)


def test_bn_has_two_parameters_per_channel():
    assert run("bn", [Shape(64, 56, 56)]) == (Shape(64, 56, 56), 0, 2 * 64)


@pytest.mark.parametrize("op", ["relu", "relu6", "sigmoid", "identity", "output"])
def test_shape_preserving_ops_have_no_work(op):
    x = Shape(7, 5, 3)
    assert run(op, [x]) == (x, 0, 0)


def test_input_shape_comes_from_its_attributes():
    assert run("input", [], c=3, h=224, w=200) == (Shape(3, 224, 200), 0, 0)


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


# ---------------------------------------------------------------- properties

@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 64), k=st.sampled_from([1, 3, 5, 7]), stride=st.integers(1, 3),
    dilation=st.integers(1, 3), groups=st.integers(1, 4), cin_per_group=st.integers(1, 4),
    cout_per_group=st.integers(1, 4),
)
def test_same_conv_output_and_macs(n, k, stride, dilation, groups, cin_per_group, cout_per_group):
    cin, cout = groups * cin_per_group, groups * cout_per_group
    x = Shape(cin, n, n)
    out, macs, params = run("conv", [x], out=cout, k=k, stride=stride, dilation=dilation, groups=groups)
    # "same" pads d(k-1)/2 per side, so the window always fits and out = ceil(n / s)
    assert out == Shape(cout, -(-n // stride), -(-n // stride))
    assert macs == out.h * out.w * out.c * (x.c // groups) * k * k
    assert params == cout * (cin // groups) * k * k


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 6), stride=st.integers(1, 4), pad=st.integers(0, 3),
       ceil=st.booleans())
def test_pool_output_follows_pytorchs_documented_formula(n, k, stride, pad, ceil):
    # torch.nn.MaxPool2d docs: H_out = floor_or_ceil((H + 2p - k) / s + 1); with ceil_mode a window
    # starting in the right padding is dropped.
    if 2 * pad > k or n + 2 * pad < k:
        return
    rounding = math.ceil if ceil else math.floor
    expected = rounding((n + 2 * pad - k) / stride + 1)
    if ceil and (expected - 1) * stride >= n + pad:
        expected -= 1
    assert out_shape("maxpool", [Shape(1, n, n)], k=k, stride=stride, padding=pad, ceil=ceil) == Shape(1, expected,
                                                                                                        expected)


# ---------------------------------------------------------------- cross-check with PyTorch

def _random_conv_cases(count: int) -> list[dict]:
    rng = random.Random(20240601)
    cases = []
    for _ in range(count):
        cases.append({
            "h": rng.randint(1, 20), "w": rng.randint(1, 20),
            "k": [rng.randint(1, 5), rng.randint(1, 5)], "stride": [rng.randint(1, 3), rng.randint(1, 3)],
            "dilation": [rng.randint(1, 3), rng.randint(1, 3)], "padding": [rng.randint(0, 3), rng.randint(0, 3)],
            "groups": rng.choice([1, 2]),
        })
    return cases


@pytest.mark.parametrize("case", _random_conv_cases(60))
def test_conv_shape_matches_torch(case):
    torch = pytest.importorskip("torch")
    groups = case["groups"]
    x = torch.zeros(1, 2 * groups, case["h"], case["w"])
    weight = torch.zeros(4, 2, *case["k"])
    try:
        expected = tuple(torch.nn.functional.conv2d(
            x, weight, stride=case["stride"], padding=case["padding"], dilation=case["dilation"], groups=groups,
        ).shape[1:])
    except RuntimeError:
        expected = None
    attrs = {k: v for k, v in case.items() if k not in ("h", "w")}
    try:
        got = tuple(out_shape("conv", [Shape(2 * groups, case["h"], case["w"])], out=4, **attrs))
    except ShapeError:
        got = None
    assert got == expected


def _random_pool_cases(count: int) -> list[dict]:
    rng = random.Random(7)
    cases = []
    for _ in range(count):
        k = rng.randint(1, 5)
        cases.append({
            "n": rng.randint(1, 20), "k": k, "stride": rng.randint(1, 4), "padding": rng.randint(0, k // 2),
            "ceil": rng.random() < 0.5, "op": rng.choice(["maxpool", "avgpool"]),
        })
    return cases


@pytest.mark.parametrize("case", _random_pool_cases(60))
def test_pool_shape_matches_torch(case):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    pool = functional.max_pool2d if case["op"] == "maxpool" else functional.avg_pool2d
    x = torch.rand(1, 2, case["n"], case["n"] + 1)
    try:
        expected = tuple(pool(x, case["k"], case["stride"], case["padding"], ceil_mode=case["ceil"]).shape[1:])
    except RuntimeError:
        expected = None
    try:
        got = tuple(out_shape(case["op"], [Shape(2, case["n"], case["n"] + 1)], k=case["k"], stride=case["stride"],
                              padding=case["padding"], ceil=case["ceil"]))
    except ShapeError:
        got = None
    assert got == expected


@pytest.mark.parametrize(("n", "scale"), [(5, 1.5), (7, 2), (9, 0.5), (3, 3.25)])
def test_upsample_shape_matches_torch(n, scale):
    torch = pytest.importorskip("torch")
    x = torch.zeros(1, 2, n, n)
    expected = tuple(torch.nn.functional.interpolate(x, scale_factor=scale, mode="nearest").shape[1:])
    assert tuple(out_shape("upsample", [Shape(2, n, n)], scale=scale)) == expected
