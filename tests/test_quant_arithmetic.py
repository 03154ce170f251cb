"""The quantization arithmetic shared by the backends, against values
worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from segc.backends.quant import (
    activation_range,
    dequantize,
    fixed_frac,
    int_scale,
    parse_range_rule,
    quantize,
    weight_scales,
)


def test_weight_scales_are_per_output_channel_and_one_for_a_zero_channel():
    w = np.zeros((3, 2, 1, 1))
    w[0] = [[[1.27]], [[-0.5]]]
    w[1] = [[[0.1]], [[-2.54]]]
    np.testing.assert_allclose(weight_scales(w, 8), [0.01, 0.02, 1.0])  # 1.27/127, 2.54/127
    np.testing.assert_allclose(weight_scales(np.ones((2, 3, 1, 1)) * [[[[1]]], [[[7]]]], 4, axis=1),
                               [1.0, 1.0, 1.0])  # axis 1: every channel holds 1 and 7 -> 7/7


def test_quantize_rounds_half_to_even_and_saturates():
    assert quantize(np.array([0.5, 1.5, 2.5, -0.5, -1.5]), 1.0, 8).tolist() == [0, 2, 2, 0, -2]
    assert quantize(np.array([100.0, -100.0]), 1.0, 4).tolist() == [7, -8]
    q = quantize(np.array([[0.3, 0.6], [0.375, 0.625]]), np.array([0.1, 0.25]), 8, axis=0)
    assert q.tolist() == [[3, 6], [2, 2]]  # 1.5 -> 2 and 2.5 -> 2 (even)
    np.testing.assert_allclose(dequantize(q, np.array([0.1, 0.25]), axis=0), [[0.3, 0.6], [0.5, 0.5]])


def test_int_scale_refuses_a_range_with_no_scale():
    assert int_scale(12.7, 8, "x") == pytest.approx(0.1)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="layer 'c1'"):
            int_scale(bad, 8, "layer 'c1'")


def test_fixed_frac_generalises_the_16_bit_rule():
    assert fixed_frac(1.0, 16) == 14  # 1.0 * 2^14 = 16384 <= 32767; 2^15 = 32768 > 32767
    assert fixed_frac(1.0, 8) == 6  # 64 <= 127 < 128
    assert fixed_frac(0.99, 8) == 7  # round(0.99 * 128) = 127
    assert fixed_frac(3.0, 4, headroom=1) == 0  # round(3 * 2^1) = 6 <= 7; 2^2 * 3 = 12 > 7
    assert fixed_frac(0.0, 8) == 7
    assert fixed_frac(float("inf"), 8) is None
    assert fixed_frac(2.0**40, 8) is None


def test_range_rules():
    values = np.concatenate([np.arange(100.0), [-1000.0]])
    assert activation_range(values, "max") == 1000.0
    assert activation_range(np.arange(101.0), "percentile:50") == 50.0
    assert parse_range_rule("percentile:99.9") == ("percentile", 99.9)
    for bad in ("min", "percentile:0", "percentile:101", "percentile:x", "percentile"):
        with pytest.raises(ValueError, match="expected 'max' or 'percentile:P'"):
            parse_range_rule(bad)
    with pytest.raises(ValueError, match="no calibration values"):
        activation_range(np.array([]))
