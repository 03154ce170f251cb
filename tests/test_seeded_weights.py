"""Initial weights drawn from a seed with numpy (``backends/seeded.py``):
PyTorch's default distributions, the same values on every run, the ones the
torch backend loads, and no torch imported to draw them (``search`` and
``prune`` with the proxy)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from conftest import EXAMPLES, NETWORK_EXAMPLES

import segc
from segc.api import weight_arrays

TINY = "network t {\n input x: [3, 8, 8]\n y = x -> conv(4, k=3, bias=true) -> bn -> relu\n" \
       " output z = y -> avgpool(global=true) -> flatten -> linear(5)\n}\n"


def test_pytorch_default_distributions_by_hand():
    arrays = weight_arrays(segc.loads(TINY), seed=7)
    conv_bound = 1 / math.sqrt(3 * 3 * 3)  # fan_in = C_in · k · k = 27
    assert arrays["y.conv.weight"].shape == (4, 3, 3, 3) and arrays["y.conv.weight"].dtype == np.float32
    assert np.abs(arrays["y.conv.weight"]).max() <= conv_bound and np.abs(arrays["y.conv.bias"]).max() <= conv_bound
    assert np.abs(arrays["y.conv.weight"]).max() > 0.8 * conv_bound  # spread over the range, not near 0
    assert arrays["z.linear.weight"].shape == (5, 4) and np.abs(arrays["z.linear.weight"]).max() <= 1 / math.sqrt(4)
    assert arrays["y.bn.weight"].tolist() == [1.0] * 4 and arrays["y.bn.running_var"].tolist() == [1.0] * 4
    assert arrays["y.bn.bias"].tolist() == [0.0] * 4 and arrays["y.bn.running_mean"].tolist() == [0.0] * 4
    assert arrays["y.bn.num_batches_tracked"].dtype == np.int64 and int(arrays["y.bn.num_batches_tracked"]) == 0
    first = np.random.default_rng(7).uniform(-conv_bound, conv_bound, (4, 3, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(arrays["y.conv.weight"], first)  # the documented generator, first draw


def test_the_same_values_on_every_call_and_others_for_another_seed():
    graph = segc.loads(TINY)
    again, other = weight_arrays(graph, seed=1), weight_arrays(graph, seed=2)
    for key, value in weight_arrays(graph, seed=1).items():
        np.testing.assert_array_equal(value, again[key])
    assert not np.array_equal(again["y.conv.weight"], other["y.conv.weight"])


CASES = [(p, None) for p in NETWORK_EXAMPLES] + [(EXAMPLES / "codenet_layer.seg", n)
                                                 for n in ("full_bounded", "full_square", "dw_deform")]


@pytest.mark.parametrize(("path", "network"), CASES, ids=lambda c: getattr(c, "stem", c))
def test_the_torch_module_loads_exactly_the_seeded_arrays(path, network):
    pytest.importorskip("torch")
    graph = segc.load(str(path), network)
    arrays = weight_arrays(graph, seed=3)
    state = segc.to_torch(graph, seed=3).state_dict()
    state = {k: v for k, v in state.items() if not k.endswith(".act_range")}  # uncalibrated: not drawn
    assert sorted(state) == sorted(arrays)
    for key, value in state.items():
        np.testing.assert_array_equal(value.numpy(), arrays[key])


_PROBE = """
import json, sys
from segc.cli import main
main(sys.argv[1:])
print(json.dumps(sorted(m for m in ("torch", "onnx") if m in sys.modules)))
"""


def test_search_and_prune_with_the_proxy_import_no_torch(tmp_path):
    tiny_seg = str(EXAMPLES / "tiny_seg.seg")
    commands = [["search", tiny_seg, "--pop", "4", "--gen", "2", "-o", str(tmp_path / "search")],
                ["prune", tiny_seg, "--rates", "0.5", "-o", str(tmp_path / "pruned.seg")]]
    for command in commands:
        run = subprocess.run([sys.executable, "-c", _PROBE, *command], capture_output=True, text=True, check=True)
        assert json.loads(run.stdout.strip().splitlines()[-1]) == [], command
    assert (tmp_path / "search" / "pareto.png").read_bytes().startswith(b"\x89PNG")
