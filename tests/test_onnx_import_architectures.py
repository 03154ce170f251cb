"""The networks people use, written in torch here (torchvision cannot be
imported beside the CPU wheel), exported by both of PyTorch's exporters,
imported by segc, re-exported, and run in onnxruntime against torch: a
ShuffleNetV2 with ``chunk`` and the view-transpose-view channel shuffle
(shape arithmetic the TorchScript exporter writes out), and a UNet with
transposed convolutions.  MobileNetV3 and EfficientNet-B0 are in
``test_onnx_import_mobile.py``."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx_exporters import EXPORTERS, export  # noqa: E402
from torch import nn  # noqa: E402

import segc  # noqa: E402


class ShuffleUnit(nn.Module):
    """torchvision's ShuffleNetV2 unit of stride 1: chunk, a branch, cat, shuffle."""

    def __init__(self, c: int):
        super().__init__()
        b = c // 2
        self.branch = nn.Sequential(nn.Conv2d(b, b, 1), nn.BatchNorm2d(b), nn.ReLU(),
                                    nn.Conv2d(b, b, 3, padding=1, groups=b), nn.BatchNorm2d(b),
                                    nn.Conv2d(b, b, 1), nn.BatchNorm2d(b), nn.ReLU())

    def forward(self, x):
        left, right = x.chunk(2, dim=1)
        out = torch.cat((left, self.branch(right)), dim=1)
        n, c, h, w = out.size()
        return out.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)


class ShuffleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 24, 3, 2, 1), nn.BatchNorm2d(24), nn.ReLU())
        self.units = nn.Sequential(ShuffleUnit(24), ShuffleUnit(24))
        self.fc = nn.Linear(24, 10)

    def forward(self, x):
        return self.fc(self.units(self.stem(x)).mean([2, 3]))


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.mid = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)
        self.out = nn.Conv2d(8 + 3, 2, 1)

    def forward(self, x):
        return self.out(torch.cat([self.up(self.mid(self.down(x))), x], 1))


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize(("build", "ops"), [(ShuffleNet, {"slice", "shuffle", "mean", "linear"}),
                                            (UNet, {"deconv", "concat"})], ids=["shufflenet_v2", "unet"])
def test_both_exporters_import_and_reexport(tmp_path, build, ops, exporter):
    torch.manual_seed(0)
    module = build().eval()
    (tmp_path / "m.onnx").write_bytes(export(module, (1, 3, 32, 32), exporter))
    graph, weights = segc.import_onnx(str(tmp_path / "m.onnx"))
    assert ops <= {n.op for n in graph.nodes()}
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = module(x).numpy()
    session = ort.InferenceSession(segc.to_onnx(graph, weights), providers=["CPUExecutionProvider"])
    got = session.run(None, {graph.inputs[0].name: x.numpy()})[0]
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
