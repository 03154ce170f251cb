"""The conv and dconv ops of the op table: output shapes for every padding
mode, stride, dilation and kernel shape; MAC and parameter counts (grouped,
depthwise, biased, with the offset branch of dconv); their shape errors.

Every expected number is written out as arithmetic in the test (or cited);
nothing is computed by calling segc.  Shapes are ``[C, H, W]`` (no batch).
"""

from __future__ import annotations

import pytest
from run_op import out_shape, run

from segc.ir import OPS, AttrError, Shape, ShapeError, conv_pads, offset_channels

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
