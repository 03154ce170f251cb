"""The remaining ops of the op table: add, concat, flatten, linear, bn, the
activations, input and output: shapes, arity, MAC and parameter counts, and
the shape errors that name the mismatched shapes.

Expected numbers are written out as arithmetic in the test.  Shapes are
``[C, H, W]`` (no batch).
"""

from __future__ import annotations

import pytest
from run_op import out_shape, run

from segc.ir import OPS, Shape, ShapeError

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
