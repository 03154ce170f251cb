"""ONNX import of the pointwise ops: torch models written here, exported
with torch's TorchScript exporter, imported, and run by segc's torch module
and its own ONNX export in onnxruntime against torch; what the import
refuses is an error naming the node."""

from __future__ import annotations

import io
import warnings

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import segc  # noqa: E402


def _export(module: nn.Module, shape, opset: int = 17) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.randn(1, *shape),), buffer, opset_version=opset, dynamo=False,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    return buffer.getvalue()


class MobileBlock(nn.Module):
    """Hard-swish, squeeze-and-excitation with hard-sigmoid, SiLU, leaky ReLU,
    tanh, clamp, division, subtraction, softmax over channels and a
    classifier on a mean without keepdims."""

    def __init__(self):
        super().__init__()
        self.expand = nn.Conv2d(3, 8, 3, padding=1)
        self.squeeze = nn.Conv2d(8, 4, 1)
        self.excite = nn.Conv2d(4, 8, 1)
        self.fc1, self.fc2 = nn.Linear(8, 4), nn.Linear(4, 8)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        y = F.hardswish(self.expand(x))
        y = y * F.hardsigmoid(self.excite(F.relu(self.squeeze(y.mean((2, 3), keepdim=True)))))
        y = y * F.hardsigmoid(self.fc2(F.relu(self.fc1(y.mean((2, 3)))))).view(-1, 8, 1, 1)
        y = F.leaky_relu(F.silu(y), 0.2)
        y = torch.tanh(y).clamp(-0.5, 0.75) / 3
        y = torch.softmax(y - F.hardsigmoid(y), dim=1)
        return self.head(y.mean((2, 3)))


@pytest.mark.parametrize("opset", [13, 17, 18])
def test_mobile_block_imports_and_matches_torch(tmp_path, opset):
    torch.manual_seed(0)
    module = MobileBlock().eval()
    (tmp_path / "m.onnx").write_bytes(_export(module, (3, 9, 10), opset))
    graph, weights = segc.import_onnx(str(tmp_path / "m.onnx"))
    ops = [n.op for n in graph.nodes()]
    assert {"hardswish", "hardsigmoid", "mul", "silu", "leakyrelu", "tanh", "clip", "div", "sub", "softmax",
            "mean", "linear"} <= set(ops)
    assert "sigmoid" not in ops  # SiLU's Sigmoid went into the silu layer
    assert "flatten" not in ops  # viewing the [N, 8] excitation as [N, 8, 1, 1] computes nothing
    x = torch.randn(4, 3, 9, 10, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = module(x).numpy()
        got = segc.to_torch(graph, weights)(x).numpy()
    assert got.shape == expected.shape == (4, 5)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    session = ort.InferenceSession(segc.to_onnx(graph, weights), providers=["CPUExecutionProvider"])
    again = session.run(None, {graph.inputs[0].name: x.numpy()})[0]
    assert again.shape == (4, 5)
    np.testing.assert_allclose(again, expected, rtol=1e-4, atol=1e-6)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3)
        self.fc = nn.Linear(6 * 4 * 4, 7)

    def forward(self, x):
        return self.fc(torch.flatten(F.relu6(self.conv(x)), 1))


class MatMulHead(nn.Module):
    """A classifier as a matrix product with a constant weight and a bias (MatMul + Add)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.weight = nn.Parameter(torch.randn(4, 6))
        self.bias = nn.Parameter(torch.randn(6))

    def forward(self, x):
        return self.conv(x).mean((2, 3)) @ self.weight + self.bias


@pytest.mark.parametrize("module", [Classifier(), MatMulHead(), nn.Sequential(
    nn.Conv2d(3, 4, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))], ids=["flatten", "matmul", "pool"])
def test_imported_classifier_returns_n_by_classes(tmp_path, module):
    (tmp_path / "c.onnx").write_bytes(_export(module, (3, 6, 6)))
    graph, weights = segc.import_onnx(str(tmp_path / "c.onnx"))
    assert [n.op for n in graph.nodes()][-2] == "linear"
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        expected = module.eval()(x)
        got = segc.to_torch(graph, weights)(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-6)
    session = ort.InferenceSession(segc.to_onnx(graph, weights), providers=["CPUExecutionProvider"])
    assert session.run(None, {graph.inputs[0].name: x.numpy()})[0].shape == tuple(expected.shape)


def _model(path, nodes, initializers=(), opset: int = 17) -> str:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 3, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [x], [y], list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.save(model, str(path))
    return str(path)


def _const(name, value):
    return onnx.numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)


@pytest.mark.parametrize(("nodes", "inits", "message"), [
    ([helper.make_node("HardSigmoid", ["x"], ["y"], name="hs", alpha=0.2)], [],
     r"node 'hs' \(HardSigmoid\): HardSigmoid with alpha=0.2, beta=0.5 is not supported"),
    ([helper.make_node("HardSigmoid", ["x"], ["g"], name="hs", beta=0.4), helper.make_node("Mul", ["x", "g"], ["y"])],
     [], r"node 'hs' \(HardSigmoid\): HardSigmoid with alpha=0.2, beta=0.4 is not supported"),
    ([helper.make_node("Softmax", ["x"], ["y"], name="sm")], [],
     r"node 'sm' \(Softmax\): Softmax over axis -1 is not supported; only over channels \(axis 1\)"),
    ([helper.make_node("Softmax", ["x"], ["y"], name="sm", axis=2)], [], r"node 'sm' \(Softmax\): .*axis 2"),
    ([helper.make_node("Mul", ["x", "k"], ["y"], name="scale")], [_const("k", 2.0)],
     r"node 'scale' \(Mul\): Mul with a constant is not supported"),
    ([helper.make_node("Sub", ["k", "x"], ["y"], name="s")], [_const("k", 2.0)], r"node 's' \(Sub\)"),
    ([helper.make_node("Div", ["x", "x"], ["y"], name="d")], [],
     r"node 'd' \(Div\): only division by a non-zero constant number"),
    ([helper.make_node("Div", ["x", "k"], ["y"], name="d")], [_const("k", 0.0)], r"node 'd' \(Div\)"),
    ([helper.make_node("ReduceMean", ["x"], ["y"], name="rm", axes=[1])], [],
     r"node 'rm' \(ReduceMean\): only ReduceMean over height and width"),
    ([helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="c")], [_const("lo", 2.0), _const("hi", 1.0)],
     r"node 'c' \(Clip\): clip min \(2\) must not exceed max \(1\)"),
])
def test_refusals_name_the_node(tmp_path, nodes, inits, message):
    with pytest.raises(segc.SegError, match=message):
        segc.import_onnx(_model(tmp_path / "m.onnx", nodes, inits))


def test_old_softmax_spans_every_axis_and_clip_bounds_left_open(tmp_path):
    softmax = helper.make_node("Softmax", ["x"], ["y"], name="sm")
    with pytest.raises(segc.SegError, match=r"node 'sm' \(Softmax\): Softmax before opset 13 normalises over C·H·W"):
        segc.import_onnx(_model(tmp_path / "old.onnx", [softmax], opset=11))
    nodes = [helper.make_node("Softmax", ["x"], ["s"], name="sm", axis=1),
             helper.make_node("Clip", ["s", "", "hi"], ["y"], name="c")]
    graph, _ = segc.import_onnx(_model(tmp_path / "m.onnx", nodes, [_const("hi", 0.3)]))
    clip = next(n for n in graph.nodes() if n.op == "clip")
    assert clip.attrs["min"] is None and clip.attrs["max"] == pytest.approx(0.3)
    assert [n.op for n in graph.nodes()] == ["input", "softmax", "clip", "output"]
