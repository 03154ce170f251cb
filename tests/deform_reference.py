"""The independent reference of the deformable convolution tests (not a
test module), and their shared layers and fixtures.

The reference is written independently of the implementation, with explicit
Python loops over images, output channels, output pixels, input channels and
kernel taps, on Python floats.  It follows the definition of DCN (Dai et al.,
ICCV 2017, eqs. 2-4) with torchvision's offset layout and zero outside the
image: a sample at (y, x) is the sum over the four integer neighbours
(yy, xx) inside the image of max(0, 1 − |y − yy|) · max(0, 1 − |x − xx|) ·
X[yy, xx]; without interpolation it is X[round(y), round(x)] (0 outside).
``path`` runs a test with and without autograd, with and without chunking.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from segc.backends.torch import deform_fused
from segc.backends.torch.deform import deform_conv2d


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
    "depthwise, offset groups 2, stride 2": (4, 4, 4, 2, (3, 3), (2, 2), (1, 1), (1, 1), 6, 5),
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
    """Runs a test on each code path: without and with autograd, chunked or not."""
    if "tiny" in request.param:
        monkeypatch.setattr(deform_fused, "CHUNK_ELEMENTS", 40)
        monkeypatch.setattr(deform_fused, "WEIGHTED_TABLE_ELEMENTS", 7 * 9 * 30)
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
