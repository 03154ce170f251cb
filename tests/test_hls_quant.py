"""Per-layer widths and the integer scheme in the HLS backend: the C
simulation equals the numpy integer reference (backends/hls/intref.py)
word for word, for a network holding every op the reference covers, at
8 and 4 bits, int and fixed schemes, with the C simulation's convolutions
and with the PE-array loops (-DSEGC_PE_LOOPS); the integer arithmetic on
hand-computed cases; located errors.  C simulation skipped without g++."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import EXAMPLES  # noqa: E402
from hls_weights import randomised  # noqa: E402

import segc  # noqa: E402
from segc.backends.hls.intmac import multiplier  # noqa: E402
from segc.backends.hls.intref import integer_reference, requantize, shift_round, tensor_values  # noqa: E402
from segc.backends.hls.reference import build_reference  # noqa: E402
from segc.backends.hls.sim import compile_project, run_testbench, write_project  # noqa: E402
from segc.hls import HlsOptions, build_project, simulate  # noqa: E402
from segc.ir import SegError  # noqa: E402

GXX = shutil.which("g++")
needs_gxx = pytest.mark.skipif(GXX is None, reason="g++ is not installed")

OPS = """
    a = image -> conv(8, k=3, bias=true) -> bn -> relu
    b = a -> conv(8, k=3, stride=2, groups=2) -> relu6
    c = a -> conv(8, k=3, dilation=2) -> bn
    d = add(a, c) -> maxpool(k=2)
    e = d -> upsample(2, mode="nearest")
    f = concat(e, a) -> slice(0, 12) -> conv(8, k=1, bias=true)
    g = f -> avgpool(k=3, stride=2, padding=1)
    h = add(g, b) -> upsample(2, mode="bilinear")
    output seg = h
    output logits = h -> avgpool(global=true) -> flatten -> linear(5, bias=true)
"""


def _graph(quantize: str, body: str = OPS, shape: str = "[3, 12, 12]") -> segc.Graph:
    """A network on the Ultra96 target with a quantize section (none if empty)."""
    text = f'import "targets/ultra96.seg"\nnetwork n on ultra96_codenet {{\n    input image: {shape}\n{body}}}\n'
    if quantize:
        text += f"quantize n {{\n    {quantize}\n}}\n"
    return segc.loads(text, str(EXAMPLES / "hls_quant_case.seg"))


def _run(tmp_path, graph, extra=(), weights=None):
    """(C simulation's outputs, its layer trace, the integer reference's words, config)."""
    x = 4 * np.random.default_rng(2).standard_normal((1, *graph.inputs[0].shape)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    weights = randomised(graph, 5) if weights is None else weights
    files, _ = build_project(graph, HlsOptions(weights=weights, input=str(tmp_path / "x.npy")))
    config = json.loads(files["config.json"])
    folder = tmp_path / ("pe" if extra else "csim")
    write_project(files, folder)
    compile_project(folder, "-O1", extra=extra)
    outputs, _, _, layers = run_testbench(folder, config, trace=True, threads=1)
    words = integer_reference(graph, config, np.frombuffer(files["params.bin"], dtype="<i2"), {"image": x[0]},
                                 every_layer=True)
    return outputs, layers, words, config


QUANTIZE = ["*: w=8, a=8, scheme=int", "*: w=4, a=8, scheme=int", "*: w=4, a=4, scheme=int",
            "*: w=8, a=8, scheme=fixed", "*: w=4, a=4, scheme=fixed",
            "*: w=8, a=8, scheme=int\n    f.*: w=4, a=16, scheme=fixed\n    b.*: a=4", ""]


@needs_gxx
@pytest.mark.parametrize("quantize", QUANTIZE)
@pytest.mark.parametrize("extra", [(), ("-DSEGC_PE_LOOPS",)], ids=["csim", "pe_loops"])
def test_c_simulation_equals_the_integer_reference(tmp_path, quantize, extra):
    graph = _graph(quantize)
    outputs, layers, words, config = _run(tmp_path, graph, extra)
    entries = {entry["name"]: entry for entry in config["layers"]}
    for name, traced in layers.items():
        expected = tensor_values(words[name], entries[name]).reshape(traced.shape)
        assert np.array_equal(traced, expected), name
    for node, simulated, spec in zip(graph.outputs, outputs, config["outputs"]):
        assert np.array_equal(simulated, tensor_values(words[node.name], spec).reshape(simulated.shape))
    bits = {e["name"]: e["bits"] for e in config["layers"] if "view_of" not in e}
    if quantize.startswith("*: w=4, a=4"):
        assert set(bits.values()) == {4}  # "*" sets the input's width too
        assert all(w.min() >= -8 and w.max() <= 7 for name, w in words.items() if name in bits)


def test_an_unquantized_network_on_ultra96_gets_8_bit_words():
    """The target's 8-bit word in fixed point: activations and weights."""
    files, _ = build_project(_graph(""), HlsOptions())
    config = json.loads(files["config.json"])
    assert {entry["bits"] for entry in config["layers"]} == {8}
    assert config["layers"][1]["params"]["weight"]["bits"] == 8
    params = np.frombuffer(files["params.bin"], dtype="<i2")
    weight = config["layers"][1]["params"]["weight"]
    assert np.abs(params[weight["offset"]:weight["offset"] + weight["words"]]).max() <= 128


def test_multiplier_by_hand():
    assert multiplier(0.75, 4) == (12, 4)  # 12 / 16
    assert multiplier(1.0, 4) == (8, 3)
    assert multiplier(0.1, 8) == (205, 11)  # 0.1 * 2048 = 204.8
    assert multiplier(0.999, 4) == (8, 3)  # 15.98 rounds to 16: one bit fewer
    assert multiplier(0.0, 8) == (0, 0)


def test_shift_round_and_saturation_by_hand():
    acc = np.array([5, 6, 7, -5, -6, -7, 3])
    assert shift_round(acc, 1).tolist() == [3, 3, 4, -2, -3, -3, 2]  # half up: 2.5 -> 3, -2.5 -> -2
    assert shift_round(acc, -2).tolist() == [20, 24, 28, -20, -24, -28, 12]
    assert requantize(np.array([300, -300, 127, -128, 8, -9]), 0, 8).tolist() == [127, -128, 127, -128, 8, -9]
    assert requantize(np.array([8, -9, 7]), 0, 4).tolist() == [7, -8, 7]
    assert shift_round(np.array([100, 100]), np.array([2, 3])).tolist() == [25, 13]


def test_int_requantization_by_hand():
    """A 1x1 conv, one channel: W = [0.5, -0.25], x = (1.0, 0.75) at 2 fraction
    bits, output at 4: s_w = 0.5/127, q_w = [127, -64 (-63.5 to even)],
    q_x = [4, 3], sum 508 - 192 = 316; M = s_w · 2^(4-2) = 2/127, so
    y = round(316 · 2 / 127) = round(4.976) = 5 words (0.3125)."""
    from segc.backends.hls.intmac import requant_table
    from segc.backends.quant import quantize, weight_scales

    weight = np.array([[0.5, -0.25]])
    scales = weight_scales(weight, 8, 0)
    words = quantize(weight, scales, 8, axis=0)
    assert words.tolist() == [[127, -64]]
    graph = _graph("", "    output y = image -> conv(1, k=1)\n", "[2, 1, 1]")
    table = requant_table(graph.node("y"), words, scales, None, 2, 4, 8)
    acc = int(words[0] @ np.array([4, 3]))
    assert acc == 316
    assert shift_round(np.array([acc * int(table.m[0])]), int(table.shift[0])).tolist() == [5]


def test_int_scheme_on_an_op_without_integer_kernels_is_an_error_naming_the_layer():
    from segc.backends.hls.intmac import int_weights

    graph = _graph("*: w=8, a=8, scheme=int", "    output y = image -> bn\n")
    with pytest.raises(SegError, match=r"layer 'y'.*scheme int for conv, dconv, deconv, linear.*not bn"):
        int_weights(None, graph.node("y"), np.ones(3), None, 0)


def test_nan_weights_of_an_int_layer_are_an_error_naming_the_layer():
    graph = _graph("*: w=8, a=8, scheme=int", "    output y = image -> conv(4, k=1)\n")
    state = build_reference(graph, None, 0).state_dict()
    state["y.weight"][0, 0] = float("nan")
    with pytest.raises(SegError, match=r"layer 'y'.*not finite"):
        build_project(graph, HlsOptions(weights=state))


def test_calibrated_ranges_among_the_weights_set_the_formats():
    """``y.act_range`` = 3.0 at 8 bits, headroom 1: the most f with
    round(3·2^(f+1)) <= 127 is f = 4 (96), not 5 (192)."""
    graph = _graph("*: w=8, a=8, scheme=int", "    output y = image -> conv(4, k=1)\n")
    state = dict(build_reference(graph, None, 0).state_dict())
    state["y.act_range"] = torch.tensor(3.0)
    config = json.loads(build_project(graph, HlsOptions(weights=state))[0]["config.json"])
    assert {e["name"]: e["frac"] for e in config["layers"]}["y"] == 4


@pytest.mark.parametrize("value", [float("nan"), -1.0, float("inf")])
def test_a_bad_calibrated_range_is_an_error_naming_the_layer(value):
    graph = _graph("*: w=8, a=8, scheme=int", "    output y = image -> conv(4, k=1)\n")
    state = dict(build_reference(graph, None, 0).state_dict())
    state["y.act_range"] = torch.tensor(value)
    with pytest.raises(SegError, match=r"layer 'y': the calibrated range 'y.act_range' .* finite number >= 0"):
        build_project(graph, HlsOptions(weights=state))


@needs_gxx
def test_hls_sim_reports_the_integer_reference_error():
    result = simulate(_graph("*: w=8, a=8, scheme=int"), HlsOptions(), opt="-O1", threads=1)
    assert result["int_ref"] == "computed"
    assert [o["int_ref_max_abs_error"] for o in result["outputs"]] == [0.0, 0.0]
    assert all(o["bits"] == 8 for o in result["outputs"])
