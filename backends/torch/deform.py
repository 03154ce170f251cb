"""Deformable 2-D convolution in pure torch, with CoDeNet's hardware-friendly variants.

The math (Dai et al., "Deformable Convolutional Networks", ICCV 2017, eq. 2;
the layout of ``torchvision.ops.deform_conv2d``).  For output pixel (oy, ox),
kernel tap (i, j) (k = i·kw + j) and offset group g, the sampling point is

    y = oy·sh − ph + i·dh + Δy[g, k, oy, ox]
    x = ox·sw − pw + j·dw + Δx[g, k, oy, ox]

where ``offset`` has shape [N, 2·kh·kw·G, Ho, Wo], ordered per offset group, per
tap (row-major over kh, kw), as (Δy, Δx) pairs.  Input channel c belongs to
offset group c // (C/G).  The sample is the bilinear interpolation

    X(y, x) = Σ_{yy ∈ {⌊y⌋, ⌊y⌋+1}, xx ∈ {⌊x⌋, ⌊x⌋+1}} (1 − |y − yy|)(1 − |x − xx|) · X[yy, xx]

with X = 0 outside the image (as torchvision and DCN), and the output is an
ordinary (grouped) convolution of the sampled columns:

    out[o, oy, ox] = b[o] + Σ_{c, i, j} W[o, c, i, j] · X_c(y, x).

With ``interpolate=False`` the offsets are integers (they are rounded, to be safe
against float error) and X[y, x] is read directly, still 0 outside.  Zero
offsets give ``F.conv2d`` exactly up to float summation order.

How it is computed, and why (channels-last row tables gathered with
``index_select``, two paths for autograd and inference, chunking, why not
``grid_sample``), and CoDeNet's variants (bound, square, rounded) with their
sources: docs/deformable.md, "The torch implementation".
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

__all__ = ["CHUNK_ELEMENTS", "SAMPLE_ROWS", "DeformConv2d", "deform_conv2d", "round_ste", "square_offsets"]

# Most values in one chunk of sampled columns (images · pixels · kh·kw·C): 2**21 floats = 8 MiB in float32.
CHUNK_ELEMENTS = 2**21
# Rows of C/G values gathered at a time by the in-place path (small enough to stay in cache).
SAMPLE_ROWS = 4096

Pair = tuple[int, int]


def _pair(value: int | Pair) -> Pair:
    if isinstance(value, int):
        return (value, value)
    first, second = value
    return (int(first), int(second))


def round_ste(t: Tensor) -> Tensor:
    """Round to integers; the gradient passes through unchanged (straight-through estimator)."""
    return t + (torch.round(t) - t).detach()


def _tracing() -> bool:
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


class _Geometry(NamedTuple):
    n: int
    channels: int
    height: int
    width: int
    out_h: int
    out_w: int
    kernel: Pair
    stride: Pair
    padding: Pair
    dilation: Pair
    offset_groups: int


def _geometry(x: Tensor, offset: Tensor, weight: Tensor, stride: Pair, padding: Pair, dilation: Pair,
              groups: int, offset_groups: int) -> _Geometry:
    if x.dim() != 4 or offset.dim() != 4 or weight.dim() != 4:
        raise ValueError("deform_conv2d expects 4-D input, offset and weight tensors")
    n, channels, height, width = x.shape
    out_channels, group_in, kh, kw = weight.shape
    if groups < 1 or channels % groups or out_channels % groups or group_in * groups != channels:
        raise ValueError(f"weight {tuple(weight.shape)} does not fit {channels} input channels in {groups} groups")
    if offset_groups < 1 or channels % offset_groups:
        raise ValueError(f"offset_groups={offset_groups} must divide the input channels ({channels})")
    out_h = (height + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (width + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(f"the {height}×{width} input is smaller than the dilated {kh}×{kw} kernel")
    expected = (n, 2 * kh * kw * offset_groups, out_h, out_w)
    if tuple(offset.shape) != expected:
        raise ValueError(f"offset has shape {tuple(offset.shape)}, expected {expected} (N, 2·kh·kw·G, Ho, Wo)")
    return _Geometry(n, channels, height, width, out_h, out_w, (kh, kw), stride, padding, dilation, offset_groups)


def _row_table(x: Tensor, offset_groups: int) -> Tensor:
    """The input zero-padded (1 before, 2 after) and channels-last, as rows [N·Hp·Wp·G, C/G]."""
    padded = F.pad(x, (1, 2, 1, 2)).permute(0, 2, 3, 1).contiguous()
    return padded.reshape(-1, x.shape[1] // offset_groups)


def _positions(offset: Tensor, geo: _Geometry, start: int, stop: int) -> tuple[Tensor, Tensor]:
    """Sampling points (y, x) of output pixels start..stop-1 of the images in ``offset``: [B, pixels, K, G]."""
    kh, kw = geo.kernel
    taps = kh * kw
    pixel = torch.arange(start, stop, device=offset.device)
    tap = torch.arange(taps, device=offset.device)
    base_y = (pixel // geo.out_w * geo.stride[0] - geo.padding[0])[:, None] + tap // kw * geo.dilation[0]
    base_x = (pixel % geo.out_w * geo.stride[1] - geo.padding[1])[:, None] + tap % kw * geo.dilation[1]
    pairs = offset.reshape(offset.shape[0], geo.offset_groups, taps, 2, geo.out_h * geo.out_w)[..., start:stop]
    pairs = pairs.permute(0, 4, 2, 1, 3)  # [B, pixels, K, G, 2]
    y = base_y[None, :, :, None].to(offset.dtype) + pairs[..., 0]
    x = base_x[None, :, :, None].to(offset.dtype) + pairs[..., 1]
    return y.clamp(-1, geo.height), x.clamp(-1, geo.width)


def _row_index(geo: _Geometry, y_row: Tensor, x_col: Tensor, first_image: int) -> Tensor:
    """Table row of integer point (y, x) in [-1, H+1] × [-1, W+1]; y, x: [B, ...] for images first_image.."""
    hp, wp, groups = geo.height + 3, geo.width + 3, geo.offset_groups
    image = torch.arange(first_image, first_image + y_row.shape[0], device=y_row.device)
    image = image.view(-1, *([1] * (y_row.dim() - 1))) * hp
    group = torch.arange(groups, device=y_row.device)
    return ((image + y_row.long() + 1) * wp + x_col.long() + 1) * groups + group


def _corners(geo: _Geometry, y: Tensor, x: Tensor, first_image: int) -> tuple[list[Tensor], list[Tensor]]:
    """Rows and bilinear weights of the four neighbours (y0, x0), (y0, x0+1), (y0+1, x0), (y0+1, x0+1)."""
    y0, x0 = torch.floor(y), torch.floor(x)
    ly, lx = y - y0, x - x0
    hy, hx = 1 - ly, 1 - lx
    index = _row_index(geo, y0, x0, first_image)
    down, right = (geo.width + 3) * geo.offset_groups, geo.offset_groups
    rows = [index, index + right, index + down, index + down + right]
    return rows, [hy * hx, hy * lx, ly * hx, ly * lx]


def _read(table: Tensor, index: Tensor) -> Tensor:
    return table.index_select(0, index.reshape(-1)).view(*index.shape, table.shape[1])


def _bilinear_columns(table: Tensor, geo: _Geometry, y: Tensor, x: Tensor, first_image: int) -> Tensor:
    """Bilinear samples [B, pixels, K, G, C/G] (differentiable, exportable)."""
    rows, weights = _corners(geo, y, x, first_image)
    columns = _read(table, rows[0]) * weights[0].unsqueeze(-1)
    for index, weight in zip(rows[1:], weights[1:]):
        columns = columns + _read(table, index) * weight.unsqueeze(-1)
    return columns


def _direct_columns(table: Tensor, geo: _Geometry, y: Tensor, x: Tensor, first_image: int) -> Tensor:
    """Samples at the (rounded) integer points [B, pixels, K, G, C/G]."""
    index = _row_index(geo, torch.round(y), torch.round(x), first_image)
    columns = _read(table, index)
    if not (torch.is_grad_enabled() and y.requires_grad) or _tracing():
        return columns
    # Forward: exactly `columns`; backward: the bilinear gradient at the integer point.
    step_y = (y - y.detach()).unsqueeze(-1)
    step_x = (x - x.detach()).unsqueeze(-1)
    below = _read(table, index + (geo.width + 3) * geo.offset_groups)
    beside = _read(table, index + geo.offset_groups)
    return columns + step_y * (below - columns) + step_x * (beside - columns)


def _apply_weight(columns: Tensor, weight: Tensor, groups: int) -> Tensor:
    """Columns [B, pixels, K, C] times the weight [O, C/groups, kh, kw]: [B, O, pixels]."""
    n, pixels, taps, channels = columns.shape
    out_channels, group_in = weight.shape[:2]
    if groups == 1:  # one 2-D matmul (a batched one is much slower on small sizes)
        flat_weight = weight.permute(0, 2, 3, 1).reshape(out_channels, taps * channels)
        product = torch.mm(columns.reshape(n * pixels, taps * channels), flat_weight.t())
        return product.view(n, pixels, out_channels).transpose(1, 2)
    if group_in == 1 and out_channels == groups:  # depthwise
        per_tap = weight.reshape(channels, taps).t()
        return (columns * per_tap).sum(dim=2).transpose(1, 2)
    per_group = out_channels // groups
    grouped = columns.reshape(n, pixels, taps, groups, group_in).permute(3, 0, 1, 2, 4)
    grouped = grouped.reshape(groups, n * pixels, taps * group_in)
    grouped_weight = weight.reshape(groups, per_group, group_in, taps).transpose(2, 3)
    product = torch.bmm(grouped_weight.reshape(groups, per_group, taps * group_in), grouped.transpose(1, 2))
    return product.view(groups, per_group, n, pixels).permute(2, 0, 1, 3).reshape(n, out_channels, pixels)


def _chunk_pixels(geo: _Geometry, images: int, elements: int) -> int:
    pixels = geo.out_h * geo.out_w
    if _tracing():
        return pixels
    per_pixel = images * geo.kernel[0] * geo.kernel[1] * geo.channels
    return max(1, min(pixels, elements // per_pixel))


def _forward_autograd(x: Tensor, offset: Tensor, weight: Tensor, geo: _Geometry, groups: int,
                      interpolate: bool) -> Tensor:
    """The differentiable (and ONNX-traceable) path: functional ops, chunks concatenated."""
    table = _row_table(x, geo.offset_groups)
    sample = _bilinear_columns if interpolate else _direct_columns
    pixels, taps = geo.out_h * geo.out_w, geo.kernel[0] * geo.kernel[1]
    chunk = _chunk_pixels(geo, geo.n, CHUNK_ELEMENTS)
    parts = []
    for start in range(0, pixels, chunk):
        stop = min(pixels, start + chunk)
        y, x_pos = _positions(offset, geo, start, stop)
        if _tracing():
            columns = sample(table, geo, y, x_pos, 0)
        else:  # keep only the columns for backward, not the four gathered corners: recompute those
            columns = checkpoint(sample, table, geo, y, x_pos, 0, use_reentrant=False)
        columns = columns.reshape(geo.n, stop - start, taps, geo.channels)
        parts.append(_apply_weight(columns, weight, groups))
    out = parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)
    return out.reshape(geo.n, weight.shape[0], geo.out_h, geo.out_w)


def _sample_into(columns: Tensor, scratch: Tensor, table: Tensor, geo: _Geometry, y: Tensor, x: Tensor,
                 first_image: int, interpolate: bool) -> None:
    """Samples written into ``columns`` [rows, C/G], a block of ``scratch`` rows at a time (no autograd)."""
    if not interpolate:
        torch.index_select(table, 0, _row_index(geo, torch.round(y), torch.round(x), first_image).reshape(-1),
                           out=columns)
        return
    rows, weights = _corners(geo, y, x, first_image)
    rows = [index.reshape(-1) for index in rows]
    weights = [weight.reshape(-1, 1) for weight in weights]
    block = scratch.shape[0]
    for begin in range(0, columns.shape[0], block):
        end = min(columns.shape[0], begin + block)
        target, gathered = columns[begin:end], scratch[: end - begin]
        for corner, (index, weight) in enumerate(zip(rows, weights)):
            torch.index_select(table, 0, index[begin:end], out=gathered)
            if corner == 0:
                torch.mul(gathered, weight[begin:end], out=target)
            else:
                target.addcmul_(gathered, weight[begin:end])


def _forward_inference(x: Tensor, offset: Tensor, weight: Tensor, geo: _Geometry, groups: int,
                       interpolate: bool) -> Tensor:
    """The fast path without autograd: reused buffers, in-place sampling, output written in place."""
    table = _row_table(x, geo.offset_groups)
    pixels, taps, channels = geo.out_h * geo.out_w, geo.kernel[0] * geo.kernel[1], geo.channels
    # Without a GEMM to feed, smaller chunks cost nothing and save memory.
    chunk = _chunk_pixels(geo, 1, CHUNK_ELEMENTS if groups == 1 else CHUNK_ELEMENTS // 4)
    buffer = x.new_empty(chunk * taps * geo.offset_groups, table.shape[1])
    scratch = x.new_empty(min(SAMPLE_ROWS, buffer.shape[0]), table.shape[1])
    prepared = _prepare_weight(weight, groups)
    out = x.new_empty(geo.n, weight.shape[0], pixels)
    for image in range(geo.n):
        for start in range(0, pixels, chunk):
            stop = min(pixels, start + chunk)
            y, x_pos = _positions(offset[image:image + 1], geo, start, stop)
            columns = buffer[: y.numel()]
            _sample_into(columns, scratch, table, geo, y, x_pos, image, interpolate)
            _weight_into(out[image, :, start:stop], columns.view(stop - start, taps, channels), prepared, groups)
    return out.view(geo.n, weight.shape[0], geo.out_h, geo.out_w)


def _prepare_weight(weight: Tensor, groups: int) -> Tensor:
    """The weight as the in-place path uses it: [O, K·C] (groups 1), [K, C] (depthwise), else as given."""
    out_channels, group_in, kh, kw = weight.shape
    if groups == 1:
        return weight.permute(0, 2, 3, 1).reshape(out_channels, kh * kw * group_in)
    if group_in == 1 and out_channels == groups:
        return weight.reshape(out_channels, kh * kw).t()
    return weight


def _weight_into(out: Tensor, columns: Tensor, prepared: Tensor, groups: int) -> None:
    """out [O, pixels] = the weight times columns [pixels, K, C], in place where it can be."""
    pixels, taps, channels = columns.shape
    if groups == 1:
        torch.mm(prepared, columns.view(pixels, taps * channels).t(), out=out)
    elif prepared.dim() == 2:  # depthwise
        out.copy_(columns.mul_(prepared).sum(dim=1).t())
    else:
        out.copy_(_apply_weight(columns.unsqueeze(0), prepared, groups)[0])


def deform_conv2d(x: Tensor, offset: Tensor, weight: Tensor, bias: Tensor | None = None,
                  stride: int | Pair = (1, 1), padding: int | Pair = (0, 0), dilation: int | Pair = (1, 1),
                  groups: int = 1, offset_groups: int = 1, interpolate: bool = True) -> Tensor:
    """Deformable convolution with torchvision's offset layout (see the module docstring).

    ``x`` [N, C, H, W]; ``offset`` [N, 2·kh·kw·offset_groups, Ho, Wo] as (Δy, Δx) pairs per
    offset group and tap; ``weight`` [O, C/groups, kh, kw]; ``bias`` [O] or None.
    ``interpolate=False``: the offsets are integers and samples are read without interpolation.
    Differentiable in x, offset, weight and bias; without autograd a faster in-place path runs.
    """
    geo = _geometry(x, offset, weight, _pair(stride), _pair(padding), _pair(dilation), groups, offset_groups)
    offset = offset.to(x.dtype)
    needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, offset, weight, bias))
    forward = _forward_autograd if needs_grad or _tracing() else _forward_inference
    out = forward(x, offset, weight, geo, groups, interpolate)
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def square_offsets(scale: Tensor, kernel_size: int | Pair, dilation: int | Pair = 1, rounded: bool = False) -> Tensor:
    """Offsets of CoDeNet's square shape from scales [N, G, Ho, Wo]: [N, 2·kh·kw·G, Ho, Wo].

    Tap (i, j) moves by ((i − (kh−1)/2)·(s − 1)·dh, (j − (kw−1)/2)·(s − 1)·dw): a square grid of
    spacing s·d.  ``rounded``: the step (s − 1)·d is rounded first (straight-through), so the
    grid stays square with integer spacing, then the offsets (integers for odd kernels).
    """
    (kh, kw), (dh, dw) = _pair(kernel_size), _pair(dilation)
    n, groups, out_h, out_w = scale.shape
    step_y, step_x = (scale - 1) * dh, (scale - 1) * dw
    if rounded:
        step_y, step_x = round_ste(step_y), round_ste(step_x)
    rows = torch.arange(kh, dtype=scale.dtype, device=scale.device) - (kh - 1) / 2
    cols = torch.arange(kw, dtype=scale.dtype, device=scale.device) - (kw - 1) / 2
    tap_y = rows.view(kh, 1).expand(kh, kw).reshape(1, 1, kh * kw, 1, 1)
    tap_x = cols.view(1, kw).expand(kh, kw).reshape(1, 1, kh * kw, 1, 1)
    pairs = torch.stack((tap_y * step_y.unsqueeze(2), tap_x * step_x.unsqueeze(2)), dim=3)
    if rounded:
        pairs = round_ste(pairs)
    return pairs.reshape(n, groups * kh * kw * 2, out_h, out_w)


class DeformConv2d(nn.Module):
    """Deformable convolution with its offset branch ``self.offset`` (an ``nn.Conv2d``).

    ``shape="full"``: the branch predicts 2·kh·kw·offset_groups offsets with the main conv's
    window (zero-initialised: a fresh module is a plain conv).  ``shape="square"``: a 1×1 conv
    (with the main stride) predicts one scale per offset group (weight 0, bias 1: scale 1 is a
    plain conv); needs kh == kw and "same" padding (padding = dilation·(k − 1)/2) so the scale
    map matches the output.  ``bound``: full offsets clamped to [−bound, bound], square scales to
    [1 − bound, bound].  ``round``: offsets rounded (straight-through), no interpolation.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Pair, stride: int | Pair = 1,
                 padding: int | Pair = 0, dilation: int | Pair = 1, groups: int = 1, bias: bool = False,
                 offset_groups: int = 1, shape: str = "full", bound: float | None = None, round: bool = False):
        super().__init__()
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding, self.dilation = _pair(padding), _pair(dilation)
        self.offset_groups, self.shape, self.bound, self.round = offset_groups, shape, bound, round
        self._check()
        kh, kw = self.kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, kh, kw))
        self.register_parameter("bias", nn.Parameter(torch.empty(out_channels)) if bias else None)
        if shape == "full":
            self.offset = nn.Conv2d(in_channels, 2 * kh * kw * offset_groups, self.kernel_size, self.stride,
                                    self.padding, self.dilation, bias=True)
        else:
            self.offset = nn.Conv2d(in_channels, offset_groups, 1, self.stride, bias=True)
        self.reset_parameters()

    def _check(self) -> None:
        problems = []
        if self.shape not in ("full", "square"):
            problems.append(f'shape must be "full" or "square", got {self.shape!r}')
        if self.shape == "square" and self.kernel_size[0] != self.kernel_size[1]:
            problems.append(f'shape="square" needs a square kernel, got {self.kernel_size}')
        if self.in_channels % self.groups or self.out_channels % self.groups:
            problems.append(f"groups={self.groups} must divide {self.in_channels} and {self.out_channels} channels")
        if self.in_channels % self.offset_groups:
            problems.append(f"offset_groups={self.offset_groups} must divide {self.in_channels} input channels")
        if self.bound is not None and (self.bound < 0 or (self.shape == "square" and self.bound < 0.5)):
            problems.append(f"bound={self.bound} leaves no admissible offsets (needs >= 0, square >= 0.5)")
        if problems:
            raise ValueError("DeformConv2d: " + "; ".join(problems))

    def reset_parameters(self) -> None:
        """Main weight and bias as ``nn.Conv2d``; offset branch: zeros (square: bias 1)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            nn.init.uniform_(self.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
        nn.init.zeros_(self.offset.weight)
        nn.init.constant_(self.offset.bias, 1.0 if self.shape == "square" else 0.0)

    def offsets(self, x: Tensor) -> Tensor:
        """The offsets [N, 2·kh·kw·G, Ho, Wo] this module samples with for input ``x``."""
        predicted = self.offset(x)
        if self.shape == "square":
            if self.bound is not None:
                predicted = predicted.clamp(1 - self.bound, self.bound)
            return square_offsets(predicted, self.kernel_size, self.dilation, rounded=self.round)
        if self.bound is not None:
            predicted = predicted.clamp(-self.bound, self.bound)
        return round_ste(predicted) if self.round else predicted

    def forward(self, x: Tensor) -> Tensor:
        offset = self.offsets(x)
        if self.shape == "square":
            self._check_scale_map(x, offset)
        return deform_conv2d(x, offset, self.weight, self.bias, self.stride, self.padding, self.dilation,
                             self.groups, self.offset_groups, interpolate=not self.round)

    def _check_scale_map(self, x: Tensor, offset: Tensor) -> None:
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        out_h = (x.shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        out_w = (x.shape[3] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        if tuple(offset.shape[2:]) != (out_h, out_w):
            raise ValueError(
                f'shape="square": the 1×1 scale conv gives a {offset.shape[2]}×{offset.shape[3]} map but the '
                f"convolution output is {out_h}×{out_w}; use padding = dilation·(k − 1)/2"
            )

    def __prepare_scriptable__(self) -> DeformConv2d:
        """Called by ``torch.jit.script``, which cannot compile this module: say so plainly."""
        raise RuntimeError(
            "DeformConv2d cannot be compiled by torch.jit.script: it chooses in Python between an in-place "
            "inference path and a checkpointed autograd path, in chunks sized at run time; for a deformable "
            "network use torch.jit.trace(module, example_input) or ONNX export (segc export --to onnx)"
        )

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
                f"offset_groups={self.offset_groups}, shape={self.shape!r}")
        text += f", bound={self.bound}" if self.bound is not None else ""
        text += ", round=True" if self.round else ""
        return text + (", bias=True" if self.bias is not None else "")
