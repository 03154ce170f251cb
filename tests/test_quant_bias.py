"""The bias of an int-scheme layer with a quantized input is int32 words in
the units of its sum, s_c·s_x, the same words in the ONNX export (an int32
initializer and a DequantizeLinear, as onnxruntime's ``quantize_static``
writes it), the torch module and the HLS integer reference; the three
compute the layer alike.  Expected words are worked out here from the
weights, not by the code under test."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from conftest import EXAMPLES  # noqa: E402
from onnx import numpy_helper  # noqa: E402
from qdq_nets import run_onnx  # noqa: E402

import segc  # noqa: E402
from segc.api import to_onnx  # noqa: E402
from segc.backends.hls.intref import integer_reference, tensor_values  # noqa: E402
from segc.backends.torch.fake_quant import quantized_bias  # noqa: E402
from segc.backends.torch.module import submodule  # noqa: E402
from segc.hls import HlsOptions, build_project  # noqa: E402

INPUT_FRAC, OUT_RANGE = 4, 24.0
NETWORK = f"""
import "targets/ultra96.seg"
network nb on ultra96_codenet {{
    input x: [3, 6, 6]
    c = x -> conv(4, k=3, bias=true)
    output y = c
}}
quantize nb {{
    *: w=8, a=16, scheme=int
    x: a=8, scheme=fixed, a_frac={INPUT_FRAC}
}}
"""


def _case(tmp_path):
    graph = segc.loads(NETWORK, str(EXAMPLES / "bias_case.seg"))
    conv = next(n.name for n in graph.nodes() if n.op == "conv")
    rng = np.random.default_rng(7)
    weights = {f"{conv}.weight": rng.uniform(-0.5, 0.5, (4, 3, 3, 3)).astype(np.float32),
               f"{conv}.bias": rng.uniform(-3, 3, 4).astype(np.float32),
               f"{conv}.act_range": np.float32(OUT_RANGE), "x.act_range": np.float32(7.0)}
    x = (rng.integers(-100, 100, (1, 3, 6, 6)) / 2**INPUT_FRAC).astype(np.float32)  # exact at 2^-4
    np.save(tmp_path / "x.npy", x)
    torch.save({k: torch.as_tensor(v) for k, v in weights.items()}, tmp_path / "w.pt")
    return graph, conv, weights, x


def _expected_words(weights: dict, conv: str) -> tuple[np.ndarray, np.ndarray]:
    """(round(b_c / (s_c·2^-4)), s_c·2^-4) with s_c = max|W_c| / 127 in float32."""
    w = weights[f"{conv}.weight"].astype(np.float64)
    s_c = np.float32(np.abs(w).reshape(4, -1).max(axis=1) / 127)
    unit = s_c * np.float32(2.0**-INPUT_FRAC)
    return np.rint(weights[f"{conv}.bias"].astype(np.float64) / unit.astype(np.float64)), unit


def test_onnx_torch_and_the_integer_reference_share_the_bias_words_and_agree(tmp_path):
    graph, conv, weights, x = _case(tmp_path)
    words, unit = _expected_words(weights, conv)
    assert np.abs(words).max() > 1000  # a bias many units wide: its rounding is visible

    model = onnx.load_from_string(to_onnx(graph, weights))
    stored = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert stored[f"{conv}.bias"].dtype == np.int32
    assert np.array_equal(stored[f"{conv}.bias"], words)
    assert np.array_equal(stored[f"{conv}/bias_scale"], unit)
    bias_dq = next(n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == f"{conv}.bias")
    assert list(bias_dq.input[1:]) == [f"{conv}/bias_scale", f"{conv}/bias_zero"]

    module = segc.to_torch(graph, {k: torch.as_tensor(v) for k, v in weights.items()})
    layer = submodule(module, conv)
    assert torch.equal(quantized_bias(layer, 2.0**-INPUT_FRAC), torch.as_tensor(words * unit, dtype=torch.float32))

    files, _ = build_project(graph, HlsOptions(weights=str(tmp_path / "w.pt"), input=str(tmp_path / "x.npy")))
    config = json.loads(files["config.json"])
    entry = next(e for e in config["layers"] if e["name"] == conv)
    assert entry["params"]["requant"]["bias"] == words.astype(int).tolist()

    from_onnx = run_onnx(model.SerializeToString(), x)
    with torch.no_grad():
        from_torch = module(torch.as_tensor(x)).numpy()
    reference = integer_reference(graph, config, np.frombuffer(files["params.bin"], dtype="<i2"), {"x": x[0]})
    from_hls = tensor_values(reference[graph.outputs[0].name], entry)
    lsb = OUT_RANGE / 32767
    assert np.max(np.abs(from_onnx - from_torch)) <= lsb + 1e-6
    hls_lsb = entry.get("scale", 2.0 ** -entry["frac"])
    assert np.max(np.abs(from_hls - from_onnx[0])) <= hls_lsb + lsb
