"""The traced path of deformable convolution (``torch.jit.trace`` and ONNX
export): the four neighbours gathered with ``index_select`` and combined by
plain element-wise ops, then the weight product — every op plain ONNX
(``Gather``, ``Floor``, ``Clip``, ``Round``, ``MatMul``), in one chunk (a
loop would be unrolled).  The other paths: ``deform_kernels.py``.  Inlined
into generated torch source after ``deform_kernels.py``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .deform_kernels import Geometry, apply_weight, positions, row_index, row_table

__all__ = ["forward_traced"]


def _read(table: Tensor, index: Tensor) -> Tensor:
    return table.index_select(0, index.reshape(-1)).view(*index.shape, table.shape[1])


def _bilinear_columns(table: Tensor, geo: Geometry, y: Tensor, x: Tensor) -> Tensor:
    """Bilinear samples [N, pixels, K, G, C/G]."""
    y0, x0 = torch.floor(y), torch.floor(x)
    ly, lx = y - y0, x - x0
    hy, hx = 1 - ly, 1 - lx
    index = row_index(geo, y0, x0, 0)
    down, right = (geo.width + 3) * geo.offset_groups, geo.offset_groups
    rows = [index, index + right, index + down, index + down + right]
    weights = [hy * hx, hy * lx, ly * hx, ly * lx]
    columns = _read(table, rows[0]) * weights[0].unsqueeze(-1)
    for row, weight in zip(rows[1:], weights[1:]):
        columns = columns + _read(table, row) * weight.unsqueeze(-1)
    return columns


def _direct_columns(table: Tensor, geo: Geometry, y: Tensor, x: Tensor) -> Tensor:
    """Samples at the (rounded) integer points [N, pixels, K, G, C/G]."""
    return _read(table, row_index(geo, torch.round(y), torch.round(x), 0))


def forward_traced(x: Tensor, offset: Tensor, weight: Tensor, geo: Geometry, groups: int,
                   interpolate: bool) -> Tensor:
    """Functional ops only, all pixels in one chunk (the exported graph has static shapes)."""
    table = row_table(x, geo.offset_groups)
    y, x_pos = positions(offset, geo, 0, geo.out_h * geo.out_w)
    sample = _bilinear_columns if interpolate else _direct_columns
    columns = sample(table, geo, y, x_pos).reshape(geo.n, geo.out_h * geo.out_w, -1, geo.channels)
    return apply_weight(columns, weight, groups).reshape(geo.n, weight.shape[0], geo.out_h, geo.out_w)
