"""Deformable convolution on fake-quantized weights (``fake_quant.py``):
written into the generated module of a network with a quantized ``dconv``.
The offset branch stays in float."""

from __future__ import annotations

from torch import Tensor

from .deform import DeformConv2d, deform_conv2d
from .fake_quant import quantized_weight

__all__ = ["QuantDeformConv2d"]


class QuantDeformConv2d(DeformConv2d):
    """``DeformConv2d`` whose main weight is fake-quantized (mark it with ``quantized``)."""

    def forward(self, x: Tensor) -> Tensor:
        offset = self.offsets(x)
        if self.shape == "square":
            self._check_scale_map(x, offset)
        return deform_conv2d(x, offset, quantized_weight(self), self.bias, self.stride, self.padding, self.dilation,
                             self.groups, self.offset_groups, interpolate=not self.round, kernel=self.kernel)
