"""Tests of ``segc.backends.torch.deform.DeformConv2d``, CoDeNet's variants
(bounded, square, rounded, depthwise) against the reference of
``deform_reference.py``: fresh modules are a plain conv, state_dict keys,
initialisation, square offsets, errors; every variant's gradient
(gradcheck in float64); ONNX export checked by
``onnx.checker`` and run in onnxruntime.
"""

from __future__ import annotations

import collections
import io
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from deform_reference import (  # noqa: F401 (fixtures used by name)
    CONFIGS,
    assert_close,
    layer,
    one_thread,
    out_size,
    path,
    random_offsets,
    reference,
    reference_sample,
    run,
)

from segc.backends.torch import deform_fused
from segc.backends.torch.deform import DeformConv2d, deform_conv2d, square_offsets

# ---------------------------------------------------------------- the module


def reference_module_offsets(module: DeformConv2d, x: torch.Tensor) -> torch.Tensor:
    """The offsets a module should sample with, computed here with loops over its predicted map."""
    (kh, kw), (dh, dw), bound = module.kernel_size, module.dilation, module.bound
    if module.shape == "full":
        predicted = F.conv2d(x, module.offset.weight, module.offset.bias, module.stride, module.padding,
                             module.dilation).tolist()
    else:
        predicted = F.conv2d(x, module.offset.weight, module.offset.bias, module.stride).tolist()
    n_images, maps, out_h, out_w = len(predicted), len(predicted[0]), len(predicted[0][0]), len(predicted[0][0][0])
    groups = module.offset_groups
    result = torch.zeros(n_images, 2 * kh * kw * groups, out_h, out_w)
    for n in range(n_images):
        for m in range(maps):
            for oy in range(out_h):
                for ox in range(out_w):
                    value = predicted[n][m][oy][ox]
                    if module.shape == "full":
                        value = value if bound is None else min(max(value, -bound), bound)
                        result[n, m, oy, ox] = round(value) if module.round else value
                        continue
                    scale = value if bound is None else min(max(value, 1 - bound), bound)
                    step_y, step_x = (scale - 1) * dh, (scale - 1) * dw
                    if module.round:  # the spacing made an integer: the grid stays square
                        step_y, step_x = round(step_y), round(step_x)
                    for i in range(kh):
                        for j in range(kw):
                            k = (m * kh + i) * kw + j
                            result[n, 2 * k, oy, ox] = (i - (kh - 1) / 2) * step_y
                            result[n, 2 * k + 1, oy, ox] = (j - (kw - 1) / 2) * step_x
    return result


# name: (constructor arguments, scale of the random offset-branch weights, offset-branch bias)
MODULES = {
    "full": ({"bias": True}, 1.0, 0.0),
    "bounded": ({"bound": 0.7}, 1.0, 0.0),
    "square": ({"shape": "square"}, 0.6, 1.3),
    "square bounded": ({"shape": "square", "bound": 1.4}, 0.8, 1.2),
    "rounded": ({"round": True, "bound": 2.0}, 1.5, 0.0),
    "square rounded": ({"shape": "square", "round": True, "bound": 3.0}, 0.8, 1.5),
    "depthwise square": ({"shape": "square", "groups": 4, "bound": 8.0}, 0.6, 1.3),
    "offset groups 2": ({"offset_groups": 2, "bias": True}, 1.0, 0.0),
    "stride 2, dilation 2": ({"stride": 2, "dilation": 2, "padding": 2}, 1.0, 0.0),
}


def random_module(name: str, seed: int = 0) -> DeformConv2d:
    options, weight_scale, bias_value = MODULES[name]
    options = {"padding": 1, **options}
    torch.manual_seed(seed)
    module = DeformConv2d(4, 4, 3, **options)
    with torch.no_grad():
        module.offset.weight.normal_(0, weight_scale)
        module.offset.bias.fill_(bias_value)
    return module


@pytest.mark.parametrize("name", list(MODULES))
def test_module_matches_reference(name, path):
    module = random_module(name)
    x = torch.randn(2, 4, 5, 5, generator=torch.Generator().manual_seed(7))
    offsets = reference_module_offsets(module, x)
    expected = reference(x, offsets, module.weight, module.bias, module.stride, module.padding, module.dilation,
                         module.groups, module.offset_groups, interpolate=not module.round)
    if path.startswith("autograd"):
        out = module(x).detach()
    else:
        with torch.no_grad():
            out = module(x)
    assert_close(out, expected)


@pytest.mark.parametrize("name", list(MODULES))
def test_module_gradcheck(name):
    """Every variant's gradient in float64: of the input and every parameter; rounded variants only of
    the main weight and bias (the offset branch gets the straight-through gradient, not the derivative)."""
    module = random_module(name, seed=2).double()
    x = torch.randn(1, 4, 5, 5, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    params = dict(module.named_parameters())
    names = [n for n in params if not module.round or not n.startswith("offset.")]
    checked = [x.requires_grad_(not module.round)] + [params[n].detach().clone().requires_grad_() for n in names]

    def forward(x_in, *values):
        return torch.func.functional_call(module, {**params, **dict(zip(names, values))}, (x_in,))

    assert torch.autograd.gradcheck(forward, checked, fast_mode=True)


def test_bounds_are_reached():
    """The test modules' offsets do go past their bounds (else the clamps would be untested)."""
    x = torch.randn(2, 4, 5, 5, generator=torch.Generator().manual_seed(7))
    bounded, square = random_module("bounded"), random_module("square bounded")
    raw = F.conv2d(x, bounded.offset.weight, bounded.offset.bias, padding=1)
    assert raw.abs().max() > 0.7 and bounded.offsets(x).abs().max().item() == pytest.approx(0.7)
    scales = F.conv2d(x, square.offset.weight, square.offset.bias)
    assert scales.max() > 1.4 and scales.min() < 1 - 1.4


def test_rounded_module_offset_branch_gets_the_straight_through_gradient():
    module = random_module("rounded")
    x = torch.randn(1, 4, 5, 5, generator=torch.Generator().manual_seed(8))
    module(x).sum().backward()
    # Expected: the bilinear kernel's gradient at the rounded offsets, passed through the round unchanged.
    predicted = F.conv2d(x, module.offset.weight, module.offset.bias, padding=1)
    clamped = predicted.clamp(-2.0, 2.0)
    at_rounded = torch.round(clamped).detach().requires_grad_()
    deform_conv2d(x, at_rounded, module.weight.detach(), padding=1).sum().backward()
    expected, = torch.autograd.grad(clamped, module.offset.weight, at_rounded.grad)
    torch.testing.assert_close(module.offset.weight.grad, expected)
    assert module.offset.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("options", [
    {"shape": "full", "padding": 1}, {"shape": "full", "stride": 2, "bias": True},
    {"shape": "square", "padding": 1, "bias": True}, {"shape": "square", "padding": 2, "dilation": 2, "stride": 2},
    {"shape": "square", "padding": 1, "groups": 6, "bound": 8.0, "round": True},
    {"shape": "full", "groups": 6, "offset_groups": 3, "bound": 8.0},
])
def test_fresh_module_is_a_plain_conv(options):
    module = DeformConv2d(6, 6, 3, **options)
    x = torch.randn(2, 6, 7, 7)
    expected = F.conv2d(x, module.weight, module.bias, module.stride, module.padding, module.dilation, module.groups)
    assert_close(module(x).detach(), expected)
    with torch.no_grad():
        assert_close(module(x), expected)


def test_state_dict_keys_and_shapes():
    full = DeformConv2d(8, 16, 3, padding=1, bias=True, offset_groups=2)
    shapes = {key: tuple(value.shape) for key, value in full.state_dict().items()}
    assert shapes == {
        "weight": (16, 8, 3, 3),
        "bias": (16,),
        "offset.weight": (2 * 3 * 3 * 2, 8, 3, 3),  # (Δy, Δx) per tap per offset group
        "offset.bias": (2 * 3 * 3 * 2,),
    }
    square = DeformConv2d(8, 8, 3, padding=1, groups=8, shape="square", offset_groups=2)
    shapes = {key: tuple(value.shape) for key, value in square.state_dict().items()}
    assert shapes == {"weight": (8, 1, 3, 3), "offset.weight": (2, 8, 1, 1), "offset.bias": (2,)}


def test_initialisation():
    module = DeformConv2d(8, 4, (3, 5), groups=2, bias=True, shape="full")
    limit = 1 / math.sqrt(8 // 2 * 3 * 5)  # nn.Conv2d's kaiming_uniform(a=√5): U(-1/√fan_in, 1/√fan_in)
    assert module.weight.abs().max() <= limit and module.bias.abs().max() <= limit
    assert module.weight.std() > limit / 4
    square = DeformConv2d(4, 4, 3, padding=1, shape="square")
    with torch.no_grad():
        square.offset.weight.fill_(3.0)
        square.offset.bias.fill_(3.0)
    square.reset_parameters()
    assert square.offset.weight.abs().max() == 0 and square.offset.bias.tolist() == [1.0]


def test_square_offsets_layout():
    scale = torch.full((1, 1, 1, 1), 3.0)  # spacing 3·dilation: taps move by (i − 1)·2·d
    offsets = square_offsets(scale, 3, dilation=(1, 2)).view(9, 2).tolist()
    assert offsets == [[-2.0, -4.0], [-2.0, 0.0], [-2.0, 4.0],
                       [0.0, -4.0], [0.0, 0.0], [0.0, 4.0],
                       [2.0, -4.0], [2.0, 0.0], [2.0, 4.0]]


def test_rounded_square_offsets_keep_the_grid_square():
    """5×5 taps lie at t = -2..2 steps: the step (s − 1)·d is rounded, not each offset t·(s − 1)·d."""
    small = square_offsets(torch.full((1, 1, 1, 1), 1.3), 5, rounded=True)  # step 0.3 -> 0 (not t·0.3 -> ±1 at t=±2)
    assert small.abs().max().item() == 0.0
    large = square_offsets(torch.full((1, 1, 1, 1), 1.6), 5, rounded=True).view(5, 5, 2)  # step 0.6 -> 1
    assert large[:, 0, 0].tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert large[0, :, 1].tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0]


def test_module_errors():
    with pytest.raises(ValueError, match="square kernel"):
        DeformConv2d(4, 4, (3, 5), shape="square")
    with pytest.raises(ValueError, match="shape must be"):
        DeformConv2d(4, 4, 3, shape="round")
    with pytest.raises(ValueError, match="offset_groups=3"):
        DeformConv2d(4, 4, 3, offset_groups=3)
    with pytest.raises(ValueError, match="bound"):
        DeformConv2d(4, 4, 3, shape="square", bound=0.2)
    with pytest.raises(ValueError, match="padding = dilation"):
        DeformConv2d(4, 4, 3, shape="square")(torch.zeros(1, 4, 6, 6))


# ---------------------------------------------------------------- ONNX and torchvision


@pytest.mark.parametrize("name", ["full", "square bounded", "rounded", "depthwise square"])
def test_onnx_export_checks_and_runs_in_onnxruntime_with_any_batch(name, monkeypatch):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    monkeypatch.setattr(deform_fused, "CHUNK_ELEMENTS", 40)  # ignored while tracing: one chunk, not an unrolled loop
    module = random_module(name).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings: the spatial sizes become constants
        torch.onnx.export(module, (torch.zeros(1, 4, 6, 6),), buffer, opset_version=17, dynamo=False,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    model = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(model, full_check=True)
    ops = collections.Counter(node.op_type for node in model.graph.node)
    assert ops["Gemm"] + ops["MatMul"] + ops["ReduceSum"] == 1  # the weight is applied once
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    x = torch.randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(9))  # the batch size stays free
    got = torch.from_numpy(session.run(None, {"x": x.numpy()})[0])
    with torch.no_grad():
        expected = module(x)
    assert (got - expected).abs().max() <= 1e-4 * expected.abs().max()
