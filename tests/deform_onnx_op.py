"""A torchvision-style deformable convolution whose export is ONNX
``DeformConv`` (opset 19) through both of PyTorch's exporters, for the
import tests (not a test module).

The sampling is the custom op ``segc_test::deform_conv2d`` (``torch.library``,
with a fake implementation for the dynamo exporter's tracing); eagerly it
runs segc's reference ``backends/torch/deform.py``.  The TorchScript
exporter turns it into ``DeformConv`` by a symbolic registered here for
opset 19; the dynamo exporter by the onnxscript function of
``dynamo_translations()``, passed as its ``custom_translation_table``.  The offset is a ``Conv`` of the same input
(``self.offset``), as in torchvision and CoDeNet.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from segc.backends.torch.deform import deform_conv2d

OPSET = 19


@torch.library.custom_op("segc_test::deform_conv2d", mutates_args=())
def deform_op(x: Tensor, offset: Tensor, weight: Tensor, bias: Tensor | None, stride: list[int],
              padding: list[int], dilation: list[int], groups: int, offset_groups: int) -> Tensor:
    return deform_conv2d(x, offset, weight, bias, stride, padding, dilation, groups, offset_groups)


@deform_op.register_fake
def _deform_fake(x, offset, weight, bias, stride, padding, dilation, groups, offset_groups):
    kh, kw = weight.shape[2:]
    height = (x.shape[2] + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    width = (x.shape[3] + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    return x.new_empty(x.shape[0], weight.shape[0], height, width)


def _symbolic(g, x, offset, weight, bias, stride, padding, dilation, groups, offset_groups):
    """The TorchScript exporter's translation: one ``DeformConv`` node."""
    from torch.onnx import symbolic_helper as helper

    inputs = [x, weight, offset] + ([] if helper._is_none(bias) else [bias])
    pads = helper._get_const(padding, "is", "padding")
    return g.op("DeformConv", *inputs, strides_i=helper._get_const(stride, "is", "stride"), pads_i=pads + pads,
                dilations_i=helper._get_const(dilation, "is", "dilation"),
                group_i=helper._get_const(groups, "i", "groups"),
                offset_group_i=helper._get_const(offset_groups, "i", "offset_groups"))


torch.onnx.register_custom_op_symbolic("segc_test::deform_conv2d", _symbolic, OPSET)


def dynamo_translations() -> dict:
    """The dynamo exporter's ``custom_translation_table``: the op as
    ``DeformConv`` (onnxscript)."""
    from onnxscript import opset19 as op

    def deform(x, offset, weight, bias, stride, padding, dilation, groups, offset_groups):
        return op.DeformConv(x, weight, offset, bias, strides=stride, pads=list(padding) * 2, dilations=dilation,
                             group=groups, offset_group=offset_groups)

    return {torch.ops.segc_test.deform_conv2d.default: deform}


class DeformConv(nn.Module):
    """torchvision's ``DeformConv2d`` layout with its offset branch: a conv of
    the same input, with the same window, to 2·k·k·offset_groups offsets."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, padding: int = 1, dilation: int = 1,
                 groups: int = 1, offset_groups: int = 1, bias: bool = False):
        super().__init__()
        self.window = ([stride] * 2, [padding] * 2, [dilation] * 2, groups, offset_groups)
        self.offset = nn.Conv2d(cin, 2 * k * k * offset_groups, k, stride, padding, dilation)
        self.weight = nn.Parameter(torch.randn(cout, cin // groups, k, k) / (cin // groups * k * k) ** 0.5)
        self.bias = nn.Parameter(torch.randn(cout) * 0.1) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return deform_op(x, self.offset(x), self.weight, self.bias, *self.window)
