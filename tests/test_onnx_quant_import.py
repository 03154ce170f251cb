"""ONNX import of QuantizeLinear/DequantizeLinear models: segc's own exports
come back with the same formats and ranges; onnxruntime's quantize_static
and PyTorch's exporter of a fake-quantized module import, and re-export to
the same outputs in onnxruntime; bad QDQ is an error naming the node."""

from __future__ import annotations

import io
import warnings

import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from qdq_nets import qnet, run_onnx  # noqa: E402
from torch import nn  # noqa: E402

import segc  # noqa: E402
from segc.api import to_onnx  # noqa: E402
from segc.backends.quant import range_key  # noqa: E402
from segc.ir import SegError  # noqa: E402
from segc.ir.quant import LayerQuant  # noqa: E402


def _imported(tmp_path, data: bytes, name: str = "m.onnx"):
    path = tmp_path / name
    path.write_bytes(data)
    return segc.import_onnx(str(path))


@pytest.mark.parametrize(("rule", "other"), [("w=8, a=8, scheme=int", "w=4, a=6"),
                                             ("w=8, a=10, scheme=fixed", "a=8, a_frac=5"),
                                             ("w=12, a=16, scheme=int", "scheme=float")])
def test_segc_exports_come_back_with_their_formats_and_ranges(tmp_path, rule, other):
    graph = qnet(rule, other)
    data = to_onnx(graph, seed=2)
    back, weights = _imported(tmp_path, data)
    assert {n.name: n.quant for n in back.nodes()} == {n.name: n.quant for n in graph.nodes()}
    ranges = {k: float(v) for k, v in weights.items() if k.endswith(".act_range")}
    quantized = [n.name for n in graph.nodes() if n.quant is not None and n.op != "output"]
    assert sorted(ranges) == sorted(range_key(name) for name in quantized)
    again = to_onnx(back, weights)
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(run_onnx(again, x), run_onnx(data, x))


def test_without_segcs_metadata_the_words_give_int_formats(tmp_path):
    graph = qnet("w=8, a=8, scheme=int", "w=4, a=6")
    weights = {range_key(n.name): np.float32(1.5 + i / 8) for i, n in enumerate(graph.nodes())
               if n.quant is not None and n.op != "output"}
    weights.update(segc.api.weight_arrays(graph, seed=4))
    model = onnx.load_from_string(to_onnx(graph, weights))
    del model.metadata_props[:]
    back, imported = _imported(tmp_path, model.SerializeToString())
    assert back.node("a.conv").quant == LayerQuant("int", 8, 8)
    assert back.node("b.deconv").quant == LayerQuant("int", 6, 8)  # 6 bits from the Clip; 4-bit words in int8
    assert back.node("y.linear").quant == LayerQuant("int", 8, 8)
    assert back.node("output.y").quant is None
    assert float(imported[range_key("b.deconv")]) == pytest.approx(float(weights[range_key("b.deconv")]), rel=1e-6)
    assert not [n for n in back.nodes() if n.op == "clip"]


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, stride=2)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.head(torch.relu(self.conv2(torch.relu(self.conv1(x)))))


def _float_model(module: nn.Module, x: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (x,), buffer, opset_version=17, dynamo=False, input_names=["x"],
                          output_names=["y"])
    return buffer.getvalue()


def test_an_onnxruntime_quantize_static_model_imports_and_reexports_with_the_samerun_onnx(tmp_path):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    samples = [rng.standard_normal((1, 3, 16, 16)).astype(np.float32) for _ in range(4)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.left = iter(samples)

        def get_next(self):
            return next(({"x": s} for s in self.left), None)

    (tmp_path / "float.onnx").write_bytes(_float_model(Small(), torch.as_tensor(samples[0])))
    quantize_static(str(tmp_path / "float.onnx"), str(tmp_path / "q.onnx"), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
    original = (tmp_path / "q.onnx").read_bytes()
    graph, weights = segc.import_onnx(str(tmp_path / "q.onnx"))
    convs = [n for n in graph.nodes() if n.op == "conv"]
    assert [n.name for n in convs] == ["conv1", "conv2", "head"]  # from 'conv1.weight_quantized', ...
    assert all(n.quant == LayerQuant("int", 8, 8) for n in convs)
    again = to_onnx(graph, weights)
    for x in samples[:2]:
        np.testing.assert_allclose(run_onnx(again, x), run_onnx(original, x), rtol=0, atol=1e-6)


class FakeQuantized(nn.Module):
    """A conv on per-channel 8-bit weights and 8-bit input and output, as
    torch's fake quantization computes it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.register_buffer("scales", self.conv.weight.detach().abs().amax(dim=(1, 2, 3)) / 127)

    def forward(self, x):
        x = torch.fake_quantize_per_tensor_affine(x, 0.05, 0, -128, 127)
        zeros = torch.zeros(4, dtype=torch.int32)
        w = torch.fake_quantize_per_channel_affine(self.conv.weight, self.scales, zeros, 0, -128, 127)
        y = nn.functional.conv2d(x, w, self.conv.bias, padding=1)
        return torch.fake_quantize_per_tensor_affine(y, 0.02, 0, -128, 127)


def test_pytorchs_export_of_a_fake_quantized_module_imports(tmp_path):
    torch.manual_seed(1)
    module = FakeQuantized().eval()
    x = torch.randn(1, 2, 6, 6)
    graph, weights = _imported(tmp_path, _float_model(module, x))
    conv = graph.node("conv")  # named after the weight 'conv.weight' that QuantizeLinear reads
    assert conv.quant == LayerQuant("int", 8, 8)
    assert graph.inputs[0].quant == LayerQuant("int", 8, None)
    assert float(weights[range_key(conv.name)]) == pytest.approx(0.02 * 127)
    assert float(weights[range_key(graph.inputs[0].name)]) == pytest.approx(0.05 * 127)
    with torch.no_grad():
        want = module(x).numpy()
    got = run_onnx(to_onnx(graph, weights), x.numpy())
    assert np.max(np.abs(got - want)) <= 0.02 + 1e-6  # within one step of the output's grid
    assert np.mean(np.isclose(got, want, atol=1e-6)) > 0.95


# ------------------------------------------------------------------ bad QDQ, built by hand

def _qdq_model(act_zero=0, act_scale=0.1, weight_scale=(0.01, 0.02), axis=0, words=TensorProto.INT8,
               metadata: str | None = None, float_weight: bool = False, output_qdq: bool = True) -> bytes:
    weight = numpy_helper.from_array(np.arange(2 * 2 * 1 * 1, dtype=np.int8).reshape(2, 2, 1, 1) - 2, "w.q")
    inits = [weight, numpy_helper.from_array(np.asarray(weight_scale, np.float32), "w.s"),
             helper.make_tensor("w.z", TensorProto.INT8, [len(weight_scale)], [0] * len(weight_scale)),
             numpy_helper.from_array(np.float32(act_scale), "a.s"),
             helper.make_tensor("a.z", words, [], [act_zero])]
    nodes = [helper.make_node("DequantizeLinear", ["w.q", "w.s", "w.z"], ["w"], name="w_dq", axis=axis),
             helper.make_node("Conv", ["x", "w.f" if float_weight else "w"], ["c" if output_qdq else "y"],
                              name="conv")]
    if float_weight:
        inits.append(numpy_helper.from_array(np.ones((2, 2, 1, 1), np.float32), "w.f"))
    if output_qdq:
        nodes += [helper.make_node("QuantizeLinear", ["c", "a.s", "a.z"], ["c.q"], name="c_q"),
                  helper.make_node("DequantizeLinear", ["c.q", "a.s", "a.z"], ["y"], name="c_dq")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    if metadata is not None:
        helper.set_model_props(model, {"segc.quant": metadata})
    return model.SerializeToString()


def test_a_hand_built_qdq_conv_imports_with_its_words_and_scale(tmp_path):
    graph, weights = _imported(tmp_path, _qdq_model())
    assert graph.node("conv").quant == LayerQuant("int", 8, 8)
    np.testing.assert_allclose(weights["conv.weight"].reshape(2, 2), [[-0.02, -0.01], [0.0, 0.02]])
    assert float(weights[range_key("conv")]) == pytest.approx(12.7)


def test_a_layer_quantized_on_one_side_only(tmp_path):
    graph, weights = _imported(tmp_path, _qdq_model(output_qdq=False))
    assert graph.node("conv").quant is None  # float output: the layer stays float, on the dequantized weights
    np.testing.assert_allclose(weights["conv.weight"].reshape(2, 2), [[-0.02, -0.01], [0.0, 0.02]])
    graph, _ = _imported(tmp_path, _qdq_model(float_weight=True))
    assert graph.node("conv").quant == LayerQuant("int", 8, 16)  # float weights: the widest words


@pytest.mark.parametrize(("kwargs", "node", "message"), [
    ({"act_zero": 3}, "c_q", "zero point \\[3\\] is not 0"),
    ({"act_scale": 0.0}, "c_q", "scale \\[0.0\\] must be finite and above zero"),
    ({"act_scale": float("nan")}, "c_q", "must be finite and above zero"),
    ({"weight_scale": (0.01, 0.02), "axis": 1}, "w_dq", "per-axis scales on axis 1 of the weight of Conv 'conv'"),
    ({"words": TensorProto.UINT8}, "c_q", "uint8 words are not supported"),
])
def test_bad_qdq_is_an_error_naming_the_node(tmp_path, kwargs, node, message):
    with pytest.raises(SegError, match=f"node '{node}' .*{message}"):
        _imported(tmp_path, _qdq_model(**kwargs))


def test_bad_segc_metadata_is_an_error(tmp_path):
    with pytest.raises(SegError, match=r"metadata 'segc\.quant' is not segc's formats"):
        _imported(tmp_path, _qdq_model(metadata='{"formats": {"conv": {"scheme": "int", "a_bits": 40}}, '
                                                '"ranges": {}}'))
    with pytest.raises(SegError, match="names layers the model does not have: ghost"):
        _imported(tmp_path, _qdq_model(metadata='{"formats": {}, "ranges": {"ghost": 1.0}}'))
