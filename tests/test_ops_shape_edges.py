"""Shape rules of the op table at their edges: each axis of a rectangular
window on its own, outputs of exactly one row or column, empty outputs
along one axis only, mismatches in either direction.  Expected shapes from
PyTorch's documented formulas, worked out in the comments: pooling
⌊(n + 2p − k)/s⌋ + 1 (MaxPool2d, AvgPool2d), upsampling ⌊n·scale⌋
(Upsample).  Shapes are ``[C, H, W]``."""

from __future__ import annotations

import pytest
from run_op import out_shape

from segc.ir import OPS, AttrError, Shape, ShapeError, conv_pads


@pytest.mark.parametrize(("op", "x", "attrs", "expected"), [
    # k 3 × 1 at stride 1: H (9 − 3)/1 + 1 = 7, W (9 − 1)/1 + 1 = 9
    ("maxpool", Shape(2, 9, 9), {"k": [3, 1], "stride": 1}, Shape(2, 7, 9)),
    # k 2 × 4, stride 2 × 1, padding 1 × 2: H ⌊(6 + 2 − 2)/2⌋ + 1 = 4, W ⌊(10 + 4 − 4)/1⌋ + 1 = 11
    ("avgpool", Shape(3, 6, 10), {"k": [2, 4], "stride": [2, 1], "padding": [1, 2]}, Shape(3, 4, 11)),
    # one output row: H (2 − 2)/2 + 1 = 1, W (6 − 2)/2 + 1 = 3
    ("maxpool", Shape(1, 2, 6), {"k": 2}, Shape(1, 1, 3)),
    # one output column: H (6 − 2)/2 + 1 = 3, W (2 − 2)/2 + 1 = 1
    ("avgpool", Shape(1, 6, 2), {"k": 2}, Shape(1, 3, 1)),
])
def test_pool_axes_apart(op, x, attrs, expected):
    assert out_shape(op, [x], **attrs) == expected


@pytest.mark.parametrize(("x", "k"), [
    (Shape(1, 2, 4), [3, 1]),  # H ⌊(2 − 3)/3⌋ + 1 = 0, W 4
    (Shape(1, 4, 2), [1, 3]),  # H 4, W ⌊(2 − 3)/3⌋ + 1 = 0
])
def test_pool_empty_along_one_axis_is_rejected(x, k):
    with pytest.raises(ShapeError, match="pooling output would be empty"):
        out_shape("maxpool", [x], k=k)


def test_upsample_to_one_row_and_column():
    # ⌊2 · 0.5⌋ = 1, ⌊8 · 0.25⌋ = 2; ⌊4 · 0.25⌋ = 1
    assert out_shape("upsample", [Shape(8, 2, 8)], scale=[0.5, 0.25]) == Shape(8, 1, 2)
    assert out_shape("upsample", [Shape(8, 6, 4)], scale=[1, 0.25]) == Shape(8, 6, 1)


def test_upsample_empty_along_one_axis_is_rejected():
    # ⌊2 · 0.4⌋ = 0 rows of ⌊10 · 1⌋ = 10; 4 rows of ⌊4 · 0.1⌋ = 0
    with pytest.raises(ShapeError, match=r"upsample output would be empty: 2×10 scaled by 0\.4×1$"):
        out_shape("upsample", [Shape(8, 2, 10)], scale=[0.4, 1])
    with pytest.raises(ShapeError, match=r"upsample output would be empty: 4×4 scaled by 1×0\.1$"):
        out_shape("upsample", [Shape(8, 4, 4)], scale=[1, 0.1])


@pytest.mark.parametrize("other", [Shape(4, 8, 9), Shape(4, 9, 8), Shape(4, 7, 8)])
def test_concat_of_a_larger_or_smaller_map_is_rejected(other):
    with pytest.raises(ShapeError, match="concat inputs must have the same height and width"):
        out_shape("concat", [Shape(4, 8, 8), other])


def test_operand_counts_at_their_lower_ends():
    assert not OPS["concat"].accepts(0) and OPS["concat"].accepts(1)
    assert not OPS["upsample"].accepts(0) and OPS["upsample"].accepts(1)


def test_same_padding_of_a_pooling_window():
    # pooling has no dilation: "same" pads (k − 1)/2 a side, 1 row for k 3 and 2 columns for k 5
    assert conv_pads(OPS["maxpool"].build_attrs({"k": [3, 5], "padding": "same"})) == (1, 2)


def test_global_pooling_takes_no_padding():
    with pytest.raises(AttrError, match="takes no k, stride or padding"):
        OPS["avgpool"].build_attrs({"global": True, "padding": 1})


@pytest.mark.parametrize("dim", ["c", "h", "w"])
def test_an_input_has_at_least_one_channel_row_and_column(dim):
    assert out_shape("input", [], c=1, h=1, w=1) == Shape(1, 1, 1)
    with pytest.raises(AttrError, match=f"'{dim}'"):
        OPS["input"].build_attrs({"c": 1, "h": 1, "w": 1, dim: 0})
