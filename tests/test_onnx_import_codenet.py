"""A CoDeNet-style detector written here in torch (the structure of
``examples/codenet_shufflenet.seg``, smaller): a ShuffleNetV2 backbone with
real channel split and shuffle, upsampling stages with deformable 3×3
convolutions whose offsets come from a conv of the same input, and
CenterNet heads.  Exported by both of PyTorch's exporters, where the
sampling becomes ONNX ``DeformConv`` (``deform_onnx_op.py``), imported by
segc, re-exported by segc (which writes the sampling out in plain ops), and
run in onnxruntime against torch."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from deform_onnx_op import OPSET, DeformConv, dynamo_translations  # noqa: E402
from onnx_exporters import EXPORTERS, export  # noqa: E402
from torch import nn  # noqa: E402

import segc  # noqa: E402


def shuffle(x, groups: int = 2):
    n, c, h, w = x.size()
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous().view(n, c, h, w)


def conv_bn(cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1, relu: bool = True) -> list[nn.Module]:
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return [*layers, nn.ReLU()] if relu else layers


def dw_pw(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    """The .seg's dw_pw: depthwise 3×3, batch norm, pointwise 1×1, batch norm, ReLU."""
    return conv_bn(cin, cin, 3, stride, cin, relu=False) + conv_bn(cin, cout)


class Down(nn.Module):
    """ShuffleNetV2's downsampling unit: two stride-2 branches, concat, shuffle."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.left = nn.Sequential(*dw_pw(cin, cout // 2, 2))
        self.right = nn.Sequential(*conv_bn(cin, cout // 2), *dw_pw(cout // 2, cout // 2, 2))

    def forward(self, x):
        return shuffle(torch.cat((self.left(x), self.right(x)), 1))


class Unit(nn.Module):
    """ShuffleNetV2's stride-1 unit: split, the right half through the branch, concat, shuffle."""

    def __init__(self, c: int):
        super().__init__()
        self.branch = nn.Sequential(*conv_bn(c // 2, c // 2), *dw_pw(c // 2, c // 2))

    def forward(self, x):
        left, right = x.chunk(2, dim=1)
        return shuffle(torch.cat((left, self.branch(right)), 1))


class DeformUp(nn.Module):
    """CoDeNet's upsampling stage: deformable 3×3, batch norm, ReLU, 1×1, bilinear ×2."""

    def __init__(self, cin: int, cout: int, **deform):
        super().__init__()
        self.deform = DeformConv(cin, cin, **deform)
        self.rest = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), *conv_bn(cin, cout),
                                  nn.Upsample(scale_factor=2, mode="bilinear"))

    def forward(self, x):
        return self.rest(self.deform(x))


def head(cin: int, out: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(cin, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, out, 1))


class CoDeNet(nn.Module):
    def __init__(self, classes: int = 4):
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(3, 16, 3, 2), nn.MaxPool2d(3, 2, 1))
        self.stages = nn.Sequential(Down(16, 32), Unit(32), Down(32, 64), Unit(64))
        # a depthwise deformable stage as in the .seg file, then a dense one with two offset groups and a bias
        self.neck = nn.Sequential(DeformUp(64, 32, groups=64), DeformUp(32, 16, offset_groups=2, bias=True))
        self.heatmap, self.size, self.shift = head(16, classes), head(16, 2), head(16, 2)

    def forward(self, x):
        y = self.neck(self.stages(self.stem(x)))
        return torch.cat((self.heatmap(y).sigmoid(), self.size(y), self.shift(y)), 1)


def _detector() -> nn.Module:
    torch.manual_seed(0)
    module = CoDeNet()
    generator = torch.Generator().manual_seed(0)
    for layer in module.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.running_mean.copy_(torch.rand(layer.num_features, generator=generator) * 0.2 - 0.1)
            layer.running_var.copy_(torch.rand(layer.num_features, generator=generator) + 0.5)
        if isinstance(layer, DeformConv):  # offsets of a few pixels, many of them fractional
            layer.offset.weight.data.mul_(30)
    return module.eval()


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_codenet_through_both_exporters_imports_and_reexports(tmp_path, exporter):
    module = _detector()
    model = export(module, (1, 3, 64, 64), exporter, opset=OPSET, translations=dynamo_translations)
    assert sum(n.op_type == "DeformConv" for n in onnx.load_from_string(model).graph.node) == 2
    (tmp_path / "m.onnx").write_bytes(model)
    graph, weights = segc.import_onnx(str(tmp_path / "m.onnx"))
    ops = [n.op for n in graph.nodes()]
    assert {"slice", "shuffle", "concat", "upsample", "sigmoid"} <= set(ops) and ops.count("dconv") == 2
    # every nn.Conv2d is a conv layer but the two offset branches, which are the dconv layers' own
    assert ops.count("conv") == sum(isinstance(m, nn.Conv2d) for m in module.modules()) - 2
    dense = next(n for n in graph.nodes() if n.op == "dconv" and n.attrs["groups"] == 1)
    assert (dense.attrs["offset_groups"], dense.attrs["bias"], dense.attrs["k"]) == (2, True, (3, 3))
    assert weights[f"{dense.name}.offset.weight"].shape == (2 * 3 * 3 * 2, 32, 3, 3)  # (Δy, Δx) · taps · groups

    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = module(x).numpy()
    exported = ort.InferenceSession(model, providers=["CPUExecutionProvider"])  # onnxruntime's DeformConv
    again = ort.InferenceSession(segc.to_onnx(graph, weights), providers=["CPUExecutionProvider"])
    for session, batch in ((exported, 1), (again, 2)):  # the dynamo exporter's batch is static
        got = session.run(None, {session.get_inputs()[0].name: x[:batch].numpy()})[0]
        assert got.shape == expected[:batch].shape == (batch, 8, 16, 16)
        assert np.abs(got - expected[:batch]).max() <= 1e-4 * np.abs(expected).max()
