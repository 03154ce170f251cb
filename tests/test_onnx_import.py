"""ONNX import: a torch model written here (not by segc) goes through
torch's ONNX exporter and segc's import, and segc's torch model of it gives
the same outputs; segc's own exports come back as the same graph; anything
unsupported or not ONNX is a clear error."""

from __future__ import annotations

import io
import warnings

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from conftest import NETWORK_EXAMPLES  # noqa: E402
from torch import nn  # noqa: E402

import segc  # noqa: E402
from segc.cli import main  # noqa: E402


class Independent(nn.Module):
    """Every op the import supports, as a torch user would write them."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.down = nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False)
        self.dilated = nn.Conv2d(32, 32, 3, padding=2, dilation=2, groups=4)
        self.side = nn.Conv2d(16, 32, 1, stride=2)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.avg = nn.AvgPool2d(3, stride=1, padding=1)
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        x = self.stem(x)
        y = nn.functional.relu6(self.dilated(self.down(x))) + self.side(x)
        y = torch.sigmoid(self.avg(self.pool(y)))
        up = nn.functional.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
        near = nn.functional.interpolate(y, scale_factor=2, mode="nearest")
        z = torch.cat([up, near], dim=1)
        return self.head(nn.functional.adaptive_avg_pool2d(z, 1).flatten(1))


def _export(module: nn.Module, shape) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.randn(1, *shape),), buffer, opset_version=17, dynamo=False,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    return buffer.getvalue()


@pytest.fixture
def independent(tmp_path):
    torch.manual_seed(0)
    module = Independent().eval()
    bn = module.stem[1]
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "model.onnx"
    path.write_bytes(_export(module, (3, 16, 16)))
    return module, path


def test_independent_model_round_trips_through_segc(independent):
    module, path = independent
    graph, weights = segc.import_onnx(str(path))
    rebuilt = segc.to_torch(graph, {k: torch.as_tensor(np.array(v)) for k, v in weights.items()})
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        want, got = module(x), rebuilt(x).flatten(1)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5 * want.abs().max().item())
    ops = {n.op for n in graph.nodes()}
    assert {"conv", "relu6", "sigmoid", "maxpool", "avgpool", "upsample", "add", "concat", "linear"} <= ops


def test_imported_names_are_readable(independent):
    graph, _ = segc.import_onnx(str(independent[1]))
    assert "down" in graph and "head" in graph  # from the weights' names
    assert all(n.name.replace(".", "").replace("_", "").isalnum() for n in graph.nodes())


@pytest.mark.parametrize("path", NETWORK_EXAMPLES, ids=lambda p: p.stem)
def test_segc_onnx_comes_back_as_the_same_graph(path, tmp_path):
    graph = segc.load(str(path))
    (tmp_path / "m.onnx").write_bytes(segc.to_onnx(graph))
    imported, weights = segc.import_onnx(str(tmp_path / "m.onnx"))
    assert imported.structure()[3] == graph.structure()[3]
    assert set(weights) == {k for k in segc.to_torch(graph).state_dict() if "num_batches" not in k}


def test_unsupported_ops_are_listed(tmp_path):
    class Odd(nn.Module):
        def forward(self, x):
            return torch.cos(torch.sin(x))

    (tmp_path / "odd.onnx").write_bytes(_export(Odd(), (3, 4, 4)))
    with pytest.raises(segc.SegError) as caught:
        segc.import_onnx(str(tmp_path / "odd.onnx"))
    assert caught.value.diagnostics[0].message == ("2 nodes cannot be imported:\n"
                                                   "  node '/Sin' (Sin): op outside segc's table\n"
                                                   "  node '/Cos' (Cos): op outside segc's table")


def test_not_onnx_and_truncated(tmp_path, capsys):
    good = segc.to_onnx(segc.load(str(NETWORK_EXAMPLES[0])))
    for name, data in (("text.onnx", b"hello"), ("cut.onnx", good[: len(good) // 3])):
        (tmp_path / name).write_bytes(data)
        assert main(["import", str(tmp_path / name), "-o", str(tmp_path / "out.seg")]) == 1
        err = capsys.readouterr().err
        assert "not an ONNX model" in err and "Traceback" not in err
    assert not (tmp_path / "out.seg").exists() and not (tmp_path / "out.safetensors").exists()


def test_import_command_writes_seg_and_weights(independent, tmp_path, capsys):
    path = independent[1]
    assert main(["import", str(path), "-o", str(tmp_path / "m.seg")]) == 0
    assert (tmp_path / "m.safetensors").exists()
    assert main(["check", str(tmp_path / "m.seg")]) == 0
    out = tmp_path / "again.onnx"
    assert main(["export", str(tmp_path / "m.seg"), "--to", "onnx", "--weights", str(tmp_path / "m.safetensors"),
                 "-o", str(out)]) == 0
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
