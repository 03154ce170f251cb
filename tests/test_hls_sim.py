"""C simulation of the HLS backend against torch, for one small network per
op kind (several variants each) and a residual network with dilation and
upsampling: every output within the worst-case error bound derived from the
fixed-point formats (tests/hls_bounds.py).  Skipped without g++."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import EXAMPLES  # noqa: E402
from hls_bounds import error_bounds  # noqa: E402
from hls_weights import deform_weights, randomised  # noqa: E402

import segc  # noqa: E402
from segc.backends.hls.reference import build_reference, parameters  # noqa: E402
from segc.hls import HlsOptions, build_project, simulate  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")

HEADER = 'import "targets/arria10.seg"\nimport "targets/ultra96.seg"\nimport "blocks/resnet.seg"\n'


def _graph(body: str, target: str = "arria10_gx1150", shape: str = "[3, 9, 11]") -> segc.Graph:
    text = f"{HEADER}network n on {target} {{\n    input image: {shape}\n{body}\n}}\n"
    return segc.loads(text, str(EXAMPLES / "hls_case.seg"))


def _check(graph, tmp_path, weights=None, scale: float = 1.0) -> dict:
    """Simulate with a layer trace: every layer within the bound its measured
    input errors give, every output within the bound propagated from the
    input.  The figures by output name."""
    weights = weights if weights is not None else randomised(graph)
    x = np.random.default_rng(3).standard_normal((1, *graph.inputs[0].shape)).astype(np.float32) * scale
    np.save(tmp_path / "x.npy", x)
    result = simulate(graph, HlsOptions(weights=weights, input=str(tmp_path / "x.npy")), opt="-O1", layers=True)
    state = parameters(build_reference(graph, weights, 0))
    measured = {layer["name"]: layer["max_abs_error"] for layer in result["layers"]}
    local = error_bounds(graph, result["config"], state, measured)
    assert result["saturated"] == 0
    assert result["line_buffer_misses"] == 0
    for layer in result["config"]["layers"]:
        if "line_buffer" in layer:
            assert layer["line_buffer"]["rows"] <= layer["line_buffer"]["deform_rows"], layer["name"]
    for name, error in measured.items():
        assert error <= local[name], (name, error, local[name])
    propagated = error_bounds(graph, result["config"], state)
    outputs = {f["name"]: f for f in result["outputs"]}
    for node in graph.outputs:
        assert outputs[node.output_name]["max_abs_error"] <= propagated[node.name], node.name
    return outputs


def test_conv_variants(tmp_path):
    graph = _graph("""
    output strided = image -> conv(5, k=3, stride=2, dilation=2, bias=true)
    output grouped = image -> conv(6, k=[3, 1], groups=3, padding=[2, 0])
    output depthwise = image -> conv(3, k=5, groups=3, dilation=[1, 2], padding="same")
    output wide = image -> conv(40, k=1, stride=[1, 2], padding="valid")""")
    _check(graph, tmp_path)


def test_conv_with_a_kernel_row_unroll(tmp_path):
    _check(_graph("    output y = image -> conv(9, k=3, stride=2) -> conv(4, k=3, dilation=3)", "ultra96_codenet"),
           tmp_path)


def test_deformable_variants(tmp_path):
    graph = _graph("""
    output full = image -> dconv(4, k=3, bias=true)
    output bounded = image -> dconv(4, k=3, bound=1.5, stride=2)
    output rounded = image -> dconv(4, k=3, bound=2, round=true, dilation=2)
    output square = image -> dconv(3, k=3, shape="square", bound=3, groups=3)
    output square_rounded = image -> dconv(6, k=3, shape="square", bound=3, round=true, offset_groups=3)
    output grouped = image -> dconv(6, k=3, groups=3, offset_groups=3)""", shape="[3, 10, 12]")
    _check(graph, tmp_path, deform_weights(graph))


def test_batch_norm(tmp_path):
    _check(_graph("    output y = image -> bn"), tmp_path)


def test_activations(tmp_path):
    graph = _graph("""
    output r = image -> relu
    output r6 = image -> relu6
    output s = image -> sigmoid
    output i = image -> identity""")
    _check(graph, tmp_path, scale=8.0)  # relu6 clips, sigmoid saturates


def test_pooling(tmp_path):
    graph = _graph("""
    output max = image -> maxpool(k=3, stride=2, padding=1, ceil=true)
    output avg = image -> avgpool(k=3, stride=2, padding=1, ceil=true)
    output avg2 = image -> avgpool(k=2)
    output pooled = image -> avgpool(global=true)""")
    _check(graph, tmp_path)


def test_upsampling(tmp_path):
    graph = _graph("""
    small = image -> maxpool(k=2)
    output nearest = image -> upsample(2)
    output nearest_odd = image -> upsample(1.7)
    output bilinear = image -> upsample(2, mode="bilinear")
    output odd = image -> upsample([1.5, 2.5], mode="bilinear")
    output corners = image -> upsample(3, mode="bilinear", align_corners=true)
    output sized = small -> upsample(to=image, mode="bilinear")
    output sized_nearest = small -> upsample(to=image)""")
    _check(graph, tmp_path)


def test_add_concat_linear(tmp_path):
    graph = _graph("""
    a = image -> conv(4, k=1)
    b = image -> conv(4, k=3)
    output sum2 = add(a, b)
    output sum3 = add(a, b, image -> conv(4, k=1, bias=true))
    output joined = concat(a, b, image)
    output logits = concat(a, b) -> avgpool(global=true) -> flatten -> linear(7)
    output flat = image -> flatten -> linear(5, bias=false)""")
    _check(graph, tmp_path)


def test_residual_network_with_dilation_and_upsampling(tmp_path):
    graph = _graph("""
    stem = image -> conv(8, k=3, stride=2) -> bn -> relu
    body = stem -> basic(8, dilation=2) -> basic(16, dilation=2)
    up = body -> upsample(to=image, mode="bilinear")
    output logits = up -> conv(5, k=1, bias=true)""", shape="[3, 24, 24]")
    weights = randomised(graph)
    x = np.random.default_rng(3).standard_normal((1, 3, 24, 24)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = simulate(graph, HlsOptions(weights=weights, input=str(tmp_path / "x.npy")), opt="-O1", layers=True)
    state = parameters(build_reference(graph, weights, 0))
    measured = {layer["name"]: layer["max_abs_error"] for layer in result["layers"]}
    local = error_bounds(graph, result["config"], state, measured)
    assert all(error <= local[name] for name, error in measured.items())
    # Pixels whose two best float logits differ by more than twice the error must agree.
    with torch.no_grad():
        logits = build_reference(graph, weights, 0)(torch.from_numpy(x))[0]
    top2 = torch.topk(logits, 2, dim=0).values
    figures = result["outputs"][0]
    guaranteed = float(((top2[0] - top2[1]) > 2 * figures["max_abs_error"]).double().mean())
    assert figures["argmax_agreement"] >= guaranteed > 0.9


FUSED_CHAINS = """
    a = image -> conv(8, k=3, bias=true) -> bn -> relu6
    output s = a -> conv(4, k=1) -> sigmoid
    output p = a -> conv(6, k=3) -> bn -> relu -> maxpool(k=3, stride=2, padding=1)
    output q = image -> conv(5, k=3) -> relu -> maxpool(k=2, ceil=true)
    output t = a -> conv(4, k=1) -> bn -> identity -> relu
    output tap = a
    output d = image -> dconv(4, k=3, bound=1.5) -> bn -> relu
    output l = image -> avgpool(global=true) -> flatten -> linear(6) -> relu
    r = a -> conv(8, k=3) -> bn
    output u = add(r, a) -> relu
    output w = add(a, r, image -> conv(8, k=1, bias=true)) -> maxpool(k=2)"""


def test_fused_epilogues_within_bounds(tmp_path):
    """Batch norms, activations and max pooling run in the epilogue of the
    convolution before them (a tapped chain, a view inside one, a deformable
    and a linear head), as do residual adds: u's first input arrives through
    r's pipeline, w's third through its own convolution's (its other inputs,
    written before, are read from DRAM), followed by a ReLU or a max pooling."""
    graph = _graph(FUSED_CHAINS, shape="[3, 10, 13]")
    _check(graph, tmp_path, deform_weights(graph))


def test_fusion_does_not_change_a_bit(tmp_path, monkeypatch):
    """The same network with every layer as its own kernel (no epilogues)
    gives the same words: the epilogues (residual adds included) round
    exactly as the kernels do."""
    from segc.backends.hls import project as hls_project
    from segc.backends.hls.sim import compile_project, run_testbench, write_project

    graph = _graph(FUSED_CHAINS, shape="[3, 10, 13]")
    weights, outputs, calls = deform_weights(graph), [], []
    for fused in (True, False):
        if not fused:
            monkeypatch.setattr(hls_project, "fusion_chains", lambda graph: {})
        files, _ = build_project(graph, HlsOptions(weights=weights))
        folder = tmp_path / str(fused)
        write_project(files, folder)
        compile_project(folder, "-O1")
        outputs.append(run_testbench(folder, json.loads(files["config.json"]))[0])
        top = files["network.cpp"].decode().split("_top(")[1]
        calls.append(top.count("segc::"))
        assert top.count("segc::add<") == (0 if fused else 2)  # u.add, w.add: residual adds in a pipeline
    assert all(np.array_equal(a, b) for a, b in zip(*outputs))
    assert calls[0] < calls[1]


def test_tiles_and_unrolling_do_not_change_a_bit(tmp_path):
    """Sums are exact in 64 bits, so the C simulation's output is the same
    whatever the tiling and the unroll factors (partial blocks included)."""
    from segc.backends.hls.sim import compile_project, run_testbench, write_project
    from segc.hardware import with_unroll

    graph = _graph("""
    stem = image -> conv(8, k=3, stride=2) -> bn -> relu
    body = stem -> basic(8, dilation=2) -> dconv(6, k=3, bound=1)
    output logits = body -> upsample(to=image, mode="bilinear") -> conv(5, k=1)""", shape="[3, 16, 16]")
    weights, outputs = deform_weights(graph), []
    for index, (tiling, unroll) in enumerate([("paper", None), ("none", "3,5,2"), ("dilation-aware", "7,3,2,2")]):
        if unroll:
            graph.target = with_unroll(graph.target, unroll)
        files, _ = build_project(graph, HlsOptions(weights=weights, tiling=tiling))
        folder = tmp_path / str(index)
        write_project(files, folder)
        compile_project(folder, "-O1")
        outputs.append(run_testbench(folder, json.loads(files["config.json"]))[0][0])
    assert all(np.array_equal(outputs[0], other) for other in outputs[1:])


def test_channel_slices_and_shuffles(tmp_path):
    graph = _graph("""
    a = image -> conv(8, k=3) -> bn -> relu
    left = a -> slice(0, 4)
    right = a -> slice(4, 8) -> conv(4, k=1) -> relu
    output mixed = concat(left, right) -> shuffle(groups=2)
    output thirds = concat(a -> slice(1, 7), image) -> shuffle(groups=3)
    output part = a -> slice(5, 6)""")
    _check(graph, tmp_path)


def test_transposed_convolutions(tmp_path):
    graph = _graph("""
    a = image -> conv(6, k=3) -> bn -> relu
    output up = a -> deconv(4, k=2, stride=2, bias=true)
    output odd = a -> deconv(6, k=3, stride=2, padding=1, output_padding=1, groups=2) -> relu
    output wide = a -> deconv(6, k=3, padding=2, dilation=2, groups=6, bias=true)
    output skew = image -> deconv(5, k=[3, 2], stride=[1, 3], padding=[1, 0])""")
    _check(graph, tmp_path)


def test_unet_example(tmp_path):
    text = (EXAMPLES / "unet_small.seg").read_text().replace("[3, 128, 128]", "[3, 16, 16]")
    _check(segc.loads(text, str(EXAMPLES / "unet_small.seg")), tmp_path)


def test_pointwise_activations(tmp_path):
    graph = _graph("""
    output hs = image -> hardsigmoid
    output hw = image -> hardswish
    output si = image -> silu
    output lr = image -> leakyrelu(0.2)
    output th = image -> tanh
    output cl = image -> clip(-1.5, 2.25)
    output lo = image -> clip(min=0.5)
    output dv = image -> div(6)""")
    _check(graph, tmp_path, scale=4.0)  # past hardswish's and clip's corners, into tanh's saturation


def test_pointwise_activations_fused(tmp_path):
    graph = _graph("""
    a = image -> conv(4, k=3) -> hardswish
    b = image -> conv(4, k=1) -> bn -> silu -> div(3)
    c = image -> conv(4, k=3) -> tanh -> clip(max=0.5)
    output y = concat(a, b, c, image -> conv(4, k=1) -> leakyrelu(0.1) -> hardsigmoid)""")
    _check(graph, tmp_path, scale=3.0)


def test_squeeze_and_excitation(tmp_path):
    graph = _graph("""
    x = image -> conv(6, k=3) -> hardswish
    scale = x -> mean -> conv(3, k=1, bias=true) -> relu -> conv(6, k=1, bias=true) -> hardsigmoid
    y = mul(x, scale)
    output se = y
    output diff = sub(y, x)
    output pooled = y -> mean(keepdims=false)""")
    _check(graph, tmp_path, scale=2.0)


def test_softmax_over_channels(tmp_path):
    graph = _graph("""
    output wide = image -> conv(12, k=3, bias=true) -> softmax
    output few = image -> softmax
    output pixel = image -> mean -> conv(5, k=1) -> softmax""")
    _check(graph, tmp_path, scale=4.0)


def test_leakyrelu_slope_beyond_the_library(tmp_path):
    graph = _graph("    output y = image -> leakyrelu(100000)")
    with pytest.raises(segc.SegError, match="leakyrelu slopes below ±65,536, this one is 100000"):
        build_project(graph, HlsOptions())
