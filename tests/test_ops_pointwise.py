"""The ops of ``ir/ops_pointwise.py`` (activations, softmax, mul, sub, div,
mean): shape rules and their errors, the torch module against formulas
written here in numpy, the ONNX export in onnxruntime against torch, the
[N, F] outputs of classifiers, and the cost rules."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from conftest import EXAMPLES  # noqa: E402
from run_op import out_shape  # noqa: E402

import segc  # noqa: E402
from segc.ir import Shape, ShapeError  # noqa: E402
from segc.ir.attrs import AttrError  # noqa: E402

# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize(("op", "inputs", "expected"), [
    ("mul", [Shape(8, 4, 5), Shape(8, 4, 5)], Shape(8, 4, 5)),
    ("mul", [Shape(8, 4, 5), Shape(8, 1, 1)], Shape(8, 4, 5)),
    ("mul", [Shape(8, 1, 1), Shape(8, 4, 5)], Shape(8, 4, 5)),
    ("sub", [Shape(8, 4, 5), Shape(8, 4, 5)], Shape(8, 4, 5)),
    ("mean", [Shape(8, 4, 5)], Shape(8, 1, 1)),
    ("softmax", [Shape(8, 4, 5)], Shape(8, 4, 5)),
    ("hardswish", [Shape(8, 4, 5)], Shape(8, 4, 5)),
])
def test_shapes(op, inputs, expected):
    assert out_shape(op, inputs) == expected


@pytest.mark.parametrize(("op", "inputs", "message"), [
    ("mul", [Shape(8, 4, 5), Shape(4, 1, 1)], "mul inputs must have the same shape, or one be [C, 1, 1]"),
    ("mul", [Shape(8, 4, 5), Shape(8, 4, 1)], "mul inputs must have the same shape"),
    ("sub", [Shape(8, 4, 5), Shape(8, 1, 1)], "sub inputs must have the same shape"),
])
def test_shape_errors(op, inputs, message):
    with pytest.raises(ShapeError, match=message.replace("[", r"\[")):
        out_shape(op, inputs)


@pytest.mark.parametrize(("op", "attrs", "message"), [
    ("clip", {}, "clip needs 'min', 'max' or both"),
    ("clip", {"min": 2, "max": 1}, r"clip min \(2\) must not exceed max \(1\)"),
    ("div", {"by": 0}, "div by zero"),
    ("div", {}, "div needs 'by'"),
    ("leakyrelu", {"slope": "a"}, "'slope' must be a number"),
])
def test_attribute_errors(op, attrs, message):
    with pytest.raises(AttrError, match=message):
        out_shape(op, [Shape(3, 4, 4)], **attrs)


# ---------------------------------------------------------------- numerics

ACTIVATIONS = """network acts {
    input image: [4, 5, 6]
    output hs = image -> hardsigmoid
    output hw = image -> hardswish
    output si = image -> silu
    output lr = image -> leakyrelu(0.2)
    output lr_default = image -> leakyrelu
    output th = image -> tanh
    output cl = image -> clip(-1.5, 2)
    output lo = image -> clip(min=0.5)
    output hi = image -> clip(max=-0.25)
    output dv = image -> div(-4)
    output sm = image -> softmax
    output mn = image -> mean
    output flat = image -> mean(keepdims=false)
}"""


def _relu6(x):
    return np.minimum(np.maximum(x, 0), 6)


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


EXPECTED = {  # PyTorch's definitions, written out
    "hs": lambda x: _relu6(x + 3) / 6,
    "hw": lambda x: x * _relu6(x + 3) / 6,
    "si": lambda x: x / (1 + np.exp(-x)),
    "lr": lambda x: np.where(x >= 0, x, 0.2 * x),
    "lr_default": lambda x: np.where(x >= 0, x, 0.01 * x),
    "th": np.tanh,
    "cl": lambda x: np.clip(x, -1.5, 2),
    "lo": lambda x: np.maximum(x, 0.5),
    "hi": lambda x: np.minimum(x, -0.25),
    "dv": lambda x: x / -4,
    "sm": _softmax,
    "mn": lambda x: x.mean(axis=(2, 3), keepdims=True),
    "flat": lambda x: x.mean(axis=(2, 3)),
}


def _outputs(graph, x: np.ndarray) -> dict[str, np.ndarray]:
    with torch.no_grad():
        result = segc.to_torch(graph)(torch.from_numpy(x))
    result = result if isinstance(result, tuple) else (result,)
    return {n.output_name: r.numpy() for n, r in zip(graph.outputs, result)}


def _onnx_outputs(graph, x: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(segc.to_onnx(graph), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {graph.inputs[0].name: x})))


def test_torch_and_onnx_match_the_definitions():
    graph = segc.loads(ACTIVATIONS)
    x = np.random.default_rng(0).normal(scale=4.0, size=(2, 4, 5, 6)).astype(np.float32)
    got, exported = _outputs(graph, x), _onnx_outputs(graph, x)
    for name, formula in EXPECTED.items():
        expected = formula(x.astype(np.float64))
        assert got[name].shape == expected.shape, name
        np.testing.assert_allclose(got[name], expected, rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(exported[name], expected, rtol=1e-5, atol=1e-6, err_msg=name)


SE_BLOCK = """network se {
    input image: [6, 5, 7]
    a = image -> conv(8, k=3)
    scale = a -> mean -> conv(8, k=1, bias=true) -> hardsigmoid
    scaled = mul(a, scale)
    output y = scaled
    output rev = mul(scale, a)
    output d = sub(scaled, a)
}"""


def test_squeeze_and_excitation_broadcasts():
    graph = segc.loads(SE_BLOCK)
    x = np.random.default_rng(1).normal(size=(2, 6, 5, 7)).astype(np.float32)
    module = segc.to_torch(graph)
    with torch.no_grad():
        a = module.a(torch.from_numpy(x)).numpy()
        scale = module.scale["conv"](torch.from_numpy(a.mean(axis=(2, 3), keepdims=True))).numpy()
    expected = a * (_relu6(scale + 3) / 6)
    got, exported = _outputs(graph, x), _onnx_outputs(graph, x)
    for out in (got, exported):
        np.testing.assert_allclose(out["y"], expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["rev"], expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["d"], expected - a, rtol=1e-5, atol=1e-6)


CLASSIFIER = """network classifier {
    input image: [3, 8, 8]
    f = image -> conv(6, k=3) -> hardswish
    fc = f -> avgpool(global=true) -> flatten -> linear(5)
    output logits = fc
    output probabilities = fc -> softmax
    output pooled = f -> avgpool(global=true)
    output features = f -> avgpool(global=true) -> flatten
}"""


def test_classifier_outputs_are_matrices_in_torch_and_onnx():
    graph = segc.loads(CLASSIFIER)
    x = np.random.default_rng(2).normal(size=(3, 3, 8, 8)).astype(np.float32)
    got, exported = _outputs(graph, x), _onnx_outputs(graph, x)
    shapes = {"logits": (3, 5), "probabilities": (3, 5), "pooled": (3, 6, 1, 1), "features": (3, 6)}
    for name, shape in shapes.items():
        assert got[name].shape == shape and exported[name].shape == shape, name
        np.testing.assert_allclose(exported[name], got[name], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["probabilities"], _softmax(got["logits"]), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- cost


def test_activations_fuse_into_the_convolution_and_the_rest_stream():
    graph = segc.loads("""import "targets/ultra96.seg"
network n on ultra96_codenet {
    input image: [3, 16, 16]
    a = image -> conv(8, k=3) -> hardswish -> leakyrelu(0.1) -> clip(-1, 1) -> div(2) -> tanh -> silu
    s = a -> mean -> conv(8, k=1) -> hardsigmoid
    output y = mul(a, s) -> softmax
}""", str(EXAMPLES / "cost_case.seg"))
    costed = graph.run("tile,cost")
    cost = {n.name: n.annotations["cost"] for n in costed.nodes()}
    for name in ("a.hardswish", "a.leakyrelu", "a.clip", "a.div", "a.tanh", "a.silu", "s.hardsigmoid"):
        assert cost[name]["rule"] == "fused", name
    elements = 8 * 16 * 16
    assert cost["y.mul"]["rule"] == "stream" and cost["y.mul"]["stream_work"] == 2 * elements
    assert cost["y.mul"]["dram_in"] == elements + 8
    assert cost["y.softmax"]["stream_work"] == 3 * elements
    assert cost["s.mean"]["stream_work"] == 8 * 16 * 16
