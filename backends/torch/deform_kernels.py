"""The shared pieces of deformable convolution (``deform.py`` states the math;
docs/deformable.md, "The torch implementation", how and why): the geometry,
sampling positions, the channels-last row table and row numbers, each
sample's neighbours with their weights, the one-pass gather-combine
(``embedding_bag``) and the weight product.  The fused path is in
``deform_fused.py``, the traced one in ``deform_traced.py``.  Inlined into
generated torch source first.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["KERNELS", "Geometry", "Pair", "apply_weight", "combine", "geometry", "neighbours", "pair", "positions",
           "row_index", "row_table", "tracing"]

Pair = tuple[int, int]
# The kernels deform_conv2d can run (deform_compiled.py): the pure-torch one, the compiled one, the compiled when built
KERNELS = ("torch", "compiled", "auto")


def pair(value: int | Pair) -> Pair:
    if isinstance(value, int):
        return (value, value)
    first, second = value
    return (int(first), int(second))


def tracing() -> bool:
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


class Geometry(NamedTuple):
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
             groups: int, offset_groups: int) -> Geometry:
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
    return Geometry(n, channels, height, width, out_h, out_w, (kh, kw), stride, padding, dilation, offset_groups)


def row_table(x: Tensor, offset_groups: int) -> Tensor:
    """The input zero-padded (1 before, 2 after) and channels-last, as rows [N·Hp·Wp·G, C/G]."""
    n, channels, height, width = x.shape
    if tracing():
        padded = F.pad(x, (1, 2, 1, 2)).permute(0, 2, 3, 1)
    else:  # one buffer written once (fresh multi-megabyte tensors cost page faults)
        padded = x.new_zeros(n, height + 3, width + 3, channels)
        padded[:, 1:height + 1, 1:width + 1].copy_(x.permute(0, 2, 3, 1))
    return padded.reshape(-1, channels // offset_groups)


def positions(offset: Tensor, geo: Geometry, start: int, stop: int) -> tuple[Tensor, Tensor]:
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


def row_index(geo: Geometry, y_row: Tensor, x_col: Tensor, first_image: int) -> Tensor:
    """Table row of integer point (y, x) in [-1, H+1] × [-1, W+1]; y, x: [B, ...] for images first_image.."""
    hp, wp, groups = geo.height + 3, geo.width + 3, geo.offset_groups
    image = torch.arange(first_image, first_image + y_row.shape[0], device=y_row.device)
    image = image.view(-1, *([1] * (y_row.dim() - 1))) * hp
    group = torch.arange(groups, device=y_row.device)
    return ((image + y_row.long() + 1) * wp + x_col.long() + 1) * groups + group


def neighbours(geo: Geometry, y: Tensor, x: Tensor, first_image: int,
                interpolate: bool) -> tuple[Tensor, Tensor | None]:
    """Rows [..., R] of the R neighbours each sample combines, and their weights (None: one row, weight 1).

    Bilinear: (y0, x0), (y0, x0+1), (y0+1, x0), (y0+1, x0+1).  Direct: the rounded point; when the
    offsets need a gradient, also the points below and beside it with weights 0 that carry the
    bilinear gradient at the integer point (the forward value is exactly the rounded sample).
    """
    down, right = (geo.width + 3) * geo.offset_groups, geo.offset_groups
    if interpolate:
        y0, x0 = torch.floor(y), torch.floor(x)
        ly, lx = y - y0, x - x0
        hy, hx = 1 - ly, 1 - lx
        index = row_index(geo, y0, x0, first_image)
        rows = torch.stack([index, index + right, index + down, index + down + right], dim=-1)
        return rows, torch.stack([hy * hx, hy * lx, ly * hx, ly * lx], dim=-1)
    index = row_index(geo, torch.round(y), torch.round(x), first_image)
    if not (torch.is_grad_enabled() and y.requires_grad):
        return index.unsqueeze(-1), None
    step_y, step_x = y - y.detach(), x - x.detach()  # zero, with the gradient of y and x
    rows = torch.stack([index, index + down, index + right], dim=-1)
    return rows, torch.stack([1 - step_y - step_x, step_y, step_x], dim=-1)


def apply_weight(columns: Tensor, weight: Tensor, groups: int) -> Tensor:
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


def combine(table: Tensor, rows: Tensor, weights: Tensor | None) -> Tensor:
    """Σ weight · table[row] over the last axis of ``rows`` [bags, R]: [bags, table columns], one pass."""
    if weights is None and rows.shape[1] == 1:
        return table.index_select(0, rows.view(-1))
    return F.embedding_bag(rows, table, per_sample_weights=weights, mode="sum")
