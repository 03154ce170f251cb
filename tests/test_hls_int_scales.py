"""An int-scheme network in the HLS backend has torch's and ONNX's activation
scales, s = r / q_max from each layer's calibrated range: its C simulation
equals the integer reference word for word and is within one output LSB
(s_y) of torch's fake-quantized network and of onnxruntime running the QDQ
export, on a network of int-scheme conv, bn, relu, relu6, add, max, average
and global pooling, nearest and bilinear upsampling, concat, slice and
linear layers.  The ranges are the float network's largest magnitudes on
the test input, given to all three among the weights.  Skipped without g++."""

from __future__ import annotations

import json
import shutil
from typing import NamedTuple

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from hls_weights import randomised  # noqa: E402
from test_hls_quant import OPS, _graph  # noqa: E402

import segc  # noqa: E402
from segc.api import to_onnx  # noqa: E402
from segc.backends.hls.intref import integer_reference, tensor_values  # noqa: E402
from segc.backends.hls.reference import build_reference, layer_outputs  # noqa: E402
from segc.backends.hls.sim import compile_project, run_testbench, write_project  # noqa: E402
from segc.hls import HlsOptions, build_project  # noqa: E402
from segc.quantization import float_graph  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")

QUANTIZE = "*: w=8, a=8, scheme=int"


def _ranges(graph: segc.Graph, weights: dict, x: np.ndarray) -> dict:
    """``<layer>.act_range``: the float network's max |output| of each layer on ``x``."""
    plain = float_graph(graph)
    outputs = layer_outputs(plain, build_reference(plain, weights, 0), {n.name: x for n in graph.inputs})
    return {f"{node.name}.act_range": torch.tensor(float(np.abs(outputs[node.name]).max()))
            for node in graph.nodes() if node.op != "output"}


def _onnx_outputs(graph: segc.Graph, weights: dict, x: np.ndarray) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(to_onnx(graph, weights), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


class Case(NamedTuple):
    graph: segc.Graph
    config: dict
    simulated: list  # the C simulation's outputs
    traced: dict  # its layers' outputs
    words: dict  # the integer reference's words of every layer
    from_torch: list
    from_onnx: list
    lsbs: list  # s_y = r / q_max of each output, from the ranges given


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Case:
    folder = tmp_path_factory.mktemp("int_scales")
    graph = _graph(QUANTIZE, OPS)
    x = 4 * np.random.default_rng(2).standard_normal((1, *graph.inputs[0].shape)).astype(np.float32)
    np.save(folder / "x.npy", x)
    weights = randomised(graph, 5)
    weights.update(_ranges(graph, weights, x))
    files, _ = build_project(graph, HlsOptions(weights=weights, input=str(folder / "x.npy")))
    config = json.loads(files["config.json"])
    write_project(files, folder / "csim")
    compile_project(folder / "csim", "-O1")
    simulated, _, _, traced = run_testbench(folder / "csim", config, trace=True, threads=1)
    words = integer_reference(graph, config, np.frombuffer(files["params.bin"], dtype="<i2"), {"image": x[0]},
                              every_layer=True)
    with torch.no_grad():
        from_torch = [t.numpy() for t in segc.to_torch(graph, weights)(torch.as_tensor(x))]
    lsbs = [float(weights[f"{node.inputs[0]}.act_range"]) / 127 for node in graph.outputs]
    return Case(graph, config, simulated, traced, words, from_torch, _onnx_outputs(graph, weights, x), lsbs)


def test_int_layers_have_the_scale_r_over_q_max(case):
    for entry in case.config["layers"]:
        if "view_of" not in entry and entry["op"] != "output":
            assert entry["scale"] == pytest.approx(entry["max_abs"] / 127, rel=1e-5), entry["name"]


def test_c_simulation_equals_the_integer_reference(case):
    layers = {e["name"]: e for e in case.config["layers"]}
    for name, values in case.traced.items():
        assert np.array_equal(values, tensor_values(case.words[name], layers[name]).reshape(values.shape)), name
    for node, values, spec in zip(case.graph.outputs, case.simulated, case.config["outputs"]):
        assert np.array_equal(values, tensor_values(case.words[node.name], spec).reshape(values.shape)), node.name


@pytest.mark.parametrize("other", ["torch", "onnx"])
def test_c_simulation_is_within_one_output_lsb_of_torch_and_onnx(case, other):
    expected = case.from_torch if other == "torch" else case.from_onnx
    for node, values, lsb, want in zip(case.graph.outputs, case.simulated, case.lsbs, expected):
        error = np.abs(values.reshape(-1).astype(np.float64) - want.reshape(-1))
        assert error.max() <= lsb * (1 + 1e-4), (node.name, error.max() / lsb)


def test_a_fixed_point_conv_reads_an_int_scheme_input_at_its_scale(tmp_path):
    """A 16-bit fixed-point conv on an 8-bit int-scheme input: its weights take
    the input's scale, so it computes on q·s_x, not on q·2^−f (a factor
    s_x·2^f of up to 2 away); within two of its LSBs of torch, which convolves
    the dequantized input."""
    body = "    c = image -> conv(4, k=3, bias=true)\n    output y = c\n"
    graph = _graph(f"{QUANTIZE}\n    c: w=16, a=16, scheme=fixed", body, "[3, 8, 8]")
    x = 4 * np.random.default_rng(4).standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    weights = randomised(graph, 3)
    weights.update(_ranges(graph, weights, x))
    files, _ = build_project(graph, HlsOptions(weights=weights, input=str(tmp_path / "x.npy")))
    config = json.loads(files["config.json"])
    layers = {e["name"]: e for e in config["layers"]}
    assert layers["image"]["scale"] == pytest.approx(float(weights["image.act_range"]) / 127)
    assert "scale" not in layers["c"]
    write_project(files, tmp_path / "csim")
    compile_project(tmp_path / "csim", "-O1")
    simulated = run_testbench(tmp_path / "csim", config, threads=1)[0][0]
    with torch.no_grad():
        from_torch = segc.to_torch(graph, weights)(torch.as_tensor(x)).numpy()
    lsb = 2.0 ** -layers["c"]["frac"]
    assert np.abs(simulated.reshape(-1) - from_torch.reshape(-1)).max() <= 2 * lsb


def test_tensors_of_an_op_without_scaled_kernels_keep_power_of_two_scales():
    """A sigmoid computes in fixed point: the int tensors it reads and writes
    get 2^-f; the input and a conv that no such op touches get r/127."""
    body = "    a = image -> conv(4, k=3)\n    output y = a -> sigmoid\n    output z = image -> conv(4, k=1)\n"
    graph = _graph(QUANTIZE, body, "[3, 6, 6]")
    files, _ = build_project(graph, HlsOptions(weights=randomised(graph, 1)))
    layers = {entry["name"]: entry for entry in json.loads(files["config.json"])["layers"]}
    for name in ("a", "y"):
        assert layers[name].get("scale", 2.0 ** -layers[name]["frac"]) == 2.0 ** -layers[name]["frac"], name
    for name in ("image", "z"):
        assert layers[name]["scale"] == pytest.approx(layers[name]["max_abs"] / 127, rel=1e-5), name
        assert layers[name]["scale"] != 2.0 ** -layers[name]["frac"], name
