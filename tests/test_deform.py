"""Tests of ``segc.backends.torch.deform``'s function ``deform_conv2d``
against an independent reference (``deform_reference.py``): every variant
(bilinear, integer offsets, depthwise, grouped, offset groups, stride,
padding, dilation) with and without autograd, with and without chunking;
zero offsets equal ``F.conv2d``; gradcheck in float64 (bilinear and direct,
depthwise in blocks); the straight-through round; torchvision's kernel and
its gradients when it is installed.  The module: test_deform_module.py.
"""

from __future__ import annotations

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
from segc.backends.torch.deform import deform_conv2d, round_ste

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


@pytest.mark.parametrize("name", ["3x3 padding 1", "depthwise"])
def test_non_contiguous_inputs(name, path):
    x, weight, bias, offset_shape, options, gen = layer(name, seed=2)
    offset = random_offsets(offset_shape, gen)
    expected = reference(x, offset, weight, bias, **options)
    strided_weight = weight.transpose(2, 3).contiguous().transpose(2, 3)  # same values, other strides
    channels_last = [t.contiguous(memory_format=torch.channels_last) for t in (x, offset)]
    assert_close(run(path, *channels_last, strided_weight, bias, **options), expected)


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
    "depthwise, offset groups 2": (2, 2, 2, 2, 1, 4),
    "grouped": (4, 2, 2, 2, 1, 4),
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
    monkeypatch.setattr(deform_fused, "CHUNK_ELEMENTS", 100)  # 5 pixels a chunk
    inputs, options = gradcheck_inputs("3x3", seed=4)
    assert torch.autograd.gradcheck(lambda *t: deform_conv2d(*t, **options), inputs, fast_mode=True)


def test_gradcheck_depthwise_in_blocks(monkeypatch):
    monkeypatch.setattr(deform_fused, "WEIGHTED_TABLE_ELEMENTS", 1)  # one channel a block
    inputs, options = gradcheck_inputs("depthwise, offset groups 2", seed=5)
    assert torch.autograd.gradcheck(lambda *t: deform_conv2d(*t, **options), inputs)


@pytest.mark.parametrize("name", ["3x3", "depthwise, offset groups 2", "grouped"])
def test_gradcheck_without_interpolation(name):
    """Integer offsets read directly: the gradients of the input, weight and bias (the offsets' is the
    bilinear one at the integer point, tested below)."""
    (x, offset, weight, bias), options = gradcheck_inputs(name, seed=6)
    offset = torch.round(offset.detach())
    assert torch.autograd.gradcheck(lambda *t: deform_conv2d(t[0], offset, *t[1:], **options, interpolate=False),
                                    [x, weight, bias])


def test_depthwise_blocks_of_uneven_width(monkeypatch):
    """5 channels in blocks of 2, 2 and 1: the narrower last block lays its tables out anew."""
    monkeypatch.setattr(deform_fused, "WEIGHTED_TABLE_ELEMENTS", 9 * 8 * 8 * 2)  # 2 channels of 8×8 rows, 9 taps
    gen = torch.Generator().manual_seed(12)
    x, weight = torch.randn(1, 5, 5, 5, generator=gen), torch.randn(5, 1, 3, 3, generator=gen)
    offset = random_offsets((1, 18, 5, 5), gen)
    with torch.no_grad():
        out = deform_conv2d(x, offset, weight, padding=1, groups=5)
    assert_close(out, reference(x, offset, weight, padding=(1, 1), groups=5))


def test_even_blocks():
    assert deform_fused._even_blocks(256, 51) == 43  # 6 blocks, not 5 of 51 and one of 1
    assert deform_fused._even_blocks(10, 3) == 3  # 4 blocks: 3, 3, 3, 1
    assert deform_fused._even_blocks(4, 0) == 1
    assert deform_fused._even_blocks(4, 9) == 4


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


@pytest.mark.parametrize("name", list(CONFIGS))
def test_equals_torchvision(name):
    ops = pytest.importorskip("torchvision.ops")
    x, weight, bias, offset_shape, options, gen = layer(name, seed=11)
    offset = random_offsets(offset_shape, gen)
    expected = ops.deform_conv2d(x, offset, weight, bias, stride=options["stride"], padding=options["padding"],
                                 dilation=options["dilation"])
    with torch.no_grad():
        assert_close(deform_conv2d(x, offset, weight, bias, **options), expected)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_gradients_equal_torchvision(name):
    ops = pytest.importorskip("torchvision.ops")
    x, weight, bias, offset_shape, options, gen = layer(name, seed=13, dtype=torch.float64)
    offset = random_offsets(offset_shape, gen, torch.float64)
    upstream = None
    grads = []
    for kernel in (ops.deform_conv2d, deform_conv2d):
        leaves = [t.clone().requires_grad_() for t in (x, offset, weight, bias)]
        kwargs = {k: options[k] for k in ("stride", "padding", "dilation")}
        if kernel is deform_conv2d:
            kwargs.update(groups=options["groups"], offset_groups=options["offset_groups"])
        out = kernel(*leaves, **kwargs)
        upstream = torch.randn(out.shape, generator=gen, dtype=torch.float64) if upstream is None else upstream
        out.backward(upstream)
        grads.append([leaf.grad for leaf in leaves])
    for theirs, ours in zip(*grads):
        torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-9)
