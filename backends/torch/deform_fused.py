"""The fused path of deformable convolution, with and without autograd (the
traced one: ``deform_traced.py``).  Each sample's neighbours are gathered
and combined with their bilinear weights in one ``embedding_bag`` pass;
depthwise, the gather reads tables already multiplied by each tap's weight,
so the same pass also applies the weight and sums the taps.  Results go
straight into the preallocated output, image by image; buffers stay a few
MiB, since fresh larger tensors cost page faults.  Inlined into generated
torch source after ``deform_kernels.py``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .deform_kernels import Geometry, apply_weight, combine, neighbours, positions, row_table

__all__ = ["CHUNK_ELEMENTS", "WEIGHTED_TABLE_ELEMENTS", "forward_fused"]

# Most values in one chunk of sampled columns (pixels · kh·kw·C): 2**20 floats = 4 MiB in float32.
CHUNK_ELEMENTS = 2**20
# Depthwise: most values in one block of tap-weighted tables (kh·kw · padded pixels · channels): 8 MiB in float32.
WEIGHTED_TABLE_ELEMENTS = 2**21


def forward_fused(x: Tensor, offset: Tensor, weight: Tensor, geo: Geometry, groups: int,
                  interpolate: bool) -> Tensor:
    """Deformable convolution into a preallocated output, image by image."""
    out = x.new_empty(geo.n, weight.shape[0], geo.out_h * geo.out_w)
    if weight.shape[1] == 1 and weight.shape[0] == groups:  # depthwise
        for image in range(geo.n):
            _depthwise_image(out[image], x[image], offset[image:image + 1], weight, geo, interpolate)
        return out.view(geo.n, weight.shape[0], geo.out_h, geo.out_w)
    table = row_table(x, geo.offset_groups)
    for image in range(geo.n):
        _columns_image(out[image], table, offset[image:image + 1], weight, geo, groups, image, interpolate)
    return out.view(geo.n, weight.shape[0], geo.out_h, geo.out_w)


def _needs_graph(*tensors: Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _columns_image(out: Tensor, table: Tensor, offset: Tensor, weight: Tensor, geo: Geometry, groups: int,
                   image: int, interpolate: bool) -> None:
    """out [O, pixels] of one image: sampled columns [pixels, K·C], chunk by chunk, times the weight."""
    pixels, taps = geo.out_h * geo.out_w, geo.kernel[0] * geo.kernel[1]
    chunk = max(1, min(pixels, CHUNK_ELEMENTS // (taps * geo.channels)))
    flat_weight = weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1) if groups == 1 else None
    for start in range(0, pixels, chunk):
        stop = min(pixels, start + chunk)
        y, x_pos = positions(offset, geo, start, stop)
        rows, weights = neighbours(geo, y, x_pos, image, interpolate)
        corners = rows.shape[-1]
        columns = combine(table, rows.reshape(-1, corners), None if weights is None else weights.reshape(-1, corners))
        columns = columns.view(stop - start, taps * geo.channels)
        target = out[:, start:stop]
        if flat_weight is None:
            target.copy_(apply_weight(columns.view(1, stop - start, taps, geo.channels), weight, groups)[0])
        elif _needs_graph(columns, flat_weight):
            target.copy_(torch.mm(flat_weight, columns.t()))
        else:
            torch.mm(flat_weight, columns.t(), out=target)


def _depthwise_image(out: Tensor, x: Tensor, offset: Tensor, weight: Tensor, geo: Geometry,
                     interpolate: bool) -> None:
    """out [C, pixels] of one image x [C, H, W], depthwise, a block of channels of every offset group at a time.

    The block's padded channels-last rows times each tap's weight are stacked as tables [K, rows, G, c];
    one ``embedding_bag`` gathers, interpolates, weights and sums the K·R neighbours of each
    (pixel, offset group).
    """
    taps, offset_groups = geo.kernel[0] * geo.kernel[1], geo.offset_groups
    group_channels = geo.channels // offset_groups
    padded_pixels = (geo.height + 3) * (geo.width + 3)
    per_tap = weight.reshape(offset_groups, group_channels, taps).permute(2, 0, 1)  # [K, G, C/G]
    planes = x.reshape(offset_groups, group_channels, geo.height, geo.width)
    bags, weights = _tap_bags(offset, geo, interpolate, padded_pixels * offset_groups)
    block = _even_blocks(group_channels, WEIGHTED_TABLE_ELEMENTS // (taps * padded_pixels * offset_groups))
    in_place = not _needs_graph(x, weight)
    buffer = x.new_empty(taps * padded_pixels * offset_groups * block) if in_place else None
    outputs = out.view(offset_groups, group_channels, -1)
    for first in range(0, group_channels, block):
        last = min(group_channels, first + block)
        factors = (planes[:, first:last], per_tap[:, :, first:last])
        if in_place:  # the borders stay zero from block to block while the width does
            tables = _weighted_tables_into(buffer, *factors, clear_borders=first == 0 or last - first < block)
        else:
            tables = _weighted_tables(*factors)
        samples = combine(tables.view(-1, last - first), bags, weights)  # [pixels·G, c]
        outputs[:, first:last].copy_(samples.view(-1, offset_groups, last - first).permute(1, 2, 0))


def _tap_bags(offset: Tensor, geo: Geometry, interpolate: bool, tap_rows: int) -> tuple[Tensor, Tensor | None]:
    """Bags [pixels·G, K·R] of one image: the R neighbours of each of its K samples as rows of the tap
    tables (table row + tap · ``tap_rows``), and their weights."""
    taps, pixels = geo.kernel[0] * geo.kernel[1], geo.out_h * geo.out_w
    y, x_pos = positions(offset, geo, 0, pixels)
    rows, weights = neighbours(geo, y, x_pos, 0, interpolate)  # [1, pixels, K, G, R]
    tap_start = torch.arange(taps, device=rows.device).view(1, 1, taps, 1, 1) * tap_rows
    rows = (rows + tap_start).permute(0, 1, 3, 2, 4).reshape(pixels * geo.offset_groups, -1)
    if weights is not None:
        weights = weights.permute(0, 1, 3, 2, 4).reshape(rows.shape)
    return rows, weights


def _even_blocks(total: int, most: int) -> int:
    """The width of the fewest blocks of at most ``most`` (at least 1) that cover ``total``, as even as can be."""
    return math.ceil(total / math.ceil(total / max(1, most)))


def _weighted_tables(planes: Tensor, per_tap: Tensor) -> Tensor:
    """Tables [K, Hp, Wp, G, c]: planes [G, c, H, W] zero-padded (1 before, 2 after), channels-last,
    times per_tap [K, G, c] (functional, for autograd)."""
    rows = F.pad(planes, (1, 2, 1, 2)).permute(2, 3, 0, 1)
    return (rows[None] * per_tap[:, None, None]).contiguous()


def _weighted_tables_into(buffer: Tensor, planes: Tensor, per_tap: Tensor, clear_borders: bool) -> Tensor:
    """``_weighted_tables`` written into ``buffer``: one transposing copy, then the products, in few ops
    (each op is a parallel region: with several threads on a busy machine, each costs a wait)."""
    groups, channels, height, width = planes.shape
    taps = per_tap.shape[0]
    tables = buffer[: taps * (height + 3) * (width + 3) * groups * channels].view(
        taps, height + 3, width + 3, groups, channels)
    if clear_borders:
        for border in (tables[:, :1], tables[:, height + 1:], tables[:, :, :1], tables[:, :, width + 1:]):
            border.zero_()
    inside = tables[:, 1:height + 1, 1:width + 1]
    inside[0].copy_(planes.permute(2, 3, 0, 1))
    # each tap's weights repeated along a row, so that every product runs over whole contiguous rows
    row_weights = per_tap[:, None].expand(taps, width, groups, channels).contiguous()
    torch.mul(inside[:1], row_weights[1:, None], out=inside[1:])
    inside[0].mul_(row_weights[0])
    return tables
