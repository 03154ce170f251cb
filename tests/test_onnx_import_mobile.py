"""MobileNetV3-Small and EfficientNet-B0 written here in torch (torchvision
cannot be imported with the CPU wheel), exported with both of torch's
exporters, imported, and run by segc's torch module and its re-export in
onnxruntime against torch: torchvision's parameter counts, the same
[N, 1000] logits."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx_exporters import EXPORTERS, export  # noqa: E402
from torch import nn  # noqa: E402

import segc  # noqa: E402


class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, squeeze: int, act: type, gate: type):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(channels, squeeze, 1), nn.Conv2d(squeeze, channels, 1)
        self.act, self.gate = act(), gate()

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(nn.functional.adaptive_avg_pool2d(x, 1)))))


class InvertedResidual(nn.Module):
    def __init__(self, cin, k, expand, cout, stride, act, squeeze=0, se_act=nn.ReLU, gate=nn.Hardsigmoid):
        super().__init__()
        layers: list[nn.Module] = []
        if expand != cin:
            layers += [nn.Conv2d(cin, expand, 1, bias=False), nn.BatchNorm2d(expand), act()]
        layers += [nn.Conv2d(expand, expand, k, stride, k // 2, groups=expand, bias=False), nn.BatchNorm2d(expand),
                   act()]
        if squeeze:
            layers.append(SqueezeExcitation(expand, squeeze, se_act, gate))
        layers += [nn.Conv2d(expand, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


def _stem(width: int, act: type) -> list[nn.Module]:
    return [nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), act()]


def mobilenet_v3_small() -> nn.Module:
    hs, re = nn.Hardswish, nn.ReLU
    config = [(3, 16, 16, 2, re, 8), (3, 72, 24, 2, re, 0), (3, 88, 24, 1, re, 0), (5, 96, 40, 2, hs, 24),
              (5, 240, 40, 1, hs, 64), (5, 240, 40, 1, hs, 64), (5, 120, 48, 1, hs, 32), (5, 144, 48, 1, hs, 40),
              (5, 288, 96, 2, hs, 72), (5, 576, 96, 1, hs, 144), (5, 576, 96, 1, hs, 144)]
    layers, cin = _stem(16, hs), 16
    for k, expand, cout, stride, act, squeeze in config:
        layers.append(InvertedResidual(cin, k, expand, cout, stride, act, squeeze))
        cin = cout
    layers += [nn.Conv2d(96, 576, 1, bias=False), nn.BatchNorm2d(576), hs(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Linear(576, 1024), hs(), nn.Dropout(0.2), nn.Linear(1024, 1000)]
    return nn.Sequential(*layers)


def efficientnet_b0() -> nn.Module:
    config = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
              (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
    layers, cin = _stem(32, nn.SiLU), 32
    for ratio, k, stride, cout, repeats in config:
        for i in range(repeats):
            layers.append(InvertedResidual(cin, k, cin * ratio, cout, stride if i == 0 else 1, nn.SiLU,
                                           max(1, cin // 4), nn.SiLU, nn.Sigmoid))
            cin = cout
    layers += [nn.Conv2d(320, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.SiLU(), nn.AdaptiveAvgPool2d(1),
               nn.Flatten(), nn.Dropout(0.2), nn.Linear(1280, 1000)]
    return nn.Sequential(*layers)


def _with_statistics(module: nn.Module) -> nn.Module:
    generator = torch.Generator().manual_seed(0)
    for layer in module.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.running_mean.copy_(torch.rand(layer.num_features, generator=generator) * 0.2 - 0.1)
            layer.running_var.copy_(torch.rand(layer.num_features, generator=generator) + 0.5)
    return module.eval()


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize(("build", "params", "ops"), [
    (mobilenet_v3_small, 2_542_856, {"hardswish", "hardsigmoid", "mul"}),
    (efficientnet_b0, 5_288_548, {"silu", "sigmoid", "mul"}),
], ids=["mobilenet_v3_small", "efficientnet_b0"])
def test_import_matches_torch(tmp_path, build, params, ops, exporter):
    torch.manual_seed(0)
    module = _with_statistics(build())
    assert sum(p.numel() for p in module.parameters()) == params  # torchvision's count
    (tmp_path / "m.onnx").write_bytes(export(module, (1, 3, 64, 64), exporter))
    graph, weights = segc.import_onnx(str(tmp_path / "m.onnx"))
    # the exporter folds each batch norm (2·C parameters) into its convolution's new bias (C)
    folded = sum(layer.num_features for layer in module.modules() if isinstance(layer, nn.BatchNorm2d))
    assert sum(r.params for r in segc.summarize(graph)) == params - folded
    assert ops <= {n.op for n in graph.nodes()}
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = module(x).numpy()
        got = segc.to_torch(graph, weights)(x).numpy()
    session = ort.InferenceSession(segc.to_onnx(graph, weights), providers=["CPUExecutionProvider"])
    again = session.run(None, {graph.inputs[0].name: x.numpy()})[0]
    for result in (got, again):
        assert result.shape == expected.shape == (2, 1000)
        assert np.abs(result - expected).max() <= 1e-4 * np.abs(expected).max()
