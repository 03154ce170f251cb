"""ONNX for the channel ops (deconv): segc's export checked by onnx and run in
onnxruntime against segc's torch module; a torch model written here and
exported by torch's TorchScript exporter imports back and gives torch's
outputs; what the import cannot represent is refused naming the node."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import helper  # noqa: E402
from test_onnx_import import _export  # noqa: E402
from torch import nn  # noqa: E402

import segc  # noqa: E402
from segc.ir import SegError  # noqa: E402

DECONV_NET = """
network up {
    input x: [4, 5, 6]
    y = x -> deconv(8, k=3, stride=2, padding=1, output_padding=1, groups=2, bias=true) -> relu
    d = y -> deconv(8, k=3, padding=1, groups=8)
    output z = d -> deconv(3, k=2, stride=2, dilation=[1, 2])
}
"""


def run_onnx(model_bytes: bytes, name: str, x: torch.Tensor):
    model = onnx.load_from_string(model_bytes)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return session.run(None, {name: x.numpy()})


def check_export(text: str, seed: int = 1) -> None:
    graph = segc.loads(text)
    module = segc.to_torch(graph, seed=seed).eval()
    x = torch.randn(2, *graph.inputs[0].shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        want = module(x)
    want = want if isinstance(want, tuple) else (want,)
    got = run_onnx(segc.to_onnx(graph, module.state_dict()), graph.inputs[0].name, x)
    for w, g in zip(want, got):
        assert g.shape == tuple(w.shape)
        assert np.abs(g - w.numpy()).max() <= 1e-4 * np.abs(w.numpy()).max()


def check_import(module: nn.Module, shape, tmp_path, ops: set[str]) -> segc.ir.Graph:
    torch.manual_seed(0)
    path = tmp_path / "m.onnx"
    path.write_bytes(_export(module.eval(), shape))
    graph, weights = segc.import_onnx(str(path))
    assert ops <= {n.op for n in graph.nodes()}
    rebuilt = segc.to_torch(graph, {k: torch.as_tensor(np.array(v)) for k, v in weights.items()})
    x = torch.randn(3, *shape)
    with torch.no_grad():
        want, got = module(x), rebuilt(x)
    assert got.shape == want.shape
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5 * want.abs().max().item())
    return graph


def test_deconv_export_matches_torch():
    check_export(DECONV_NET)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1, bias=True)
        self.dw = nn.ConvTranspose2d(6, 6, 4, stride=2, padding=1, groups=3, bias=False)

    def forward(self, x):
        return self.dw(torch.relu(self.up(self.enc(x))))


def test_torch_conv_transpose_imports(tmp_path):
    graph = check_import(Decoder(), (3, 8, 10), tmp_path, {"deconv"})
    up = graph.node("up")
    assert (up.attrs["stride"], up.attrs["padding"], up.attrs["output_padding"]) == ((2, 2), (1, 1), (1, 1))
    assert graph.node("dw").attrs["groups"] == 3


def _convtranspose_model(**attrs) -> onnx.ModelProto:
    weight = helper.make_tensor("w", onnx.TensorProto.FLOAT, [2, 2, 3, 3], [0.0] * 36)
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="odd_up", **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2, 4, 4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(("attrs", "text"), [
    ({"auto_pad": "SAME_UPPER", "strides": [2, 2]}, "auto_pad SAME_UPPER is not supported"),
    ({"pads": [1, 1, 0, 0]}, r"asymmetric padding \[1, 1, 0, 0\] is not supported"),
    ({"output_shape": [8, 8], "strides": [2, 2]}, "output_shape is not supported"),
])
def test_convtranspose_refusals_name_the_node(tmp_path, attrs, text):
    path = tmp_path / "odd.onnx"
    path.write_bytes(_convtranspose_model(**attrs).SerializeToString())
    with pytest.raises(SegError, match=text) as err:
        segc.import_onnx(str(path))
    assert "odd_up" in str(err.value)


SHUFFLE_NET = """
network shuffle_unit {
    input x: [8, 6, 6]
    left = x -> slice(0, 4)
    right = x -> slice(4, 8) -> conv(4, k=1) -> relu
    odd = x -> slice(1, 5)
    cat = concat(left, right, odd)
    output y = cat -> shuffle(groups=3)
    output z = cat -> shuffle(groups=4)
}
"""


def test_slice_and_shuffle_export_match_torch():
    check_export(SHUFFLE_NET)


def channel_shuffle(x, groups: int, c: int, h: int, w: int):
    """As torchvision's ShuffleNetV2 writes it, with the sizes given (its
    ``x.size()`` arithmetic is exported as Shape, Gather, Div and Mul nodes,
    which the import's shape folding, not this op, has to undo)."""
    return x.view(-1, groups, c // groups, h, w).transpose(1, 2).contiguous().view(-1, c, h, w)


class ShuffleUnit(nn.Module):
    """A ShuffleNetV2 unit: split, a branch, concat, shuffle; and a slice."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.branch = nn.Sequential(nn.Conv2d(8, 8, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, groups=8))
        self.head = nn.Conv2d(10, 4, 1)

    def forward(self, x):
        x = self.stem(x)
        left, right = x.split([8, 8], dim=1)  # x.chunk(2, 1) exports its bounds as run-time shape arithmetic
        y = channel_shuffle(torch.cat([left, self.branch(right)], dim=1), 2, 16, 6, 7)
        a, b, _unused = torch.split(y, [6, 4, 6], dim=1)
        return self.head(torch.cat([y[:, 3:7], b[:, 1:], a[:, -3:]], dim=1))


def test_torch_split_slice_and_shuffle_import(tmp_path):
    graph = check_import(ShuffleUnit(), (3, 6, 7), tmp_path, {"slice", "shuffle"})
    assert [n.attrs["groups"] for n in graph.nodes() if n.op == "shuffle"] == [2]
    assert sorted((n.attrs["start"], n.attrs["end"]) for n in graph.nodes() if n.op == "slice") == [
        (0, 6), (0, 8), (1, 4), (3, 6), (3, 7), (6, 10), (8, 16)]  # split [8, 8]; [6, 4, (6 unused)]; 3 slices


def test_segc_export_of_slices_and_shuffles_imports_back(tmp_path):
    graph = segc.loads(SHUFFLE_NET)
    (tmp_path / "m.onnx").write_bytes(segc.to_onnx(graph))
    imported, _ = segc.import_onnx(str(tmp_path / "m.onnx"))
    assert imported.structure()[3] == graph.structure()[3]


def _one_node_model(op: str, inputs, outputs, initializers=(), **attrs) -> bytes:
    node = helper.make_node(op, ["x", *inputs], outputs, name="odd_node", **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 6, 4, 4])],
                              [helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None) for o in outputs],
                              list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _ints(name, values):
    return helper.make_tensor(name, onnx.TensorProto.INT64, [len(values)], values)


@pytest.mark.parametrize(("model", "text"), [
    (_one_node_model("Slice", ["s", "e", "a"], ["y"], [_ints("s", [0]), _ints("e", [2]), _ints("a", [2])]),
     r"Slice is supported on the channel axis \(1\) of a feature map only, got axes \[2\]"),
    (_one_node_model("Slice", ["s", "e"], ["y"], [_ints("s", [0]), _ints("e", [2])]),  # axes: from 0
     r"Slice is supported on the channel axis \(1\) of a feature map only, got axes \[0\]"),
    (_one_node_model("Slice", ["s", "e", "a", "t"], ["y"],
                     [_ints("s", [0]), _ints("e", [4]), _ints("a", [1]), _ints("t", [2])]),
     "Slice with a step other than 1 is not supported"),
    (_one_node_model("Split", [], ["y", "z"], axis=2), "Split is supported on the channel axis"),
    (_one_node_model("Split", ["p"], ["y", "z"], [_ints("p", [2, 3])], axis=1),
     r"Split sizes \[2, 3\] do not divide the 6 channels into 2 parts"),
    (_one_node_model("Transpose", [], ["y"], perm=[0, 1, 3, 2]),
     "Transpose is supported only inside a channel shuffle"),
])
def test_channel_op_refusals_name_the_node(tmp_path, model, text):
    (tmp_path / "odd.onnx").write_bytes(model)
    with pytest.raises(SegError, match=text) as err:
        segc.import_onnx(str(tmp_path / "odd.onnx"))
    assert "odd_node" in str(err.value)
