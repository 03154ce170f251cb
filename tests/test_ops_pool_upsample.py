"""The pooling and upsample ops of the op table: output shapes (floor and
ceil modes, pair kernels, global pooling, scale or the size of another
tensor), no work, and the attribute and shape errors.

Expected shapes are written out as arithmetic in the test.  Shapes are
``[C, H, W]`` (no batch).
"""

from __future__ import annotations

import math

import pytest
from run_op import out_shape, run

from segc.ir import OPS, AttrError, Shape, ShapeError

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
