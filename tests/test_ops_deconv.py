"""The deconv (transposed convolution) op: output shapes by PyTorch's
documented ConvTranspose2d formula and by torch itself, MACs and parameters
(scatter form), attribute errors, and the generated torch module against
``torch.nn.functional.conv_transpose2d`` on the same weights.

Expected numbers are written out as arithmetic in the test, or come from torch.
"""

from __future__ import annotations

import pytest
from run_op import out_shape, run

import segc
from segc.ir import AttrError, Shape, ShapeError


# ---------------------------------------------------------------- shapes
@pytest.mark.parametrize(("x", "attrs", "expected"), [
    # H_out = (H - 1)·s - 2p + d·(k - 1) + output_padding + 1
    (Shape(8, 4, 4), {"k": 2, "stride": 2}, Shape(6, 3 * 2 + 1 + 1, 8)),
    (Shape(8, 4, 4), {"k": 4, "stride": 2, "padding": 1}, Shape(6, 3 * 2 - 2 + 3 + 1, 8)),
    (Shape(8, 5, 7), {"k": 3, "stride": 2, "padding": 1, "output_padding": 1}, Shape(6, 4 * 2 - 2 + 2 + 1 + 1, 14)),
    (Shape(8, 5, 5), {"k": 3}, Shape(6, 4 + 2 + 1, 7)),
    (Shape(8, 5, 5), {"k": 3, "dilation": 2}, Shape(6, 4 + 4 + 1, 9)),
    (Shape(8, 3, 6), {"k": [3, 1], "stride": [1, 3]}, Shape(6, 2 + 2 + 1, 5 * 3 + 0 + 1)),
])
def test_deconv_output_shape(x, attrs, expected):
    assert out_shape("deconv", [x], out=6, **attrs) == expected


@pytest.mark.parametrize("case", [
    {"k": (2, 2), "s": (2, 2), "p": (0, 0), "op": (0, 0), "d": (1, 1), "g": 1},
    {"k": (3, 3), "s": (2, 2), "p": (1, 1), "op": (1, 1), "d": (1, 1), "g": 2},
    {"k": (3, 5), "s": (3, 1), "p": (1, 2), "op": (2, 0), "d": (1, 1), "g": 1},
    {"k": (3, 3), "s": (1, 1), "p": (2, 2), "op": (1, 0), "d": (2, 2), "g": 4},
])
def test_deconv_shape_matches_torch(case):
    torch = pytest.importorskip("torch")
    x = torch.zeros(1, 4, 5, 6)
    weight = torch.zeros(4, 8 // case["g"], *case["k"])
    got = torch.nn.functional.conv_transpose2d(x, weight, stride=case["s"], padding=case["p"],
                                               output_padding=case["op"], groups=case["g"], dilation=case["d"])
    attrs = {"k": list(case["k"]), "stride": list(case["s"]), "padding": list(case["p"]),
             "output_padding": list(case["op"]), "dilation": list(case["d"]), "groups": case["g"]}
    assert tuple(out_shape("deconv", [Shape(4, 5, 6)], out=8, **attrs)) == tuple(got.shape[1:])


def test_deconv_macs_and_params():
    # 16 -> 8 channels, 4x4 kernel, stride 2, on 10x12: each of the 16·10·12 input values
    # multiplies its 8·4·4 filter slice; weight [16, 8, 4, 4] plus 8 biases
    out, macs, params = run("deconv", [Shape(16, 10, 12)], out=8, k=4, stride=2, padding=1, bias=True)
    assert out == Shape(8, 20, 24)
    assert macs == 16 * 8 * 4 * 4 * 10 * 12
    assert params == 16 * 8 * 4 * 4 + 8
    # grouped: 4 groups, each 4 -> 2 channels
    _, macs, params = run("deconv", [Shape(16, 10, 12)], out=8, k=2, stride=2, groups=4)
    assert macs == 16 * 2 * 2 * 2 * 10 * 12
    assert params == 16 * 2 * 2 * 2


@pytest.mark.parametrize(("attrs", "error", "text"), [
    ({"k": 3, "stride": 2, "output_padding": 2}, AttrError, r"output_padding \[2, 2\] must be smaller than the stride"),
    ({"k": 3, "padding": "same"}, AttrError, "'padding' must be"),
    ({"k": 3, "groups": 3}, ShapeError, "groups=3 must divide"),
    ({"k": 1, "padding": 3}, ShapeError, "output would be empty"),
])
def test_deconv_bad_attributes(attrs, error, text):
    with pytest.raises(error, match=text):
        run("deconv", [Shape(4, 3, 3)], out=6, **attrs)


# ---------------------------------------------------------------- torch numerics
NET = """
network up {
    input x: [4, 5, 6]
    y = x -> deconv(8, k=3, stride=2, padding=1, output_padding=1, groups=2, bias=true)
    output z = y -> deconv(3, k=2, stride=2, dilation=[1, 2])
}
"""


def test_generated_module_matches_conv_transpose2d():
    torch = pytest.importorskip("torch")
    module = segc.to_torch(segc.loads(NET), None, 3).eval()
    state = module.state_dict()
    assert tuple(state["y.weight"].shape) == (4, 8 // 2, 3, 3)  # [C_in, C_out/g, k, k]
    x = torch.randn(2, 4, 5, 6, generator=torch.Generator().manual_seed(0))
    f = torch.nn.functional
    y = f.conv_transpose2d(x, state["y.weight"], state["y.bias"], stride=2, padding=1, output_padding=1, groups=2)
    expected = f.conv_transpose2d(y, state["z.weight"], stride=2, dilation=(1, 2))
    with torch.no_grad():
        got = module(x)
    got = got["z"] if isinstance(got, dict) else got
    assert got.shape == expected.shape == (2, 3, 9 * 2 + 1 + 1, 11 * 2 + 2 * 1 + 1)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- printer
def test_printed_seg_loads_back_the_same():
    graph = segc.loads(NET)
    again = segc.loads(segc.to_seg(graph))
    assert again.structure() == graph.structure()
    assert "output_padding=1" in segc.to_seg(graph)
