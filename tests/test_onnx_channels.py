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
