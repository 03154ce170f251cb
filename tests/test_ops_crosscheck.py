"""Shape rules of the op table checked against independent sources: closed
formulas over generated sizes (hypothesis), PyTorch's documented pooling
formula, and, when torch is importable, the shapes torch itself computes for
random conv, pooling and upsample cases.  Shapes are ``[C, H, W]`` (no batch).
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from run_op import out_shape, run

from segc.ir import Shape, ShapeError

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
