"""Models written here in torch, exported by both of PyTorch's ONNX
exporters (TorchScript: ``dynamo=False``; dynamo: ``dynamo=True``, which
needs onnxscript), imported by segc, exported again by segc and run in
onnxruntime against the exporter's model on the same input."""

from __future__ import annotations

import importlib.util
import io
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from torch import nn  # noqa: E402

import segc  # noqa: E402

EXPORTERS = ["torchscript", pytest.param("dynamo", marks=pytest.mark.skipif(
    importlib.util.find_spec("onnxscript") is None,
    reason="the dynamo exporter needs the onnxscript package (pip install onnxscript, or the 'test' extra)"))]


class Block(nn.Module):
    """A ResNet basic block (a 1×1 projection where the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.short = nn.Identity() if (cin, stride) == (cout, 1) else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.short(x))


class Classifier(nn.Module):
    """Stem, two blocks, average pool, flatten, linear."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.MaxPool2d(2))
        self.layer1, self.layer2 = Block(16, 16, 1), Block(16, 32, 2)
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(32, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(self.pool(x).view(x.size(0), -1))  # TorchScript: Shape-Gather-Concat into a Reshape


class Segmenter(nn.Module):
    """An encoder at 1/4 resolution, a skip at 1/2, bilinear upsampling back to the input's size."""

    def __init__(self):
        super().__init__()
        self.down1 = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.down2 = nn.Sequential(nn.Conv2d(16, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU())
        self.fuse = nn.Conv2d(32 + 16, 16, 3, 1, 1)
        self.head = nn.Conv2d(16, 5, 1)

    def forward(self, x):
        half = self.down1(x)
        quarter = nn.functional.interpolate(self.down2(half), scale_factor=2, mode="bilinear", align_corners=False)
        y = self.head(torch.relu(self.fuse(torch.cat([quarter, half], dim=1))))
        return nn.functional.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


def _built(kind: type[nn.Module]) -> nn.Module:
    """Batch norm with random scales; its shifts stay 0, so the convolutions
    it folds into share all-zero biases, which the TorchScript exporter
    writes once and hands to each through an Identity node."""
    torch.manual_seed(0)
    module = kind().eval()
    for bn in (m for m in module.modules() if isinstance(m, nn.BatchNorm2d)):
        bn.running_var.uniform_(0.5, 1.5)
        bn.weight.data.uniform_(0.5, 1.5)
    return module


def _export(module: nn.Module, exporter: str, size: tuple[int, int], dynamic_hw: bool) -> bytes:
    x = torch.randn(2, 3, *size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            dim = torch.export.Dim
            shapes = {"x": {0: dim("n", max=64), **({2: dim("h", min=16, max=256), 3: dim("w", min=16, max=256)}
                                                   if dynamic_hw else {})}}
            program = torch.onnx.export(module, (x,), dynamo=True, input_names=["x"], output_names=["y"],
                                        dynamic_shapes=shapes, verbose=False)
            return program.model_proto.SerializeToString()
        buffer = io.BytesIO()
        axes = {0: "n", 2: "h", 3: "w"} if dynamic_hw else {0: "n"}
        torch.onnx.export(module, (x,), buffer, opset_version=17, dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": axes})
        return buffer.getvalue()


def _run(model: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _round_trip(tmp_path, kind, exporter, size=(32, 32), dynamic_hw=False, input_shape=None):
    """(the exporter's output, segc's output) on one input of ``size``."""
    exported = _export(_built(kind), exporter, size, dynamic_hw)
    (tmp_path / "m.onnx").write_bytes(exported)
    network, weights = segc.import_onnx(str(tmp_path / "m.onnx"), input_shape)
    again = segc.to_onnx(network, {k: torch.as_tensor(np.array(v)) for k, v in weights.items()})
    x = np.random.default_rng(1).standard_normal((3, 3, *size)).astype(np.float32)
    return _run(exported, x), _run(again, x)


def _relative_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got.reshape(want.shape) - want).max() / np.abs(want).max())


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_segmenter_round_trips(tmp_path, exporter):
    want, got = _round_trip(tmp_path, Segmenter, exporter, size=(32, 48))
    assert got.shape == want.shape == (3, 5, 32, 48)
    assert _relative_error(got, want) < 1e-4


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_classifier_round_trips(tmp_path, exporter):
    want, got = _round_trip(tmp_path, Classifier, exporter)
    assert want.shape == (3, 10) and got.size == want.size
    assert _relative_error(got, want) < 1e-4


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_classifier_keeps_its_output_shape(tmp_path, exporter):
    want, got = _round_trip(tmp_path, Classifier, exporter)
    assert got.shape == want.shape


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("kind", [Segmenter, Classifier], ids=["segmenter", "classifier"])
def test_dynamic_height_and_width_with_input_shape(tmp_path, exporter, kind):
    with pytest.raises(segc.SegError, match=r"input 'x' \[\w+, 3, \w+, \w+\] has no fixed H, W: pass --input-shape"):
        _round_trip(tmp_path, kind, exporter, dynamic_hw=True)
    want, got = _round_trip(tmp_path, kind, exporter, size=(40, 24), dynamic_hw=True, input_shape=(3, 40, 24))
    assert got.size == want.size and _relative_error(got, want) < 1e-4


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_what_each_exporter_leaves_is_folded(tmp_path, exporter):
    (tmp_path / "m.onnx").write_bytes(_export(_built(Classifier), exporter, (32, 32), False))
    folded: dict[str, int] = {}
    network, _ = segc.import_onnx(str(tmp_path / "m.onnx"), folded=folded)
    ops = [n.op for n in network.nodes()]
    # both exporters fold batch norm into the convolutions: stem 1, blocks 2 + 2 + a projection = 6; 2 residual adds
    assert (ops.count("conv"), ops.count("add"), ops.count("linear"), ops.count("bn")) == (6, 2, 1, 0)
    if exporter == "torchscript":
        assert folded["Identity"] >= 1 and {"Shape", "Gather", "Concat"} <= set(folded)
    assert folded.get("Reshape", 0) + folded.get("Flatten", 0) == 1  # the flatten is the Gemm's 2-D view
