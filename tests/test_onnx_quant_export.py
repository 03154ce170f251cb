"""ONNX export of quantized networks: QuantizeLinear/DequantizeLinear that
onnxruntime runs and that matches a float simulation of the numerics
contract written here (torch module on dequantized weights, every quantized
layer's output quantized and dequantized), values worked out by hand, the
word types and opsets, and errors naming the layer."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402
from qdq_nets import NETWORK, qnet, run_onnx  # noqa: E402

import segc  # noqa: E402
from segc.api import loads, to_onnx, weight_arrays  # noqa: E402
from segc.backends.quant import dequantize, quantize, range_key  # noqa: E402
from segc.backends.torch.module import submodule  # noqa: E402
from segc.cli import main  # noqa: E402
from segc.ir import SegError  # noqa: E402
from segc.ir.quant import apply_quantize  # noqa: E402


def _model(rule: str, ranges: dict | None = None, seed: int = 3):
    graph = qnet(rule)
    weights = weight_arrays(graph, seed=seed)
    ranges = ranges or {n.name: 2.0 + i / 7 for i, n in enumerate(graph.nodes())
                        if n.quant is not None and n.op != "output"}  # outputs pass their operand's on
    weights.update({range_key(k): np.float32(v) for k, v in ranges.items()})
    return graph, weights, onnx.load_from_string(to_onnx(graph, weights, seed))


def _fixed_scale(value_range: float, bits: int) -> float:
    """2^−f for the most f with round(r·2^f) ≤ q_max (written out here)."""
    frac = 30
    while round(value_range * 2.0 ** frac) > 2 ** (bits - 1) - 1:
        frac -= 1
    return 2.0 ** -frac


def _simulated(graph, weights, x: np.ndarray) -> np.ndarray:
    """The numerics contract in float: dequantized weights, each quantized
    layer's output (and the input) through quantize → dequantize."""
    params = {k: torch.as_tensor(np.array(v)) for k, v in weights.items() if not k.endswith(".act_range")}
    scales = {}
    for node in graph.nodes():
        q = node.quant
        if q is None or node.op == "output":
            continue
        r = float(weights[range_key(node.name)])
        scales[node.name] = (r / (2 ** (q.a_bits - 1) - 1) if q.scheme == "int" else _fixed_scale(r, q.a_bits),
                             q.a_bits)
        if q.w_bits:
            w = np.asarray(weights[f"{node.name}.weight"], dtype=np.float64)
            axis = 1 if node.op == "deconv" else 0
            if q.scheme == "int":
                other = tuple(i for i in range(w.ndim) if i != axis)
                s = np.float32(np.abs(w).max(axis=other) / (2 ** (q.w_bits - 1) - 1))
            else:
                s, axis = _fixed_scale(float(np.abs(w).max()), q.w_bits), None
            params[f"{node.name}.weight"] = torch.as_tensor(dequantize(quantize(w, s, q.w_bits, axis), s, axis),
                                                            dtype=torch.float32)
    module = segc.to_torch(apply_quantize(graph.copy(), []), params)  # the float network, quantized by hooks

    def fake_quant(value, layer):
        s, bits = scales[layer]
        return torch.as_tensor(dequantize(quantize(value.numpy(), np.float32(s), bits), np.float32(s)),
                               dtype=torch.float32)

    for name in scales:
        if graph.node(name).op != "input":
            submodule(module, name).register_forward_hook(lambda m, a, out, name=name: fake_quant(out, name))
    with torch.no_grad():
        return module(fake_quant(torch.as_tensor(x), "x")).numpy()


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return run_onnx(model.SerializeToString(), x)


@pytest.mark.parametrize("rule", ["w=8, a=8, scheme=int", "w=4, a=6, scheme=int", "w=12, a=16, scheme=int",
                                  "w=8, a=8, scheme=fixed", "w=5, a=10, scheme=fixed"])
def test_onnxruntime_runs_the_quantized_model_as_the_float_simulation(rule):
    graph, weights, model = _model(rule)
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32) * 1.5
    got, want = _run(model, x), _simulated(graph, weights, x)
    with torch.no_grad():
        fake_quantized = segc.to_torch(graph, weights)(torch.as_tensor(x)).numpy()  # the torch backend
    lsb = _lsb(graph, weights)
    for other in (want, fake_quantized):
        assert np.max(np.abs(got - other)) <= lsb + 1e-6  # float sums in another order: at most a rounding step
        assert np.mean(np.isclose(got, other, rtol=0, atol=1e-6)) >= 0.9
    assert len(np.unique(got)) > 3  # not saturated to a constant


def _lsb(graph, weights) -> float:
    q = graph.node("y.linear").quant
    r = float(weights[range_key("y.linear")])
    return r / (2 ** (q.a_bits - 1) - 1) if q.scheme == "int" else _fixed_scale(r, q.a_bits)


def _nodes(model, op):
    return [n for n in model.graph.node if n.op_type == op]


def _initializer(model, name) -> np.ndarray:
    return numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == name))


def test_weights_are_words_with_per_channel_scales_on_the_output_channel_axis():
    _, weights, model = _model("w=8, a=8, scheme=int")
    words = _initializer(model, "a.conv.weight")
    assert words.dtype == np.int8 and np.abs(words).max(axis=(1, 2, 3)).tolist() == [127] * 8
    axes = {n.name: next(a.i for a in n.attribute if a.name == "axis") for n in _nodes(model, "DequantizeLinear")
            if n.name.endswith("/weight_dequantize")}
    assert axes == {"a.conv/weight_dequantize": 0, "b.deconv/weight_dequantize": 1,
                    "y.linear/weight_dequantize": 0}
    scales = _initializer(model, "b.deconv/weight_scale")
    w = weights["b.deconv.weight"]  # [in, out, kh, kw]: one scale per output channel, axis 1
    np.testing.assert_allclose(scales, np.abs(w).max(axis=(0, 2, 3)) / 127, rtol=1e-6)
    assert model.opset_import[0].version == 17
    assert _initializer(model, "a.bn.weight").dtype == np.float32  # batch norm stays float


def test_widths_below_8_clip_first_and_above_8_use_int16_at_opset_21():
    _, _, narrow = _model("w=4, a=6, scheme=int", {})
    clip = next(n for n in narrow.graph.node if n.name == "a.conv/clip")
    r = 2.0 + 1 / 7  # a.conv is the second layer
    low, high = (float(_initializer(narrow, v)) for v in clip.input[1:])
    assert low == pytest.approx(-32 * r / 31) and high == pytest.approx(r)  # 6 bits: [-32, 31] steps of r/31
    assert _initializer(narrow, "a.conv.weight").dtype == np.int8
    assert np.abs(_initializer(narrow, "a.conv.weight")).max() == 7
    _, _, wide = _model("w=12, a=16, scheme=int")
    assert wide.opset_import[0].version == 21
    assert _initializer(wide, "a.conv.weight").dtype == np.int16
    assert not [n for n in wide.graph.node if n.op_type == "Clip"]  # 16 bits: the int16 words' own range


def test_a_one_layer_network_computes_the_values_worked_out_by_hand():
    graph = loads("network one {\n input x: [1, 1, 3]\n output y = x -> conv(1, k=1, bias=false)\n}\n"
                  "quantize one {\n *: w=8, a=4, scheme=int\n}\n", path="one.seg")
    weights = {"y.weight": np.full((1, 1, 1, 1), 0.5, np.float32),
               range_key("x"): np.float32(7.0), range_key("y"): np.float32(1.4)}
    model = onnx.load_from_string(to_onnx(graph, weights))
    x = np.array([0.4, 2.6, -9.0], np.float32).reshape(1, 1, 1, 3)
    # input: s = 7/7 = 1 -> [0, 3, -8] (0.4 -> 0, 2.6 -> 3, -9 saturates at -8); times 0.5 -> [0, 1.5, -4]
    # output: s = 1.4/7 = 0.2 -> [0, 7.5 -> 8 -> 7 (4-bit clamp), -20 -> -8] -> [0, 1.4, -1.6]
    got = _run(model, x).reshape(-1)
    np.testing.assert_allclose(got, [0.0, 1.4, -1.6], rtol=1e-6)


def test_missing_ranges_are_calibrated_on_the_seeded_standard_normal_input():
    graph = loads("network one {\n input x: [1, 2, 2]\n output y = x -> relu\n}\n"
                  "quantize one {\n *: a=8, scheme=int\n}\n", path="one.seg")
    model = onnx.load_from_string(to_onnx(graph, {}, seed=5))
    x = np.random.default_rng(5).standard_normal((1, 1, 2, 2))
    assert float(_initializer(model, "x/scale")) == pytest.approx(np.abs(x).max() / 127, rel=1e-6)
    assert float(_initializer(model, "y/scale")) == pytest.approx(max(x.max(), 0) / 127, rel=1e-6)


def test_unquantized_networks_have_no_quantization_nodes():
    graph = qnet("scheme=float")
    model = onnx.load_from_string(to_onnx(graph))
    assert not _nodes(model, "QuantizeLinear") and not _nodes(model, "DequantizeLinear")
    assert model.opset_import[0].version == 17 and not model.metadata_props


def test_a_range_of_zero_or_nan_is_an_error_naming_the_layer():
    for bad in (0.0, float("nan")):
        others = dict.fromkeys(("x", "a.conv", "a.bn", "b.deconv", "b.maxpool", "y.avgpool", "y.flatten",
                                "y.linear"), 1.0)
        with pytest.raises(SegError, match=r"layer 'a\.relu'"):
            _model("w=8, a=8, scheme=int", {**others, "a.relu": bad})


def test_the_command_line_exports_the_int8_example_with_quantization_nodes(tmp_path, capsys):
    source = tmp_path / "q.seg"
    source.write_text(NETWORK.format(rule="w=8, a=8, scheme=int", other="w=8"))
    out = tmp_path / "q.onnx"
    assert main(["export", str(source), "--to", "onnx", "-o", str(out)]) == 0
    model = onnx.load(str(out))
    assert len(_nodes(model, "QuantizeLinear")) == 9  # x and the 8 layers; the output layer passes its value on
    _run(model, np.zeros((1, 3, 8, 8), np.float32))
