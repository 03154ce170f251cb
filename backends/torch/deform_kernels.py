"""The sampling and combining kernels of deformable convolution
(``deform.py`` states the math; docs/deformable.md, "The torch
implementation", how and why): sampling positions, the channels-last row
table, bilinear or direct gathers, the weight product, and the two paths
(functional with autograd or while tracing; in place, chunked, without).
Inlined into generated torch source before ``deform.py``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

__all__ = ["CHUNK_ELEMENTS", "SAMPLE_ROWS", "Pair", "forward_autograd", "forward_inference", "geometry", "pair",
           "tracing"]

# Most values in one chunk of sampled columns (images · pixels · kh·kw·C): 2**21 floats = 8 MiB in float32.
CHUNK_ELEMENTS = 2**21
# Rows of C/G values gathered at a time by the in-place path (small enough to stay in cache).
SAMPLE_ROWS = 4096

Pair = tuple[int, int]


def pair(value: int | Pair) -> Pair:
    if isinstance(value, int):
        return (value, value)
    first, second = value
    return (int(first), int(second))



def tracing() -> bool:
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


def geometry(x: Tensor, offset: Tensor, weight: Tensor, stride: Pair, padding: Pair, dilation: Pair,
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
    if not (torch.is_grad_enabled() and y.requires_grad) or tracing():
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
    if tracing():
        return pixels
    per_pixel = images * geo.kernel[0] * geo.kernel[1] * geo.channels
    return max(1, min(pixels, elements // per_pixel))


def forward_autograd(x: Tensor, offset: Tensor, weight: Tensor, geo: _Geometry, groups: int,
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
        if tracing():
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


def forward_inference(x: Tensor, offset: Tensor, weight: Tensor, geo: _Geometry, groups: int,
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
