"""Tests of ``segc.backends.torch.deform``: pure-torch deformable convolution and CoDeNet's variants.

The reference below is written independently of the implementation, with explicit Python
loops over images, output channels, output pixels, input channels and kernel taps, on
Python floats.  It follows the definition of DCN (Dai et al., ICCV 2017, eqs. 2-4) with
torchvision's offset layout and zero outside the image: a sample at (y, x) is the sum over
the four integer neighbours (yy, xx) inside the image of
max(0, 1 − |y − yy|) · max(0, 1 − |x − xx|) · X[yy, xx]; without interpolation it is
X[round(y), round(x)] (0 outside).  Every variant (full, bounded, square, rounded,
depthwise, grouped, offset groups, stride, padding, dilation) is compared with it, on
both the autograd path and the in-place no-grad path, with and without chunking.
Also: zero offsets equal ``F.conv2d``; gradcheck in float64; the straight-through
round; fresh modules equal a plain conv; state_dict keys; ONNX export checked by
``onnx.checker`` and run in onnxruntime; torchvision's kernel when it is installed.
"""

from __future__ import annotations

import collections
import io
import itertools
import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from segc.backends.torch import deform_kernels
from segc.backends.torch.deform import DeformConv2d, deform_conv2d, round_ste, square_offsets


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny problems gain nothing from threads, and waking a busy machine's thread pool costs milliseconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- the reference


def reference_sample(plane: list[list[float]], y: float, x: float, interpolate: bool) -> float:
    height, width = len(plane), len(plane[0])
    if not interpolate:
        yy, xx = round(y), round(x)
        return plane[yy][xx] if 0 <= yy < height and 0 <= xx < width else 0.0
    total = 0.0
    for yy in (math.floor(y), math.floor(y) + 1):
        for xx in (math.floor(x), math.floor(x) + 1):
            if 0 <= yy < height and 0 <= xx < width:
                total += max(0.0, 1 - abs(y - yy)) * max(0.0, 1 - abs(x - xx)) * plane[yy][xx]
    return total


def reference(x, offset, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
              offset_groups=1, interpolate=True) -> torch.Tensor:
    """Deformable convolution by explicit loops (torchvision's offset layout)."""
    xs, offs, ws = x.tolist(), offset.tolist(), weight.tolist()
    biases = [0.0] * weight.shape[0] if bias is None else bias.tolist()
    n_images, channels = x.shape[:2]
    out_channels, group_in, kh, kw = weight.shape
    out_h, out_w = offset.shape[2:]
    out = torch.zeros(n_images, out_channels, out_h, out_w, dtype=torch.float64)
    for n, o, oy, ox in itertools.product(range(n_images), range(out_channels), range(out_h), range(out_w)):
        total = biases[o]
        for ci, i, j in itertools.product(range(group_in), range(kh), range(kw)):
            c = o // (out_channels // groups) * group_in + ci  # the input channel
            first = (c // (channels // offset_groups) * kh * kw + i * kw + j) * 2  # Δy of tap (i, j), c's group
            y = oy * stride[0] - padding[0] + i * dilation[0] + offs[n][first][oy][ox]
            x_pos = ox * stride[1] - padding[1] + j * dilation[1] + offs[n][first + 1][oy][ox]
            total += ws[o][ci][i][j] * reference_sample(xs[n][c], y, x_pos, interpolate)
        out[n, o, oy, ox] = total
    return out


def out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


# ---------------------------------------------------------------- layer configurations

# name: (channels, out, groups, offset_groups, kernel, stride, padding, dilation, height, width)
CONFIGS = {
    "3x3 padding 1": (3, 4, 1, 1, (3, 3), (1, 1), (1, 1), (1, 1), 5, 6),
    "stride 2": (2, 3, 1, 1, (3, 3), (2, 2), (1, 1), (1, 1), 7, 6),
    "dilation 2": (2, 2, 1, 1, (3, 3), (1, 1), (2, 2), (2, 2), 5, 5),
    "offset groups 2": (4, 2, 1, 2, (3, 3), (1, 1), (1, 1), (1, 1), 4, 5),
    "depthwise": (4, 4, 4, 1, (3, 3), (1, 1), (1, 1), (1, 1), 5, 5),
    "grouped": (4, 6, 2, 2, (3, 3), (1, 1), (0, 0), (1, 1), 5, 6),
    "depthwise, multiplier 2": (2, 4, 2, 1, (3, 3), (1, 1), (1, 1), (1, 1), 4, 4),
    "2x3 kernel, stride (2, 1)": (2, 2, 1, 1, (2, 3), (2, 1), (0, 1), (1, 2), 6, 6),
}


def layer(name: str, seed: int = 0, dtype=torch.float32):
    channels, out, groups, offset_groups, kernel, stride, padding, dilation, height, width = CONFIGS[name]
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, channels, height, width, generator=gen, dtype=dtype)
    weight = torch.randn(out, channels // groups, *kernel, generator=gen, dtype=dtype)
    bias = torch.randn(out, generator=gen, dtype=dtype)
    out_h = out_size(height, kernel[0], stride[0], padding[0], dilation[0])
    out_w = out_size(width, kernel[1], stride[1], padding[1], dilation[1])
    offset_shape = (2, 2 * kernel[0] * kernel[1] * offset_groups, out_h, out_w)
    options = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
               "offset_groups": offset_groups}
    return x, weight, bias, offset_shape, options, gen


def random_offsets(shape, gen, dtype=torch.float32) -> torch.Tensor:
    """Fractional offsets, mostly within ±3, a tenth of them far outside the image."""
    offsets = torch.randn(shape, generator=gen, dtype=dtype) * 1.5
    far = torch.rand(shape, generator=gen) < 0.1
    return torch.where(far, offsets * 8, offsets)


@pytest.fixture(params=["no grad", "autograd", "no grad, tiny chunks", "autograd, tiny chunks"])
def path(request, monkeypatch):
    """Runs a test on each code path: the in-place one (no grad) and the autograd one, chunked or not."""
    if "tiny" in request.param:
        monkeypatch.setattr(deform_kernels, "CHUNK_ELEMENTS", 40)
        monkeypatch.setattr(deform_kernels, "SAMPLE_ROWS", 7)
    return request.param


def run(path: str, *args, **kwargs) -> torch.Tensor:
    if path.startswith("autograd"):
        x, offset, weight, *rest = args
        result = deform_conv2d(x.requires_grad_(), offset.requires_grad_(), weight.requires_grad_(), *rest, **kwargs)
        assert result.requires_grad
        return result.detach()
    with torch.no_grad():
        return deform_conv2d(*args, **kwargs)


def assert_close(actual: torch.Tensor, expected: torch.Tensor, tol: float = 1e-5) -> None:
    torch.testing.assert_close(actual.double(), expected.double(), rtol=tol, atol=tol)


# ---------------------------------------------------------------- the function


@pytest.mark.parametrize("name", list(CONFIGS))
def test_bilinear_matches_reference(name, path):
    x, weight, bias, offset_shape, options, gen = layer(name)
    offset = random_offsets(offset_shape, gen)
    expected = reference(x, offset, weight, bias, **options)
    assert_close(run(path, x, offset, weight, bias, **options), expected)


@pytest.mark.parametrize("name", ["3x3 padding 1", "offset groups 2", "depthwise", "grouped"])
def test_integer_offsets_without_interpolation_match_reference(name, path):
    x, weight, bias, offset_shape, options, gen = layer(name, seed=1)
    offset = torch.round(random_offsets(offset_shape, gen))
    expected = reference(x, offset, weight, bias, **options, interpolate=False)
    assert_close(run(path, x, offset, weight, bias, **options, interpolate=False), expected)
    # integer offsets: interpolation changes nothing
    assert_close(run(path, x, offset, weight, bias, **options), expected)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_zero_offsets_equal_conv2d(name, path):
    x, weight, bias, offset_shape, options, _ = layer(name, dtype=torch.float64)
    offset = torch.zeros(offset_shape, dtype=torch.float64)
    conv_options = {k: v for k, v in options.items() if k != "offset_groups"}
    expected = F.conv2d(x, weight, bias, **conv_options)
    for interpolate in (True, False):
        torch.testing.assert_close(run(path, x, offset, weight, bias, **options, interpolate=interpolate), expected,
                                   rtol=1e-12, atol=1e-12)


def test_zero_offsets_equal_conv2d_in_float32():
    x, weight, bias, offset_shape, options, _ = layer("3x3 padding 1")
    with torch.no_grad():
        out = deform_conv2d(x, torch.zeros(offset_shape), weight, bias, **options)
    expected = F.conv2d(x, weight, bias, padding=1)
    assert ((out - expected).abs().max() / expected.abs().max()).item() <= 1e-6


def test_sampling_outside_the_image_gives_zero():
    x = torch.ones(1, 1, 3, 3)
    weight = torch.ones(1, 1, 1, 1)
    offset = torch.full((1, 2, 3, 3), 50.0)
    assert deform_conv2d(x, offset, weight).abs().max().item() == 0.0
    # half a pixel above the top row: half of the top row's value (1 · 0.5 + 0 · 0.5)
    half_up = torch.zeros(1, 2, 3, 3)
    half_up[:, 0] = -0.5
    assert deform_conv2d(x, half_up, weight)[0, 0, 0].tolist() == [0.5, 0.5, 0.5]


# Small layers for gradcheck: name: (channels, out, groups, offset_groups, stride, size)
GRADCHECK = {
    "3x3": (2, 2, 1, 1, 1, 4),
    "offset groups 2": (2, 1, 1, 2, 1, 4),
    "depthwise, stride 2": (2, 2, 2, 1, 2, 5),
}


def gradcheck_inputs(name: str, seed: int = 3):
    channels, out, groups, offset_groups, stride, size = GRADCHECK[name]
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, channels, size, size, generator=gen, dtype=torch.float64)
    weight = torch.randn(out, channels // groups, 3, 3, generator=gen, dtype=torch.float64)
    bias = torch.randn(out, generator=gen, dtype=torch.float64)
    out_hw = out_size(size, 3, stride, 1, 1)
    shape = (1, 2 * 9 * offset_groups, out_hw, out_hw)
    whole = torch.randint(-2, 3, shape, generator=gen).double()
    fraction = torch.rand(shape, generator=gen, dtype=torch.float64) * 0.6 + 0.2
    offset = whole + fraction  # never on the integer grid, where bilinear has no derivative
    options = {"stride": stride, "padding": 1, "groups": groups, "offset_groups": offset_groups}
    return [t.requires_grad_() for t in (x, offset, weight, bias)], options


@pytest.mark.parametrize("name", list(GRADCHECK))
def test_gradcheck_bilinear(name):
    inputs, options = gradcheck_inputs(name)
    assert torch.autograd.gradcheck(lambda *t: deform_conv2d(*t, **options), inputs)


def test_gradcheck_with_chunks(monkeypatch):
    monkeypatch.setattr(deform_kernels, "CHUNK_ELEMENTS", 100)  # 5 pixels a chunk
    inputs, options = gradcheck_inputs("3x3", seed=4)
    assert torch.autograd.gradcheck(lambda *t: deform_conv2d(*t, **options), inputs, fast_mode=True)


def test_direct_sampling_gradient_is_bilinear_gradient_at_the_integer_point():
    x, weight, bias, offset_shape, options, gen = layer("offset groups 2", seed=5, dtype=torch.float64)
    offset = torch.round(random_offsets(offset_shape, gen, torch.float64))
    grads = []
    for interpolate in (False, True):
        leaves = [t.clone().requires_grad_() for t in (x, offset, weight, bias)]
        out = deform_conv2d(*leaves, **options, interpolate=interpolate)
        out.backward(torch.ones_like(out))
        grads.append([leaf.grad for leaf in leaves])
    for direct, bilinear in zip(*grads):
        torch.testing.assert_close(direct, bilinear)
    assert grads[0][1].abs().sum() > 0  # the offsets do get a gradient


def test_round_ste_is_round_forward_identity_backward():
    t = torch.tensor([-1.7, -0.2, 0.4, 1.6, 2.49], requires_grad=True)
    rounded = round_ste(t)
    assert rounded.tolist() == [-2.0, -0.0, 0.0, 2.0, 2.0]
    upstream = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    rounded.backward(upstream)
    assert t.grad.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_offsets_take_the_input_dtype():
    x, weight, bias, offset_shape, options, gen = layer("3x3 padding 1", seed=6)
    offset = random_offsets(offset_shape, gen)
    with torch.no_grad():
        out = deform_conv2d(x, offset.double(), weight, bias, **options)
    assert out.dtype == torch.float32
    assert_close(out, reference(x, offset, weight, bias, **options))


def test_bad_shapes_are_value_errors():
    x, weight = torch.zeros(1, 4, 5, 5), torch.zeros(2, 4, 3, 3)
    with pytest.raises(ValueError, match=r"expected \(1, 18, 3, 3\)"):
        deform_conv2d(x, torch.zeros(1, 18, 5, 5), weight)
    with pytest.raises(ValueError, match="offset_groups=3"):
        deform_conv2d(x, torch.zeros(1, 54, 3, 3), weight, offset_groups=3)
    with pytest.raises(ValueError, match="groups"):
        deform_conv2d(x, torch.zeros(1, 18, 3, 3), weight, groups=2)


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
    monkeypatch.setattr(deform_kernels, "CHUNK_ELEMENTS", 40)  # ignored while tracing: one chunk, not an unrolled loop
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


@pytest.mark.parametrize("name", list(CONFIGS))
def test_equals_torchvision(name):
    ops = pytest.importorskip("torchvision.ops")
    x, weight, bias, offset_shape, options, gen = layer(name, seed=11)
    offset = random_offsets(offset_shape, gen)
    expected = ops.deform_conv2d(x, offset, weight, bias, stride=options["stride"], padding=options["padding"],
                                 dilation=options["dilation"])
    with torch.no_grad():
        assert_close(deform_conv2d(x, offset, weight, bias, **options), expected)
