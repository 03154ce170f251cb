"""examples/mobilenetv3_small.seg: torchvision's parameter count, torch
against onnxruntime, pruning equal to masking, and the C simulation within
the fixed-point bound (at small inputs)."""

from __future__ import annotations

import shutil

import pytest

torch = pytest.importorskip("torch")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from conftest import EXAMPLES  # noqa: E402
from test_prune_torch import check_equivalent, random_rates, small  # noqa: E402

import segc  # noqa: E402

PATH = EXAMPLES / "mobilenetv3_small.seg"


def test_counts_match_torchvision():
    graph = segc.load(str(PATH))
    rows = segc.summarize(graph)
    assert sum(r.params for r in rows) == 2_542_856  # torchvision.models.mobilenet_v3_small
    assert sum(r.macs for r in rows) == 56_510_400
    ops = {n.op for n in graph.nodes()}
    assert {"hardswish", "hardsigmoid", "mul", "mean"} <= ops


def test_torch_and_onnx_agree_and_return_logits():
    graph = small(PATH, 64)
    x = np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        expected = segc.to_torch(graph)(torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(segc.to_onnx(graph), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": x})[0]
    assert expected.shape == got.shape == (2, 1000)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_pruned_equals_masked():
    graph = small(PATH, 32)
    check_equivalent(graph, random_rates(graph, 2))


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
def test_c_simulation_within_the_bound(tmp_path):
    from test_hls_sim import _check

    _check(small(PATH, 32), tmp_path)
