"""examples/mobilenetv3_small.seg and examples/efficientnet_b0.seg:
torchvision's parameter counts, torch against onnxruntime, pruning equal to
masking, and the C simulation within the fixed-point bound (at small
inputs)."""

from __future__ import annotations

import shutil

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from conftest import EXAMPLES  # noqa: E402
from test_prune_torch import check_equivalent, random_rates, small  # noqa: E402

import segc  # noqa: E402

# torchvision.models.mobilenet_v3_small and efficientnet_b0: parameters; ops the example must use
PUBLISHED = {
    "mobilenetv3_small.seg": (2_542_856, {"hardswish", "hardsigmoid", "mul", "mean"}),
    "efficientnet_b0.seg": (5_288_548, {"silu", "sigmoid", "mul", "mean"}),
}
EXAMPLE = pytest.mark.parametrize("name", sorted(PUBLISHED))


@EXAMPLE
def test_counts_match_torchvision(name):
    graph = segc.load(str(EXAMPLES / name))
    params, ops = PUBLISHED[name]
    assert sum(r.params for r in segc.summarize(graph)) == params
    assert ops <= {n.op for n in graph.nodes()}


@EXAMPLE
def test_torch_and_onnx_agree_and_return_logits(name):
    graph = small(EXAMPLES / name, 64)
    x = np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        expected = segc.to_torch(graph)(torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(segc.to_onnx(graph), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": x})[0]
    assert expected.shape == got.shape == (2, 1000)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@EXAMPLE
def test_pruned_equals_masked(name):
    graph = small(EXAMPLES / name, 32)
    check_equivalent(graph, random_rates(graph, 2))


@EXAMPLE
@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
def test_c_simulation_within_the_bound(tmp_path, name):
    from test_hls_sim import _check

    _check(small(EXAMPLES / name, 32), tmp_path)
